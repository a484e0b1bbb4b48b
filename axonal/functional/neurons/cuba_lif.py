"""Current-based LIF neuron (CubaLIF): an exponential synaptic current driving a LIF membrane.

Dynamics (the NIR ``CubaLIF`` equations)::

    tau_syn di/dt = -i + x
    tau_mem dv/dt = (v_leak - v) + r i

Integrated **exactly** for ``x`` held constant over each step. With ``a_s = exp(-dt/tau_syn)``,
``a_m = exp(-dt/tau_mem)``, ``v_inf = v_leak + r x`` and ``d = i[t] - x``::

    i[t+1] = x + d a_s
    v[t+1] = v_inf + (v[t] - v_inf) a_m + r d K
    K      = tau_syn (a_s - a_m) / (tau_syn - tau_mem)
           = (dt/tau_mem) (a_m - a_s) / (dt/tau_syn - dt/tau_mem)

``K`` is the response of the membrane to a unit exponential current over one step. When the two
time constants are equal (or nearly so, elementwise for tensor time constants) it tends to
``(dt/tau) exp(-dt/tau)``; there it is evaluated as
``(dt/tau_mem) a_s (expm1(h)/h)`` with ``h = dt/tau_syn - dt/tau_mem`` and a Taylor series for
``expm1(h)/h``, so there is no division by zero and gradients stay finite.

A spike is emitted when the *updated* membrane exceeds ``v_th`` (strictly); the reset
(:class:`ResetMode`) acts on ``v`` only, the synaptic current is untouched. With
``t_ref > 0`` the membrane is held after a spike by Brian2's rule
(:mod:`~axonal.functional.neurons.refractory`) while the synaptic current keeps evolving.

Units: time in s, voltage in mV, ``x`` and ``i`` in nA, ``r`` in MOhm (``r i`` in mV).
"""

from __future__ import annotations

import math
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
    exp_decay,
    field_coefficients,
    full_like,
    param,
    register_family,
)
from axonal.functional.neurons.li import euler_membrane
from axonal.functional.neurons.refractory import (
    refractory_gate,
    refractory_unsupported,
    refuse_refractory,
)
from axonal.functional.surrogate import FastSigmoid, Surrogate

__all__ = [
    "CubaLIFParams",
    "CubaLIFState",
    "cuba_lif_step",
    "cuba_lif_euler_step",
    "cuba_lif_multi_step",
    "cuba_lif_initial_state",
    "synaptic_kernel",
    "synaptic_membrane",
    "synaptic_membrane_euler",
    "CUBA_LIF_FAMILY",
]

_SERIES_BELOW = 0.1
"""``|h|`` below which ``expm1(h)/h`` is taken from its Taylor series (8 terms: error < 1e-13)."""

_SERIES_TERMS = 8


def _expm1_ratio_series(h: Scalar) -> Scalar:
    """``expm1(h)/h = sum_k h^k / (k+1)!`` (Horner), accurate for ``|h| < 0.1``."""
    out: Scalar = 1.0 / math.factorial(_SERIES_TERMS)
    for k in range(_SERIES_TERMS - 1, 0, -1):
        out = 1.0 / math.factorial(k) + h * out
    return out


