"""Current-based leaky integrator (CubaLI) and perfect integrator (I): the NIR nodes without
threshold that have no family of their own elsewhere.

CubaLI dynamics (the NIR ``CubaLI`` equations, ``w_in`` applied by the caller)::

    tau_syn di/dt = -i + x
    tau_mem dv/dt = (v_leak - v) + r i

integrated **exactly** for ``x`` held constant over each step, with the same solution as
:mod:`axonal.functional.neurons.cuba_lif` (its :func:`synaptic_kernel`); the output of a step
is the updated membrane ``v``.

Integrator (NIR ``I``): ``dv/dt = r x``, so ``v[t+1] = v[t] + dt r x[t]`` (exact for any
``dt``); the output is ``v``.

These families are not registered (they are NIR building blocks, used by
:mod:`axonal.interop` and the layers in :mod:`axonal.nn.nir_pieces`).

Units: time in s, voltage in mV, ``x`` and ``i`` in nA, ``r`` in MOhm (``r i`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.neurons._common import (
    NeuronFamily,
    Scalar,
    check_finite_scalar,
    check_positive,
    exp_decay,
    full_like,
)
from axonal.functional.neurons.cuba_lif import synaptic_kernel

__all__ = [
    "CUBA_LI_FAMILY",
    "INTEGRATOR_FAMILY",
    "CubaLIParams",
    "CubaLIState",
    "IntegratorParams",
    "IntegratorState",
    "cuba_li_initial_state",
    "cuba_li_step",
    "integrator_initial_state",
    "integrator_step",
]


@dataclass(frozen=True)
class CubaLIParams:
    """Parameters of a current-based leaky integrator.

    Args:
        tau_syn: synaptic time constant (s, > 0).
        tau_mem: membrane time constant (s, > 0).
        v_leak: resting potential (mV).
        r: input resistance (MOhm).
    """

    tau_syn: Scalar = 5e-3
    tau_mem: Scalar = 10e-3
    v_leak: Scalar = 0.0
    r: Scalar = 1.0

    def __post_init__(self) -> None:
        check_positive("tau_syn", self.tau_syn)
        check_positive("tau_mem", self.tau_mem)
        check_finite_scalar("v_leak", self.v_leak)
        check_finite_scalar("r", self.r)


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
    d = state.i - x
    v_inf = p.v_leak + p.r * x
    kernel = synaptic_kernel(dt, p.tau_syn, p.tau_mem)
    v = v_inf + (state.v - v_inf) * exp_decay(dt, p.tau_mem) + (p.r * d) * kernel
    i = x + d * exp_decay(dt, p.tau_syn)
    return v, CubaLIState(v=v, i=i)


CUBA_LI_FAMILY: NeuronFamily[CubaLIState, CubaLIParams] = NeuronFamily(
    name="cuba_li",
    params_type=CubaLIParams,
    state_type=CubaLIState,
    step=cuba_li_step,
    initial_state=cuba_li_initial_state,
    positive=("tau_syn", "tau_mem"),
)


@dataclass(frozen=True)
class IntegratorParams:
    """Parameters of a perfect integrator (NIR ``I``): ``r`` in MOhm per second of input."""

    r: Scalar = 1.0

    def __post_init__(self) -> None:
        check_finite_scalar("r", self.r)


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


INTEGRATOR_FAMILY: NeuronFamily[IntegratorState, IntegratorParams] = NeuronFamily(
    name="integrator",
    params_type=IntegratorParams,
    state_type=IntegratorState,
    step=integrator_step,
    initial_state=integrator_initial_state,
)
