"""The fused multi-step kernels as ``torch.library`` custom ops (namespace ``axonal``).

Each family has a forward op (spikes, final state, uint8 spikes kept for the backward pass)
and a backward op (the reverse sweep that recomputes the state from the saved input, the
initial state and the uint8 spikes). The CPU implementation is the compiled extension
(:mod:`axonal.kernels._build`); a GPU backend registers a ``cuda`` kernel on the same ops.
Fake-tensor registrations give output shapes without running anything (``torch.compile``);
the autograd registration ties each forward op to its backward op.

All tensors are flat: input ``x [T, N]`` (N = batch x neurons) and state / per-neuron
coefficients ``[N]``, contiguous, one floating dtype. Codes: reset 0 subtract, 1 zero,
2 none; surrogate kinds as in :data:`axonal.kernels.linear.SURROGATE_CODES`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from axonal.kernels._build import cpu_extension_error, load_cpu_extension

__all__ = [
    "lif_forward",
    "lif_backward",
    "alif_forward",
    "alif_backward",
    "cuba_lif_forward",
    "cuba_lif_backward",
]


# Ops are defined with the low-level Library API rather than ``torch.library.custom_op``: the
# latter wraps each call in ``torch._disable_dynamo``, whose first use imports torch._dynamo
# (about 800 modules and 75 MB of RSS) into every process that trains a layer.
LIB = torch.library.Library("axonal", "DEF")
LIB.define(
    "lif_forward(Tensor x, Tensor v0, Tensor alpha, Tensor v_th, Tensor v_leak, Tensor r, Tensor v_reset, int reset, bool detach, int kind, float slope) -> (Tensor, Tensor, Tensor)"
)
LIB.define(
    "lif_backward(Tensor grad_out, Tensor grad_v, Tensor x, Tensor v0, Tensor z, Tensor alpha, Tensor v_th, Tensor v_leak, Tensor r, Tensor v_reset, int reset, bool detach, int kind, float slope) -> (Tensor, Tensor, Tensor, Tensor)"
)
LIB.define(
    "alif_forward(Tensor x, Tensor v0, Tensor a0, Tensor alpha, Tensor alpha_adapt, Tensor v_th, Tensor v_leak, Tensor r, Tensor v_reset, Tensor delta_th, int reset, bool detach, int kind, float slope) -> (Tensor, Tensor, Tensor, Tensor)"
)
LIB.define(
    "alif_backward(Tensor grad_out, Tensor grad_v, Tensor grad_a, Tensor x, Tensor v0, Tensor a0, Tensor z, Tensor alpha, Tensor alpha_adapt, Tensor v_th, Tensor v_leak, Tensor r, Tensor v_reset, Tensor delta_th, int reset, bool detach, int kind, float slope) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)"
)
LIB.define(
    "cuba_lif_forward(Tensor x, Tensor v0, Tensor i0, Tensor alpha, Tensor alpha_syn, Tensor kernel, Tensor v_th, Tensor v_leak, Tensor r, Tensor v_reset, int reset, bool detach, int kind, float slope) -> (Tensor, Tensor, Tensor, Tensor)"
)
LIB.define(
    "cuba_lif_backward(Tensor grad_out, Tensor grad_v, Tensor grad_i, Tensor x, Tensor v0, Tensor i0, Tensor z, Tensor alpha, Tensor alpha_syn, Tensor kernel, Tensor v_th, Tensor v_leak, Tensor r, Tensor v_reset, int reset, bool detach, int kind, float slope) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)"
)


def _ext() -> ModuleType:
    module = load_cpu_extension()
    if module is None:
        raise RuntimeError(f"the fused CPU kernels are not available: {cpu_extension_error()}")
    return module


def _zeros_if_none(grad: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad


def _fake_grads(x: Tensor, v0: Tensor, count: int) -> tuple[Tensor, ...]:
    return (torch.empty_like(x),) + tuple(torch.empty_like(v0) for _ in range(count))


# ------------------------------------------------------------------------------------ LIF
def _lif_forward_cpu(
    x: Tensor, v0: Tensor, alpha: Tensor, v_th: Tensor, v_leak: Tensor, r: Tensor,
    v_reset: Tensor, reset: int, detach: bool, kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """LIF over ``x [T, N]``: returns spikes ``[T, N]``, final ``v [N]``, spikes as uint8."""
    out, v_t, z = _ext().lif_forward(x, v0, alpha, v_th, v_leak, r, v_reset, reset)
    return out, v_t, z


@torch.library.register_fake("axonal::lif_forward")  # type: ignore[untyped-decorator, misc]
def _(x: Tensor, v0: Tensor, *args: Any) -> tuple[Tensor, Tensor, Tensor]:
    return torch.empty_like(x), torch.empty_like(v0), torch.empty_like(x, dtype=torch.uint8)


def _lif_backward_cpu(
    grad_out: Tensor, grad_v: Tensor, x: Tensor, v0: Tensor, z: Tensor, alpha: Tensor,
    v_th: Tensor, v_leak: Tensor, r: Tensor, v_reset: Tensor, reset: int, detach: bool,
    kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Reverse sweep: gradients w.r.t. ``x``, ``v0``, ``alpha`` and ``v_th``."""
    g = _ext().lif_backward(
        grad_out, grad_v, x, v0, z, alpha, v_th, v_leak, r, v_reset, reset, detach, kind, slope
    )
    return g[0], g[1], g[2], g[3]


