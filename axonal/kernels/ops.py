"""The fused multi-step kernels as ``torch.library`` custom ops (namespace ``axonal``).

Each family has a forward op and a backward op:

* ``<family>_forward(x, *state0, refractory0, *params, reset, detach, kind, slope, seg, t_ref,
  dt, ref_limit)`` returns the spikes, the final state (the refractory countdown last), the spikes as
  uint8 and a checkpoint of the state every ``seg`` steps (``[n_carried, ceil(T / seg), N]``;
  the countdown is carried, and checkpointed, only when ``t_ref > 0``). On CPU it checks, while
  it runs, that ``x``, the initial state and the coefficients are finite, and raises
  :class:`~axonal.errors.NonFiniteError` naming the ones that are not (``state.v``...);
* ``<family>_backward(grad_out, *grad_state, grad_refractory, x, ckpt, z, *params, reset,
  detach, kind, slope, seg, t_ref, dt, ref_limit)`` is the reverse sweep that recomputes the state segment
  by segment from the checkpoints, the saved input and the uint8 spikes; it returns the
  gradients w.r.t. the input, the initial state and the family's differentiable parameters.

The families and their signatures come from the registry: every registered family with a
fused spec (:attr:`NeuronFamily.fused <axonal.functional.neurons.NeuronFamily>`) gets its two
ops here (state ``<s>0`` for each kernel state, then the spec's coefficients in order). A
fused spec's last state is ``refractory``, the remaining refractory time (Brian2's rule,
:mod:`axonal.functional.neurons.refractory`), which the kernels run with ``t_ref``, ``dt`` and
``ref_limit = refractory_limit(dt)`` (the gate opens once the remaining time is below it).

The CPU implementation is the compiled extension (:mod:`axonal.native_build`); a GPU backend
registers a ``cuda`` implementation of the same ops (:mod:`axonal.kernels.gpu`). Fake-tensor
registrations give output shapes without running anything (``torch.compile``); the autograd
registration ties each forward op to its backward op.

All tensors are flat: input ``x [T, N]`` (N = batch x neurons) and state / per-neuron
coefficients ``[N]``, contiguous, one floating dtype. Codes: reset 0 subtract, 1 zero,
2 none; surrogate kinds as in :data:`axonal.kernels.linear.SURROGATE_CODES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.neurons import NeuronFamily, families
from axonal.native_build import cpu_extension_error, load_cpu_extension

__all__ = [
    "SEG",
    "FAMILIES",
    "OPS",
    "FusedFamily",
    "fused_family",
    "nonfinite_message",
    "sum_rows",
]

SEG = 32
"""Steps between two state checkpoints of the forward pass: the backward pass recomputes at
most this many steps of a block of neurons at a time, while their input is in cache. The
checkpoints cost ``n_state / SEG`` of the input's memory."""

_CODES = (
    "int reset, bool detach, int kind, float slope, int seg, float t_ref, float dt, "
    "float ref_limit"
)

REFRACTORY = "refractory"
"""The state every fused family carries last: the remaining refractory time (s)."""


@dataclass(frozen=True)
class FusedFamily:
    """The op signature of one family: state variables, coefficients, differentiable ones."""

    name: str
    states: tuple[str, ...]  # the op's state arguments (``v0``...), ``refractory0`` last
    params: tuple[str, ...]
    grads: tuple[str, ...]  # params with a gradient, in the order the backward returns them

    def forward_schema(self) -> str:
        args = ", ".join(f"Tensor {n}" for n in ("x",) + self.states + self.params)
        outs = ", ".join(["Tensor"] * (len(self.states) + 3))
        return f"{self.name}_forward({args}, {_CODES}) -> ({outs})"

    def backward_schema(self) -> str:
        grads = ", ".join(f"Tensor grad_{n}" for n in ("out",) + self.states)
        args = ", ".join(f"Tensor {n}" for n in ("x", "ckpt", "z") + self.params)
        outs = ", ".join(["Tensor"] * (1 + len(self.states) + len(self.grads)))
        return f"{self.name}_backward({grads}, {args}, {_CODES}) -> ({outs})"

    def checkpoint_rows(self, t_ref: float) -> int:
        """State rows of the forward's checkpoint: the refractory countdown only when
        ``t_ref > 0``."""
        return len(self.states) - (0 if t_ref > 0 else 1)


def fused_family(family: NeuronFamily[Any, Any]) -> FusedFamily:
    """The op signature of a registered family's fused spec (its last state must be
    ``refractory``)."""
    spec = family.fused
    if spec is None:
        raise ValueError(f"family {family.name!r} declares no fused kernel")
    if not spec.states or spec.states[-1] != REFRACTORY:
        raise ValueError(
            f"family {family.name!r}: a fused spec's last state must be {REFRACTORY!r} (the "
            f"kernels run Brian2's refractory period), got states {spec.states}"
        )
    return FusedFamily(
        family.name,
        tuple(f"{s}0" for s in spec.states),
        tuple(spec.coefficients),
        spec.differentiable,
    )


def nonfinite_message(fam: FusedFamily, report: int) -> str:
    """The error for a forward's non-finite report (bit 0 ``x``, then one bit per initial
    state, then one per coefficient): names every tensor that holds inf or nan."""
    names = ["x", *(f"state.{s[:-1]}" for s in fam.states),
             *(f"coefficient {p} (from the parameters)" for p in fam.params)]
    bad = [n for k, n in enumerate(names) if report >> k & 1]
    return f"{', '.join(bad)} {'contains' if len(bad) == 1 else 'contain'} inf or nan; " \
        "it would poison the state and gradients"


