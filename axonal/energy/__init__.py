"""Energy: exact operation counts of a spiking model and energy estimates on hardware profiles.

* :mod:`~axonal.energy.counting`: :func:`count_ops` (synaptic operations, MACs, neuron
  updates, spikes; per layer, exact);
* :mod:`~axonal.energy.profiles`: :class:`HardwareProfile` data with published sources
  (45 nm CMOS float32 / int8, Intel Loihi) and a registry for your own;
* :mod:`~axonal.energy.report`: SNN and ANN estimates, their ratio, a text table and a bar chart.
"""

from axonal.energy.counting import LayerCount, OpCounts, SynapticUnit, count_ops, event_count
from axonal.energy.profiles import (
    CMOS45_FP32,
    CMOS45_INT8,
    LOIHI,
    HardwareProfile,
    get_profile,
    profile_names,
    register_profile,
)
from axonal.energy.report import (
    DEFAULT_COMPARISONS,
    EnergyEstimate,
    energy_chart,
    energy_table,
    estimate,
    estimate_all,
)

__all__ = [
    "CMOS45_FP32",
    "CMOS45_INT8",
    "DEFAULT_COMPARISONS",
    "EnergyEstimate",
    "HardwareProfile",
    "LOIHI",
    "LayerCount",
    "OpCounts",
    "SynapticUnit",
    "count_ops",
    "energy_chart",
    "energy_table",
    "estimate",
    "estimate_all",
    "event_count",
    "get_profile",
    "profile_names",
    "register_profile",
]
