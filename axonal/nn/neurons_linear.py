"""Layers of the linear neuron families: IF, CubaLIF, ALIF, LI and resonate-and-fire.

The equations live in :mod:`axonal.functional.neurons` (``if_``, ``cuba_lif``, ``alif``,
``li``); these classes only bind a family to the generic :class:`~axonal.nn.neuron.NeuronLayer`.
"""

from __future__ import annotations

from axonal.functional.neurons.alif import ALIF_FAMILY, ALIFParams, ALIFState
from axonal.functional.neurons.cuba_lif import (
    CUBA_LIF_FAMILY,
    CubaLIFParams,
    CubaLIFState,
)
from axonal.functional.neurons.if_ import IF_FAMILY, IFParams, IFState
from axonal.functional.neurons.li import LI_FAMILY, LIParams, LIState
from axonal.functional.neurons.resonate import RF_FAMILY, RFParams, RFState
from axonal.nn.neuron import NeuronLayer

__all__ = ["IF", "CubaLIF", "ALIF", "LI", "ResonateAndFire"]


class IF(NeuronLayer[IFState, IFParams]):
    """Integrate-and-fire layer (no leak), e.g. ``IF(v_th=1.0, learn=("v_th",))``."""

    family = IF_FAMILY


class CubaLIF(NeuronLayer[CubaLIFState, CubaLIFParams]):
    """Current-based LIF layer, e.g. ``CubaLIF(tau_syn=5e-3, learn=("tau_syn", "tau_mem"))``."""

    family = CUBA_LIF_FAMILY


class ALIF(NeuronLayer[ALIFState, ALIFParams]):
    """Adaptive-threshold LIF layer, e.g. ``ALIF(tau_adapt=0.5, delta_th=0.05)``."""

    family = ALIF_FAMILY


class LI(NeuronLayer[LIState, LIParams]):
    """Leaky-integrator readout layer: outputs the membrane ``[T, B, ...]`` (mV), no spikes."""

    family = LI_FAMILY


class ResonateAndFire(NeuronLayer[RFState, RFParams]):
    """Resonate-and-fire layer (Izhikevich 2001), e.g.
    ``ResonateAndFire(omega=2 * math.pi * 40, b=-20.0, learn=("omega", "b"))``."""

    family = RF_FAMILY
