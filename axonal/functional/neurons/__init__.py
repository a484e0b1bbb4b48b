"""Neuron families: parameters, state, pure single- and multi-step functions.

Every family registers itself (``get_family(name)``) on import of this package.
"""

from axonal.functional.neurons._common import (
    NeuronFamily,
    ResetMode,
    Scalar,
    family_names,
    get_family,
    register_family,
)
from axonal.functional.neurons.lif import (
    LIF_FAMILY,
    LIFParams,
    LIFState,
    lif_initial_state,
    lif_multi_step,
    lif_step,
)

__all__ = [
    "NeuronFamily",
    "ResetMode",
    "Scalar",
    "family_names",
    "get_family",
    "register_family",
    "LIF_FAMILY",
    "LIFParams",
    "LIFState",
    "lif_initial_state",
    "lif_multi_step",
    "lif_step",
]
