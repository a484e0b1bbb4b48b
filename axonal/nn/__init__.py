"""Thin ``nn.Module`` s over :mod:`axonal.functional`, grouped by kind.

* :mod:`~axonal.nn.neurons`: one layer per neuron family (on :class:`~axonal.nn.neuron.NeuronLayer`);
* :mod:`~axonal.nn.shape`: stateless per-step layers (``TimeDistributed``, ``Scale``, ...);
* :mod:`~axonal.nn.stateful`: ``Delay`` and ``Recurrent``;
* :mod:`~axonal.nn.delays`: ``DelayedLinear`` (a linear projection with learnable synaptic delays);
* :mod:`~axonal.nn.container`: ``Sequential``, which threads state through all of them;
* :mod:`~axonal.nn.event`: event-driven (spike-indexed) inference modules (``sparsify``, ``EventNetwork``).

Every stateful module here keeps one state contract (:mod:`axonal.nn.protocol`).
"""

from axonal.nn.container import Sequential, SequentialResult
from axonal.nn.delays import DelayedLinear
from axonal.nn.event import EventNetwork, SpikeConv2d, SpikeLinear, sparsify
from axonal.nn.neuron import NeuronLayer
from axonal.nn.neurons import (
    ALIF,
    IF,
    LI,
    LIF,
    AdEx,
    CubaLI,
    CubaLIF,
    EulerCubaLI,
    EulerCubaLIF,
    EulerLI,
    EulerLIF,
    Integrator,
    Izhikevich,
    ResonateAndFire,
)
from axonal.nn.protocol import Stateful, initial_state_of, is_stateful, run_module, step_module
from axonal.nn.shape import Flatten, Scale, SumPool2d, Threshold, TimeDistributed
from axonal.nn.stateful import Delay, Recurrent

__all__ = [
    "EventNetwork",
    "SpikeConv2d",
    "SpikeLinear",
    "sparsify",
    "ALIF",
    "AdEx",
    "IF",
    "Izhikevich",
    "LI",
    "CubaLIF",
    "CubaLI",
    "Delay",
    "DelayedLinear",
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
