"""Synapse equations as pure functions (the only copy; the simulator calls these).

Exponential synapse (current- or conductance-based)::

    tau dg/dt = -g,      g <- g + w   at each arriving spike

integrated exactly over a step of ``dt``: ``g[t+1] = g[t] exp(-dt / tau) + arrivals[t]``.

Conductance-based input current into a membrane at potential ``v``::

    I = g (E_rev - v)

Units: time in s; for a current-based synapse ``g`` is a current in nA (with the package's
``r`` in MOhm, ``r g`` is in mV); for a conductance-based synapse ``g`` is in microsiemens,
``v`` and ``E_rev`` in mV, so ``g (E_rev - v)`` is in nA.
"""

from __future__ import annotations

from torch import Tensor

from axonal.functional.validate import (
    check_all_finite,
    check_dt,
    check_finite_scalar,
    check_positive,
)
from axonal.functional.neurons.family import Scalar, exp_decay

__all__ = [
    "exp_synapse_step",
    "exp_synapse_decay",
    "exp_synapse_advance",
    "conductance_current",
    "check_synapse_params",
]


def check_synapse_params(tau: Scalar, e_rev: Scalar | None = None) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``tau > 0`` and ``e_rev`` is finite."""
    check_positive("tau", tau)
    if e_rev is not None:
        check_finite_scalar("e_rev", e_rev)


def exp_synapse_decay(tau: Scalar, dt: float) -> Scalar:
    """The per-step factor ``exp(-dt / tau)`` of :func:`exp_synapse_advance`.

    Takes a ``dt`` its caller has validated (``axonal.functional.validate.check_dt``) once, before a
    loop of steps; :func:`exp_synapse_step` validates on every call.
    """
    return exp_decay(dt, tau)


def exp_synapse_advance(g: Tensor, arrivals: Tensor, decay: Scalar) -> Tensor:
    """``g * decay + arrivals``: one step with a precomputed :func:`exp_synapse_decay`."""
    return g * decay + arrivals


def exp_synapse_step(g: Tensor, arrivals: Tensor, tau: Scalar, dt: float) -> Tensor:
    """Decay ``g`` exactly over one step of ``dt`` and add the weights that arrived.

    Validates ``dt`` and the finiteness of ``g`` and ``arrivals`` (one synchronisation); loops
    validate once and use :func:`exp_synapse_decay` / :func:`exp_synapse_advance`.

    Shapes:
        g, arrivals: ``[N]`` (or any broadcastable shape); returns the new ``g``.
    Units:
        tau, dt in s; g and arrivals in the synapse's unit (nA or microsiemens).
    """
    dt = check_dt(dt)
    check_all_finite((("g", g), ("arrivals", arrivals)), "exp_synapse_step")
    return exp_synapse_advance(g, arrivals, exp_synapse_decay(tau, dt))


def conductance_current(g: Tensor, v: Tensor, e_rev: Scalar) -> Tensor:
    """Current ``g (E_rev - v)`` (nA) of a conductance ``g`` (uS) at membrane ``v`` (mV).

    Shapes:
        g, v: ``[N]`` (broadcastable); returns ``[N]``.
    """
    return g * (e_rev - v)
