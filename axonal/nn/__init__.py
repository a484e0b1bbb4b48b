"""Thin ``nn.Module`` s over :mod:`axonal.functional`: neuron layers and containers."""

from axonal.nn.container import Sequential, SequentialResult, TimeDistributed
from axonal.nn.lif import LIF
from axonal.nn.neuron import NeuronLayer

__all__ = ["LIF", "NeuronLayer", "Sequential", "SequentialResult", "TimeDistributed"]
