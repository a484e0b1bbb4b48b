"""Adaptive exponential integrate-and-fire neuron (AdEx; Brette & Gerstner 2005).

Dynamics::

    C dv/dt = -gL (v - EL) + gL DeltaT exp((v - VT) / DeltaT) + I - w
    tau_w dw/dt = a (v - EL) - w
    if v > v_peak:  v <- v_r,  w <- w + b

With ``t_ref > 0`` the membrane is held after a spike by Brian2's rule
(:mod:`~axonal.functional.neurons.refractory`, ``dv/dt = ... : volt (unless refractory)``)
while ``w`` keeps evolving (with the held ``v``).

Scheme: forward Euler, ``v`` and ``w`` both updated from the *old* values, then the threshold
test on the updated ``v`` (strict ``>``) and the reset at once (Brian2 clock-driven order, as
in Brian2's AdEx examples with ``method='euler'``).

The exponent is clamped at ``(v_peak - VT) / DeltaT``. The state that :func:`adex_step` returns
never exceeds ``v_peak``, so the clamp does not change any result; it only keeps a state given
from outside from overflowing the exponential.

Units:
    voltages in mV, capacitance in pF, conductances in nS, currents (input ``x``, ``w``, ``b``)
    in pA, ``tau_w`` and ``dt`` in **seconds** (converted to ms inside: pA/pF = mV/ms).

Field names (paper / Brian2 / NEST): ``c_mem`` = C / C_m, ``g_leak`` = gL / g_L, ``v_leak`` =
EL / E_L, ``v_th`` = VT / V_th (the exponential threshold), ``delta_t`` = DeltaT / Delta_T (the
slope factor, a voltage, not a time), ``v_reset`` = Vr / V_reset.

Initial state: ``v = v_leak``, ``w = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.neurons.family import (
    FamilyParams,
    NeuronFamily,
    Rule,
    Scalar,
    check_dt,
    full_like,
    param,
    register_family,
    reset_to,
)
from axonal.functional.neurons.refractory import refractory_gate
from axonal.functional.surrogate import FastSigmoid, Surrogate

__all__ = [
    "AdExParams",
    "AdExState",
    "adex_initial_state",
    "adex_step",
    "adex_multi_step",
    "adex_check_dt",
    "ADEX_FAMILY",
]


def _min_value(value: Scalar) -> float:
    if isinstance(value, Tensor):
        with torch.no_grad():
            return float(value.min())
    return float(value)


@dataclass(frozen=True)
class AdExParams(FamilyParams):
    """Parameters of an AdEx neuron (default: the regular-spiking set of Brette & Gerstner 2005,
    with ``v_peak = VT + 5 DeltaT`` as in Brian2's example).

    Args:
        c_mem: membrane capacitance (pF, > 0).
        g_leak: leak conductance (nS, > 0).
        v_leak: leak reversal potential (mV).
        v_th: exponential threshold VT (mV).
        delta_t: slope factor DeltaT (mV, > 0).
        a: subthreshold adaptation conductance (nS).
        tau_w: adaptation time constant (s, > 0).
        b: spike-triggered adaptation increment (pA).
        v_reset: reset potential (mV), below ``v_peak``.
        v_peak: spike cut-off (mV); a spike is ``v > v_peak``.
        t_ref: absolute refractory period (s, >= 0); 0 (the default) disables it.
        surrogate: spike function with its surrogate gradient (argument in mV).
        detach_reset: stop the gradient through the reset terms.
    """

    ORDER = (("v_reset", "v_peak"),)

    c_mem: Scalar = param(281.0, Rule.POSITIVE, "pF")
    g_leak: Scalar = param(30.0, Rule.POSITIVE, "nS")
    v_leak: Scalar = param(-70.6, Rule.FINITE, "mV")
    v_th: Scalar = param(-50.4, Rule.FINITE, "mV")
    delta_t: Scalar = param(2.0, Rule.POSITIVE, "mV")
    a: Scalar = param(4.0, Rule.FINITE, "nS")
    tau_w: Scalar = param(144e-3, Rule.POSITIVE, "s")
    b: Scalar = param(80.5, Rule.FINITE, "pA")
    v_reset: Scalar = param(-70.6, Rule.FINITE, "mV")
    v_peak: Scalar = param(-40.4, Rule.FINITE, "mV")
    t_ref: float = param(0.0, Rule.NON_NEGATIVE_FLOAT, "s")
    surrogate: Surrogate = param(FastSigmoid(slope=0.2), Rule.SURROGATE)
    detach_reset: bool = param(True, Rule.BOOL)


class AdExState(NamedTuple):
    """State of an AdEx population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        w: adaptation current (pA), ``[B, ...]``.
        refractory: remaining refractory time (s), ``[B, ...]``; zero when not refractory.
    """

    v: Tensor
    w: Tensor
    refractory: Tensor


def adex_initial_state(x: Tensor, params: AdExParams) -> AdExState:
    """``v = v_leak``, ``w = 0``, not refractory, shaped like a single-step input ``x``."""
    return AdExState(
        v=full_like(x, params.v_leak), w=torch.zeros_like(x), refractory=torch.zeros_like(x)
    )


def adex_check_dt(params: AdExParams, dt: float) -> None:
    """Reject ``dt`` at or above the membrane time constant ``c_mem / g_leak`` or ``tau_w``.

    Forward Euler on a linear decay with time constant ``tau`` overshoots (and, from
    ``2 tau``, diverges) once ``dt >= tau``; far below that the exponential upstroke is still
    coarse (the Euler spike times at 0.1 ms are off by up to a few ms, see the tests).
    """
    dt = check_dt(dt)
    tau_mem = _min_value(torch.as_tensor(params.c_mem) / torch.as_tensor(params.g_leak)) * 1e-3
    if dt >= tau_mem:
        raise ValueError(
            f"dt must be < the membrane time constant c_mem/g_leak = {tau_mem:g} s for forward "
            f"Euler, got dt={dt:g} s"
        )
    tau_w = _min_value(params.tau_w)
    if dt >= tau_w:
        raise ValueError(
            f"dt must be < tau_w = {tau_w:g} s for forward Euler, got dt={dt:g} s"
        )


def adex_step(
    x: Tensor, state: AdExState, params: AdExParams, dt: float
) -> tuple[Tensor, AdExState]:
    """One forward-Euler step of ``dt`` seconds.

    Shapes:
        x: ``[B, ...]`` input current (pA); state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    """
    p = params
    h = dt * 1e3
    v, w = state.v, state.w
    arg = (v - p.v_th) / p.delta_t
    arg = torch.minimum(arg, full_like(arg, (p.v_peak - p.v_th) / p.delta_t))
    current = -p.g_leak * (v - p.v_leak) + p.g_leak * p.delta_t * torch.exp(arg) + x - w
    v_new = v + h * current / p.c_mem
    w_new = w + (dt / p.tau_w) * (p.a * (v - p.v_leak) - w)
    v_new, z, refractory = refractory_gate(
        v_new, v, state.refractory, p.t_ref, dt, lambda u: p.surrogate(u - p.v_peak)
    )
    zr = z.detach() if p.detach_reset else z
    v_new = reset_to(v_new, z, p.v_reset, p.detach_reset)
    w_new = w_new + zr * p.b
    return z, AdExState(v=v_new, w=w_new, refractory=refractory)


ADEX_FAMILY = register_family(
    NeuronFamily(
        name="adex",
        params_type=AdExParams,
        state_type=AdExState,
        step=adex_step,
        initial_state=adex_initial_state,
        method="euler",
        check_dt=adex_check_dt,
    )
)

adex_multi_step = ADEX_FAMILY.multi_step
"""Run :func:`adex_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
