"""Leaky integrate-and-fire neuron, integrated exactly.

Dynamics (between spikes, input ``x`` held constant over each step)::

    tau_mem dv/dt = (v_leak - v) + r x
    v[t+1] = v_inf + (v[t] - v_inf) exp(-dt / tau_mem),   v_inf = v_leak + r x[t]

A spike is emitted when the *updated* membrane exceeds ``v_th`` (strictly); the reset is
applied at once (Brian2 clock-driven order). After a spike the update is skipped for
``n_ref - 1`` further steps, so the membrane stays at ``v_reset`` for ``n_ref`` samples, with
Brian2's ``n_ref = int((t_ref + 1e-3 dt) / dt)`` (:mod:`~axonal.functional.neurons.refractory`).

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm (``r x`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.neurons.family import (
    FamilyParams,
    FusedSpec,
    NeuronFamily,
    NirMapping,
    ResetMode,
    Rule,
    Scalar,
    apply_reset,
    check_below,
    exp_decay,
    field_coefficients,
    full_like,
    param,
    register_family,
)
from axonal.functional.neurons.li import euler_membrane, leaky_membrane
from axonal.functional.neurons.refractory import (
    refractory_gate,
    refractory_unsupported,
    refuse_refractory,
)
from axonal.functional.surrogate import FastSigmoid, Surrogate

__all__ = [
    "LIFParams",
    "LIFState",
    "lif_step",
    "lif_euler_step",
    "lif_multi_step",
    "lif_initial_state",
    "LIF_FAMILY",
    "check_threshold_above_reset",
]


def check_threshold_above_reset(v_th: Scalar, v_reset: Scalar) -> None:
    """Raise unless ``v_reset < v_th`` everywhere (otherwise a neuron fires every step)."""
    check_below("v_reset", v_reset, "v_th", v_th)


@dataclass(frozen=True)
class LIFParams(FamilyParams):
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

    ORDER = (("v_reset", "v_th"),)

    tau_mem: Scalar = param(10e-3, Rule.POSITIVE, "s")
    v_leak: Scalar = param(0.0, Rule.FINITE, "mV")
    v_th: Scalar = param(1.0, Rule.FINITE, "mV")
    v_reset: Scalar = param(0.0, Rule.FINITE, "mV")
    r: Scalar = param(1.0, Rule.FINITE, "MOhm")
    t_ref: float = param(0.0, Rule.NON_NEGATIVE_FLOAT, "s")
    reset: ResetMode = param(ResetMode.SUBTRACT, Rule.RESET)
    surrogate: Surrogate = param(FastSigmoid(), Rule.SURROGATE)
    detach_reset: bool = param(True, Rule.BOOL)


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
    v, z, refractory = refractory_gate(
        v, state.v, state.refractory, p.t_ref, dt, lambda u: p.surrogate(u - p.v_th)
    )
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, LIFState(v=v, refractory=refractory)


def lif_euler_step(
    x: Tensor, state: LIFState, params: LIFParams, dt: float
) -> tuple[Tensor, LIFState]:
    """LIF with one forward-Euler step of the membrane (NIR import as snnTorch / Norse do it);
    no refractory period.

    Shapes:
        x: ``[B, ...]``; returns spikes ``[B, ...]`` and the new state.
    """
    p = params
    refuse_refractory(p, "the Euler LIF step")
    v = euler_membrane(state.v, x, p.tau_mem, p.v_leak, p.r, dt)
    z = p.surrogate(v - p.v_th)
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, LIFState(v=v, refractory=state.refractory)


LIF_FAMILY = register_family(
    NeuronFamily(
        name="lif",
        params_type=LIFParams,
        state_type=LIFState,
        step=lif_step,
        initial_state=lif_initial_state,
        discretisations={"euler": lif_euler_step},
        nir=NirMapping(
            kind="LIF",
            to_node=lambda p: {
                "tau": p.tau_mem, "r": p.r, "v_leak": p.v_leak,
                "v_threshold": p.v_th, "v_reset": p.v_reset,
            },
            from_node={
                "tau_mem": "tau", "r": "r", "v_leak": "v_leak",
                "v_th": "v_threshold", "v_reset": "v_reset",
            },
            resets=True,
            refuse=refractory_unsupported,
        ),
        fused=FusedSpec(
            states=("v", "refractory"),
            coefficients={
                "alpha": lambda p, dt: exp_decay(dt, p.tau_mem),
                **field_coefficients("v_th", "v_leak", "r", "v_reset"),
            },
            differentiable=("alpha", "v_th"),
            fixed=("v_leak", "r", "v_reset"),
        ),
    )
)

lif_multi_step = LIF_FAMILY.multi_step
"""Run :func:`lif_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
