"""Thin ``nn.Module`` s over :mod:`axonal.functional`: neuron layers and containers."""

from axonal.nn.container import Sequential, SequentialResult, TimeDistributed
from axonal.nn.lif import LIF
from axonal.nn.neuron import NeuronLayer
from axonal.nn.neurons_linear import ALIF, IF, LI, CubaLIF
from axonal.nn.neurons_nonlinear import AdEx, Izhikevich

__all__ = [
    "ALIF",
    "AdEx",
    "IF",
    "Izhikevich",
    "LI",
    "CubaLIF",
    "LIF",
    "NeuronLayer",
    "Sequential",
    "SequentialResult",
    "TimeDistributed",
]
