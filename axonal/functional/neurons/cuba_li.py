"""Current-based leaky integrator (CubaLI) and perfect integrator (I): the NIR nodes without
threshold that have no family of their own elsewhere.

CubaLI dynamics (the NIR ``CubaLI`` equations, ``w_in`` applied by the caller)::

    tau_syn di/dt = -i + x
    tau_mem dv/dt = (v_leak - v) + r i

integrated **exactly** for ``x`` held constant over each step, with the same solution as
:mod:`axonal.functional.neurons.cuba_lif` (its :func:`synaptic_kernel`); the output of a step
is the updated membrane ``v``. The membrane update is CubaLIF's own
(:func:`~axonal.functional.neurons.cuba_lif.synaptic_membrane`), not a copy.

Integrator (NIR ``I``): ``dv/dt = r x``, so ``v[t+1] = v[t] + dt r x[t]`` (exact for any
``dt``); the output is ``v``.

Both are registered families (non-spiking: the output is the membrane), with the NIR nodes
``CubaLI`` and ``I``.

Units: time in s, voltage in mV, ``x`` and ``i`` in nA, ``r`` in MOhm (``r i`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.neurons.family import (
    FamilyParams,
    NeuronFamily,
    NirMapping,
    Rule,
    Scalar,
    full_like,
    param,
    register_family,
)
from axonal.functional.neurons.cuba_lif import synaptic_membrane, synaptic_membrane_euler

__all__ = [
    "CUBA_LI_FAMILY",
    "INTEGRATOR_FAMILY",
    "CubaLIParams",
    "CubaLIState",
    "IntegratorParams",
    "IntegratorState",
    "cuba_li_euler_step",
    "cuba_li_initial_state",
    "cuba_li_multi_step",
    "cuba_li_step",
    "integrator_initial_state",
    "integrator_multi_step",
    "integrator_step",
]


@dataclass(frozen=True)
class CubaLIParams(FamilyParams):
    """Parameters of a current-based leaky integrator.

    Args:
        tau_syn: synaptic time constant (s, > 0).
        tau_mem: membrane time constant (s, > 0).
        v_leak: resting potential (mV).
        r: input resistance (MOhm).
    """

    tau_syn: Scalar = param(5e-3, Rule.POSITIVE, "s")
    tau_mem: Scalar = param(10e-3, Rule.POSITIVE, "s")
    v_leak: Scalar = param(0.0, Rule.FINITE, "mV")
    r: Scalar = param(1.0, Rule.FINITE, "MOhm")


class CubaLIState(NamedTuple):
    """State of a CubaLI population: membrane ``v`` (mV) and current ``i`` (nA), ``[B, ...]``."""

    v: Tensor
    i: Tensor


def cuba_li_initial_state(x: Tensor, params: CubaLIParams) -> CubaLIState:
    """Resting state (``v = v_leak``, ``i = 0``) shaped like a single-step input ``x``."""
    return CubaLIState(v=full_like(x, params.v_leak), i=torch.zeros_like(x))


def cuba_li_step(
    x: Tensor, state: CubaLIState, params: CubaLIParams, dt: float
) -> tuple[Tensor, CubaLIState]:
    """Advance a CubaLI population by ``dt`` seconds (exact for constant ``x``).

    Shapes:
        x: ``[B, ...]``; returns the membrane ``[B, ...]`` and the new state.
    """
    p = params
    v, i = synaptic_membrane(state.v, state.i, x, p.tau_syn, p.tau_mem, p.v_leak, p.r, dt)
    return v, CubaLIState(v=v, i=i)


def cuba_li_euler_step(
    x: Tensor, state: CubaLIState, params: CubaLIParams, dt: float
) -> tuple[Tensor, CubaLIState]:
    """CubaLI with forward Euler (current first): the new membrane and state."""
    p = params
    v, i = synaptic_membrane_euler(state.v, state.i, x, p.tau_syn, p.tau_mem, p.v_leak, p.r, dt)
    return v, CubaLIState(v=v, i=i)


CUBA_LI_FAMILY = register_family(
    NeuronFamily(
        name="cuba_li",
        params_type=CubaLIParams,
        state_type=CubaLIState,
        step=cuba_li_step,
        initial_state=cuba_li_initial_state,
        discretisations={"euler": cuba_li_euler_step},
        spiking=False,
        nir=NirMapping(
            kind="CubaLI",
            to_node=lambda p: {
                "tau_syn": p.tau_syn, "tau_mem": p.tau_mem, "r": p.r, "v_leak": p.v_leak,
                "w_in": 1.0,
            },
            from_node={"tau_syn": "tau_syn", "tau_mem": "tau_mem", "r": "r", "v_leak": "v_leak"},
        ),
    )
)

cuba_li_multi_step = CUBA_LI_FAMILY.multi_step
"""Run :func:`cuba_li_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""


@dataclass(frozen=True)
class IntegratorParams(FamilyParams):
    """Parameters of a perfect integrator (NIR ``I``): ``r`` in MOhm per second of input."""

    r: Scalar = param(1.0, Rule.FINITE, "MOhm/s")


class IntegratorState(NamedTuple):
    """State of an integrator: ``v`` (mV), ``[B, ...]``."""

    v: Tensor


def integrator_initial_state(x: Tensor, params: IntegratorParams) -> IntegratorState:
    """Zero state shaped like a single-step input ``x``."""
    return IntegratorState(v=torch.zeros_like(x))


def integrator_step(
    x: Tensor, state: IntegratorState, params: IntegratorParams, dt: float
) -> tuple[Tensor, IntegratorState]:
    """``v += dt r x`` (exact); the output is the new ``v``.

    Shapes:
        x: ``[B, ...]``; returns ``v`` ``[B, ...]`` and the new state.
    """
    v = state.v + dt * (params.r * x)
    return v, IntegratorState(v=v)


INTEGRATOR_FAMILY = register_family(
    NeuronFamily(
        name="integrator",
        params_type=IntegratorParams,
        state_type=IntegratorState,
        step=integrator_step,
        initial_state=integrator_initial_state,
        discretisations={"euler": integrator_step},  # no leak: forward Euler is exact
        spiking=False,
        nir=NirMapping(kind="I", to_node=lambda p: {"r": p.r}, from_node={"r": "r"}),
    )
)

integrator_multi_step = INTEGRATOR_FAMILY.multi_step
"""Run :func:`integrator_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
