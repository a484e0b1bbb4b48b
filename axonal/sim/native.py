"""The compiled C library of the simulator (``_native.c``): loading it, and its helpers for
building tables (:func:`csr_order`, :func:`csr_fill_indegree`).

The loop that runs whole networks on it is :mod:`axonal.sim.native_loop`. The loop of
``_native.c`` does per step exactly what the torch path does (the pure
``lif_step``, ``exp_synapse_step`` and ``conductance_current`` equations, in float32 and in the
same order of operations, and the same CSR/ring-buffer delivery), without the per-operation
overhead of Python and torch. It is compiled with the system C compiler at first use (plain
C, no torch headers: well under a second) into ``$AXONAL_SIM_CACHE`` (default
``~/.cache/axonal/sim``); without a compiler the torch path runs. The build uses
``-march=native`` (vector instructions for the per-neuron updates) with ``-ffp-contract=off``
(no fused multiply-add, so results stay bit-identical to the torch path); the cached file's
name carries a hash of the source, the flags and the CPU's instruction-set flags, so a cache
shared between machines never loads a build made for another kind of CPU.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axonal.kernels._build import _cpu_tag

__all__ = [
    "build_error",
    "csr_fill_indegree",
    "csr_order",
    "library",
    "native_available",
    "pointer",
    "pointer_array",
]

_SOURCE = Path(__file__).with_name("_native.c")
_LIB: ctypes.CDLL | None = None
_ERROR: str | None = None
_P = ctypes.c_void_p
_CFLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC"]


def _cache_dir() -> Path:
    default = os.path.join(Path.home(), ".cache", "axonal", "sim")
    root = os.environ.get("AXONAL_SIM_CACHE") or default
    return Path(root)


def _library_path() -> Path:
    """Where the build of this source, with these flags, for this kind of CPU is cached."""
    key = _SOURCE.read_bytes() + sys.platform.encode() + " ".join(_CFLAGS).encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    return _cache_dir() / f"axonal_sim_{digest}_{_cpu_tag()}.so"


def _load() -> ctypes.CDLL | None:
    global _LIB, _ERROR
    if _LIB is not None or _ERROR is not None:
        return _LIB
    try:
        target = _library_path()
        if not target.exists():
            cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
            if cc is None:
                raise RuntimeError("no C compiler found (set CC)")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                built = Path(tmp) / target.name
                subprocess.run([cc, *_CFLAGS, "-o", str(built), str(_SOURCE)],
                               check=True, capture_output=True, text=True)
                os.replace(built, target)
        lib = ctypes.CDLL(str(target))
        lib.axonal_run.restype = ctypes.c_int
        lib.axonal_free.restype = None
        _LIB = lib
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        _ERROR = f"{type(err).__name__}: {getattr(err, 'stderr', '') or err}"
    return _LIB


def native_available() -> bool:
    """Whether the C backend compiled and loaded here."""
    return _load() is not None


def library() -> ctypes.CDLL | None:
    """The loaded C library (compiled at first use), or ``None`` where it cannot be built."""
    return _load()


def build_error() -> str | None:
    """Why the C library could not be built or loaded (``None`` if it loaded or was not tried)."""
    return _ERROR


def csr_order(pre: Tensor, indptr: Tensor) -> Tensor | None:
    """Stable order of the synapses by source (a linear-time counting sort), or ``None``
    when the native library is not available.

    Shapes:
        pre: ``[S]`` int64 sources; indptr: ``[n_pre + 1]`` int64 row pointers of ``pre``.
    """
    lib = _load()
    if lib is None:
        return None
    pre = pre.contiguous()
    cursor = indptr[:-1].clone()
    order = torch.empty(pre.numel(), dtype=torch.int64)
    lib.axonal_csr_order(ctypes.c_int64(pre.numel()), _P(pointer(pre)), _P(pointer(cursor)),
                         _P(pointer(order)))
    return order


def csr_fill_indegree(pre: Tensor, k: int, indptr: Tensor) -> Tensor | None:
    """CSR targets (int32) of synapses ``pre[y] -> y // k`` in stable source order, without
    an int64 order array; ``None`` when the native library is not available."""
    lib = _load()
    if lib is None:
        return None
    pre = pre.to(torch.int32).contiguous()
    cursor = indptr[:-1].clone()
    out = torch.empty(pre.numel(), dtype=torch.int32)
    lib.axonal_csr_fill_indegree(ctypes.c_int64(pre.numel()), ctypes.c_int64(k),
                                 _P(pointer(pre)), _P(pointer(cursor)), _P(pointer(out)))
    return out


def pointer(t: Tensor | np.ndarray | None) -> int | None:
    """Address of a tensor's or array's data (``None`` stays ``None``), for ctypes calls."""
    if t is None:
        return None
    if isinstance(t, np.ndarray):
        return int(t.ctypes.data)
    return int(t.data_ptr())


def pointer_array(ctype: Any, values: list[int | None]) -> Any:
    """A C array of ``ctype`` holding ``values`` (at least one element)."""
    return (ctype * max(len(values), 1))(*values)