def synaptic_kernel(dt: float, tau_syn: Scalar, tau_mem: Scalar) -> Scalar:
    """Membrane response ``K`` after ``dt`` to a unit exponential current (see module docstring).

    ``K = tau_syn (exp(-dt/tau_syn) - exp(-dt/tau_mem)) / (tau_syn - tau_mem)``, with the
    limit ``(dt/tau) exp(-dt/tau)`` at ``tau_syn == tau_mem``.

    Shapes:
        tau_syn, tau_mem: floats or tensors broadcastable to each other.
    Units:
        dt, tau_syn, tau_mem in s; ``K`` is dimensionless.
    """
    a, b = dt / tau_syn, dt / tau_mem
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        h = a - b
        if abs(h) < _SERIES_BELOW:
            return float(b * math.exp(-a) * _expm1_ratio_series(h))
        return b * (math.exp(-b) - math.exp(-a)) / h
    # At least one time constant is a tensor; floats stay Python floats (full precision).
    h_t = torch.as_tensor(a - b)
    near_mask = h_t.abs() < _SERIES_BELOW
    # Both branches are evaluated; each gets inputs that keep it (and its gradient) finite.
    h_near = torch.where(near_mask, h_t, torch.zeros_like(h_t))
    h_far = torch.where(near_mask, torch.ones_like(h_t), h_t)
    decay_a, decay_b = exp_decay(dt, tau_syn), exp_decay(dt, tau_mem)
    near_value = b * decay_a * _expm1_ratio_series(h_near)
    far_value = b * (decay_b - decay_a) / h_far
    return torch.where(near_mask, near_value, far_value)


def synaptic_membrane(
    v: Tensor,
    i: Tensor,
    x: Tensor,
    tau_syn: Scalar,
    tau_mem: Scalar,
    v_leak: Scalar,
    r: Scalar,
    dt: float,
) -> tuple[Tensor, Tensor]:
    """Exact update of the current-based membrane (see the module docstring) over ``dt``.

    The one implementation shared by CubaLIF and the CubaLI readout.

    Shapes:
        v, i, x: ``[B, ...]``; returns the new ``(v, i)``.
    Units:
        v, v_leak in mV; i, x in nA; r in MOhm; tau_syn, tau_mem, dt in s.
    """
    decay_syn = exp_decay(dt, tau_syn)
    decay_mem = exp_decay(dt, tau_mem)
    kernel = synaptic_kernel(dt, tau_syn, tau_mem)
    d = i - x
    v_inf = v_leak + r * x
    v_new = v_inf + (v - v_inf) * decay_mem + (r * d) * kernel
    i_new = x + d * decay_syn
    return v_new, i_new


def synaptic_membrane_euler(
    v: Tensor,
    i: Tensor,
    x: Tensor,
    tau_syn: Scalar,
    tau_mem: Scalar,
    v_leak: Scalar,
    r: Scalar,
    dt: float,
) -> tuple[Tensor, Tensor]:
    """One forward-Euler step of the same equations, current first (the membrane sees the
    new current), as snnTorch and Norse import NIR's CubaLIF / CubaLI.

    Shapes:
        v, i, x: ``[B, ...]``; returns the new ``(v, i)``.
    """
    i_new = i + (dt / tau_syn) * (x - i)
    return euler_membrane(v, i_new, tau_mem, v_leak, r, dt), i_new


