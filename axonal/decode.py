"""Public home of the readouts (implemented in :mod:`axonal.functional.decode`)."""

from axonal.functional.decode import (
    first_spike_time,
    membrane_max,
    membrane_mean,
    rate,
    spike_count,
)

__all__ = [
    "first_spike_time",
    "membrane_max",
    "membrane_mean",
    "rate",
    "spike_count",
]
