"""The event container: one structured numpy array per recording.

An event stream is a 1-D numpy array of :data:`EVENT_DTYPE` with the fields tonic's users know:

======  =======  ==================================================================
field   type     meaning
======  =======  ==================================================================
``x``   int16    pixel column (0 .. width - 1); for audio events (SHD) the channel
``y``   int16    pixel row (0 .. height - 1); 0 for one-row sensors
``p``   int8     polarity, 1 = ON (brighter), 0 = OFF (darker)
``t``   int64    timestamp in microseconds, non-decreasing within a recording
======  =======  ==================================================================

The record is 16 bytes with every field aligned to its own size, so each field is a strided
view that :func:`to_torch` hands to torch without a copy (``torch.from_numpy`` needs strides
that are whole multiples of the element size; tonic's packed 13-byte record has none).

A sensor is described as tonic does, ``(width, height, polarities)``
(:func:`check_sensor_size`; a ``(width, height)`` pair means two polarities).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

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

EVENT_DTYPE = np.dtype(
    {"names": ["x", "y", "p", "t"], "formats": ["<i2", "<i2", "<i1", "<i8"], "offsets": [0, 2, 4, 8], "itemsize": 16}
)
"""Structured dtype of one event: ``x, y`` int16, ``p`` int8, ``t`` int64 microseconds."""

_FIELDS = ("x", "y", "p", "t")
_INT16_MAX = int(np.iinfo(np.int16).max)


class EventTensors(NamedTuple):
    """The four fields of an event array as torch tensors sharing its memory.

    Attributes:
        x, y: int16 addresses; p: int8 polarity; t: int64 microseconds; each ``[N]``.
    """

    x: Tensor
    y: Tensor
    p: Tensor
    t: Tensor


def empty_events(n: int = 0) -> np.ndarray:
    """A zero-filled event array of ``n`` events."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    return np.zeros(int(n), dtype=EVENT_DTYPE)


def _as_int_field(name: str, value: Any, n: int | None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, arr)
    if arr.ndim != 1:
        raise ValueError(f"events field {name} must be 1-D (one entry per event), got shape {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        elif np.issubdtype(arr.dtype, np.floating) and not arr.size:
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"events field {name} must hold integers, got dtype {arr.dtype}")
    return arr


def make_events(x: Any, y: Any, t: Any, p: Any) -> np.ndarray:
    """Build an event array from per-event sequences (numpy arrays, lists or tensors).

    ``y`` and ``p`` may be scalars (one value for every event). Values must fit the field
    types (x, y in 0..32767, p 0 or 1, t a non-negative int64); the order of ``t`` is checked
    by :func:`check_events`, not here, so that unsorted streams can be built and then sorted.
    """
    xs = _as_int_field("x", x.numpy() if isinstance(x, Tensor) else x, None)
    n = xs.shape[0]
    cols = {"x": xs}
    for name, value in (("y", y), ("t", t), ("p", p)):
        cols[name] = _as_int_field(name, value.numpy() if isinstance(value, Tensor) else value, n)
        if cols[name].shape[0] != n:
            raise ValueError(f"events fields must have one entry per event: x has {n}, {name} has {cols[name].shape[0]}")
    for name in ("x", "y"):
        col = cols[name]
        if col.size and (int(col.min()) < 0 or int(col.max()) > _INT16_MAX):
            raise ValueError(f"events field {name} must be in [0, {_INT16_MAX}], got values in "
                             f"[{int(col.min())}, {int(col.max())}]")
    if cols["p"].size and (int(cols["p"].min()) < 0 or int(cols["p"].max()) > 1):
        raise ValueError(f"events field p must be 0 (OFF) or 1 (ON), got values in "
                         f"[{int(cols['p'].min())}, {int(cols['p'].max())}]")
    if cols["t"].size and int(cols["t"].min()) < 0:
        raise ValueError(f"events field t (microseconds) must be >= 0, got minimum {int(cols['t'].min())}")
    out = np.empty(n, dtype=EVENT_DTYPE)
    for name in _FIELDS:
        out[name] = cols[name]
    return out