@dataclass(frozen=True)
class CubaLIFParams(FamilyParams):
    """Parameters of a current-based LIF neuron.

    Args:
        tau_syn: synaptic current time constant (s, > 0).
        tau_mem: membrane time constant (s, > 0); may equal ``tau_syn``.
        v_leak: resting potential (mV).
        v_th: threshold (mV).
        v_reset: reset potential (mV), below ``v_th``.
        r: input resistance (MOhm); ``r * i`` is the drive in mV.
        t_ref: absolute refractory period (s, >= 0); 0 disables it.
        reset: :class:`ResetMode`.
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset term.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    ORDER = (("v_reset", "v_th"),)

    tau_syn: Scalar = param(5e-3, Rule.POSITIVE, "s")
    tau_mem: Scalar = param(10e-3, Rule.POSITIVE, "s")
    v_leak: Scalar = param(0.0, Rule.FINITE, "mV")
    v_th: Scalar = param(1.0, Rule.FINITE, "mV")
    v_reset: Scalar = param(0.0, Rule.FINITE, "mV")
    r: Scalar = param(1.0, Rule.FINITE, "MOhm")
    t_ref: float = param(0.0, Rule.NON_NEGATIVE_FLOAT, "s")
    reset: ResetMode = param(ResetMode.SUBTRACT, Rule.RESET)
    surrogate: Surrogate = param(FastSigmoid(), Rule.SURROGATE)
    detach_reset: bool = param(True, Rule.BOOL)


class CubaLIFState(NamedTuple):
    """State of a CubaLIF population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        i: synaptic current (nA), ``[B, ...]``.
        refractory: remaining refractory time (s), ``[B, ...]``; zero when not refractory.
    """

    v: Tensor
    i: Tensor
    refractory: Tensor


def cuba_lif_initial_state(x: Tensor, params: CubaLIFParams) -> CubaLIFState:
    """Resting state (``v = v_leak``, ``i = 0``, not refractory) shaped like a single-step
    input ``x``."""
    return CubaLIFState(
        v=full_like(x, params.v_leak), i=torch.zeros_like(x), refractory=torch.zeros_like(x)
    )


def cuba_lif_step(
    x: Tensor, state: CubaLIFState, params: CubaLIFParams, dt: float
) -> tuple[Tensor, CubaLIFState]:
    """Advance a CubaLIF population by one step of ``dt`` seconds (exact for constant ``x``).

    Shapes:
        x: ``[B, ...]`` input current; state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    Units:
        x and i in nA, v in mV, dt in s.
    """
    p = params
    v, i = synaptic_membrane(state.v, state.i, x, p.tau_syn, p.tau_mem, p.v_leak, p.r, dt)
    v, z, refractory = refractory_gate(
        v, state.v, state.refractory, p.t_ref, dt, lambda u: p.surrogate(u - p.v_th)
    )
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, CubaLIFState(v=v, i=i, refractory=refractory)


def cuba_lif_euler_step(
    x: Tensor, state: CubaLIFState, params: CubaLIFParams, dt: float
) -> tuple[Tensor, CubaLIFState]:
    """CubaLIF with forward Euler (current first): spikes and the new state; no refractory
    period (NIR import as snnTorch / Norse do it)."""
    p = params
    refuse_refractory(p, "the Euler CubaLIF step")
    v, i = synaptic_membrane_euler(state.v, state.i, x, p.tau_syn, p.tau_mem, p.v_leak, p.r, dt)
    z = p.surrogate(v - p.v_th)
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, CubaLIFState(v=v, i=i, refractory=state.refractory)


CUBA_LIF_FAMILY = register_family(
    NeuronFamily(
        name="cuba_lif",
        params_type=CubaLIFParams,
        state_type=CubaLIFState,
        step=cuba_lif_step,
        initial_state=cuba_lif_initial_state,
        discretisations={"euler": cuba_lif_euler_step},
        nir=NirMapping(
            kind="CubaLIF",
            to_node=lambda p: {
                "tau_syn": p.tau_syn, "tau_mem": p.tau_mem, "r": p.r, "v_leak": p.v_leak,
                "v_threshold": p.v_th, "v_reset": p.v_reset, "w_in": 1.0,
            },
            from_node={
                "tau_syn": "tau_syn", "tau_mem": "tau_mem", "r": "r", "v_leak": "v_leak",
                "v_th": "v_threshold", "v_reset": "v_reset",
            },
            resets=True,
            refuse=refractory_unsupported,
        ),
        fused=FusedSpec(
            states=("v", "i", "refractory"),
            coefficients={
                "alpha": lambda p, dt: exp_decay(dt, p.tau_mem),
                "alpha_syn": lambda p, dt: exp_decay(dt, p.tau_syn),
                "kernel": lambda p, dt: synaptic_kernel(dt, p.tau_syn, p.tau_mem),
                **field_coefficients("v_th", "v_leak", "r", "v_reset"),
            },
            differentiable=("alpha", "alpha_syn", "kernel", "v_th"),
            fixed=("v_leak", "r", "v_reset"),
        ),
    )
)

cuba_lif_multi_step = CUBA_LIF_FAMILY.multi_step
"""Run :func:`cuba_lif_step` over ``xs [T, B, ...]`` (:meth:`NeuronFamily.multi_step`)."""
