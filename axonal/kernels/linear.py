"""The one adapter from a neuron family's fused spec to its fused ops.

:func:`fused_run` validates like the reference (``multi_step``), flattens ``[T, B, ...]`` to
``[T, N]``, expands every per-step coefficient of the family's
:class:`~axonal.functional.neurons.FusedSpec` (computed from the parameters and ``dt`` by the
family's own functions, e.g. ``exp_decay``, ``synaptic_kernel``) to one value per neuron
(``[N]``), calls the op and reshapes back. A coefficient or state that is broadcast over the
batch gets its gradient summed back to its own shape in a fixed order (``ops.sum_rows``), so
that the gradients, like the kernels' own results, do not depend on the thread count.
:func:`fused_unsupported` says why a parameter record or input cannot run fused.

Supported: float32 / float64; the registered surrogates (fast_sigmoid, atan, sigmoid,
triangle, straight_through; ``Smoothed`` and user subclasses run the reference); every reset
mode; ``detach_reset`` both ways; refractory periods (``t_ref >= 0``, Brian2's rule as the
reference steps); gradients w.r.t. the input, the initial state and the parameters behind the
spec's differentiable coefficients (LIF: ``tau_mem``, ``v_th``; CubaLIF also ``tau_syn``; ALIF
also ``tau_adapt`` and ``delta_th``), as Python floats, 0-d or per-neuron tensors. Not
supported (reference loop): what the spec refuses, gradients w.r.t. the spec's fixed
parameters (``v_leak``, ``r``, ``v_reset``), parameters that broadcast beyond the input.

Non-finite values: a state passed in is checked like the reference path's (``check_state``,
one synchronisation per call); the input, the initial state and the coefficients are checked
again once per call by the kernel (on CPU in its first pass over them and while it reads the
input; elsewhere by one reduction per tensor and a single synchronisation), so that no NaN
runs silently: :class:`~axonal.errors.NonFiniteError` names the culprit (``x``, ``state.v``,
``coefficient alpha``...), for ``x`` with the reference's message and counts.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.neurons import NeuronFamily, ResetMode, families
from axonal.functional.neurons.refractory import refractory_limit
from axonal.functional.surrogate import Surrogate, kernel_codes
from axonal.kernels import ops
from axonal.functional.scan import ScanResult, check_sequence, check_state

__all__ = [
    "ADAPTERS",
    "SURROGATE_CODES",
    "RESET_CODES",
    "fused_run",
    "fused_unsupported",
    "nonfinite_report",
]

SURROGATE_CODES: dict[type[Surrogate], int] = kernel_codes()
"""Surrogate class -> kernel code (each class's own ``code``; exact class: subclasses may
change ``grad``)."""

RESET_CODES = {mode: mode.code for mode in ResetMode}
"""Reset mode -> kernel code (``ResetMode.code``)."""

_DTYPES = (torch.float32, torch.float64)


def fused_unsupported(family: NeuronFamily[Any, Any], params: Any, x: Tensor) -> str | None:
    """Why ``family``'s fused kernel cannot run ``params`` on ``x`` (``None``: it can)."""
    spec = family.fused
    if spec is None:
        return f"family {family.name!r} declares no fused kernel"
    if spec.unsupported is not None:
        reason = spec.unsupported(params)
        if reason is not None:
            return reason
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        return None  # invalid input: the run validates it and raises like the reference
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} (float32 or float64 only)"
    if type(params.surrogate) not in SURROGATE_CODES:
        return f"surrogate {type(params.surrogate).__name__} has no kernel code"
    shape = x.shape[1:]
    for name in family.constraints:
        value = getattr(params, name)
        if isinstance(value, Tensor):
            if name in spec.fixed and value.requires_grad:
                return f"gradient w.r.t. {name}"
            try:
                if torch.broadcast_shapes(value.shape, shape) != shape:
                    return f"{name} of shape {tuple(value.shape)} broadcasts beyond the input"
            except RuntimeError:
                return f"{name} of shape {tuple(value.shape)} does not broadcast to the input"
            if value.device != x.device:
                return f"{name} on device {value.device}"
    return None


