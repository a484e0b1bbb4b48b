"""Large sparse spiking networks: populations, projections, event-driven delivery, monitors.

See ``docs/sim.md`` for the design, the step order and the memory per synapse.
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
from axonal.sim.inputs import (
    ArrayCurrent,
    ConstantCurrent,
    CurrentInput,
    PoissonSource,
    SpikeGenerator,
    StepCurrent,
)
from axonal.sim.monitors import RateMonitor, SpikeMonitor, StateMonitor, plot_raster, plot_traces
from axonal.sim.network import (
    Conductance,
    Delta,
    Exponential,
    Network,
    Population,
    Projection,
    RunStats,
)
from axonal.sim.plastic import ProjectionLearner

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
    "ArrayCurrent",
    "ConstantCurrent",
    "CurrentInput",
    "PoissonSource",
    "SpikeGenerator",
    "StepCurrent",
    "RateMonitor",
    "SpikeMonitor",
    "StateMonitor",
    "plot_raster",
    "plot_traces",
    "Conductance",
    "Delta",
    "Exponential",
    "Network",
    "Population",
    "Projection",
    "RunStats",
    "ProjectionLearner",
]
