"""The one adapter from a neuron family's fused spec to its fused ops.

:func:`fused_run` validates like the reference (``multi_step``), flattens ``[T, B, ...]`` to
``[T, N]``, expands every per-step coefficient of the family's
:class:`~axonal.functional.neurons.FusedSpec` (computed from the parameters and ``dt`` by the
family's own functions, e.g. ``exp_decay``, ``synaptic_kernel``) to one value per neuron
(``[N]``; autograd sums the gradients back to the parameter's own shape), calls the op and
reshapes back. :func:`fused_unsupported` says why a parameter record or input cannot run fused.

Supported: float32 / float64; the registered surrogates (fast_sigmoid, atan, sigmoid,
triangle, straight_through; ``Smoothed`` and user subclasses run the reference); every reset
mode; ``detach_reset`` both ways; gradients w.r.t. the input, the initial state and the
parameters behind the spec's differentiable coefficients (LIF: ``tau_mem``, ``v_th``; CubaLIF
also ``tau_syn``; ALIF also ``tau_adapt`` and ``delta_th``), as Python floats, 0-d or
per-neuron tensors. Not supported (reference loop): what the spec refuses (LIF with
``t_ref > 0``), gradients w.r.t. the spec's fixed parameters (``v_leak``, ``r``,
``v_reset``), parameters that broadcast beyond the input.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor

from axonal.functional.neurons import NeuronFamily, ResetMode, families
from axonal.functional.surrogate import Surrogate, kernel_codes
from axonal.kernels import ops
from axonal.functional.scan import ScanResult, check_sequence, check_state

__all__ = [
    "ADAPTERS",
    "SURROGATE_CODES",
    "RESET_CODES",
    "fused_run",
    "fused_unsupported",
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


def fused_run(
    family: NeuronFamily[Any, Any], x: Tensor, state: Any, params: Any, dt: float
) -> ScanResult[Any]:
    """``family`` over ``x [T, B, ...]`` with its fused op (see :func:`fused_unsupported`)."""
    spec = family.fused
    assert spec is not None
    flat, st = _prepare(x, state, params, family.initial_state)
    like = x[0]
    forward, _ = ops.OPS[family.name]
    out, *final = forward(
        flat,
        *(_flat(getattr(st, name), like) for name in spec.states),
        *(_flat(coefficient(params, dt), like) for coefficient in spec.coefficients.values()),
        *_codes(params),
        ops.SEG,
    )
    carried = {name: v.reshape(like.shape) for name, v in zip(spec.states, final)}
    return ScanResult(out.reshape(x.shape), st._replace(**carried), None)


ADAPTERS: dict[str, tuple[Callable[..., ScanResult[Any]], Callable[[Any, Tensor], str | None]]] = {
    family.name: (partial(fused_run, family), partial(fused_unsupported, family))
    for family in families()
    if family.fused is not None
}
"""Family name -> (run, unsupported), for every registered family with a fused spec: what
every backend registers for that family (the ops dispatch on the input's device)."""
