"""Integrate-and-fire neuron (perfect integrator, no leak), integrated exactly.

Dynamics (input ``x`` held constant over each step)::

    tau_mem dv/dt = r x
    v[t+1] = v[t] + (dt / tau_mem) r x[t]

With the defaults (``tau_mem = 1 ms``, ``r = 1``) and ``dt = 1 ms`` this is ``v += x``: the
classic discrete IF neuron of ANN-to-SNN conversion. A spike is emitted when the *updated*
membrane exceeds ``v_th`` (strictly) and the reset (:class:`ResetMode`) is applied at once.
Because the equation has no leak, the update is exact for any ``dt``. With ``t_ref > 0`` the
membrane is held after a spike by Brian2's rule (:mod:`~axonal.functional.neurons.refractory`).

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm (``r x`` in mV).
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
    ResetMode,
    Rule,
    Scalar,
    apply_reset,
    full_like,
    param,
    register_family,
)
from axonal.functional.neurons.refractory import refractory_gate, refractory_unsupported
from axonal.functional.surrogate import FastSigmoid, Surrogate

__all__ = [
    "IFParams",
    "IFState",
    "if_step",
    "if_multi_step",
    "if_initial_state",
    "IF_FAMILY",
]


@dataclass(frozen=True)
class IFParams(FamilyParams):
    """Parameters of an integrate-and-fire neuron.

    Args:
        tau_mem: integration time constant (s, > 0); ``dt / tau_mem`` scales each step's input.
        v_th: threshold (mV).
        v_reset: reset potential and resting state (mV), below ``v_th``.
        r: input resistance (MOhm); ``r * x`` is the drive in mV.
        t_ref: absolute refractory period (s, >= 0); 0 disables it.
        reset: :class:`ResetMode`.
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset term.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    ORDER = (("v_reset", "v_th"),)

    tau_mem: Scalar = param(1e-3, Rule.POSITIVE, "s")
    v_th: Scalar = param(1.0, Rule.FINITE, "mV")
    v_reset: Scalar = param(0.0, Rule.FINITE, "mV")
    r: Scalar = param(1.0, Rule.FINITE, "MOhm")
    t_ref: float = param(0.0, Rule.NON_NEGATIVE_FLOAT, "s")
    reset: ResetMode = param(ResetMode.SUBTRACT, Rule.RESET)
    surrogate: Surrogate = param(FastSigmoid(), Rule.SURROGATE)
    detach_reset: bool = param(True, Rule.BOOL)


class IFState(NamedTuple):
    """State of an IF population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        refractory: remaining refractory time (s), ``[B, ...]``; zero when not refractory.
    """

    v: Tensor
    refractory: Tensor


def if_initial_state(x: Tensor, params: IFParams) -> IFState:
    """Resting state (``v = v_reset``, not refractory) shaped like a single-step input ``x``."""
    return IFState(v=full_like(x, params.v_reset), refractory=torch.zeros_like(x))


def if_step(x: Tensor, state: IFState, params: IFParams, dt: float) -> tuple[Tensor, IFState]:
    """Advance an IF population by one step of ``dt`` seconds.

    Shapes:
        x: ``[B, ...]`` input current; ``state.v`` the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    Units:
        x in nA, v in mV, dt in s.
    """
    p = params
    gain = dt / p.tau_mem
    v = state.v + gain * (p.r * x)
    v, z, refractory = refractory_gate(
        v, state.v, state.refractory, p.t_ref, dt, lambda u: p.surrogate(u - p.v_th)
    )
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, IFState(v=v, refractory=refractory)


IF_FAMILY = register_family(
    NeuronFamily(
        name="if",
        params_type=IFParams,
        state_type=IFState,
        step=if_step,
        initial_state=if_initial_state,
        discretisations={"euler": if_step},  # no leak: forward Euler is exact
        nir=NirMapping(
            kind="IF",
            # NIR's IF is dv/dt = r x; axonal's is tau_mem dv/dt = r x
            to_node=lambda p: {"r": p.r / p.tau_mem, "v_threshold": p.v_th, "v_reset": p.v_reset},
            from_node={"r": "r", "v_th": "v_threshold", "v_reset": "v_reset"},
            constants={"tau_mem": 1.0},
            resets=True,
            refuse=refractory_unsupported,
        ),
    )
)

if_multi_step = IF_FAMILY.multi_step
"""Run :func:`if_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
