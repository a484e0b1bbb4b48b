"""The compiled C library of the simulator (``_native.c``): loading it, and its helpers for
building tables (:func:`csr_order`, :func:`csr_fill_indegree`).

The loop that runs whole networks on it is :mod:`axonal.sim.native_loop`. The loop of
``_native.c`` does per step exactly what the torch path does (the pure
``lif_step`` / ``alif_step``, ``exp_synapse_step`` and ``conductance_current`` equations, the
exponential channels' input factor, in float32 and in the
same order of operations, and the same CSR/ring-buffer delivery), without the per-operation
overhead of Python and torch. It is compiled with the system C compiler at first use (plain
C, no torch headers: about a second) by :mod:`axonal.native_build` (piece ``"sim"``), into
the same content-keyed cache as the kernels; without a compiler, or with
``AXONAL_NO_KERNELS=1``, the torch path runs. The build uses ``-march=native`` (vector
instructions for the per-neuron updates) with ``-ffp-contract=off`` (no fused multiply-add,
so results stay bit-identical to the torch path).

Supported (else the torch path runs): float32 networks whose neuron populations are LIF or
ALIF (a LIF population with exponential channels is a CubaLIF population, see
:mod:`axonal.sim.synapses`), with constant injected currents, spike generators, Poisson
sources, spike and rate monitors.
Poisson sources draw from the backend's own generator (seeded from the network's), so their
spike trains differ from the torch path's; everything else is identical.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axonal.native_build import cpu_extension_error, load_library

__all__ = [
    "build_error",
    "csr_fill_indegree",
    "csr_order",
    "library",
    "native_available",
    "pointer",
    "pointer_array",
]

_LIB: ctypes.CDLL | None = None
_ERROR: str | None = None
_P = ctypes.c_void_p


def _load() -> ctypes.CDLL | None:
    """The compiled loop (built on first call), or ``None`` with the reason in ``_ERROR``."""
    global _LIB, _ERROR
    if _LIB is not None or _ERROR is not None:
        return _LIB
    lib = load_library("sim")
    if lib is None:
        _ERROR = cpu_extension_error("sim") or "the native loop is unavailable"
        return None
    lib.axonal_run.restype = ctypes.c_int
    lib.axonal_free.restype = None
    _LIB = lib
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