def _sum_to(g: Tensor, shape: torch.Size) -> Tensor:
    """``g`` summed to ``shape`` (which broadcasts to ``g.shape``) with :func:`ops.sum_rows`:
    the reduced dimensions are moved first and summed as rows in a fixed order."""
    lead = g.dim() - len(shape)
    reduced = list(range(lead)) + [
        lead + k for k, n in enumerate(shape) if n == 1 and g.shape[lead + k] != 1
    ]
    if not reduced:
        return g.reshape(shape)
    kept = [d for d in range(g.dim()) if d not in reduced]
    rows = math.prod(g.shape[d] for d in reduced)
    return ops.sum_rows(g.permute(*reduced, *kept).reshape(rows, -1)).reshape(shape)


class _BroadcastFlat(torch.autograd.Function):
    """``t.expand(shape)`` as a contiguous ``[N]`` tensor, with a gradient summed back in a
    fixed order (the same bits whatever the thread count)."""

    @staticmethod
    def forward(ctx: Any, t: Tensor, shape: torch.Size) -> Tensor:
        ctx.in_shape, ctx.out_shape = t.shape, shape
        return t.expand(shape).contiguous().reshape(-1)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return _sum_to(g.reshape(ctx.out_shape), ctx.in_shape), None


def _flat(value: float | Tensor, like: Tensor) -> Tensor:
    """``value`` broadcast to ``like`` ([B, ...]) as a contiguous ``[N]`` tensor."""
    if isinstance(value, Tensor):
        t = value.to(dtype=like.dtype, device=like.device)
        if t.shape != like.shape and t.requires_grad and torch.is_grad_enabled():
            out: Tensor = _BroadcastFlat.apply(t, like.shape)
            return out
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
    """``check_sequence`` without its finiteness pass: the fused run checks finiteness itself
    (:func:`nonfinite_report`, or the compiled CPU kernels while they read the input)."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[0] == 0:
        check_sequence(x, "x")


def nonfinite_report(tensors: list[Tensor]) -> int:
    """Bit ``k`` set where ``tensors[k]`` holds inf or nan: one sum per tensor and a single
    synchronisation (a sum is finite iff every element is, unless it overflows: only then, or
    on inf/nan, the elementwise test runs). The CPU kernels' report has the same layout."""
    with torch.no_grad():
        sums = torch.stack([t.sum() for t in tensors])
        if bool(torch.isfinite(sums).all()):
            return 0
        return sum(
            1 << k for k, t in enumerate(tensors) if not bool(torch.isfinite(t).all())
        )


def _prepare(
    x: Tensor, state: Any, params: Any, initial: Callable[[Tensor, Any], Any]
) -> tuple[Tensor, Any]:
    _check_input(x)
    if state is None:
        state = initial(x[0], params)
    else:
        check_state(state, x.shape[1:])
    return x.reshape(x.shape[0], -1).contiguous(), state


def fused_run(
    family: NeuronFamily[Any, Any], x: Tensor, state: Any, params: Any, dt: float
) -> ScanResult[Any]:
    """``family`` over ``x [T, B, ...]`` with its fused op (see :func:`fused_unsupported`)."""
    spec = family.fused
    assert spec is not None
    flat, st = _prepare(x, state, params, family.initial_state)
    like = x[0]
    states = [_flat(getattr(st, name), like) for name in spec.states]
    coefficients = [_flat(c(params, dt), like) for c in spec.coefficients.values()]
    forward, _ = ops.OPS[family.name]
    try:
        if x.device.type != "cpu":  # the CPU kernels check these in their first pass
            report = nonfinite_report([flat, *states, *coefficients])
            if report:
                raise NonFiniteError(ops.nonfinite_message(ops.FAMILIES[family.name], report))
        out, *final = forward(
            flat, *states, *coefficients, *_codes(params), ops.SEG,
            float(getattr(params, "t_ref", 0.0)), float(dt), refractory_limit(dt),
        )
    except NonFiniteError:
        check_sequence(x, "x")  # x is the culprit: the reference path's message, with counts
        raise
    carried = {name: v.reshape(like.shape) for name, v in zip(spec.states, final)}
    return ScanResult(out.reshape(x.shape), st._replace(**carried), None)


ADAPTERS: dict[str, tuple[Callable[..., ScanResult[Any]], Callable[[Any, Tensor], str | None]]] = {
    family.name: (partial(fused_run, family), partial(fused_unsupported, family))
    for family in families()
    if family.fused is not None
}
"""Family name -> (run, unsupported), for every registered family with a fused spec: what
every backend registers for that family (the ops dispatch on the input's device)."""
