"""Resonate-and-fire neuron (Izhikevich 2001), integrated exactly.

Dynamics of the complex state ``z = x + i y`` (input ``I`` held constant over each step,
entering the real part)::

    dz/dt = (b + i omega) z + r I

``b < 0`` is the damping rate (1/s) and ``omega > 0`` the angular frequency (rad/s) of the
subthreshold oscillation: without input ``z`` spirals into 0 as ``exp(b t)`` while turning at
``omega / (2 pi)`` Hz. The neuron resonates: input pulses spaced near the period add up,
pulses spaced at half the period cancel.

Exact step for constant input, ``lambda = b + i omega``::

    z[t+1] = exp(lambda dt) z[t] + (exp(lambda dt) - 1) / lambda * r I[t]

written in real arithmetic with ``A + i B = exp(lambda dt)`` and ``G = (exp(lambda dt) - 1) /
lambda``. A spike is emitted when the updated ``y`` exceeds ``a_th`` (strictly); then ``z`` is
set to the fixed reset point ``x_reset + i v_reset`` (a hard reset of both components).

State fields: ``x`` (the current-like real part) and ``v`` (the voltage-like imaginary part,
the paper's ``y``); the name ``v`` is what generic code (the simulator's conductance
synapses, monitors) reads as a membrane.

``dt`` must resolve the oscillation: ``omega dt < pi`` (at least two samples per period;
beyond it the threshold test samples an aliased rotation).

Units: time in s, ``b`` in 1/s, ``omega`` in rad/s, ``x`` and ``y`` in mV, the input in nA
and ``r`` in MOhm/s (``r I`` is a rate of change in mV/s).
"""

from __future__ import annotations

import math
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
    param,
    register_family,
    reset_to,
)
from axonal.functional.surrogate import FastSigmoid, Surrogate

__all__ = [
    "RF_FAMILY",
    "RFParams",
    "RFState",
    "rf_check_dt",
    "rf_coefficients",
    "rf_initial_state",
    "rf_multi_step",
    "rf_step",
]


@dataclass(frozen=True)
class RFParams(FamilyParams):
    """Parameters of a resonate-and-fire neuron (default: 10 Hz, damping time 100 ms).

    Args:
        b: damping rate (1/s, < 0).
        omega: angular frequency of the subthreshold oscillation (rad/s, > 0).
        a_th: threshold on ``y`` (mV).
        x_reset, v_reset: the reset point ``x + i y`` (mV); ``v_reset`` below ``a_th``.
        r: input gain (MOhm/s).
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset.
    """

    ORDER = (("v_reset", "a_th"),)

    b: Scalar = param(-10.0, Rule.NEGATIVE, "1/s")
    omega: Scalar = param(2 * math.pi * 10.0, Rule.POSITIVE, "rad/s")
    a_th: Scalar = param(1.0, Rule.FINITE, "mV")
    x_reset: Scalar = param(0.0, Rule.FINITE, "mV")
    v_reset: Scalar = param(0.0, Rule.FINITE, "mV")
    r: Scalar = param(1.0, Rule.FINITE, "MOhm/s")
    surrogate: Surrogate = param(FastSigmoid(), Rule.SURROGATE)
    detach_reset: bool = param(True, Rule.BOOL)


class RFState(NamedTuple):
    """State of a resonate-and-fire population, ``z = x + i v`` (mV), each ``[B, ...]``.

    Attributes:
        x: current-like real part.
        v: voltage-like imaginary part (the paper's ``y``); the threshold acts on it.
    """

    x: Tensor
    v: Tensor


def rf_initial_state(x: Tensor, params: RFParams) -> RFState:
    """At rest (``z = 0``), shaped like a single-step input ``x``."""
    return RFState(x=torch.zeros_like(x), v=torch.zeros_like(x))


def rf_coefficients(params: RFParams, dt: float) -> tuple[Scalar, Scalar, Scalar, Scalar]:
    """``(A, B, G_re, G_im)``: ``A + i B = exp(lambda dt)``, ``G = (exp(lambda dt) - 1) / lambda``
    with ``lambda = b + i omega`` (floats for float parameters, else tensors)."""
    b, w = params.b, params.omega
    a_: Scalar
    b_: Scalar
    if isinstance(b, Tensor) or isinstance(w, Tensor):
        bt, wt = torch.as_tensor(b), torch.as_tensor(w)
        decay = torch.exp(bt * dt)
        a_, b_ = decay * torch.cos(wt * dt), decay * torch.sin(wt * dt)
    else:
        decay_f = math.exp(b * dt)
        a_, b_ = decay_f * math.cos(w * dt), decay_f * math.sin(w * dt)
    norm = b * b + w * w
    g_re = ((a_ - 1.0) * b + b_ * w) / norm
    g_im = (b_ * b - (a_ - 1.0) * w) / norm
    return a_, b_, g_re, g_im


def rf_check_dt(params: RFParams, dt: float) -> None:
    """Reject ``dt`` with ``omega dt >= pi`` (fewer than two samples per oscillation)."""
    dt = check_dt(dt)
    w = params.omega
    w_max = float(w.detach().max()) if isinstance(w, Tensor) else float(w)
    if w_max * dt >= math.pi:
        raise ValueError(
            f"dt must satisfy omega * dt < pi (two samples per period of the subthreshold "
            f"oscillation), got dt={dt:g} s with omega up to {w_max:g} rad/s"
        )


def rf_step(x: Tensor, state: RFState, params: RFParams, dt: float) -> tuple[Tensor, RFState]:
    """Advance a resonate-and-fire population by ``dt`` seconds (exact for constant input).

    Shapes:
        x: ``[B, ...]`` input (nA); state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    """
    p = params
    a_, b_, g_re, g_im = rf_coefficients(p, dt)
    drive = p.r * x
    re = a_ * state.x - b_ * state.v + g_re * drive
    im = b_ * state.x + a_ * state.v + g_im * drive
    z = p.surrogate(im - p.a_th)
    return z, RFState(
        x=reset_to(re, z, p.x_reset, p.detach_reset),
        v=reset_to(im, z, p.v_reset, p.detach_reset),
    )


RF_FAMILY = register_family(
    NeuronFamily(
        name="rf",
        params_type=RFParams,
        state_type=RFState,
        step=rf_step,
        initial_state=rf_initial_state,
        check_dt=rf_check_dt,
    )
)
"""No NIR mapping: NIR has no resonate-and-fire node. No fused kernel (reference loop)."""

rf_multi_step = RF_FAMILY.multi_step
"""Run :func:`rf_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
