"""Plasticity learners for spiking layers (the rules themselves are in
:mod:`axonal.functional.plasticity`).

A learner wraps an ``nn.Linear`` or ``nn.Conv2d`` whose output feeds a spiking layer. It keeps
no state: ``step`` takes and returns the explicit trace state, and returns the weight change,
which ``apply`` adds to the weight (clipped to the rule's bounds) or ``to_grad`` hands to an
optimiser. The learner only chooses the *contraction* (how per-neuron factors become
per-synapse changes) and calls the pure rule; :class:`axonal.sim.ProjectionLearner` calls the
same rules on a simulator projection, with
:func:`axonal.functional.plasticity.sparse_contraction` over the synapses that had an event
(it lives in :mod:`axonal.sim`, which sits above this package, so it is not re-exported here).
"""

from axonal.plasticity.learners import (
    RSTDPLearner,
    STDPLearner,
    conv2d_contraction,
    layer_contraction,
)

__all__ = ["RSTDPLearner", "STDPLearner", "conv2d_contraction", "layer_contraction"]
