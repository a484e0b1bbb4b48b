"""The N-MNIST / N-Caltech101 40-bit binary event format (``.bin``; NMNISTsmall names them ``.bs2``).

Each event is 5 bytes, big-endian bit order::

    byte 0      x (0..255)
    byte 1      y (0..255)
    byte 2      bit 7: polarity (1 = ON, 0 = OFF); bits 6..0: timestamp bits 22..16
    bytes 3, 4  timestamp bits 15..0   (23-bit timestamp in microseconds)

There is no header: the sensor size is not in the file (N-MNIST's is 34 x 34, the default).
The 23-bit timestamp does not wrap within a recording (8.4 s; an N-MNIST saccade sequence
lasts 0.3 s), so a timestamp earlier than the one before is refused as corruption.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from axonal.data.limits import check_allocation, format_bytes
from axonal.errors import FileFormatError
from axonal.events.container import check_sensor_size
from axonal.events.formats._common import (
    DEFAULT_CHUNK_EVENTS,
    EventFileInfo,
    OrderGuard,
    check_chunk_events,
    check_events_for_writing,
    collect,
    existing_file,
    fill_events,
    new_events,
    read_exact,
    record_offsets,
    writable_path,
)

__all__ = ["NMNIST_SENSOR", "iter_nmnist", "nmnist_info", "read_nmnist", "write_nmnist"]

NMNIST_SENSOR = (34, 34, 2)
"""N-MNIST sensor size ``(width, height, polarities)``."""

RECORD = 5
MAX_T = (1 << 23) - 1

_TEMP_PER_EVENT = 4 * 8
"""Bytes of decoding temporaries per event (the int64 timestamp and its parts)."""


def _where(path: Any) -> str:
    return f"event file {str(path)!r}"


def nmnist_info(path: str | os.PathLike[str], sensor_size: Sequence[int] = NMNIST_SENSOR) -> EventFileInfo:
    """The facts of an N-MNIST file: its size must be a non-zero multiple of 5 bytes."""
    sensor = check_sensor_size(sensor_size, "sensor_size")
    p = existing_file(path, "event file")
    size = p.stat().st_size
    if size == 0:
        raise FileFormatError(f"{_where(p)} is empty")
    if size % RECORD:
        raise FileFormatError(
            f"{_where(p)} is truncated or not in the N-MNIST format: {size} bytes is not a multiple of 5"
        )
    return EventFileInfo(format="nmnist", path=p, sensor_size=sensor, data_offset=0, extra={"events": size // RECORD})


def _decode(raw: np.ndarray, where: str) -> np.ndarray:
    r = raw.reshape(-1, RECORD)
    n = r.shape[0]
    check_allocation(n * _TEMP_PER_EVENT, f"decoding {n} events", where)
    out = new_events(n, where, "decoding")
    t = ((r[:, 2].astype(np.int64) & 0x7F) << 16) | (r[:, 3].astype(np.int64) << 8) | r[:, 4]
    return fill_events(out, r[:, 0], r[:, 1], r[:, 2] >> 7, t)


def iter_nmnist(path: str | os.PathLike[str], chunk_events: int = DEFAULT_CHUNK_EVENTS,
                sensor_size: Sequence[int] = NMNIST_SENSOR) -> Iterator[np.ndarray]:
    """Stream an N-MNIST file in chunks of at most ``chunk_events`` events (see :func:`read_nmnist`)."""
    chunk_events = check_chunk_events(chunk_events)
    info = nmnist_info(path, sensor_size)
    where = _where(info.path)
    n_total = int(info.extra["events"])
    guard = OrderGuard(where, info.sensor_size)
    with info.path.open("rb") as fh:
        done = 0
        while done < n_total:
            n = min(chunk_events, n_total - done)
            start = done * RECORD
            raw = np.frombuffer(read_exact(fh, n * RECORD, where, start, f"{n} events"), dtype=np.uint8)
            events = _decode(raw, where)
            guard.check(events, record_offsets(start, RECORD))
            done += n
            yield events


def read_nmnist(path: str | os.PathLike[str], sensor_size: Sequence[int] = NMNIST_SENSOR) -> np.ndarray:
    """Read one N-MNIST 40-bit event file into an event array (:data:`~axonal.events.EVENT_DTYPE`).

    The file's size is checked before anything is read (a non-zero multiple of 5 bytes, the
    decoded events fitting in the free memory); the events are then checked for what the
    format allows but a recording cannot hold: an address outside ``sensor_size`` or a
    timestamp earlier than the one before it.

    Raises:
        ValueError: the path is not an existing file; ``sensor_size`` is not a sensor size.
        FileFormatError: naming the file when it is empty, truncated (size not a multiple of 5
            bytes), unreadable, holds an address outside the sensor or timestamps that go
            backwards (naming the event and the byte offset of its record).
        ResourceLimitError: the decoded events would not fit in the free memory.
    """
    info = nmnist_info(path, sensor_size)
    n = int(info.extra["events"])
    size = n * RECORD
    check_allocation(n * (16 + _TEMP_PER_EVENT) + size, f"decoding {n} events (a {format_bytes(size)} file)",
                     repr(str(info.path)))
    return collect(iter_nmnist(info.path, max(n, 1), sensor_size), _where(info.path))


def write_nmnist(path: str | os.PathLike[str], events: Any, sensor_size: Sequence[int] = NMNIST_SENSOR) -> None:
    """Write an event array in the N-MNIST 40-bit format.

    The format holds ``x, y`` in 0..255 and ``t`` in 0..2**23-1 us; anything else is refused
    (ValueError naming the field), as are events outside ``sensor_size`` and unsorted times.
    """
    p = writable_path(path)
    ev, sensor = check_events_for_writing(events, sensor_size)
    if sensor[0] > 256 or sensor[1] > 256:
        raise ValueError(f"sensor_size {sensor_size!r} does not fit the N-MNIST format (x and y are one byte each)")
    t = ev["t"]
    if t.size and (int(t.min()) < 0 or int(t.max()) > MAX_T):
        raise ValueError(f"events.t must be in 0..{MAX_T} us for the N-MNIST format (23 bits), got up to {int(t.max())}")
    out = np.empty((ev.shape[0], RECORD), dtype=np.uint8)
    out[:, 0] = ev["x"]
    out[:, 1] = ev["y"]
    t64 = t.astype(np.int64)
    out[:, 2] = (ev["p"].astype(np.int64) << 7) | (t64 >> 16)
    out[:, 3] = (t64 >> 8) & 0xFF
    out[:, 4] = t64 & 0xFF
    out.tofile(p)
