"""Synapse models of the simulator: what a projection's weight means and how a channel moves.

A synapse model is a small frozen record; projections with equal models onto one population
share a channel. The equations are those of :mod:`axonal.functional.synapses`; this module
says which one a channel runs and what a stated weight becomes on the simulator's grid:

* :class:`Exponential`: current-based, ``g`` in nA decays with ``tau``; a weight is the
  amplitude of an exact exponential current (NEST's ``iaf_psc_exp``) at any ``dt``. Into a
  leaky membrane (LIF, ALIF: ``tau_mem dv/dt = v_leak - v + r x``) the current is integrated
  exactly over each step, as CubaLIF integrates its synaptic current
  (:func:`~axonal.functional.neurons.cuba_lif.synaptic_kernel`)::

      v[t+1] = v_inf + (v[t] - v_inf) a_m + r g K(dt, tau, tau_mem)
      g[t+1] = g[t] a_s  (+ arrivals)

  with ``v_inf = v_leak + r x`` of the held input ``x`` (injected currents, conductance and
  delta channels), ``a_m = exp(-dt/tau_mem)``, ``a_s = exp(-dt/tau)``; each channel adds its
  own term. The simulator writes it as the held current that moves the membrane by the same
  amount, ``x += g K / (1 - a_m)`` (:meth:`Exponential.input_factor`), so the family's own step
  (threshold, reset, refractory period) runs unchanged. A LIF population whose only input is
  one exponential channel is therefore a CubaLIF population (``tau_syn = tau``, ``i = g``);
  with a constant injected current ``I`` as well, it is a CubaLIF with input ``I`` and
  ``i = I + g``. Into an IF membrane (no leak) the step average
  ``g tau (1 - a_s) / dt`` (:meth:`Exponential.held_current_factor`) is exact; into every other
  family the current enters as that step average (the exact charge, held over the step).
* :class:`Conductance`: conductance-based, ``g`` in uS, input ``g (e_rev - v)``, held over the
  step.
* :class:`Delta`: the weights that arrive are the input of the next update only (a one-step
  current pulse, nA). With ``jump=True`` the weights are membrane jumps (mV, Brunel 2000,
  NEST's ``iaf_psc_delta``) of a leaky target, converted by :meth:`Delta.pulse_current_factor`.

:meth:`weight_factor` of each model is what :meth:`Projection.build
<axonal.sim.projections.Projection.build>` multiplies the stated weights by (1 except for
``Delta(jump=True)``), so a recipe's weights are physical and ``dt`` changes only the
resolution.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import Tensor

from axonal.functional.neurons.cuba_lif import synaptic_kernel
from axonal.functional.synapses import check_synapse_params, exp_synapse_decay

__all__ = ["Exponential", "Conductance", "Delta", "Synapse", "EXACT_CURRENT_FAMILIES"]

EXACT_CURRENT_FAMILIES = ("lif", "alif")
"""Families with the leaky membrane ``tau_mem dv/dt = v_leak - v + r x`` (parameters
``tau_mem``, ``v_leak``, ``r``), into which an :class:`Exponential` channel is integrated with
the CubaLIF propagator; IF takes the exact step average; the others the step average."""


@dataclass(frozen=True)
class Exponential:
    """Current-based exponential synapse: ``g`` in nA decays with ``tau`` (s); a weight is the
    amplitude (nA) of an exact exponential current (see the module docstring).

    Args:
        tau: decay time constant (s).
        name: the channel's name (``g_<name>`` in monitors and ``init``).
        exact_charge: deprecated, no effect: exponential currents are integrated exactly now
            (what ``exact_charge=True`` approximated); ``False`` (a current held over each
            step) is no longer available and raises ``ValueError``.
    """

    tau: float = 5e-3
    name: str = ""
    exact_charge: bool | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_synapse_params(self.tau)
        if self.exact_charge is None:
            return
        if not isinstance(self.exact_charge, bool):
            raise TypeError(f"exact_charge must be a bool, got {type(self.exact_charge).__name__}")
        if not self.exact_charge:
            raise ValueError(
                "Exponential(exact_charge=False) is no longer available: the simulator "
                "integrates exponential currents exactly (weights are amplitudes of exact "
                "exponential currents, as NEST's iaf_psc_exp); drop the argument")
        warnings.warn(
            "Exponential(exact_charge=True) is deprecated and has no effect: exponential "
            "currents are integrated exactly at any dt; drop the argument",
            DeprecationWarning, stacklevel=3)

    def decay(self, dt: float) -> float:
        """Per-step decay factor ``exp(-dt / tau)`` of ``g`` (``dt`` validated by the caller)."""
        return float(exp_synapse_decay(self.tau, dt))

    @property
    def rescales_weights(self) -> bool:
        """Whether the built table holds the stated weights times a factor of ``dt`` (no)."""
        return False

    def held_current_factor(self, dt: float) -> float:
        """``tau (1 - exp(-dt / tau)) / dt``: the step average of a unit exponential current
        over the step that starts at amplitude 1 (its charge over that step, divided by
        ``dt``).

        0.906 for ``tau = 0.5 ms`` at ``dt = 0.1 ms``; tends to 1 as ``dt / tau`` shrinks.
        """
        return self.tau * (1.0 - math.exp(-dt / self.tau)) / dt

    def input_factor(self, dt: float, family: str, params: Any) -> float | Tensor:
        """What one nA of this channel's ``g`` at the start of a step adds to the held input
        ``x`` of a population of ``family`` (a registered family name) with ``params``.

        Leaky membranes (:data:`EXACT_CURRENT_FAMILIES`): ``K(dt, tau, tau_mem) / (1 -
        exp(-dt/tau_mem))``, the held current that moves the membrane exactly as the decaying
        current does (a tensor when ``tau_mem`` is one); every other family:
        :meth:`held_current_factor` (exact for IF, which has no leak).
        """
        if family not in EXACT_CURRENT_FAMILIES:
            return self.held_current_factor(dt)
        tau_mem = params.tau_mem
        if isinstance(tau_mem, Tensor):
            tau_t = tau_mem.detach().to(torch.float64)
            return synaptic_kernel(dt, self.tau, tau_t) / -torch.expm1(-dt / tau_t)
        tau_f = float(tau_mem)
        return float(synaptic_kernel(dt, self.tau, tau_f)) / -math.expm1(-dt / tau_f)

    def weight_factor(self, dt: float, post_params: object) -> float:
        """What the built table holds per unit of stated weight (always 1)."""
        return 1.0


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
