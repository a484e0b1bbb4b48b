"""Forward-Euler steps of the leaky NIR neuron equations (the discretisation snnTorch and Norse
use when they import NIR graphs).

Each function takes the same parameter and state records as the exact step of its family and
integrates the same continuous-time equation with one forward-Euler step of ``dt``::

    LIF / LI:  v <- v + (dt / tau_mem) ((v_leak - v) + r x)
    CubaLIF / CubaLI (synaptic current updated first, then the membrane sees the new current):
               i <- i + (dt / tau_syn) (x - i)
               v <- v + (dt / tau_mem) ((v_leak - v) + r i)

The spiking ones then fire where ``v > v_th`` and reset with the parameter object's
:class:`ResetMode`. IF and the integrator have no leak, so forward Euler equals their exact
step; use :func:`~axonal.functional.neurons.if_.if_step` there. Refractory periods are not
part of NIR and are rejected here.

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm.
"""

from __future__ import annotations

from torch import Tensor

from axonal.functional.neurons._common import apply_reset
from axonal.functional.neurons.cuba_li import CubaLIParams, CubaLIState
from axonal.functional.neurons.cuba_lif import CubaLIFParams, CubaLIFState
from axonal.functional.neurons.li import LIParams, LIState
from axonal.functional.neurons.lif import LIFParams, LIFState

__all__ = [
    "cuba_li_euler_step",
    "cuba_lif_euler_step",
    "euler_membrane",
    "li_euler_step",
    "lif_euler_step",
]


def euler_membrane(v: Tensor, x: Tensor, tau_mem: float | Tensor, v_leak: float | Tensor, r: float | Tensor, dt: float) -> Tensor:
    """One forward-Euler step of ``tau_mem dv/dt = (v_leak - v) + r x``.

    Shapes:
        v, x: ``[B, ...]``; returns the new membrane.
    """
    return v + (dt / tau_mem) * ((v_leak - v) + r * x)


def lif_euler_step(x: Tensor, state: LIFState, params: LIFParams, dt: float) -> tuple[Tensor, LIFState]:
    """LIF with forward Euler: spikes ``[B, ...]`` and the new state."""
    p = params
    if p.t_ref > 0:
        raise ValueError(f"params.t_ref must be 0 for the Euler LIF step, got {p.t_ref}")
    v = euler_membrane(state.v, x, p.tau_mem, p.v_leak, p.r, dt)
    z = p.surrogate(v - p.v_th)
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, LIFState(v=v, refractory=state.refractory)


def li_euler_step(x: Tensor, state: LIState, params: LIParams, dt: float) -> tuple[Tensor, LIState]:
    """Leaky integrator with forward Euler: the new membrane and state."""
    v = euler_membrane(state.v, x, params.tau_mem, params.v_leak, params.r, dt)
    return v, LIState(v=v)


def cuba_lif_euler_step(
    x: Tensor, state: CubaLIFState, params: CubaLIFParams, dt: float
) -> tuple[Tensor, CubaLIFState]:
    """CubaLIF with forward Euler (current first): spikes and the new state."""
    p = params
    i = state.i + (dt / p.tau_syn) * (x - state.i)
    v = euler_membrane(state.v, i, p.tau_mem, p.v_leak, p.r, dt)
    z = p.surrogate(v - p.v_th)
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, CubaLIFState(v=v, i=i)


def cuba_li_euler_step(
    x: Tensor, state: CubaLIState, params: CubaLIParams, dt: float
) -> tuple[Tensor, CubaLIState]:
    """CubaLI with forward Euler (current first): the new membrane and state."""
    p = params
    i = state.i + (dt / p.tau_syn) * (x - state.i)
    v = euler_membrane(state.v, i, p.tau_mem, p.v_leak, p.r, dt)
    return v, CubaLIState(v=v, i=i)
