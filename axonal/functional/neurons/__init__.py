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
from axonal.functional.neurons.alif import (
    ALIF_FAMILY,
    ALIFParams,
    ALIFState,
    alif_initial_state,
    alif_multi_step,
    alif_step,
)
from axonal.functional.neurons.cuba_lif import (
    CUBA_LIF_FAMILY,
    CubaLIFParams,
    CubaLIFState,
    cuba_lif_initial_state,
    cuba_lif_multi_step,
    cuba_lif_step,
)
from axonal.functional.neurons.if_ import (
    IF_FAMILY,
    IFParams,
    IFState,
    if_initial_state,
    if_multi_step,
    if_step,
)
from axonal.functional.neurons.li import (
    LI_FAMILY,
    LIParams,
    LIState,
    leaky_membrane,
    li_initial_state,
    li_multi_step,
    li_step,
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
    "ALIF_FAMILY",
    "ALIFParams",
    "ALIFState",
    "alif_initial_state",
    "alif_multi_step",
    "alif_step",
    "CUBA_LIF_FAMILY",
    "CubaLIFParams",
    "CubaLIFState",
    "cuba_lif_initial_state",
    "cuba_lif_multi_step",
    "cuba_lif_step",
    "IF_FAMILY",
    "IFParams",
    "IFState",
    "if_initial_state",
    "if_multi_step",
    "if_step",
    "LI_FAMILY",
    "LIParams",
    "LIState",
    "leaky_membrane",
    "li_initial_state",
    "li_multi_step",
    "li_step",
]
