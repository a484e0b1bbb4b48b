"""Fused recurrent layers on CPU: a neuron family driven by its own spikes through ``W``.

:class:`axonal.nn.Recurrent` ``(neuron, nn.Linear(n, n))`` runs
``z[t] = neuron(x[t] + fed[t])`` with ``fed[0]`` the fed-back input of its state (zero from
rest) and ``fed[t] = z[t-1] W^T + b`` after it. The step's input depends on the previous step's
spikes, so the family's fused kernels (:mod:`axonal.kernels.ops`) cannot run it; the compiled
piece ``"recurrent"`` (``kernels/recurrent_cpu.cpp``) runs the whole time loop in C++ instead,
one GEMM on ``[B, n]`` per step followed by the family's elementwise step (the traits of
``csrc/fused_kernels.h``, the code of the fused kernels). Each family with a fused spec gets
two ``torch.library`` ops (namespace ``axonal``):

* ``<family>_recurrent_forward(x, fed0, weight, bias, *state0, refractory0, *coefficients,
  reset, detach, kind, slope, t_ref, dt, ref_limit)`` returns the spikes ``[T, N]``, the final
  state (the refractory countdown last), the state before every step ``[T, n_carried, N]``
  and the input of every step ``I = x + fed`` ``[T, N]`` (both kept for the backward pass);
* ``<family>_recurrent_backward(grad_out, *grad_state, grad_refractory, out, trace, inputs,
  weight, *coefficients, reset, detach, kind, slope, t_ref, dt, ref_limit)``: the reverse
  sweep; it returns the gradients w.r.t. the input (its first row is also the gradient w.r.t.
  ``fed0``), the initial state, the family's differentiable coefficients, ``W`` and ``b``.

Flat layout as the fused ops: ``x [T, N]`` with ``N = B * n`` (rows of ``[B, n]``), states and
coefficients ``[N]``; codes as :mod:`axonal.kernels.ops`.

Results: the recurrent input is computed with the call ``nn.Linear`` makes (``addmm`` with a
bias, ``mm`` without), so the spikes and states equal the Python loop's bit for bit in float32
and float64 (same torch, same thread count). Gradients equal autograd through the loop to
rounding (``dL/dW`` is one GEMM over all steps instead of a sum of per-step products). The
elementwise steps give the same bits whatever the thread count; the GEMMs are torch's, as in the
loop.

:func:`recurrent_run` is the adapter (flattening, coefficients from the family's
:class:`~axonal.functional.neurons.FusedSpec`, as :func:`~axonal.kernels.linear.fused_run`);
:func:`recurrent_unsupported` says why a case runs the Python loop instead.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.neurons import NeuronFamily
from axonal.functional.neurons.refractory import refractory_limit
from axonal.functional.scan import check_sequence, check_state
from axonal.kernels.linear import _codes, _flat, fused_unsupported
from axonal.kernels.ops import FAMILIES, FusedFamily
from axonal.native_build import cpu_extension_error, load_cpu_extension, load_extension

__all__ = [
    "RECURRENT_OPS",
    "recurrent_available",
    "recurrent_message",
    "recurrent_run",
    "recurrent_unsupported",
]

_CODES = "int reset, bool detach, int kind, float slope, float t_ref, float dt, float ref_limit"
_DTYPES = (torch.float32, torch.float64)

# a fragment of the "axonal" namespace that kernels/ops.py defines
LIB = torch.library.Library("axonal", "FRAGMENT")


def recurrent_available() -> bool:
    """Whether the recurrent piece and the fused piece (its ``sum_rows``) load, compiling
    them on the first call."""
    return load_extension("recurrent") is not None and load_cpu_extension() is not None


def _ext() -> ModuleType:
    module = load_extension("recurrent")
    if module is None:
        raise RuntimeError(
            f"the fused recurrent CPU kernels are not available: {cpu_extension_error('recurrent')}"
        )
    return module


def recurrent_message(fam: FusedFamily, report: int) -> str:
    """The error for a forward's non-finite report (bits: ``x``, ``fed0``, the weight, the
    bias, then each initial state, then each coefficient): names every culprit."""
    names = ["x", "the fed-back input (state[1])", "the recurrent weight", "the recurrent bias",
             *(f"state.{s[:-1]}" for s in fam.states),
             *(f"coefficient {p} (from the parameters)" for p in fam.params)]
    bad = [n for k, n in enumerate(names) if report >> k & 1]
    return f"{', '.join(bad)} {'contains' if len(bad) == 1 else 'contain'} inf or nan; " \
        "it would poison the state and gradients"


def _schemas(fam: FusedFamily) -> tuple[str, str]:
    n_state = len(fam.states)
    states = ", ".join(f"Tensor {s}" for s in fam.states)
    params = ", ".join(f"Tensor {p}" for p in fam.params)
    forward = (
        f"{fam.name}_recurrent_forward(Tensor x, Tensor fed0, Tensor weight, Tensor? bias, "
        f"{states}, {params}, {_CODES}) -> ({', '.join(['Tensor'] * (n_state + 3))})"
    )
    grads = ", ".join(f"Tensor grad_{s}" for s in fam.states)
    backward = (
        f"{fam.name}_recurrent_backward(Tensor grad_out, {grads}, Tensor out, Tensor trace, "
        f"Tensor inputs, Tensor weight, {params}, {_CODES}) -> "
        f"({', '.join(['Tensor'] * (1 + n_state + len(fam.grads) + 2))})"
    )
    return forward, backward


def _register(fam: FusedFamily) -> tuple[Any, Any]:
    n_state, n_param = len(fam.states), len(fam.params)
    forward_schema, backward_schema = _schemas(fam)
    LIB.define(forward_schema)
    LIB.define(backward_schema)

    def forward_cpu(x: Tensor, fed0: Tensor, weight: Tensor, bias: Tensor | None,
                    *args: Any) -> tuple[Tensor, ...]:
        states, coefs = args[:n_state], args[n_state : n_state + n_param]
        reset, _detach, _kind, _slope, t_ref, dt, ref_limit = args[n_state + n_param :]
        outs, report = getattr(_ext(), f"{fam.name}_recurrent_forward")(
            x, fed0, weight, bias, list(states), list(coefs), reset, t_ref, dt, ref_limit
        )
        if report:
            raise NonFiniteError(recurrent_message(fam, report))
        return tuple(outs)

    def backward_cpu(*args: Any) -> tuple[Tensor, ...]:
        g_out, g_states = args[0], args[1 : 1 + n_state]
        out, trace, inputs, weight = args[1 + n_state : 5 + n_state]
        coefs = args[5 + n_state : 5 + n_state + n_param]
        codes = args[5 + n_state + n_param :]
        return tuple(getattr(_ext(), f"{fam.name}_recurrent_backward")(
            g_out, list(g_states), out, trace, inputs, weight, list(coefs), *codes
        ))

    def forward_fake(x: Tensor, fed0: Tensor, weight: Tensor, bias: Tensor | None,
                     *args: Any) -> tuple[Tensor, ...]:
        t_ref = args[n_state + n_param + 4]
        rows = fam.checkpoint_rows(t_ref)
        return (
            (torch.empty_like(x),)
            + tuple(torch.empty_like(s) for s in args[:n_state])
            + (x.new_empty((x.shape[0], rows, x.shape[1])), torch.empty_like(x))
        )

    def backward_fake(*args: Any) -> tuple[Tensor, ...]:
        inputs, weight = args[3 + n_state], args[4 + n_state]
        vec = [inputs.new_empty((inputs.shape[1],)) for _ in range(n_state + len(fam.grads))]
        return (torch.empty_like(inputs), *vec, torch.empty_like(weight),
                weight.new_empty((weight.shape[0],)))

    def setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        weight, bias = inputs[2], inputs[3]
        coefs = inputs[4 + n_state : 4 + n_state + n_param]
        ctx.save_for_backward(output[0], output[-2], output[-1], weight, *coefs)
        ctx.set_materialize_grads(False)  # no zero [T, N] gradients for the trace and inputs
        ctx.has_bias = bias is not None
        ctx.codes = tuple(inputs[4 + n_state + n_param :])

    def grad(ctx: Any, g_out: Tensor | None, *g_rest: Any) -> tuple[Any, ...]:
        out, trace, inputs, weight, *coefs = ctx.saved_tensors
        g_state = [torch.zeros_like(out[0]) if g is None else g for g in g_rest[:n_state]]
        g = backward_op(
            torch.zeros_like(out) if g_out is None else g_out, *g_state, out, trace, inputs,
            weight, *coefs, *ctx.codes,
        )
        g_x, g_w, g_b = g[0], g[-2], g[-1]
        by_param = dict(zip(fam.grads, g[1 + n_state : 1 + n_state + len(fam.grads)]))
        return (
            (g_x, g_x[0].clone(), g_w, g_b if ctx.has_bias else None)
            + tuple(g[1 : 1 + n_state])
            + tuple(by_param.get(p) for p in fam.params)
            + (None,) * len(ctx.codes)
        )

    name = f"{fam.name}_recurrent"
    LIB.impl(f"{name}_forward", forward_cpu, "CPU")
    LIB.impl(f"{name}_backward", backward_cpu, "CPU")
    torch.library.register_fake(f"axonal::{name}_forward", lib=LIB)(forward_fake)
    torch.library.register_fake(f"axonal::{name}_backward", lib=LIB)(backward_fake)
    forward_op = getattr(torch.ops.axonal, f"{name}_forward").default
    backward_op = getattr(torch.ops.axonal, f"{name}_backward").default
    torch.library.register_autograd(f"axonal::{name}_forward", grad, setup_context=setup, lib=LIB)
    return forward_op, backward_op


RECURRENT_OPS: dict[str, tuple[Any, Any]] = {name: _register(fam) for name, fam in FAMILIES.items()}
"""Family name -> (recurrent forward op, recurrent backward op), for every fused family."""


def recurrent_unsupported(
    family: NeuronFamily[Any, Any], params: Any, x: Tensor, fed0: Tensor, weight: Tensor,
    bias: Tensor | None,
) -> str | None:
    """Why the fused recurrent kernel cannot run ``family`` with ``params`` on ``x [T, B, n]``
    fed back through ``weight [n, n]`` (and ``bias [n]``) from ``fed0 [B, n]`` (``None``: it
    can). Availability of the compiled code is :func:`recurrent_available`."""
    if family.name not in RECURRENT_OPS:
        return f"family {family.name!r} has no fused recurrent kernel"
    if not isinstance(x, Tensor) or x.dim() != 3:
        return "x is not [T, B, n]"
    reason = fused_unsupported(family, params, x)
    if reason is not None:
        return reason
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} (float32 or float64 only)"
    if x.device.type != "cpu":
        return f"device {x.device} (CPU only)"
    n = x.shape[-1]
    if not isinstance(weight, Tensor) or weight.shape != (n, n):
        return f"the recurrent weight is not [{n}, {n}]"
    tensors = {"the recurrent weight": weight, "the fed-back input": fed0}
    if bias is not None:
        if not isinstance(bias, Tensor) or bias.shape != (n,):
            return f"the recurrent bias is not [{n}]"
        tensors["the recurrent bias"] = bias
    if not isinstance(fed0, Tensor) or fed0.shape != x.shape[1:]:
        return "the fed-back input does not have the shape of one step of x"
    for what, t in tensors.items():
        if t.dtype != x.dtype or t.device != x.device:
            return f"{what} is {t.dtype} on {t.device}, x {x.dtype} on {x.device}"
    return None


def recurrent_run(
    family: NeuronFamily[Any, Any], x: Tensor, state: Any, fed0: Tensor, weight: Tensor,
    bias: Tensor | None, params: Any, dt: float,
) -> tuple[Tensor, Any]:
    """``family`` over ``x [T, B, n]`` with the recurrent input ``fed0 [B, n]`` at the first
    step and ``z[t-1] W^T + b`` after it (see :func:`recurrent_unsupported`): returns the
    spikes ``[T, B, n]`` and the family's final state. ``state`` is the family's state
    NamedTuple or ``None`` (its initial state); it is checked here (shapes, finite)."""
    spec = family.fused
    assert spec is not None
    check_sequence(x, "x")
    if state is None:
        state = family.initial_state(x[0], params)
    else:
        check_state(state, x.shape[1:])
    like = x[0]
    states = [_flat(getattr(state, name), like) for name in spec.states]
    coefficients = [_flat(c(params, dt), like) for c in spec.coefficients.values()]
    forward, _ = RECURRENT_OPS[family.name]
    out, *final = forward(
        x.reshape(x.shape[0], -1).contiguous(), fed0.reshape(-1).contiguous(), weight, bias,
        *states, *coefficients, *_codes(params), float(getattr(params, "t_ref", 0.0)),
        float(dt), refractory_limit(dt),
    )
    carried = {name: v.reshape(like.shape) for name, v in zip(spec.states, final)}
    return out.reshape(x.shape), state._replace(**carried)
