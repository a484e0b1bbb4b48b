"""Event-based vision and other address-event data.

* :mod:`~axonal.events.container`: the event array (:data:`EVENT_DTYPE`: ``x, y, p, t``,
  microseconds), its checks, and zero-copy views as torch tensors.
"""

from axonal.events.container import (
    EVENT_DTYPE,
    EventTensors,
    as_events,
    check_events,
    check_sensor_size,
    concatenate_events,
    empty_events,
    from_torch,
    make_events,
    to_torch,
)

__all__ = [
    "EVENT_DTYPE",
    "EventTensors",
    "as_events",
    "check_events",
    "check_sensor_size",
    "concatenate_events",
    "empty_events",
    "from_torch",
    "make_events",
    "to_torch",
]
