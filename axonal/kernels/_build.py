"""Compile the C++ kernels at first use (``torch.utils.cpp_extension.load``).

Nothing is built at install time: the first call that needs a compiled kernel compiles its
source with the local C++ compiler (about a minute on 2 cores) into a cache folder
(``$AXONAL_KERNEL_CACHE``, default ``~/.cache/axonal/kernels``), keyed by the source hash, the
torch version and the CPU's instruction-set flags (the code is built with ``-march=native``,
so a cache shared between different machines keeps one build per kind of CPU), and later
processes load it in a fraction of a second. Floating-point contraction stays off
(``-ffp-contract=off``: no fused multiply-add), so results match the reference step functions
bit for bit. Without a compiler (or ``ninja``) the load fails once with a warning and the
callers fall back to their pure-torch paths. Set ``AXONAL_NO_KERNELS=1`` to skip every build.

Extensions: ``"fused"`` (``fused_cpu.cpp``, the neuron kernels of :mod:`axonal.kernels.ops`)
and ``"sparse"`` (``sparse_cpu.cpp``, spike-indexed accumulation for :mod:`axonal.sparse`).
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType

import torch

__all__ = ["load_extension", "loaded_extension", "load_cpu_extension", "cpu_extension_error", "build_seconds"]

_HERE = Path(__file__).parent
_SOURCES = {"fused": _HERE / "fused_cpu.cpp", "sparse": _HERE / "sparse_cpu.cpp"}
_FALLBACK = {
    "fused": "neuron layers use the reference time loop (slower, same results)",
    "sparse": "spiking linear layers use the torch event-driven path (slower, same results)",
}
_CFLAGS = ["-O3", "-march=native", "-fopenmp", "-ffp-contract=off"]
_LOCK = threading.Lock()
_STATE: dict[str, dict[str, object]] = {}


def _cpu_tag() -> str:
    """A short hash of the CPU's instruction-set flags (``-march=native`` depends on them)."""
    flags = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags += line
                break
    except OSError:
        flags += platform.processor()
    return hashlib.sha256(flags.encode()).hexdigest()[:8]


def _cache_dir(source: Path) -> Path:
    root = os.environ.get("AXONAL_KERNEL_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "axonal" / "kernels"
    digest = hashlib.sha256(source.read_bytes() + " ".join(_CFLAGS).encode()).hexdigest()[:12]
    tag = torch.__version__.replace("+", "_").replace(".", "_")
    path = base / f"{source.stem}_{digest}_{tag}_{_cpu_tag()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_extension(name: str) -> ModuleType | None:
    """The compiled extension ``name`` (``"fused"`` or ``"sparse"``), building it on first
    call; ``None`` (warned once) if it cannot be built."""
    if name not in _SOURCES:
        raise ValueError(f"unknown extension {name!r}; expected one of {sorted(_SOURCES)}")
    with _LOCK:
        state = _STATE.setdefault(name, {})
        if "module" in state:
            module = state["module"]
            return module if isinstance(module, ModuleType) else None
        module = None
        if os.environ.get("AXONAL_NO_KERNELS"):
            state["error"] = "disabled by AXONAL_NO_KERNELS"
        else:
            start = time.perf_counter()
            try:
                from torch.utils import cpp_extension

                source = _SOURCES[name]
                module = cpp_extension.load(
                    name=f"axonal_{source.stem}",
                    sources=[str(source)],
                    extra_cflags=_CFLAGS,
                    extra_ldflags=["-fopenmp"],
                    build_directory=str(_cache_dir(source)),
                    verbose=False,
                )
            except Exception as exc:  # no compiler, no ninja, read-only cache, ...
                state["error"] = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"axonal: the {name} CPU kernels could not be compiled, so "
                    f"{_FALLBACK[name]}. Cause: {exc}",
                    RuntimeWarning,
                    stacklevel=3,
                )
            state["seconds"] = time.perf_counter() - start
        state["module"] = module
        return module


def loaded_extension(name: str) -> ModuleType | None:
    """Extension ``name`` if this process has already loaded it; never builds anything."""
    with _LOCK:
        module = _STATE.get(name, {}).get("module")
    return module if isinstance(module, ModuleType) else None


def load_cpu_extension() -> ModuleType | None:
    """The fused neuron kernels (:func:`load_extension` ``("fused")``)."""
    return load_extension("fused")


def cpu_extension_error(name: str = "fused") -> str | None:
    """Why extension ``name`` is unavailable (``None`` if it loaded or was not tried yet)."""
    error = _STATE.get(name, {}).get("error")
    return error if isinstance(error, str) else None


def build_seconds(name: str = "fused") -> float | None:
    """Wall time of the first load of ``name`` (compile or cache hit) in this process."""
    seconds = _STATE.get(name, {}).get("seconds")
    return seconds if isinstance(seconds, float) else None
