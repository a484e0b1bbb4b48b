"""Large sparse spiking networks: populations, projections, event-driven delivery, monitors.

See ``docs/sim.md`` for the design, the step order and the memory per synapse. Figures of the
monitors: :func:`axonal.plot.spike_raster`, :func:`axonal.plot.state_traces`.

Modules, each importing only those above it: ``inputs``, ``synapses``, ``draws``, ``native``
(the C library), ``connectivity``, ``delivery``, ``populations``, ``projections``,
``monitors``, ``plastic``, ``native_loop``, ``network``, ``examples``.
"""

from axonal.sim.connectivity import (
    AllToAll,
    Bernoulli,
    Connectivity,
    FixedInDegree,
    FixedOutDegree,
    FixedTotalNumber,
    FromArrays,
    OneToOne,
)
from axonal.sim.delivery import RingBuffer, SynapseTable
from axonal.sim.draws import ClippedNormal
from axonal.sim.inputs import (
    ArrayCurrent,
    ConstantCurrent,
    CurrentInput,
    PoissonSource,
    SpikeGenerator,
    StepCurrent,
)
from axonal.sim.monitors import RateMonitor, SpikeMonitor, StateMonitor
from axonal.sim.network import Network, RunStats
from axonal.sim.plastic import ProjectionLearner
from axonal.sim.populations import Population
from axonal.sim.projections import Projection
from axonal.sim.synapses import Conductance, Delta, Exponential

__all__ = [
    "AllToAll",
    "Bernoulli",
    "Connectivity",
    "FixedInDegree",
    "FixedOutDegree",
    "FixedTotalNumber",
    "FromArrays",
    "OneToOne",
    "RingBuffer",
    "SynapseTable",
    "ClippedNormal",
    "ArrayCurrent",
    "ConstantCurrent",
    "CurrentInput",
    "PoissonSource",
    "SpikeGenerator",
    "StepCurrent",
    "RateMonitor",
    "SpikeMonitor",
    "StateMonitor",
    "Conductance",
    "Delta",
    "Exponential",
    "Network",
    "Population",
    "Projection",
    "RunStats",
    "ProjectionLearner",
]
