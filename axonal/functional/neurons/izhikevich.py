"""Izhikevich (2003) simple model of spiking neurons.

Dynamics, in the units of the paper (v in mV, t in ms)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I
    du/dt = a (b v - u)
    if v >= v_peak:  v <- c,  u <- u + d

Two discretisations are provided, each as its own step function:

* :func:`izhikevich_step` (the family's step): forward Euler, both variables updated from the
  *old* values, then the threshold test on the updated ``v`` and the reset at once (Brian2
  ``method='euler'``, NEST ``izhikevich`` with ``consistent_integration=True``)::

      v' = v + dt (0.04 v^2 + 5 v + 140 - u + I);   u' = u + dt a (b v - u)
      if v' >= v_peak: spike; v' = c; u' = u' + d

* :func:`izhikevich_paper_step`: the scheme of the paper's MATLAB code, two half steps of ``v``
  and then ``u`` from the *new* ``v`` (NEST ``consistent_integration=False``); the paper uses it
  at ``dt = 1 ms``::

      v += dt/2 f(v, u);  v += dt/2 f(v, u);  u += dt a (b v - u);  then test and reset

Units:
    ``v``, ``c``, ``v_peak``, ``v_init``: mV. ``u``, ``d`` and the input ``I``: mV/ms (the paper
    calls ``I`` dimensionless). ``a``: 1/ms. ``b``: 1/ms (it turns mV into the mV/ms of ``u``).
    ``dt`` is in **seconds**, as everywhere in axonal, and converted to ms inside.

Initial state: ``v = v_init`` (default -65 mV) and ``u = b * v_init``.
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
    check_below,
    check_dt,
    full_like,
    param,
    register_family,
    reset_to,
)
from axonal.functional.surrogate import FastSigmoid, Surrogate
from axonal.functional.scan import ScanResult

__all__ = [
    "IzhikevichParams",
    "IzhikevichState",
    "izhikevich_initial_state",
    "izhikevich_step",
    "izhikevich_paper_step",
    "izhikevich_multi_step",
    "izhikevich_paper_multi_step",
    "izhikevich_check_dt",
    "IZHIKEVICH_FAMILY",
    "check_below",
    "reset_to",
]

MAX_DT_MS = 1.0
"""Largest step (ms) accepted for the Izhikevich schemes: the paper's own step."""


def _max_abs(value: Scalar) -> float:
    """``max |value|`` of a float or tensor parameter, as a float (no gradient)."""
    if isinstance(value, Tensor):
        with torch.no_grad():
            return float(value.abs().max())
    return abs(float(value))


def spike_at_or_above(v: Tensor, v_peak: Scalar, surrogate: Surrogate) -> Tensor:
    """Spike where ``v >= v_peak`` (inclusive, as in the paper).

    Computed as ``1 - H(v_peak - v)`` with the strict Heaviside ``H`` of ``surrogate``; the
    pseudo-derivative is ``surrogate.grad(v_peak - v)``, which equals ``grad(v - v_peak)`` for
    the (symmetric) surrogates in :mod:`axonal.functional.surrogate`.
    """
    return 1.0 - surrogate(v_peak - v)


@dataclass(frozen=True)
class IzhikevichParams(FamilyParams):
    """Parameters of an Izhikevich neuron (default: regular spiking, RS).

    Args:
        a: recovery rate of ``u`` (1/ms).
        b: sensitivity of ``u`` to ``v`` (1/ms).
        c: reset potential (mV), below ``v_peak``.
        d: jump of ``u`` at a spike (mV/ms).
        v_peak: spike cut-off (mV); a spike is ``v >= v_peak``.
        v_init: initial membrane potential (mV); ``u`` starts at ``b * v_init``.
        surrogate: spike function with its surrogate gradient; the argument is in mV, so the
            default slope is small (0.2/mV: a pseudo-derivative a few mV wide).
        detach_reset: stop the gradient through the reset terms.
    """

    ORDER = (("c", "v_peak"),)

    a: Scalar = param(0.02, Rule.FINITE, "1/ms")
    b: Scalar = param(0.2, Rule.FINITE, "1/ms")
    c: Scalar = param(-65.0, Rule.FINITE, "mV")
    d: Scalar = param(8.0, Rule.FINITE, "mV/ms")
    v_peak: Scalar = param(30.0, Rule.FINITE, "mV")
    v_init: Scalar = param(-65.0, Rule.FINITE, "mV")
    surrogate: Surrogate = param(FastSigmoid(slope=0.2), Rule.SURROGATE)
    detach_reset: bool = param(True, Rule.BOOL)


