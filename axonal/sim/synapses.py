"""Synapse models of the simulator: what a projection's weight means and how a channel moves.

A synapse model is a small frozen record; projections with equal models onto one population
share a channel. The equations are those of :mod:`axonal.functional.synapses`; this module
says which one a channel runs and what a stated weight becomes on the simulator's grid:

* :class:`Exponential`: current-based, ``g`` in nA decays with ``tau``. The simulator holds a
  channel's current constant over a step, so a unit weight carries ``dt / (1 - exp(-dt/tau))``
  of charge instead of the exact exponential's ``tau``. With ``exact_charge=True`` the weights
  are amplitudes of exact exponential currents (NEST's ``iaf_psc_exp``) and every weight is
  multiplied by :meth:`Exponential.held_current_factor` when the tables are built, so each
  synaptic current carries the charge of the exact one at any ``dt``.
* :class:`Conductance`: conductance-based, ``g`` in uS, input ``g (e_rev - v)``.
* :class:`Delta`: the weights that arrive are the input of the next update only (a one-step
  current pulse, nA). With ``jump=True`` the weights are membrane jumps (mV, Brunel 2000,
  NEST's ``iaf_psc_delta``) of a leaky target, converted by :meth:`Delta.pulse_current_factor`.

:meth:`weight_factor` of each model is what :meth:`Projection.build
<axonal.sim.projections.Projection.build>` multiplies the stated weights by, so a recipe's
weights are physical and ``dt`` changes only the resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

from axonal.functional.synapses import check_synapse_params, exp_synapse_decay

__all__ = ["Exponential", "Conductance", "Delta", "Synapse"]


@dataclass(frozen=True)
class Exponential:
    """Current-based exponential synapse: ``g`` in nA decays with ``tau`` (s); input ``g``.

    Args:
        tau: decay time constant (s).
        name: the channel's name (``g_<name>`` in monitors and ``init``).
        exact_charge: weights are amplitudes of exact exponential currents; the built tables
            hold them times :meth:`held_current_factor` (see the module docstring).
    """

    tau: float = 5e-3
    name: str = ""
    exact_charge: bool = False

    def __post_init__(self) -> None:
        check_synapse_params(self.tau)
        if not isinstance(self.exact_charge, bool):
            raise TypeError(f"exact_charge must be a bool, got {type(self.exact_charge).__name__}")

    def decay(self, dt: float) -> float:
        """Per-step decay factor ``exp(-dt / tau)`` of ``g`` (``dt`` validated by the caller)."""
        return float(exp_synapse_decay(self.tau, dt))

    @property
    def rescales_weights(self) -> bool:
        """Whether the built table holds the stated weights times a factor of ``dt``."""
        return self.exact_charge

    def held_current_factor(self, dt: float) -> float:
        """``tau (1 - exp(-dt / tau)) / dt``: the factor on a weight so that the current held
        constant over each step carries the charge of the exact exponential (``w tau``).

        0.906 for ``tau = 0.5 ms`` at ``dt = 0.1 ms``; tends to 1 as ``dt / tau`` shrinks.
        """
        return self.tau * (1.0 - math.exp(-dt / self.tau)) / dt

    def weight_factor(self, dt: float, post_params: object) -> float:
        """What the built table holds per unit of stated weight."""
        return self.held_current_factor(dt) if self.exact_charge else 1.0


@dataclass(frozen=True)
class Conductance:
    """Conductance-based exponential synapse: ``g`` in uS, input ``g (e_rev - v)`` in nA."""

    tau: float = 5e-3
    e_rev: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        check_synapse_params(self.tau, self.e_rev)

    def decay(self, dt: float) -> float:
        """Per-step decay factor ``exp(-dt / tau)`` of ``g`` (``dt`` validated by the caller)."""
        return float(exp_synapse_decay(self.tau, dt))

    @property
    def rescales_weights(self) -> bool:
        """Whether the built table holds the stated weights times a factor of ``dt``."""
        return False

    def weight_factor(self, dt: float, post_params: object) -> float:
        """What the built table holds per unit of stated weight (uS: always 1)."""
        return 1.0


@dataclass(frozen=True)
class Delta:
    """The weights that arrive are the input of the next update only (one-step pulse).

    Args:
        name: the channel's name.
        jump: weights are membrane jumps (mV) of a leaky target (parameters with scalar
            ``tau_mem`` and ``r``, e.g. LIF), converted to the pulse current (nA) that moves
            the membrane by that much in one step (:meth:`pulse_current_factor`); otherwise
            weights are that current.
    """

    name: str = ""
    jump: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.jump, bool):
            raise TypeError(f"jump must be a bool, got {type(self.jump).__name__}")

    @property
    def rescales_weights(self) -> bool:
        """Whether the built table holds the stated weights times a factor of ``dt``."""
        return self.jump

    @staticmethod
    def pulse_current_factor(dt: float, tau_mem: float, r: float) -> float:
        """``1 / (r (1 - exp(-dt / tau_mem)))``: nA of a one-step pulse per mV of jump.

        A current ``x`` held over one step moves a leaky membrane by ``r x (1 - exp(-dt/tau))``
        at the end of the step, so this factor makes the jump exactly the weight.
        """
        return 1.0 / (r * (1.0 - math.exp(-dt / tau_mem)))

    def weight_factor(self, dt: float, post_params: object) -> float:
        """What the built table holds per unit of stated weight."""
        if not self.jump:
            return 1.0
        tau_mem, r = getattr(post_params, "tau_mem", None), getattr(post_params, "r", None)
        for key, value in (("tau_mem", tau_mem), ("r", r)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Delta(jump=True) needs a target with a scalar {key} "
                                 f"(a leaky membrane such as LIF), got "
                                 f"{type(post_params).__name__} with {key}={value!r}")
        assert isinstance(tau_mem, (int, float)) and isinstance(r, (int, float))
        return self.pulse_current_factor(dt, float(tau_mem), float(r))


Synapse = Union[Exponential, Conductance, Delta]
"""One of the synapse models above."""