FAMILIES = {f.name: fused_family(f) for f in families() if f.fused is not None}
"""Fused families by name (the ``NeuronFamily`` names they implement)."""

# Ops are defined with the low-level Library API rather than ``torch.library.custom_op``: the
# latter wraps each call in ``torch._disable_dynamo``, whose first use imports torch._dynamo
# (about 800 modules and 75 MB of RSS) into every process that trains a layer.
LIB = torch.library.Library("axonal", "DEF")


def _ext() -> ModuleType:
    module = load_cpu_extension()
    if module is None:
        raise RuntimeError(f"the fused CPU kernels are not available: {cpu_extension_error()}")
    return module


def _register(fam: FusedFamily) -> tuple[Any, Any]:
    n_state, n_param = len(fam.states), len(fam.params)
    LIB.define(fam.forward_schema())
    LIB.define(fam.backward_schema())

    def forward_cpu(*args: Any) -> tuple[Tensor, ...]:
        # the C++ forward takes (x, *state0, *params, reset, seg, t_ref, dt, ref_limit) and
        # reports which of its inputs are not finite
        tensors = args[: 1 + n_state + n_param]
        reset, seg = args[1 + n_state + n_param], args[-4]
        outs, report = getattr(_ext(), f"{fam.name}_forward")(*tensors, reset, seg, *args[-3:])
        if report:
            raise NonFiniteError(nonfinite_message(fam, report))
        return tuple(outs)

    def backward_cpu(*args: Any) -> tuple[Tensor, ...]:
        return tuple(getattr(_ext(), f"{fam.name}_backward")(*args))

    def forward_fake(x: Tensor, *args: Any) -> tuple[Tensor, ...]:
        state0 = args[:n_state]
        seg, t_ref = args[-4], args[-3]
        n_seg = (x.shape[0] + seg - 1) // seg
        rows = fam.checkpoint_rows(t_ref)
        return (
            (torch.empty_like(x),)
            + tuple(torch.empty_like(s) for s in state0)
            + (torch.empty_like(x, dtype=torch.uint8), x.new_empty((rows, n_seg, x.shape[1])))
        )

    def backward_fake(*args: Any) -> tuple[Tensor, ...]:
        x = args[1 + n_state]
        vec = [x.new_empty((x.shape[1],)) for _ in range(n_state + len(fam.grads))]
        return (torch.empty_like(x), *vec)

    def setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x = inputs[0]
        params = inputs[1 + n_state : 1 + n_state + n_param]
        ctx.save_for_backward(x, output[-1], output[-2], *params)
        ctx.set_materialize_grads(False)  # no zero [T, N] gradients for the spike bytes
        ctx.codes = tuple(inputs[1 + n_state + n_param :])

    def grad(ctx: Any, g_out: Tensor | None, *g_rest: Any) -> tuple[Any, ...]:
        x, ckpt, z, *params = ctx.saved_tensors
        g_state = [
            torch.zeros_like(x[0]) if g is None else g for g in g_rest[:n_state]
        ]
        g = backward_op(
            torch.zeros_like(x) if g_out is None else g_out, *g_state, x, ckpt, z, *params,
            *ctx.codes,
        )
        by_param = dict(zip(fam.grads, g[1 + n_state :]))
        return (
            (g[0],) + tuple(g[1 : 1 + n_state]) + tuple(by_param.get(p) for p in fam.params)
            + (None,) * len(ctx.codes)
        )

    LIB.impl(f"{fam.name}_forward", forward_cpu, "CPU")
    LIB.impl(f"{fam.name}_backward", backward_cpu, "CPU")
    torch.library.register_fake(f"axonal::{fam.name}_forward")(forward_fake)
    torch.library.register_fake(f"axonal::{fam.name}_backward")(backward_fake)
    forward_op = getattr(torch.ops.axonal, f"{fam.name}_forward").default
    backward_op = getattr(torch.ops.axonal, f"{fam.name}_backward").default
    torch.library.register_autograd(f"axonal::{fam.name}_forward", grad, setup_context=setup)
    return forward_op, backward_op


OPS: dict[str, tuple[Any, Any]] = {name: _register(fam) for name, fam in FAMILIES.items()}
"""Family name -> (forward op, backward op)."""


def sum_rows(g: Tensor) -> Tensor:
    """``g [R, K]`` summed over its rows, bit for bit the same whatever the thread count on CPU
    (the compiled ``sum_rows``: fixed chunks of rows in a fixed order; torch's own sum splits a
    long reduction by the number of threads). Other devices: ``g.sum(0)``."""
    if g.device.type != "cpu":
        return g.sum(0)
    result: Tensor = _ext().sum_rows(g)
    return result


def __getattr__(name: str) -> Any:
    """``<family>_forward`` / ``<family>_backward``: the registered ops by their Python names
    (``ops.lif_forward`` is ``OPS["lif"][0]``)."""
    family, _, direction = name.rpartition("_")
    if family in OPS and direction in ("forward", "backward"):
        return OPS[family][0 if direction == "forward" else 1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
