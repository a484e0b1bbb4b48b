"""LIF layer (see :mod:`axonal.functional.neurons.lif` for the equations)."""

from __future__ import annotations

from axonal.functional.neurons.lif import LIF_FAMILY, LIFParams, LIFState
from axonal.nn.neuron import NeuronLayer

__all__ = ["LIF"]


class LIF(NeuronLayer[LIFState, LIFParams]):
    """Leaky integrate-and-fire layer, e.g. ``LIF(tau_mem=5e-3, learn=("tau_mem", "v_th"))``."""

    family = LIF_FAMILY
