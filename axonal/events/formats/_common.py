"""Pieces shared by the event file readers and writers (private to :mod:`axonal.events.formats`).

Every reader here works the same way: it names the file in every error, checks a size read
from the file against the bytes actually present, asks :func:`~axonal.data.limits.check_allocation`
before it allocates the events of a chunk, checks each chunk's addresses against the sensor and
its timestamps against the chunk before (:class:`OrderGuard`), and raises
:class:`~axonal.errors.FileFormatError` naming the file and the byte offset of the record at fault.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from axonal.data.limits import check_allocation, format_bytes
from axonal.errors import FileFormatError
from axonal.events.container import EVENT_DTYPE, as_events, check_sensor_size, concatenate_events, empty_events

__all__ = [
    "DEFAULT_CHUNK_EVENTS",
    "EventFileInfo",
    "OrderGuard",
    "check_chunk_events",
    "check_events_for_writing",
    "collect",
    "existing_file",
    "fill_events",
    "header_lines",
    "new_events",
    "optional_sensor",
    "read_exact",
    "record_offsets",
    "sensor_from_dims",
    "split_chunks",
    "unwrap_counter",
    "writable_path",
]

DEFAULT_CHUNK_EVENTS = 1 << 20
"""Events per chunk when streaming (16 MiB of :data:`~axonal.events.EVENT_DTYPE` records)."""

EVENT_BYTES = EVENT_DTYPE.itemsize

MAX_HEADER_BYTES = 1 << 24
"""The longest text header a reader accepts (16 MiB: jAER headers hold a preferences XML)."""


@dataclass(frozen=True)
class EventFileInfo:
    """What the header of an event file says.

    Attributes:
        format: ``"nmnist"``, ``"npz"``, ``"aedat4"``, ``"aedat2"``, ``"aedat31"``, ``"evt2"``
            or ``"evt3"``.
        path: the file.
        sensor_size: ``(width, height, polarities)`` when the file tells it, else ``None``.
        data_offset: the byte where the events (or packets) begin.
        version: the format's version as the file states it (``"2.0"``, ``"3.1"``, ``"4.0"``,
            ``"EVT3"``...), or ``None``.
        start_timestamp: AEDAT 2.0 only: the creation time that jAER writes
            (``System.currentTimeMillis()``, milliseconds since the Unix epoch); else ``None``.
        header: the header's ``key: value`` entries as text (format-specific; empty for
            binary headers), in file order.
        extra: format-specific facts (AEDAT 4.0: ``compression``, ``streams``; AEDAT 2.0:
            ``layout``, ``chip``).
    """

    format: str
    path: Path
    sensor_size: tuple[int, int, int] | None
    data_offset: int
    version: str | None = None
    start_timestamp: int | None = None
    header: tuple[tuple[str, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def existing_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path` of an existing file (ValueError naming it else)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} {str(p)!r} does not exist")
    return p


def writable_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` (TypeError for anything else)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def check_chunk_events(chunk_events: Any) -> int:
    """``chunk_events`` (or a writer's events per packet) as an int >= 1 (ValueError else)."""
    if isinstance(chunk_events, bool) or not isinstance(chunk_events, numbers.Integral) or chunk_events < 1:
        raise ValueError(f"chunk_events must be an int >= 1, got {chunk_events!r}")
    return int(chunk_events)


def optional_sensor(sensor_size: Any) -> tuple[int, int, int] | None:
    """A ``sensor_size`` argument checked, or None."""
    return None if sensor_size is None else check_sensor_size(sensor_size)


def read_exact(fh: BinaryIO, n: int, where: str, offset: int, what: str) -> bytes:
    """Exactly ``n`` bytes from ``fh`` (at ``offset``), else a FileFormatError naming both."""
    try:
        data = fh.read(n)
    except OSError as err:
        raise FileFormatError(f"{where}: cannot be read at byte {offset}: {err}") from None
    if len(data) != n:
        raise FileFormatError(f"{where} is truncated: {what} at byte {offset} needs {n} bytes, "
                              f"{len(data)} remain")
    return data


def header_lines(fh: BinaryIO, where: str, prefix: bytes, end_marker: bytes | None = None) -> tuple[list[str], int]:
    """Read the text header lines that start with ``prefix`` (``b"#"``, ``b"%"``).

    The header ends at the first line that does not start with ``prefix``, at a line that is
    not printable text (binary data that happens to begin with the prefix byte), or just after
    a line equal to ``end_marker``. Returns the lines (without the line end) and the offset of
    the first byte after the header.
    """
    lines: list[str] = []
    offset = 0
    while True:
        fh.seek(offset)
        head = fh.read(len(prefix))
        if head != prefix:
            break
        fh.seek(offset)
        raw = fh.readline(MAX_HEADER_BYTES + 1)
        if len(raw) > MAX_HEADER_BYTES or offset + len(raw) > MAX_HEADER_BYTES:
            raise FileFormatError(f"{where}: the text header runs past {format_bytes(MAX_HEADER_BYTES)}; "
                                  "the file is corrupt or not in this format")
        if not raw.endswith(b"\n"):
            if lines:  # an unterminated last line: text without a line end, or binary data
                break
            raise FileFormatError(f"{where}: the header line at byte {offset} has no line end")
        body = raw.rstrip(b"\r\n")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            break  # binary data starting with the prefix byte
        if any(ord(c) < 32 and c != "\t" for c in text):
            break
        lines.append(text)
        offset += len(raw)
        if end_marker is not None and body == end_marker:
            break
    return lines, offset


def unwrap_counter(values: np.ndarray, period: int, carry: tuple[int, int] | None) -> tuple[np.ndarray, tuple[int, int]]:
    """Unwrap a counter that wraps at ``period``: a drop of at least ``period // 2`` from one
    value to the next is a wrap (adds ``period``); smaller drops are kept (and caught later as
    a step back in time). ``carry`` is ``(last value, wraps so far)`` of the chunk before.

    Returns int64 values ``value + wraps * period`` and the carry for the next chunk.
    """
    v = values.astype(np.int64)
    if v.size == 0:
        return v, carry if carry is not None else (0, 0)
    prev_last, wraps = carry if carry is not None else (int(v[0]), 0)
    prev = np.empty_like(v)
    prev[0] = prev_last
    prev[1:] = v[:-1]
    jumps = (prev - v) >= period // 2
    count = np.cumsum(jumps, dtype=np.int64) + wraps
    out = v + count * period
    return out, (int(v[-1]), int(count[-1]))


class OrderGuard:
    """Checks, chunk after chunk, that timestamps never go backwards and addresses stay inside
    the sensor; errors name the file and the byte offset of the record at fault."""

    def __init__(self, where: str, sensor: tuple[int, int, int] | None) -> None:
        self.where = where
        self.sensor = sensor
        self.last_t: int | None = None
        self.count = 0

    @staticmethod
    def _at(i: int, offset_of: Callable[[int], int | None]) -> str:
        offset = offset_of(i)
        return "" if offset is None else f" (record at byte {offset})"

    def check(self, events: np.ndarray, offset_of: Callable[[int], int | None]) -> np.ndarray:
        """Check one decoded chunk; ``offset_of(i)`` is the byte offset of event ``i``'s record
        (``None`` where records have no offset of their own)."""
        n = events.shape[0]
        if n == 0:
            return events
        width, height, polarities = self.sensor if self.sensor is not None else (1 << 15, 1 << 15, 2)
        x, y = events["x"], events["y"]
        bad = np.flatnonzero((x < 0) | (x >= width) | (y < 0) | (y >= height))
        if bad.size:
            i = int(bad[0])
            inside = f"the {width}x{height} sensor" if self.sensor is not None else "the address range 0..32767"
            raise FileFormatError(
                f"{self.where}: event {self.count + i}{self._at(i, offset_of)} has address "
                f"(x={int(x[i])}, y={int(y[i])}) outside {inside} ({bad.size} such events "
                "in this chunk); the file is corrupt or the sensor size is wrong"
            )
        bad = np.flatnonzero((events["p"] < 0) | (events["p"] >= polarities))
        if bad.size:
            i = int(bad[0])
            raise FileFormatError(f"{self.where}: event {self.count + i}{self._at(i, offset_of)} has polarity "
                                  f"{int(events['p'][i])}; the sensor has polarities 0..{polarities - 1}")
        t = events["t"]
        if self.last_t is not None and int(t[0]) < self.last_t:
            self._back(0, int(t[0]), self.last_t, offset_of, 1)
        back = np.flatnonzero(t[1:] < t[:-1])
        if back.size:
            i = int(back[0]) + 1
            self._back(i, int(t[i]), int(t[i - 1]), offset_of, back.size)
        if int(t[0]) < 0:
            raise FileFormatError(f"{self.where}: event {self.count}{self._at(0, offset_of)} has a negative "
                                  f"timestamp {int(t[0])} us")
        self.last_t = int(t[-1])
        self.count += n
        return events

    def _back(self, i: int, t: int, before: int, offset_of: Callable[[int], int | None], steps: int) -> None:
        k = self.count + i
        raise FileFormatError(
            f"{self.where}: event {k}{self._at(i, offset_of)} has timestamp {t} us, earlier than event "
            f"{k - 1}'s {before} us ({steps} such step(s) back in this chunk); a recording's timestamps never "
            "decrease, the file is corrupt"
        )


def record_offsets(start: int, width: int, rows: np.ndarray | None = None) -> Callable[[int], int]:
    """``offset_of`` for :meth:`OrderGuard.check`: event ``i`` comes from the record at
    ``start + width * rows[i]`` (``rows[i] = i`` when ``rows`` is None; ``width`` 0: all at ``start``)."""

    def offset(i: int) -> int:
        return start + width * (int(rows[i]) if rows is not None else i)

    return offset


def new_events(n: int, where: str, what: str) -> np.ndarray:
    """An uninitialised event array of ``n`` events, its size checked first."""
    check_allocation(n * EVENT_BYTES, f"{what}: {n} events", where)
    return np.empty(n, dtype=EVENT_DTYPE)


def fill_events(out: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Write four decoded columns into ``out`` (values already checked to fit their fields)."""
    out["x"] = x
    out["y"] = y
    out["p"] = p
    out["t"] = t
    return out


def split_chunks(events: np.ndarray, chunk_events: int) -> Iterator[np.ndarray]:
    """Views of ``events`` of at most ``chunk_events`` each (none for an empty array)."""
    for a in range(0, events.shape[0], chunk_events):
        yield events[a:a + chunk_events]


def collect(chunks: Iterable[np.ndarray], where: str) -> np.ndarray:
    """One array from the chunks of a reader, the growing total checked against the memory."""
    parts: list[np.ndarray] = []
    total = 0
    for chunk in chunks:
        if chunk.shape[0] == 0:
            continue
        total += chunk.shape[0]
        check_allocation(2 * total * EVENT_BYTES, f"holding {total} events and their concatenation", where)
        parts.append(chunk)
    if not parts:
        return empty_events(0)
    if len(parts) == 1:
        return parts[0]
    return concatenate_events(parts)


def check_events_for_writing(events: Any, sensor_size: Any, name: str = "events") -> tuple[np.ndarray, tuple[int, int, int]]:
    """Validate what a writer is given: an event array (non-decreasing times) inside the sensor."""
    sensor = check_sensor_size(sensor_size)
    ev = as_events(events, name)
    width, height, polarities = sensor
    if ev.size:
        for field_name, limit in (("x", width), ("y", height), ("p", polarities)):
            col = ev[field_name]
            low, high = int(col.min()), int(col.max())
            if low < 0 or high >= limit:
                raise ValueError(f"{name}.{field_name} must be in [0, {limit - 1}] for sensor {sensor_size!r}, "
                                 f"got values in [{low}, {high}]")
        back = np.flatnonzero(np.diff(ev["t"]) < 0)
        if back.size:
            i = int(back[0]) + 1
            raise ValueError(f"{name}.t must be non-decreasing to be written; event {i} at {int(ev['t'][i])} us comes "
                             f"after {int(ev['t'][i - 1])} us")
    return ev, sensor


def sensor_from_dims(width: int, height: int, where: str, polarities: int = 2) -> tuple[int, int, int]:
    """A sensor size read from a header (a FileFormatError naming the file when impossible)."""
    try:
        return check_sensor_size((width, height, polarities))
    except ValueError:
        raise FileFormatError(f"{where}: the header gives a sensor of {width}x{height}, outside 1..32768") from None

