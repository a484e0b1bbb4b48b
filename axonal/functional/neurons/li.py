"""Leaky integrator: the LIF membrane without threshold, used as a non-spiking readout.

Dynamics (input ``x`` held constant over each step, integrated exactly)::

    tau_mem dv/dt = (v_leak - v) + r x
    v[t+1] = v_inf + (v[t] - v_inf) exp(-dt / tau_mem),   v_inf = v_leak + r x[t]

The output of a step is the updated membrane ``v`` itself, so a classifier can read its
logits from the last layer's membrane (max over time, mean, or the final value).

:func:`leaky_membrane` is the one implementation of this update for the families built on it
(LI, LIF, ALIF); :func:`euler_membrane` is its forward-Euler step (the ``"euler"``
discretisation of LI, LIF, CubaLI and CubaLIF).

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm (``r x`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from axonal.functional.neurons.family import (
    FamilyParams,
    NeuronFamily,
    NirMapping,
    Rule,
    Scalar,
    exp_decay,
    full_like,
    param,
    register_family,
)

__all__ = [
    "LIParams",
    "LIState",
    "leaky_membrane",
    "euler_membrane",
    "li_step",
    "li_euler_step",
    "li_multi_step",
    "li_initial_state",
    "LI_FAMILY",
]


def leaky_membrane(
    v: Tensor, x: Tensor, tau_mem: Scalar, v_leak: Scalar, r: Scalar, dt: float
) -> Tensor:
    """Exact update of ``tau_mem dv/dt = (v_leak - v) + r x`` over ``dt`` for constant ``x``.

    Shapes:
        v, x: ``[B, ...]`` (broadcastable); returns the new membrane, same shape.
    Units:
        v, v_leak in mV; x in nA; r in MOhm; tau_mem, dt in s.
    """
    v_inf = v_leak + r * x
    return v_inf + (v - v_inf) * exp_decay(dt, tau_mem)


def euler_membrane(
    v: Tensor, x: Tensor, tau_mem: Scalar, v_leak: Scalar, r: Scalar, dt: float
) -> Tensor:
    """One forward-Euler step of ``tau_mem dv/dt = (v_leak - v) + r x``.

    Shapes:
        v, x: ``[B, ...]``; returns the new membrane.
    """
    return v + (dt / tau_mem) * ((v_leak - v) + r * x)


@dataclass(frozen=True)
class LIParams(FamilyParams):
    """Parameters of a leaky integrator.

    Args:
        tau_mem: membrane time constant (s, > 0).
        v_leak: resting potential (mV).
        r: input resistance (MOhm); ``r * x`` is the drive in mV.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    tau_mem: Scalar = param(10e-3, Rule.POSITIVE, "s")
    v_leak: Scalar = param(0.0, Rule.FINITE, "mV")
    r: Scalar = param(1.0, Rule.FINITE, "MOhm")


class LIState(NamedTuple):
    """State of a leaky-integrator population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
    """

    v: Tensor


def li_initial_state(x: Tensor, params: LIParams) -> LIState:
    """Resting state (``v = v_leak``) shaped like a single-step input ``x``."""
    return LIState(v=full_like(x, params.v_leak))


def li_step(x: Tensor, state: LIState, params: LIParams, dt: float) -> tuple[Tensor, LIState]:
    """Advance a leaky integrator by one step of ``dt`` seconds; the output is the membrane.

    Shapes:
        x: ``[B, ...]`` input current; ``state.v`` the same shape.
        returns: the updated membrane ``[B, ...]`` (mV) and the new state.
    Units:
        x in nA, v in mV, dt in s.
    """
    p = params
    v = leaky_membrane(state.v, x, p.tau_mem, p.v_leak, p.r, dt)
    return v, LIState(v=v)


def li_euler_step(x: Tensor, state: LIState, params: LIParams, dt: float) -> tuple[Tensor, LIState]:
    """Leaky integrator with forward Euler: the new membrane and state."""
    v = euler_membrane(state.v, x, params.tau_mem, params.v_leak, params.r, dt)
    return v, LIState(v=v)


LI_FAMILY = register_family(
    NeuronFamily(
        name="li",
        params_type=LIParams,
        state_type=LIState,
        step=li_step,
        initial_state=li_initial_state,
        discretisations={"euler": li_euler_step},
        spiking=False,
        nir=NirMapping(
            kind="LI",
            to_node=lambda p: {"tau": p.tau_mem, "r": p.r, "v_leak": p.v_leak},
            from_node={"tau_mem": "tau", "r": "r", "v_leak": "v_leak"},
        ),
    )
)

li_multi_step = LI_FAMILY.multi_step
"""Run :func:`li_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