def as_events(events: Any, name: str = "events") -> np.ndarray:
    """``events`` as an array of :data:`EVENT_DTYPE` (no copy when it already is one).

    Accepts any 1-D structured array with integer (or boolean) fields ``x, y, t, p`` (tonic's
    arrays, for example) and converts it; anything else is refused with a message naming
    ``name``.
    """
    if isinstance(events, np.ndarray) and events.dtype == EVENT_DTYPE:
        if events.ndim != 1:
            raise ValueError(f"{name} must be a 1-D event array, got shape {events.shape}")
        return events
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        kind = type(events).__name__ if not isinstance(events, np.ndarray) else f"array of dtype {events.dtype}"
        raise TypeError(f"{name} must be a structured numpy array with fields x, y, t, p "
                        f"(axonal.events.EVENT_DTYPE), got {kind}")
    missing = [f for f in _FIELDS if f not in events.dtype.names]
    if missing:
        raise ValueError(f"{name} lacks the event field(s) {', '.join(missing)}; it has {events.dtype.names}")
    if events.ndim != 1:
        raise ValueError(f"{name} must be a 1-D event array, got shape {events.shape}")
    return make_events(events["x"], events["y"], events["t"], events["p"])


def check_sensor_size(sensor_size: Any, name: str = "sensor_size") -> tuple[int, int, int]:
    """``(width, height, polarities)`` of a sensor; a ``(width, height)`` pair means 2 polarities.

    Width and height are in 1..32768 (the int16 address range); polarities 1 or 2.
    """
    try:
        dims = tuple(sensor_size)
    except TypeError:
        dims = ()
    if len(dims) not in (2, 3) or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in dims):
        raise ValueError(f"{name} must be (width, height[, polarities]) ints, got {sensor_size!r}")
    width, height = int(dims[0]), int(dims[1])
    polarities = int(dims[2]) if len(dims) == 3 else 2
    if not (1 <= width <= _INT16_MAX + 1 and 1 <= height <= _INT16_MAX + 1 and polarities in (1, 2)):
        raise ValueError(f"{name} must be (width, height, polarities) with width and height in "
                         f"1..{_INT16_MAX + 1} and polarities 1 or 2, got {sensor_size!r}")
    return width, height, polarities


def check_events(events: Any, sensor_size: Sequence[int] | None = None, name: str = "events",
                 require_sorted: bool = True) -> np.ndarray:
    """Validate an event array: its dtype (see :func:`as_events`), addresses inside
    ``sensor_size`` when given, polarities inside its polarity count, and (with
    ``require_sorted``) timestamps that never go backwards. Returns the array."""
    ev = as_events(events, name)
    if sensor_size is not None and ev.size:
        width, height, polarities = check_sensor_size(sensor_size)
        for field, limit in (("x", width), ("y", height), ("p", polarities)):
            col = ev[field]
            low, high = int(col.min()), int(col.max())
            if low < 0 or high >= limit:
                raise ValueError(f"{name}.{field} must be in [0, {limit - 1}] for sensor {sensor_size!r}, "
                                 f"got values in [{low}, {high}]")
    if require_sorted and ev.size > 1:
        back = np.flatnonzero(np.diff(ev["t"]) < 0)
        if back.size:
            i = int(back[0]) + 1
            raise ValueError(f"{name}.t must be non-decreasing; event {i} at {int(ev['t'][i])} us comes after "
                             f"{int(ev['t'][i - 1])} us ({back.size} such step(s) back)")
    return ev


def to_torch(events: Any) -> EventTensors:
    """The fields of an event array as tensors that share its memory (no copy)."""
    ev = as_events(events)
    return EventTensors(*(torch.from_numpy(ev[f]) for f in _FIELDS))


def from_torch(x: Tensor, y: Tensor, t: Tensor, p: Tensor) -> np.ndarray:
    """An event array from four 1-D integer tensors (copied to the host)."""
    cols = []
    for name, value in (("x", x), ("y", y), ("t", t), ("p", p)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        cols.append(value.detach().cpu().numpy())
    return make_events(*cols)


def concatenate_events(parts: Iterable[Any]) -> np.ndarray:
    """One event array from several (in the order given; each converted by :func:`as_events`)."""
    arrays = [as_events(p, f"parts[{i}]") for i, p in enumerate(parts)]
    if not arrays:
        return empty_events(0)
    out = np.empty(sum(a.shape[0] for a in arrays), dtype=EVENT_DTYPE)
    np.concatenate(arrays, out=out)
    return out