@torch.library.register_fake("axonal::lif_backward")  # type: ignore[untyped-decorator, misc]
def _(grad_out: Tensor, grad_v: Tensor, x: Tensor, v0: Tensor, *args: Any) -> tuple[Tensor, ...]:
    return _fake_grads(x, v0, 3)


def _lif_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x, v0, alpha, v_th, v_leak, r, v_reset, reset, detach, kind, slope = inputs
    ctx.save_for_backward(x, v0, output[2], alpha, v_th, v_leak, r, v_reset)
    ctx.codes = (reset, detach, kind, slope)


def _lif_grad(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, _g_z: Any) -> tuple[Any, ...]:
    x, v0, z, alpha, v_th, v_leak, r, v_reset = ctx.saved_tensors
    g = lif_backward(
        _zeros_if_none(g_out, x), _zeros_if_none(g_v, v0), x, v0, z, alpha, v_th, v_leak, r,
        v_reset, *ctx.codes,
    )
    return (g[0], g[1], g[2], g[3], None, None, None, None, None, None, None)


LIB.impl("lif_forward", _lif_forward_cpu, "CPU")
LIB.impl("lif_backward", _lif_backward_cpu, "CPU")
torch.library.register_autograd("axonal::lif_forward", _lif_grad, setup_context=_lif_setup)
lif_forward: Any = torch.ops.axonal.lif_forward.default
lif_backward: Any = torch.ops.axonal.lif_backward.default


