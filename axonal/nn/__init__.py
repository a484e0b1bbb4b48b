"""Thin ``nn.Module`` s over :mod:`axonal.functional`: neuron layers and containers."""

from axonal.nn.container import Sequential, SequentialResult, TimeDistributed
from axonal.nn.lif import LIF
from axonal.nn.neuron import NeuronLayer
from axonal.nn.neurons_linear import ALIF, IF, LI, CubaLIF

__all__ = [
    "ALIF",
    "IF",
    "LI",
    "CubaLIF",
    "LIF",
    "NeuronLayer",
    "Sequential",
    "SequentialResult",
    "TimeDistributed",
]
