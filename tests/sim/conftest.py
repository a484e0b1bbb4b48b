"""``cuba_reference``: the Brian2/NEST versions of CUBA, which live in ``benchmarks/`` (outside
the installed package) and are loaded from there by path."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "cuba_reference.py"


@pytest.fixture(scope="session")
def cuba_reference() -> ModuleType:
    """``benchmarks/cuba_reference.py`` (imports Brian2/NEST only when its functions run)."""
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} is not there (tests run outside a source checkout)")
    spec = importlib.util.spec_from_file_location("cuba_reference", REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