# ----------------------------------------------------------------------------------- ALIF
def _alif_forward_cpu(
    x: Tensor, v0: Tensor, a0: Tensor, alpha: Tensor, alpha_adapt: Tensor, v_th: Tensor,
    v_leak: Tensor, r: Tensor, v_reset: Tensor, delta_th: Tensor, reset: int, detach: bool,
    kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """ALIF over ``x [T, N]``: spikes, final ``v`` and ``a``, spikes as uint8."""
    out, v_t, a_t, z = _ext().alif_forward(
        x, v0, a0, alpha, alpha_adapt, v_th, v_leak, r, v_reset, delta_th, reset
    )
    return out, v_t, a_t, z


@torch.library.register_fake("axonal::alif_forward")  # type: ignore[untyped-decorator, misc]
def _(x: Tensor, v0: Tensor, *args: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return (
        torch.empty_like(x), torch.empty_like(v0), torch.empty_like(v0),
        torch.empty_like(x, dtype=torch.uint8),
    )


def _alif_backward_cpu(
    grad_out: Tensor, grad_v: Tensor, grad_a: Tensor, x: Tensor, v0: Tensor, a0: Tensor,
    z: Tensor, alpha: Tensor, alpha_adapt: Tensor, v_th: Tensor, v_leak: Tensor, r: Tensor,
    v_reset: Tensor, delta_th: Tensor, reset: int, detach: bool, kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients w.r.t. ``x, v0, a0, alpha, alpha_adapt, v_th, delta_th``."""
    g = _ext().alif_backward(
        grad_out, grad_v, grad_a, x, v0, a0, z, alpha, alpha_adapt, v_th, v_leak, r, v_reset,
        delta_th, reset, detach, kind, slope,
    )
    return g[0], g[1], g[2], g[3], g[4], g[5], g[6]


@torch.library.register_fake("axonal::alif_backward")  # type: ignore[untyped-decorator, misc]
def _(
    grad_out: Tensor, grad_v: Tensor, grad_a: Tensor, x: Tensor, v0: Tensor, *args: Any
) -> tuple[Tensor, ...]:
    return _fake_grads(x, v0, 6)


def _alif_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x, v0, a0, alpha, alpha_adapt, v_th, v_leak, r, v_reset, delta_th = inputs[:10]
    ctx.save_for_backward(
        x, v0, a0, output[3], alpha, alpha_adapt, v_th, v_leak, r, v_reset, delta_th
    )
    ctx.codes = tuple(inputs[10:])


def _alif_grad(
    ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_a: Tensor | None, _g_z: Any
) -> tuple[Any, ...]:
    x, v0, a0, z, alpha, alpha_adapt, v_th, v_leak, r, v_reset, delta_th = ctx.saved_tensors
    g = alif_backward(
        _zeros_if_none(g_out, x), _zeros_if_none(g_v, v0), _zeros_if_none(g_a, v0), x, v0, a0,
        z, alpha, alpha_adapt, v_th, v_leak, r, v_reset, delta_th, *ctx.codes,
    )
    return (g[0], g[1], g[2], g[3], g[4], g[5], None, None, None, g[6], None, None, None, None)


LIB.impl("alif_forward", _alif_forward_cpu, "CPU")
LIB.impl("alif_backward", _alif_backward_cpu, "CPU")
torch.library.register_autograd("axonal::alif_forward", _alif_grad, setup_context=_alif_setup)
alif_forward: Any = torch.ops.axonal.alif_forward.default
alif_backward: Any = torch.ops.axonal.alif_backward.default


# -------------------------------------------------------------------------------- CubaLIF
def _cuba_lif_forward_cpu(
    x: Tensor, v0: Tensor, i0: Tensor, alpha: Tensor, alpha_syn: Tensor, kernel: Tensor,
    v_th: Tensor, v_leak: Tensor, r: Tensor, v_reset: Tensor, reset: int, detach: bool,
    kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """CubaLIF over ``x [T, N]``: spikes, final ``v`` and ``i``, spikes as uint8."""
    out, v_t, i_t, z = _ext().cuba_lif_forward(
        x, v0, i0, alpha, alpha_syn, kernel, v_th, v_leak, r, v_reset, reset
    )
    return out, v_t, i_t, z


@torch.library.register_fake("axonal::cuba_lif_forward")  # type: ignore[untyped-decorator, misc]
def _(x: Tensor, v0: Tensor, *args: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return (
        torch.empty_like(x), torch.empty_like(v0), torch.empty_like(v0),
        torch.empty_like(x, dtype=torch.uint8),
    )


def _cuba_lif_backward_cpu(
    grad_out: Tensor, grad_v: Tensor, grad_i: Tensor, x: Tensor, v0: Tensor, i0: Tensor,
    z: Tensor, alpha: Tensor, alpha_syn: Tensor, kernel: Tensor, v_th: Tensor, v_leak: Tensor,
    r: Tensor, v_reset: Tensor, reset: int, detach: bool, kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients w.r.t. ``x, v0, i0, alpha, alpha_syn, kernel, v_th``."""
    g = _ext().cuba_lif_backward(
        grad_out, grad_v, grad_i, x, v0, i0, z, alpha, alpha_syn, kernel, v_th, v_leak, r,
        v_reset, reset, detach, kind, slope,
    )
    return g[0], g[1], g[2], g[3], g[4], g[5], g[6]


@torch.library.register_fake("axonal::cuba_lif_backward")  # type: ignore[untyped-decorator, misc]
def _(
    grad_out: Tensor, grad_v: Tensor, grad_i: Tensor, x: Tensor, v0: Tensor, *args: Any
) -> tuple[Tensor, ...]:
    return _fake_grads(x, v0, 6)


def _cuba_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x, v0, i0, alpha, alpha_syn, kernel, v_th, v_leak, r, v_reset = inputs[:10]
    ctx.save_for_backward(
        x, v0, i0, output[3], alpha, alpha_syn, kernel, v_th, v_leak, r, v_reset
    )
    ctx.codes = tuple(inputs[10:])


def _cuba_grad(
    ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, _g_z: Any
) -> tuple[Any, ...]:
    x, v0, i0, z, alpha, alpha_syn, kernel, v_th, v_leak, r, v_reset = ctx.saved_tensors
    g = cuba_lif_backward(
        _zeros_if_none(g_out, x), _zeros_if_none(g_v, v0), _zeros_if_none(g_i, v0), x, v0, i0,
        z, alpha, alpha_syn, kernel, v_th, v_leak, r, v_reset, *ctx.codes,
    )
    return (g[0], g[1], g[2], g[3], g[4], g[5], g[6], None, None, None, None, None, None, None)


LIB.impl("cuba_lif_forward", _cuba_lif_forward_cpu, "CPU")
LIB.impl("cuba_lif_backward", _cuba_lif_backward_cpu, "CPU")
torch.library.register_autograd("axonal::cuba_lif_forward", _cuba_grad, setup_context=_cuba_setup)
cuba_lif_forward: Any = torch.ops.axonal.cuba_lif_forward.default
cuba_lif_backward: Any = torch.ops.axonal.cuba_lif_backward.default
