"""Public home of the spike encoders (implemented in :mod:`axonal.functional.encode`)."""

from axonal.functional.encode import (
    LatencyMode,
    delta,
    latency,
    latency_times,
    poisson,
    population,
    rate,
)

__all__ = [
    "LatencyMode",
    "delta",
    "latency",
    "latency_times",
    "poisson",
    "population",
    "rate",
]
