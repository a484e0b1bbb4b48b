"""Adapters from the LIF, ALIF and CubaLIF families to the fused ops.

They validate like the reference (``multi_step``), flatten ``[T, B, ...]`` to ``[T, N]``,
expand every parameter to one value per neuron (``[N]``; autograd sums the gradients back to
the parameter's own shape), derive the per-step decays with the same functions as the step
functions (``exp_decay``, ``synaptic_kernel``), call the op and reshape back.

Supported: float32 / float64; the registered surrogates (fast_sigmoid, atan, sigmoid,
triangle, straight_through; ``Smoothed`` and user subclasses run the reference); every reset
mode; ``detach_reset`` both ways; gradients w.r.t. the input, the initial state, ``tau_mem``,
``v_th`` (and ``tau_syn`` for CubaLIF, ``tau_adapt`` and ``delta_th`` for ALIF), as Python
floats, 0-d or per-neuron tensors. Not supported (reference loop): LIF with ``t_ref > 0``,
gradients w.r.t. ``v_leak``, ``r`` or ``v_reset``, parameters that broadcast beyond the input.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from axonal.functional.neurons._common import ResetMode, exp_decay
from axonal.functional.neurons.alif import ALIFParams, ALIFState, alif_initial_state
from axonal.functional.neurons.cuba_lif import (
    CubaLIFParams,
    CubaLIFState,
    cuba_lif_initial_state,
    synaptic_kernel,
)
from axonal.functional.neurons.lif import LIFParams, LIFState, lif_initial_state
from axonal.functional.surrogate import (
    ArcTan,
    FastSigmoid,
    Sigmoid,
    StraightThrough,
    Surrogate,
    Triangle,
)
from axonal.kernels import ops
from axonal.scan import ScanResult, check_sequence, check_state

__all__ = [
    "ADAPTERS",
    "SURROGATE_CODES",
    "RESET_CODES",
    "lif_run",
    "alif_run",
    "cuba_lif_run",
    "lif_unsupported",
    "alif_unsupported",
    "cuba_lif_unsupported",
]

SURROGATE_CODES: dict[type[Surrogate], int] = {
    FastSigmoid: 0,
    ArcTan: 1,
    Sigmoid: 2,
    Triangle: 3,
    StraightThrough: 4,
}
"""Surrogate class -> kernel code (exact class: subclasses may change ``grad``)."""

RESET_CODES = {ResetMode.SUBTRACT: 0, ResetMode.ZERO: 1, ResetMode.NONE: 2}

_DTYPES = (torch.float32, torch.float64)


def _common_unsupported(params: Any, x: Tensor, fixed: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        return None  # invalid input: the run validates it and raises like the reference
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} (float32 or float64 only)"
    if type(params.surrogate) not in SURROGATE_CODES:
        return f"surrogate {type(params.surrogate).__name__} has no kernel code"
    shape = x.shape[1:]
    for name in names:
        value = getattr(params, name)
        if isinstance(value, Tensor):
            if name in fixed and value.requires_grad:
                return f"gradient w.r.t. {name}"
            try:
                if torch.broadcast_shapes(value.shape, shape) != shape:
                    return f"{name} of shape {tuple(value.shape)} broadcasts beyond the input"
            except RuntimeError:
                return f"{name} of shape {tuple(value.shape)} does not broadcast to the input"
            if value.device != x.device:
                return f"{name} on device {value.device}"
    return None


_FIXED = ("v_leak", "r", "v_reset")


def lif_unsupported(params: LIFParams, x: Tensor) -> str | None:
    """Why the LIF kernel cannot run ``params`` on ``x`` (``None``: it can)."""
    if params.t_ref > 0:
        return "refractory period t_ref > 0"
    return _common_unsupported(params, x, _FIXED, ("tau_mem", "v_th") + _FIXED)


def alif_unsupported(params: ALIFParams, x: Tensor) -> str | None:
    """Why the ALIF kernel cannot run ``params`` on ``x`` (``None``: it can)."""
    names = ("tau_mem", "tau_adapt", "v_th", "delta_th") + _FIXED
    return _common_unsupported(params, x, _FIXED, names)


def cuba_lif_unsupported(params: CubaLIFParams, x: Tensor) -> str | None:
    """Why the CubaLIF kernel cannot run ``params`` on ``x`` (``None``: it can)."""
    names = ("tau_syn", "tau_mem", "v_th") + _FIXED
    return _common_unsupported(params, x, _FIXED, names)


def _flat(value: float | Tensor, like: Tensor) -> Tensor:
    """``value`` broadcast to ``like`` ([B, ...]) as a contiguous ``[N]`` tensor."""
    if isinstance(value, Tensor):
        t = value.to(dtype=like.dtype, device=like.device)
    else:
        t = torch.tensor(float(value), dtype=like.dtype, device=like.device)
    return t.expand(like.shape).contiguous().reshape(-1)


def _codes(params: Any) -> tuple[int, bool, int, float]:
    return (
        RESET_CODES[params.reset],
        bool(params.detach_reset),
        SURROGATE_CODES[type(params.surrogate)],
        float(params.surrogate.slope),
    )


def _check_input(x: Tensor) -> None:
    """``check_sequence`` without its finiteness pass where the kernel checks finiteness
    itself while it reads the input (the compiled CPU kernels); elsewhere a sum is the cheap
    test (it is finite iff every element is, unless it overflows: only then, or on inf/nan,
    the elementwise check runs and raises)."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[0] == 0:
        check_sequence(x, "x")
    if x.device.type == "cpu":
        return
    with torch.no_grad():
        if not bool(torch.isfinite(x.sum())):
            check_sequence(x, "x")


