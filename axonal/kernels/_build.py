"""Compile the fused CPU kernels at first use (``torch.utils.cpp_extension.load``).

Nothing is built at install time: the first call that needs a fused CPU kernel compiles
``fused_cpu.cpp`` with the local C++ compiler (about a minute on 2 cores) into a cache folder
(``$AXONAL_KERNEL_CACHE``, default ``~/.cache/axonal/kernels``), keyed by the source hash and
the torch version, and later processes load it in a fraction of a second. Without a compiler
(or ``ninja``) the load fails once with a warning and every layer runs the reference loop.
Set ``AXONAL_NO_KERNELS=1`` to skip the build entirely.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType

import torch

__all__ = ["load_cpu_extension", "cpu_extension_error", "build_seconds"]

_SOURCE = Path(__file__).with_name("fused_cpu.cpp")
_LOCK = threading.Lock()
_STATE: dict[str, object] = {}


def _cache_dir() -> Path:
    root = os.environ.get("AXONAL_KERNEL_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "axonal" / "kernels"
    digest = hashlib.sha256(_SOURCE.read_bytes()).hexdigest()[:12]
    tag = torch.__version__.replace("+", "_").replace(".", "_")
    path = base / f"{digest}_{tag}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_cpu_extension() -> ModuleType | None:
    """The compiled module, building it on first call; ``None`` (warned once) if it cannot."""
    with _LOCK:
        if "module" in _STATE:
            module = _STATE["module"]
            return module if isinstance(module, ModuleType) else None
        module = None
        if os.environ.get("AXONAL_NO_KERNELS"):
            _STATE["error"] = "disabled by AXONAL_NO_KERNELS"
        else:
            start = time.perf_counter()
            try:
                from torch.utils import cpp_extension

                module = cpp_extension.load(
                    name="axonal_fused_cpu",
                    sources=[str(_SOURCE)],
                    extra_cflags=["-O3", "-fopenmp", "-ffp-contract=off"],
                    extra_ldflags=["-fopenmp"],
                    build_directory=str(_cache_dir()),
                    verbose=False,
                )
            except Exception as exc:  # no compiler, no ninja, read-only cache, ...
                _STATE["error"] = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    "axonal: the fused CPU kernels could not be compiled, so neuron layers "
                    f"use the reference time loop (slower, same results). Cause: {exc}",
                    RuntimeWarning,
                    stacklevel=3,
                )
            _STATE["seconds"] = time.perf_counter() - start
        _STATE["module"] = module
        return module


def cpu_extension_error() -> str | None:
    """Why the extension is unavailable (``None`` if it loaded or was not tried yet)."""
    error = _STATE.get("error")
    return error if isinstance(error, str) else None


def build_seconds() -> float | None:
    """Wall time of the first load (compile or cache hit) in this process."""
    seconds = _STATE.get("seconds")
    return seconds if isinstance(seconds, float) else None
