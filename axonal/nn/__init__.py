"""Thin ``nn.Module`` s over :mod:`axonal.functional`: neuron layers and containers."""

from axonal.nn.container import Sequential, SequentialResult, TimeDistributed
from axonal.nn.lif import LIF
from axonal.nn.neuron import NeuronLayer
from axonal.nn.neurons_linear import ALIF, IF, LI, CubaLIF, ResonateAndFire
from axonal.nn.neurons_nonlinear import AdEx, Izhikevich
from axonal.nn.nir_pieces import CubaLI, Delay, Flatten, Integrator, Recurrent, Scale, SumPool2d, Threshold

__all__ = [
    "ALIF",
    "AdEx",
    "IF",
    "Izhikevich",
    "LI",
    "CubaLIF",
    "CubaLI",
    "Delay",
    "Flatten",
    "Integrator",
    "Recurrent",
    "ResonateAndFire",
    "Scale",
    "SumPool2d",
    "Threshold",
    "LIF",
    "NeuronLayer",
    "Sequential",
    "SequentialResult",
    "TimeDistributed",
]
