"""Adaptive LIF neuron: a LIF membrane with a spike-triggered, decaying threshold increment.

Dynamics (input ``x`` held constant over each step, both equations integrated exactly)::

    tau_mem   dv/dt = (v_leak - v) + r x
    tau_adapt da/dt = -a                     and  a <- a + delta_th  at each spike

    v[t+1] = v_inf + (v[t] - v_inf) exp(-dt / tau_mem),   v_inf = v_leak + r x[t]
    a'     = a[t] exp(-dt / tau_adapt)
    z      = H(v[t+1] - (v_th + a'))            (effective threshold v_th + a')
    a[t+1] = a' + delta_th z

The threshold adaptation follows Bellec et al. 2018 (LSNN), written with the increment in mV
(their ``beta`` times the jump of ``a``) instead of a dimensionless trace. Order within a step:
charge, decay the adaptation, fire against the effective threshold, reset, then adapt.

Refractory period (``t_ref > 0``): the membrane is held after a spike by Brian2's rule
(:mod:`~axonal.functional.neurons.refractory`) while the adaptation keeps decaying; no spike
(hence no increment) can occur while refractory.

Reset choice: ``SUBTRACT`` removes the *effective* threshold distance,
``v <- v - z (v_th + a' - v_reset)``, so a neuron that fires right at threshold lands on
``v_reset`` whatever its adaptation (subtracting only ``v_th - v_reset`` would leave an adapted
neuron above ``v_reset`` and make it fire again sooner, working against the adaptation).
``ZERO`` sets ``v <- v_reset``. ``detach_reset`` only stops the gradient through the reset; the
gradient through the adaptation increment ``delta_th z`` is kept (it is the recurrent path
that e-prop/BPTT use to learn with adaptation).

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
    ResetMode,
    Rule,
    Scalar,
    apply_reset,
    exp_decay,
    field_coefficients,
    full_like,
    param,
    register_family,
)
from axonal.functional.neurons.li import leaky_membrane
from axonal.functional.neurons.refractory import refractory_gate
from axonal.functional.surrogate import FastSigmoid, Surrogate

__all__ = [
    "ALIFParams",
    "ALIFState",
    "alif_step",
    "alif_multi_step",
    "alif_initial_state",
    "ALIF_FAMILY",
]


@dataclass(frozen=True)
class ALIFParams(FamilyParams):
    """Parameters of an adaptive-threshold LIF neuron.

    Args:
        tau_mem: membrane time constant (s, > 0).
        tau_adapt: decay time constant of the threshold increment (s, > 0).
        v_leak: resting potential (mV).
        v_th: baseline threshold (mV).
        v_reset: reset potential (mV), below ``v_th``.
        delta_th: threshold increment per spike (mV, >= 0).
        r: input resistance (MOhm); ``r * x`` is the drive in mV.
        t_ref: absolute refractory period (s, >= 0); 0 disables it.
        reset: :class:`ResetMode` (``SUBTRACT`` removes the effective threshold distance).
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset term.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    ORDER = (("v_reset", "v_th"),)

    tau_mem: Scalar = param(10e-3, Rule.POSITIVE, "s")
    tau_adapt: Scalar = param(200e-3, Rule.POSITIVE, "s")
    v_leak: Scalar = param(0.0, Rule.FINITE, "mV")
    v_th: Scalar = param(1.0, Rule.FINITE, "mV")
    v_reset: Scalar = param(0.0, Rule.FINITE, "mV")
    delta_th: Scalar = param(0.1, Rule.NON_NEGATIVE, "mV")
    r: Scalar = param(1.0, Rule.FINITE, "MOhm")
    t_ref: float = param(0.0, Rule.NON_NEGATIVE_FLOAT, "s")
    reset: ResetMode = param(ResetMode.SUBTRACT, Rule.RESET)
    surrogate: Surrogate = param(FastSigmoid(), Rule.SURROGATE)
    detach_reset: bool = param(True, Rule.BOOL)


class ALIFState(NamedTuple):
    """State of an ALIF population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        a: threshold increment above ``v_th`` (mV), ``[B, ...]``; zero at rest.
        refractory: remaining refractory time (s), ``[B, ...]``; zero when not refractory.
    """

    v: Tensor
    a: Tensor
    refractory: Tensor


def alif_initial_state(x: Tensor, params: ALIFParams) -> ALIFState:
    """Resting state (``v = v_leak``, no adaptation) shaped like a single-step input ``x``."""
    return ALIFState(
        v=full_like(x, params.v_leak), a=torch.zeros_like(x), refractory=torch.zeros_like(x)
    )


def alif_step(
    x: Tensor, state: ALIFState, params: ALIFParams, dt: float
) -> tuple[Tensor, ALIFState]:
    """Advance an ALIF population by one step of ``dt`` seconds.

    Shapes:
        x: ``[B, ...]`` input current; state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    Units:
        x in nA, v and a in mV, dt in s.
    """
    p = params
    v = leaky_membrane(state.v, x, p.tau_mem, p.v_leak, p.r, dt)
    a = state.a * exp_decay(dt, p.tau_adapt)
    threshold = p.v_th + a
    v, z, refractory = refractory_gate(
        v, state.v, state.refractory, p.t_ref, dt, lambda u: p.surrogate(u - threshold)
    )
    v = apply_reset(v, z, threshold, p.v_reset, p.reset, p.detach_reset)
    a = a + p.delta_th * z
    return z, ALIFState(v=v, a=a, refractory=refractory)


ALIF_FAMILY = register_family(
    NeuronFamily(
        name="alif",
        params_type=ALIFParams,
        state_type=ALIFState,
        step=alif_step,
        initial_state=alif_initial_state,
        fused=FusedSpec(
            states=("v", "a", "refractory"),
            coefficients={
                "alpha": lambda p, dt: exp_decay(dt, p.tau_mem),
                "alpha_adapt": lambda p, dt: exp_decay(dt, p.tau_adapt),
                **field_coefficients("v_th", "v_leak", "r", "v_reset", "delta_th"),
            },
            differentiable=("alpha", "alpha_adapt", "v_th", "delta_th"),
            fixed=("v_leak", "r", "v_reset"),
        ),
    )
)

alif_multi_step = ALIF_FAMILY.multi_step
"""Run :func:`alif_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