class IzhikevichState(NamedTuple):
    """State of an Izhikevich population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        u: recovery variable (mV/ms), ``[B, ...]``.
    """

    v: Tensor
    u: Tensor


def izhikevich_initial_state(x: Tensor, params: IzhikevichParams) -> IzhikevichState:
    """``v = v_init``, ``u = b * v_init``, shaped like a single-step input ``x``."""
    v = full_like(x, params.v_init)
    return IzhikevichState(v=v, u=v * params.b)


def izhikevich_check_dt(params: IzhikevichParams, dt: float) -> None:
    """Reject a step too large for the Izhikevich schemes.

    Rule: ``dt <= 1 ms`` (the paper's own step; beyond it the quadratic upstroke is not
    resolved and the spike train depends on the scheme more than on the model) and
    ``|a| dt < 1`` (otherwise the update of ``u`` overshoots its fixed point).
    """
    dt = check_dt(dt)
    dt_ms = dt * 1e3
    if dt_ms > MAX_DT_MS:
        raise ValueError(
            f"dt must be <= {MAX_DT_MS * 1e-3:g} s for the Izhikevich model (the paper's step), "
            f"got dt={dt:g} s"
        )
    a_max = _max_abs(params.a)
    if a_max * dt_ms >= 1.0:
        raise ValueError(
            f"dt must satisfy |a| * dt < 1 (a in 1/ms) so that the u update does not overshoot, "
            f"got dt={dt:g} s with max |a| = {a_max:g}/ms"
        )


def _drive(v: Tensor, u: Tensor, x: Tensor) -> Tensor:
    """``dv/dt`` in mV/ms."""
    return 0.04 * v * v + 5.0 * v + 140.0 - u + x


def _fire_and_reset(
    v: Tensor, u: Tensor, p: IzhikevichParams
) -> tuple[Tensor, IzhikevichState]:
    z = spike_at_or_above(v, p.v_peak, p.surrogate)
    zr = z.detach() if p.detach_reset else z
    v = reset_to(v, z, p.c, p.detach_reset)
    u = u + zr * p.d
    return z, IzhikevichState(v=v, u=u)


def izhikevich_step(
    x: Tensor, state: IzhikevichState, params: IzhikevichParams, dt: float
) -> tuple[Tensor, IzhikevichState]:
    """One forward-Euler step of ``dt`` seconds (both variables from the old values).

    Shapes:
        x: ``[B, ...]`` input ``I`` (mV/ms); state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    """
    p = params
    h = dt * 1e3
    v, u = state
    v_new = v + h * _drive(v, u, x)
    u_new = u + h * (p.a * (p.b * v - u))
    return _fire_and_reset(v_new, u_new, p)


def izhikevich_paper_step(
    x: Tensor, state: IzhikevichState, params: IzhikevichParams, dt: float
) -> tuple[Tensor, IzhikevichState]:
    """One step of the paper's MATLAB scheme: two half steps of ``v``, then ``u`` from new ``v``.

    Shapes:
        x: ``[B, ...]`` input ``I`` (mV/ms); state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    """
    p = params
    h = dt * 1e3
    half = 0.5 * h
    v, u = state
    v = v + half * _drive(v, u, x)
    v = v + half * _drive(v, u, x)
    u = u + h * (p.a * (p.b * v - u))
    return _fire_and_reset(v, u, p)


IZHIKEVICH_FAMILY = register_family(
    NeuronFamily(
        name="izhikevich",
        params_type=IzhikevichParams,
        state_type=IzhikevichState,
        step=izhikevich_step,
        initial_state=izhikevich_initial_state,
        method="euler",
        discretisations={"paper": izhikevich_paper_step},
        check_dt=izhikevich_check_dt,
    )
)

izhikevich_multi_step = IZHIKEVICH_FAMILY.multi_step
"""Run :func:`izhikevich_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""


def izhikevich_paper_multi_step(
    xs: Tensor,
    state: IzhikevichState | None,
    params: IzhikevichParams,
    dt: float = 1e-3,
    record: bool = False,
) -> ScanResult[IzhikevichState]:
    """Run :func:`izhikevich_paper_step` over ``xs [T, B, ...]`` (default ``dt`` = 1 ms)."""
    return IZHIKEVICH_FAMILY.multi_step(xs, state, params, dt, record, discretisation="paper")
