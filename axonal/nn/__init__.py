"""Thin ``nn.Module`` s over :mod:`axonal.functional`: neuron layers and containers.

Every stateful module here keeps one state contract (:mod:`axonal.nn.protocol`).
"""

from axonal.nn.container import Sequential, SequentialResult, TimeDistributed
from axonal.nn.euler import EulerCubaLI, EulerCubaLIF, EulerLI, EulerLIF
from axonal.nn.lif import LIF
from axonal.nn.neuron import NeuronLayer
from axonal.nn.neurons_linear import ALIF, IF, LI, CubaLIF, ResonateAndFire
from axonal.nn.neurons_nonlinear import AdEx, Izhikevich
from axonal.nn.nir_pieces import CubaLI, Delay, Flatten, Integrator, Recurrent, Scale, SumPool2d, Threshold
from axonal.nn.protocol import Stateful, initial_state_of, is_stateful, run_module, step_module

__all__ = [
    "ALIF",
    "AdEx",
    "IF",
    "Izhikevich",
    "LI",
    "CubaLIF",
    "CubaLI",
    "Delay",
    "EulerCubaLI",
    "EulerCubaLIF",
    "EulerLI",
    "EulerLIF",
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
    "Stateful",
    "TimeDistributed",
    "initial_state_of",
    "is_stateful",
    "run_module",
    "step_module",
]
