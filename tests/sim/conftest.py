"""The native backend compiles into $AXONAL_SIM_CACHE: keep the tests' build in a temporary folder."""

from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _native_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    old = os.environ.get("AXONAL_SIM_CACHE")
    os.environ["AXONAL_SIM_CACHE"] = str(tmp_path_factory.mktemp("axonal-cache"))
    yield
    if old is None:
        os.environ.pop("AXONAL_SIM_CACHE", None)
    else:
        os.environ["AXONAL_SIM_CACHE"] = old
