"""Leaky integrate-and-fire neuron, integrated exactly.

Dynamics (between spikes, input ``x`` held constant over each step)::

    tau_mem dv/dt = (v_leak - v) + r x
    v[t+1] = v_inf + (v[t] - v_inf) exp(-dt / tau_mem),   v_inf = v_leak + r x[t]

A spike is emitted when the *updated* membrane exceeds ``v_th`` (strictly); the reset is
applied at once (Brian2 clock-driven order). After a spike the update is skipped for
``round(t_ref / dt) - 1`` further steps, so the membrane stays at ``v_reset`` for
``round(t_ref / dt)`` samples, as in Brian2.

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm (``r x`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.neurons._common import (
    NeuronFamily,
    ResetMode,
    Scalar,
    apply_reset,
    check_below,
    check_bool,
    check_finite_scalar,
    check_positive,
    check_reset,
    full_like,
    register_family,
)
from axonal.functional.neurons.li import leaky_membrane
from axonal.functional.surrogate import FastSigmoid, Surrogate
from axonal.scan import ScanResult, multi_step

__all__ = [
    "LIFParams",
    "LIFState",
    "lif_step",
    "lif_multi_step",
    "lif_initial_state",
    "LIF_FAMILY",
    "check_threshold_above_reset",
]


def check_threshold_above_reset(v_th: Scalar, v_reset: Scalar) -> None:
    """Raise unless ``v_reset < v_th`` everywhere (otherwise a neuron fires every step)."""
    check_below("v_reset", v_reset, "v_th", v_th)


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a LIF neuron.

    Args:
        tau_mem: membrane time constant (s, > 0).
        v_leak: resting potential (mV).
        v_th: threshold (mV).
        v_reset: reset potential (mV), below ``v_th``.
        r: input resistance (MOhm); ``r * x`` is the drive in mV.
        t_ref: absolute refractory period (s, >= 0); 0 disables it.
        reset: :class:`ResetMode`.
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset term.
    """

    tau_mem: Scalar = 10e-3
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    r: Scalar = 1.0
    t_ref: float = 0.0
    reset: ResetMode = ResetMode.SUBTRACT
    surrogate: Surrogate = FastSigmoid()
    detach_reset: bool = True

    def __post_init__(self) -> None:
        check_positive("tau_mem", self.tau_mem)
        for name in ("v_leak", "v_th", "v_reset", "r"):
            check_finite_scalar(name, getattr(self, name))
        check_finite_scalar("t_ref", self.t_ref)
        if isinstance(self.t_ref, Tensor) or self.t_ref < 0:
            raise ValueError(f"t_ref must be a float >= 0 s, got {self.t_ref!r}")
        check_reset(self.reset)
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, got {type(self.surrogate).__name__}")
        check_bool("detach_reset", self.detach_reset)
        check_threshold_above_reset(self.v_th, self.v_reset)


class LIFState(NamedTuple):
    """State of a LIF population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        refractory: remaining refractory time (s), ``[B, ...]``; zero when not refractory.
    """

    v: Tensor
    refractory: Tensor


def lif_initial_state(x: Tensor, params: LIFParams) -> LIFState:
    """Resting state (``v = v_leak``, not refractory) shaped like a single-step input ``x``."""
    return LIFState(v=full_like(x, params.v_leak), refractory=torch.zeros_like(x))


def lif_step(x: Tensor, state: LIFState, params: LIFParams, dt: float) -> tuple[Tensor, LIFState]:
    """Advance a LIF population by one step of ``dt`` seconds.

    Shapes:
        x: ``[B, ...]`` input current (nA); state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    """
    p = params
    v = leaky_membrane(state.v, x, p.tau_mem, p.v_leak, p.r, dt)
    if p.t_ref > 0:
        remaining = torch.clamp(state.refractory - dt, min=0.0)
        active = remaining <= 0.5 * dt
        v = torch.where(active, v, state.v)
        z = p.surrogate(v - p.v_th) * active.to(v.dtype)
        refractory = torch.where(z > 0, torch.full_like(remaining, p.t_ref), remaining)
    else:
        z = p.surrogate(v - p.v_th)
        refractory = state.refractory
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, LIFState(v=v, refractory=refractory)


def lif_multi_step(
    xs: Tensor,
    state: LIFState | None,
    params: LIFParams,
    dt: float,
    record: bool = False,
) -> ScanResult[LIFState]:
    """Run :func:`lif_step` over ``xs`` of shape ``[T, B, ...]`` (state ``None``: at rest)."""
    return multi_step(lif_step, lif_initial_state, xs, state, params, dt, record)


LIF_FAMILY = register_family(
    NeuronFamily(
        name="lif",
        params_type=LIFParams,
        state_type=LIFState,
        step=lif_step,
        initial_state=lif_initial_state,
        positive=("tau_mem",),
    )
)
