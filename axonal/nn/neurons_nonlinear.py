"""Izhikevich and AdEx layers (equations in :mod:`axonal.functional.neurons.izhikevich` and
:mod:`axonal.functional.neurons.adex`)."""

from __future__ import annotations

from axonal.functional.neurons.adex import ADEX_FAMILY, AdExParams, AdExState
from axonal.functional.neurons.izhikevich import (
    IZHIKEVICH_FAMILY,
    IzhikevichParams,
    IzhikevichState,
)
from axonal.nn.neuron import NeuronLayer

__all__ = ["AdEx", "Izhikevich"]


class Izhikevich(NeuronLayer[IzhikevichState, IzhikevichParams]):
    """Izhikevich (2003) layer, forward Euler; input in mV/ms, e.g.
    ``Izhikevich(a=0.1, d=2.0, dt=1e-4, learn=("a", "b"))``."""

    family = IZHIKEVICH_FAMILY


class AdEx(NeuronLayer[AdExState, AdExParams]):
    """Adaptive exponential IF layer, forward Euler; input in pA, e.g.
    ``AdEx(tau_w=0.1, dt=1e-4, learn=("a", "b", "tau_w"))``."""

    family = ADEX_FAMILY
