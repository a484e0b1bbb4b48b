"""Leaky integrator: the LIF membrane without threshold, used as a non-spiking readout.

Dynamics (input ``x`` held constant over each step, integrated exactly)::

    tau_mem dv/dt = (v_leak - v) + r x
    v[t+1] = v_inf + (v[t] - v_inf) exp(-dt / tau_mem),   v_inf = v_leak + r x[t]

The output of a step is the updated membrane ``v`` itself, so a classifier can read its
logits from the last layer's membrane (max over time, mean, or the final value).

:func:`leaky_membrane` is the one implementation of this update for the families built on it
(LI, ALIF).

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm (``r x`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from axonal.functional.neurons._common import (
    NeuronFamily,
    Scalar,
    check_finite_scalar,
    check_positive,
    exp_decay,
    full_like,
    register_family,
)
from axonal.scan import ScanResult, multi_step

__all__ = [
    "LIParams",
    "LIState",
    "leaky_membrane",
    "li_step",
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


@dataclass(frozen=True)
class LIParams:
    """Parameters of a leaky integrator.

    Args:
        tau_mem: membrane time constant (s, > 0).
        v_leak: resting potential (mV).
        r: input resistance (MOhm); ``r * x`` is the drive in mV.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    tau_mem: Scalar = 10e-3
    v_leak: Scalar = 0.0
    r: Scalar = 1.0

    def __post_init__(self) -> None:
        check_positive("tau_mem", self.tau_mem)
        check_finite_scalar("v_leak", self.v_leak)
        check_finite_scalar("r", self.r)


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


def li_multi_step(
    xs: Tensor,
    state: LIState | None,
    params: LIParams,
    dt: float,
    record: bool = False,
) -> ScanResult[LIState]:
    """Run :func:`li_step` over ``xs`` of shape ``[T, B, ...]`` (state ``None``: at rest).

    Shapes:
        xs: ``[T, B, ...]``; returns the membrane ``[T, B, ...]``, the final state and, with
        ``record``, the state trace.
    """
    return multi_step(li_step, li_initial_state, xs, state, params, dt, record)


LI_FAMILY = register_family(
    NeuronFamily(
        name="li",
        params_type=LIParams,
        state_type=LIState,
        step=li_step,
        initial_state=li_initial_state,
        positive=("tau_mem",),
    )
)