def _prepare(
    x: Tensor, state: Any, params: Any, initial: Callable[[Tensor, Any], Any]
) -> tuple[Tensor, Any]:
    _check_input(x)
    if state is None:
        state = initial(x[0], params)
    else:
        check_state(state, x.shape[1:])
    return x.reshape(x.shape[0], -1).contiguous(), state


def lif_run(
    x: Tensor, state: LIFState | None, params: LIFParams, dt: float
) -> ScanResult[LIFState]:
    """The LIF family over ``x [T, B, ...]`` with the fused op (``t_ref`` must be 0)."""
    flat, st = _prepare(x, state, params, lif_initial_state)
    like = x[0]
    out, v, *_ = ops.lif_forward(
        flat,
        _flat(st.v, like),
        _flat(exp_decay(dt, params.tau_mem), like),
        _flat(params.v_th, like),
        _flat(params.v_leak, like),
        _flat(params.r, like),
        _flat(params.v_reset, like),
        *_codes(params),
        ops.SEG,
    )
    new_state = LIFState(v=v.reshape(like.shape), refractory=st.refractory)
    return ScanResult(out.reshape(x.shape), new_state, None)


def alif_run(
    x: Tensor, state: ALIFState | None, params: ALIFParams, dt: float
) -> ScanResult[ALIFState]:
    """The ALIF family over ``x [T, B, ...]`` with the fused op."""
    flat, st = _prepare(x, state, params, alif_initial_state)
    like = x[0]
    out, v, a, *_ = ops.alif_forward(
        flat,
        _flat(st.v, like),
        _flat(st.a, like),
        _flat(exp_decay(dt, params.tau_mem), like),
        _flat(exp_decay(dt, params.tau_adapt), like),
        _flat(params.v_th, like),
        _flat(params.v_leak, like),
        _flat(params.r, like),
        _flat(params.v_reset, like),
        _flat(params.delta_th, like),
        *_codes(params),
        ops.SEG,
    )
    new_state = ALIFState(v=v.reshape(like.shape), a=a.reshape(like.shape))
    return ScanResult(out.reshape(x.shape), new_state, None)


def cuba_lif_run(
    x: Tensor, state: CubaLIFState | None, params: CubaLIFParams, dt: float
) -> ScanResult[CubaLIFState]:
    """The CubaLIF family over ``x [T, B, ...]`` with the fused op."""
    flat, st = _prepare(x, state, params, cuba_lif_initial_state)
    like = x[0]
    out, v, i, *_ = ops.cuba_lif_forward(
        flat,
        _flat(st.v, like),
        _flat(st.i, like),
        _flat(exp_decay(dt, params.tau_mem), like),
        _flat(exp_decay(dt, params.tau_syn), like),
        _flat(synaptic_kernel(dt, params.tau_syn, params.tau_mem), like),
        _flat(params.v_th, like),
        _flat(params.v_leak, like),
        _flat(params.r, like),
        _flat(params.v_reset, like),
        *_codes(params),
        ops.SEG,
    )
    new_state = CubaLIFState(v=v.reshape(like.shape), i=i.reshape(like.shape))
    return ScanResult(out.reshape(x.shape), new_state, None)


ADAPTERS: dict[str, tuple[Callable[..., ScanResult[Any]], Callable[[Any, Tensor], str | None]]] = {
    "lif": (lif_run, lif_unsupported),
    "alif": (alif_run, alif_unsupported),
    "cuba_lif": (cuba_lif_run, cuba_lif_unsupported),
}
"""Family name -> (run, unsupported): what every backend registers for that family (the ops
dispatch on the input's device)."""
