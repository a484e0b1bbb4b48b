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
(:class:`ResetMode`) acts on ``v`` only, the synaptic current is untouched.

Units: time in s, voltage in mV, ``x`` and ``i`` in nA, ``r`` in MOhm (``r i`` in mV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.neurons._common import (
    NeuronFamily,
    ResetMode,
    Scalar,
    apply_reset,
    check_bool,
    check_finite_scalar,
    check_positive,
    check_reset,
    exp_decay,
    full_like,
    register_family,
)
from axonal.functional.neurons.lif import check_threshold_above_reset
from axonal.functional.surrogate import FastSigmoid, Surrogate
from axonal.scan import ScanResult, multi_step

__all__ = [
    "CubaLIFParams",
    "CubaLIFState",
    "cuba_lif_step",
    "cuba_lif_multi_step",
    "cuba_lif_initial_state",
    "synaptic_kernel",
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


@dataclass(frozen=True)
class CubaLIFParams:
    """Parameters of a current-based LIF neuron.

    Args:
        tau_syn: synaptic current time constant (s, > 0).
        tau_mem: membrane time constant (s, > 0); may equal ``tau_syn``.
        v_leak: resting potential (mV).
        v_th: threshold (mV).
        v_reset: reset potential (mV), below ``v_th``.
        r: input resistance (MOhm); ``r * i`` is the drive in mV.
        reset: :class:`ResetMode`.
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset term.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    tau_syn: Scalar = 5e-3
    tau_mem: Scalar = 10e-3
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    r: Scalar = 1.0
    reset: ResetMode = ResetMode.SUBTRACT
    surrogate: Surrogate = FastSigmoid()
    detach_reset: bool = True

    def __post_init__(self) -> None:
        check_positive("tau_syn", self.tau_syn)
        check_positive("tau_mem", self.tau_mem)
        for name in ("v_leak", "v_th", "v_reset", "r"):
            check_finite_scalar(name, getattr(self, name))
        check_reset(self.reset)
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, got {type(self.surrogate).__name__}")
        check_bool("detach_reset", self.detach_reset)
        check_threshold_above_reset(self.v_th, self.v_reset)


class CubaLIFState(NamedTuple):
    """State of a CubaLIF population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        i: synaptic current (nA), ``[B, ...]``.
    """

    v: Tensor
    i: Tensor


def cuba_lif_initial_state(x: Tensor, params: CubaLIFParams) -> CubaLIFState:
    """Resting state (``v = v_leak``, ``i = 0``) shaped like a single-step input ``x``."""
    return CubaLIFState(v=full_like(x, params.v_leak), i=torch.zeros_like(x))


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
    decay_syn = exp_decay(dt, p.tau_syn)
    decay_mem = exp_decay(dt, p.tau_mem)
    kernel = synaptic_kernel(dt, p.tau_syn, p.tau_mem)
    d = state.i - x
    v_inf = p.v_leak + p.r * x
    v = v_inf + (state.v - v_inf) * decay_mem + (p.r * d) * kernel
    i = x + d * decay_syn
    z = p.surrogate(v - p.v_th)
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, CubaLIFState(v=v, i=i)


def cuba_lif_multi_step(
    xs: Tensor,
    state: CubaLIFState | None,
    params: CubaLIFParams,
    dt: float,
    record: bool = False,
) -> ScanResult[CubaLIFState]:
    """Run :func:`cuba_lif_step` over ``xs`` of shape ``[T, B, ...]`` (state ``None``: at rest).

    Shapes:
        xs: ``[T, B, ...]``; returns spikes ``[T, B, ...]``, the final state and, with
        ``record``, the state after every step (``[T, B, ...]`` per field).
    """
    return multi_step(cuba_lif_step, cuba_lif_initial_state, xs, state, params, dt, record)


CUBA_LIF_FAMILY = register_family(
    NeuronFamily(
        name="cuba_lif",
        params_type=CubaLIFParams,
        state_type=CubaLIFState,
        step=cuba_lif_step,
        initial_state=cuba_lif_initial_state,
        positive=("tau_syn", "tau_mem"),
    )
)
