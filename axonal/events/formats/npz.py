"""Events in numpy's ``.npz`` archive.

:func:`write_npz` stores four arrays ``x`` (int16), ``y`` (int16), ``t`` (int64 us), ``p``
(int8) and ``sensor_size`` (int64 ``[3]``: width, height, polarities). :func:`read_npz` reads
that layout, and also archives holding one structured array with fields ``x, y, t, p`` (what
tonic's users save with ``np.savez(path, events=events)``; boolean or integer polarities),
under the key ``events`` or as the only array. ``sensor_size`` is optional on reading.

Nothing is unpickled (``allow_pickle=False``); each member's header is read first and its
size checked against the member's stored size and the free memory before the data is read,
so a compressed archive (``np.savez_compressed``) cannot inflate past what was checked.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from axonal.data.limits import check_allocation, format_bytes
from axonal.errors import FileFormatError
from axonal.events.container import EVENT_DTYPE, check_sensor_size, make_events
from axonal.events.formats._common import (
    DEFAULT_CHUNK_EVENTS,
    EventFileInfo,
    OrderGuard,
    check_chunk_events,
    check_events_for_writing,
    existing_file,
    optional_sensor,
    split_chunks,
    writable_path,
)

__all__ = ["iter_npz", "npz_info", "read_npz", "write_npz"]

_FIELDS = ("x", "y", "t", "p")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, ValueError, NotImplementedError,
               RuntimeError)


def _where(path: Any) -> str:
    return f"event file {str(path)!r}"


class _Archive:
    """The members of an ``.npz`` archive, each read only after its header was checked."""

    def __init__(self, zf: zipfile.ZipFile, where: str) -> None:
        self.zf, self.where = zf, where
        self.members = {info.filename[:-4]: info for info in zf.infolist() if info.filename.endswith(".npy")}

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype[Any], int]:
        info = self.members[key]
        try:
            with self.zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"npy format version {version} is not supported")
        except _ZIP_ERRORS as err:
            raise FileFormatError(f"{self.where}: member {key!r} is not a valid .npy array ({type(err).__name__}: "
                                  f"{err})") from None
        if dtype.hasobject:
            raise FileFormatError(f"{self.where}: member {key!r} holds Python objects; only numeric arrays are read")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes > info.file_size:
            raise FileFormatError(f"{self.where}: member {key!r} claims shape {shape} of {dtype} "
                                  f"({format_bytes(nbytes)}) but stores {format_bytes(info.file_size)}; the file is corrupt")
        return tuple(shape), dtype, nbytes

    def array(self, key: str) -> np.ndarray:
        shape, dtype, nbytes = self.header(key)
        check_allocation(2 * nbytes, f"member {key!r} of shape {shape} ({dtype})", self.where)
        try:
            with self.zf.open(self.members[key]) as fh:
                arr = np.lib.format.read_array(fh, allow_pickle=False)
        except _ZIP_ERRORS as err:
            raise FileFormatError(f"{self.where}: member {key!r} cannot be read ({type(err).__name__}: {err})") from None
        return np.asarray(arr)


def _open(path: Any, where: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except _ZIP_ERRORS as err:
        raise FileFormatError(f"{where} is not an .npz archive ({type(err).__name__}: {err})") from None


def _file_sensor(archive: _Archive) -> tuple[int, int, int] | None:
    if "sensor_size" not in archive.members:
        return None
    shape, dtype, _ = archive.header("sensor_size")
    if shape not in ((2,), (3,)) or dtype.kind not in "iu":
        raise FileFormatError(f"{archive.where}: sensor_size has shape {shape} of {dtype}; expected 2 or 3 integers")
    values = archive.array("sensor_size")
    try:
        return check_sensor_size(tuple(int(v) for v in values))
    except ValueError as err:
        raise FileFormatError(f"{archive.where}: {err}") from None


def npz_info(path: str | os.PathLike[str]) -> EventFileInfo:
    """The layout of an events ``.npz``: which members hold the events, and ``sensor_size``."""
    p = existing_file(path, "event file")
    where = _where(p)
    with _open(p, where) as zf:
        archive = _Archive(zf, where)
        layout = _layout(archive)
        sensor = _file_sensor(archive)
    return EventFileInfo(format="npz", path=p, sensor_size=sensor, data_offset=0, extra={"layout": layout})


def _layout(archive: _Archive) -> str:
    """``"fields"`` (arrays x, y, t, p) or the key of the one structured array."""
    names = archive.members
    if all(f in names for f in _FIELDS):
        return "fields"
    candidates = ["events"] if "events" in names else [k for k in names if k != "sensor_size"]
    if len(candidates) == 1:
        _, dtype, _ = archive.header(candidates[0])
        if dtype.names is not None and all(f in dtype.names for f in _FIELDS):
            return candidates[0]
    raise FileFormatError(
        f"{archive.where}: found members {sorted(names)}; expected arrays x, y, t, p or one structured array with "
        "fields x, y, t, p (under 'events' or alone)"
    )


def read_npz(path: str | os.PathLike[str], sensor_size: Sequence[int] | None = None) -> np.ndarray:
    """Read events from an ``.npz`` archive (see the module docstring for the layouts).

    Addresses are checked against ``sensor_size`` when given, else against the archive's own
    ``sensor_size`` when it has one; timestamps must never decrease.

    Raises:
        ValueError: the path is not an existing file; a bad ``sensor_size`` argument.
        FileFormatError: not a zip archive, a damaged member, members of unequal length, values
            that do not fit the event fields (negative addresses, polarity not 0/1, non-integer
            values), addresses outside the sensor, timestamps that go backwards.
        ResourceLimitError: the arrays would not fit in the free memory.
    """
    sensor = optional_sensor(sensor_size)
    p = existing_file(path, "event file")
    where = _where(p)
    with _open(p, where) as zf:
        archive = _Archive(zf, where)
        layout = _layout(archive)
        if sensor is None:
            sensor = _file_sensor(archive)
        if layout == "fields":
            total = sum(archive.header(f)[2] for f in _FIELDS)
            check_allocation(2 * total, "the four event fields", where)
            cols = {f: archive.array(f) for f in _FIELDS}
        else:
            arr = archive.array(layout)
            if arr.ndim != 1:
                raise FileFormatError(f"{where}: member {layout!r} has shape {arr.shape}; expected one event per entry")
            cols = {f: arr[f] for f in _FIELDS}
    lengths = {f: c.shape for f, c in cols.items()}
    if any(len(s) != 1 for s in lengths.values()) or len({s[0] for s in lengths.values()}) != 1:
        raise FileFormatError(f"{where}: the event fields must be 1-D of one length, got shapes {lengths}")
    check_allocation(lengths["x"][0] * EVENT_DTYPE.itemsize, f"{lengths['x'][0]} events", where)
    try:
        events = make_events(cols["x"], cols["y"], cols["t"], cols["p"])
    except (TypeError, ValueError) as err:
        raise FileFormatError(f"{where}: {err}") from None
    OrderGuard(where, sensor).check(events, lambda i: None)
    return events


def iter_npz(path: str | os.PathLike[str], chunk_events: int = DEFAULT_CHUNK_EVENTS,
             sensor_size: Sequence[int] | None = None) -> Iterator[np.ndarray]:
    """The events of :func:`read_npz` in chunks of at most ``chunk_events`` (the archive is
    read whole first: numpy stores each field contiguously)."""
    chunk_events = check_chunk_events(chunk_events)
    yield from split_chunks(read_npz(path, sensor_size), chunk_events)


def write_npz(path: str | os.PathLike[str], events: Any, sensor_size: Sequence[int], compressed: bool = False) -> None:
    """Write events as arrays ``x, y, t, p`` plus ``sensor_size`` (``np.savez``, or
    ``np.savez_compressed`` with ``compressed``). Addresses must lie inside ``sensor_size``
    and times must not decrease (ValueError naming the field)."""
    p = writable_path(path)
    ev, sensor = check_events_for_writing(events, sensor_size)
    save = np.savez_compressed if compressed else np.savez
    with p.open("wb") as fh:  # a file object: numpy would append .npz to a path without it
        save(fh, x=ev["x"].copy(), y=ev["y"].copy(), t=ev["t"].copy(), p=ev["p"].copy(),
             sensor_size=np.array(sensor, dtype=np.int64))
