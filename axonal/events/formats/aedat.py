"""AEDAT 2.0 (jAER) and AEDAT 3.1 (cAER / libcaer) event files (``.aedat``).

Both begin with text header lines starting with ``#``; the first names the version
(``#!AER-DAT2.0`` or ``#!AER-DAT3.1``).

**AEDAT 2.0** (jAER): after the header, 8-byte records, big-endian: ``uint32 address``,
``uint32 timestamp`` (us). The address layout depends on the camera, named by the header line
``# AEChip: <class>``:

* ``davis`` (DAVIS240/346/640...): bit 31 = 0 for a DVS event (1: an APS sample or IMU
  datum, skipped); bit 10 set marks an external input event (skipped); y at bits 30..22,
  x at bits 21..12, polarity at bit 11 (1 = ON).
* ``dvs128`` (DVS128): bit 15 marks a sync/special event (skipped); y at bits 14..8, x at
  bits 7..1, bit 0 = 0 for ON (jAER flips this bit).

jAER shows these addresses mirrored in x and with y counted upwards from the bottom row; the
events returned here use image coordinates as tonic does for the DAVIS346: ``x = W-1-x_raw``
(jAER's x) and ``y = H-1-y_raw`` (the row counted from the top). The 32-bit timestamp wraps
after 71.6 minutes; a drop of more than half the range is taken as a wrap and unwrapped, any
other step back is refused as corruption. The header's ``# Creation time:
System.currentTimeMillis() N`` is returned as ``start_timestamp`` (milliseconds since the
Unix epoch, as tonic reads it).

**AEDAT 3.1**: the header ends with ``#!END-HEADER``; then packets, each a 28-byte
little-endian header (``int16 type, int16 source, int32 eventSize, int32 eventTSOffset,
int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid``) followed by
``eventCapacity * eventSize`` bytes. Polarity packets (type 1) hold 8-byte events: ``uint32
data`` (bit 0 valid, bit 1 polarity 1 = ON, y at bits 16..2, x at bits 31..17) and ``int32
timestamp``; the full time is ``eventTSOverflow << 31 | timestamp``. Other packet types
(special events, frames, IMU samples) are skipped; invalid events (bit 0 clear) are dropped.

The sensor size is taken, in this order, from the ``sensor_size`` argument, from the header
line ``# Sensor size: WxH`` (written by :func:`write_aedat`), or from the camera named in the
header (DVS128, DAVIS128/208/240/346/640).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np

from axonal.data.limits import check_allocation
from axonal.errors import FileFormatError
from axonal.events.formats._common import (
    DEFAULT_CHUNK_EVENTS,
    EventFileInfo,
    OrderGuard,
    check_chunk_events,
    check_events_for_writing,
    collect,
    existing_file,
    fill_events,
    header_lines,
    new_events,
    optional_sensor,
    read_exact,
    record_offsets,
    sensor_from_dims,
    split_chunks,
    unwrap_counter,
    writable_path,
)

__all__ = ["AEDAT_LAYOUTS", "aedat_info", "iter_aedat", "read_aedat", "write_aedat"]

AEDAT_LAYOUTS = ("davis", "dvs128")
"""The AEDAT 2.0 address layouts."""

_CAMERAS = (  # (pattern in the lower-cased camera name, layout, width, height)
    ("dvs128", "dvs128", 128, 128),
    ("davis346", "davis", 346, 260),
    ("davis240", "davis", 240, 180),
    ("davis640", "davis", 640, 480),
    ("davis208", "davis", 208, 192),
    ("davis128", "davis", 128, 128),
    ("davis", "davis", 0, 0),
)

_RECORD2 = np.dtype([("a", ">u4"), ("t", ">u4")])
_EVENT31 = np.dtype([("data", "<u4"), ("t", "<i4")])
_PACKET31 = struct.Struct("<hhiiiiii")
_POLARITY = 1


def _where(path: Any) -> str:
    return f"AEDAT file {str(path)!r}"


def _camera(name: str) -> tuple[str | None, int, int]:
    low = name.lower()
    for pattern, layout, width, height in _CAMERAS:
        if pattern in low:
            return layout, width, height
    return None, 0, 0


def aedat_info(path: str | os.PathLike[str], sensor_size: Sequence[int] | None = None,
               layout: str | None = None) -> EventFileInfo:
    """The header of an AEDAT 2.0 or 3.1 file.

    ``version`` is ``"2.0"`` or ``"3.1"``; ``sensor_size`` as the module docstring says (or
    ``None`` when nothing tells it); ``start_timestamp`` the jAER creation time (ms since the
    epoch) when the header has one; ``extra`` holds ``layout`` and ``camera`` (2.0) or
    ``camera`` and ``source`` (3.1); ``header`` the ``key: value`` header lines.
    """
    sensor = optional_sensor(sensor_size)
    if layout is not None and layout not in AEDAT_LAYOUTS:
        raise ValueError(f"layout must be None or one of {AEDAT_LAYOUTS}, got {layout!r}")
    p = existing_file(path, "AEDAT file")
    where = _where(p)
    with p.open("rb") as fh:
        lines, data_offset = header_lines(fh, where, b"#", end_marker=b"#!END-HEADER")
    if not lines or not lines[0].startswith("#!AER-DAT"):
        raise FileFormatError(f"{where} does not start with '#!AER-DAT<version>'; it is not an AEDAT file")
    version = lines[0][len("#!AER-DAT"):].strip()
    if version not in ("2.0", "3.1"):
        raise FileFormatError(f"{where} is AEDAT version {version[:20]!r}; versions 2.0 and 3.1 are read here "
                              "(4.0: read_aedat4)")
    entries: list[tuple[str, str]] = []
    for line in lines[1:]:
        key, sep, value = line.lstrip("#").partition(":")
        if sep and re.fullmatch(r"-?[A-Za-z][A-Za-z0-9 _.-]{0,63}", key.strip()):
            entries.append((key.strip(), value.strip()))
    values = dict(entries)
    start: int | None = None
    if "Creation time" in values:
        digits = re.findall(r"\d+", values["Creation time"])
        start = int(digits[-1]) if digits and len(digits[-1]) <= 18 else None
    camera = values.get("AEChip", "") if version == "2.0" else next(
        (v for k, v in entries if re.fullmatch(r"-?Source \d+", k)), "")
    cam_layout, cam_w, cam_h = _camera(camera)
    if sensor is None and "Sensor size" in values:
        m = re.fullmatch(r"(\d{1,5})\s*x\s*(\d{1,5})", values["Sensor size"])
        if m is None:
            raise FileFormatError(f"{where}: header line 'Sensor size: {values['Sensor size'][:40]}' is not WxH")
        sensor = sensor_from_dims(int(m.group(1)), int(m.group(2)), where)
    if sensor is None and cam_w:
        sensor = sensor_from_dims(cam_w, cam_h, where)
    extra: dict[str, Any] = {"camera": camera}
    if version == "2.0":
        extra["layout"] = layout if layout is not None else cam_layout
    else:
        if values.get("Format", "RAW").upper() != "RAW":
            raise FileFormatError(f"{where}: its packets are in format {values['Format'][:40]!r}; only RAW is read")
    return EventFileInfo(format="aedat2" if version == "2.0" else "aedat31", path=p, sensor_size=sensor,
                         data_offset=data_offset, version=version, start_timestamp=start, header=tuple(entries),
                         extra=extra)


# --------------------------------------------------------------------------- AEDAT 2.0


def _decode2(raw: np.ndarray, layout: str, sensor: tuple[int, int, int], carry: tuple[int, int] | None,
             where: str, start: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Events of one chunk of records, the index of each event's record, the time carry."""
    a = raw["a"].astype(np.int64)
    t, carry = unwrap_counter(raw["t"], 1 << 32, carry)
    width, height, _ = sensor
    if layout == "davis":
        keep = np.flatnonzero((a & 0x80000400) == 0)
        x_raw, y_raw, p = (a >> 12) & 0x3FF, (a >> 22) & 0x1FF, (a >> 11) & 1
    else:
        extra = np.flatnonzero(a >> 16)
        if extra.size:
            i = int(extra[0])
            raise FileFormatError(f"{where}: the record at byte {start + 8 * i} has address {int(a[i]):#x}, beyond the "
                                  "16 bits of a DVS128 address; the file is corrupt or its layout is not dvs128")
        keep = np.flatnonzero((a & 0x8000) == 0)
        x_raw, y_raw, p = (a >> 1) & 0x7F, (a >> 8) & 0x7F, 1 - (a & 1)
    x_raw, y_raw = x_raw[keep], y_raw[keep]
    bad = np.flatnonzero((x_raw >= width) | (y_raw >= height))
    if bad.size:
        i = int(keep[bad[0]])
        raise FileFormatError(
            f"{where}: the record at byte {start + 8 * i} has raw address (x={int(x_raw[bad[0]])}, "
            f"y={int(y_raw[bad[0]])}) outside the {width}x{height} sensor; the file is corrupt or the sensor size is wrong"
        )
    out = new_events(keep.size, where, f"the records at byte {start}")
    return fill_events(out, (width - 1) - x_raw, (height - 1) - y_raw, p[keep], t[keep]), keep, carry


def _iter2(fh: BinaryIO, info: EventFileInfo, sensor: tuple[int, int, int], chunk_events: int,
           where: str) -> Iterator[np.ndarray]:
    layout = info.extra["layout"]
    if layout is None:
        raise FileFormatError(f"{where}: its camera {info.extra['camera'][:80]!r} has no known address layout; pass "
                              f"layout= one of {AEDAT_LAYOUTS}")
    size = info.path.stat().st_size
    body = size - info.data_offset
    if body % 8:
        raise FileFormatError(f"{where} is truncated: {body} bytes after the header is not a whole number of 8-byte "
                              "records")
    guard = OrderGuard(where, sensor)
    carry: tuple[int, int] | None = None
    pos = info.data_offset
    fh.seek(pos)
    while pos < size:
        n = min(chunk_events, (size - pos) // 8)
        raw = np.frombuffer(read_exact(fh, 8 * n, where, pos, f"{n} records"), dtype=_RECORD2)
        events, rows, carry = _decode2(raw, layout, sensor, carry, where, pos)
        guard.check(events, record_offsets(pos, 8, rows))
        pos += 8 * n
        if events.shape[0]:
            yield events


# --------------------------------------------------------------------------- AEDAT 3.1


def _iter31(fh: BinaryIO, info: EventFileInfo, sensor: tuple[int, int, int] | None, chunk_events: int,
            where: str, source: int | None) -> Iterator[np.ndarray]:
    size = info.path.stat().st_size
    guard = OrderGuard(where, sensor)
    pos = info.data_offset
    while pos < size:
        head = read_exact(fh, _PACKET31.size, where, pos, "a packet header")
        kind, src, ev_size, ts_offset, overflow, capacity, number, valid = _PACKET31.unpack(head)
        body_at = pos + _PACKET31.size
        if ev_size <= 0 or capacity < 0 or not 0 <= valid <= number <= capacity or overflow < 0:
            raise FileFormatError(
                f"{where}: the packet header at byte {pos} is impossible (event size {ev_size}, capacity {capacity}, "
                f"number {number}, valid {valid}, overflow {overflow}); the file is corrupt"
            )
        body = capacity * ev_size
        if body > size - body_at:
            raise FileFormatError(f"{where}: the packet at byte {pos} claims {capacity} events of {ev_size} bytes but "
                                  f"{size - body_at} bytes remain; the file is truncated")
        if kind != _POLARITY or (source is not None and src != source):
            fh.seek(body_at + body)
            pos = body_at + body
            continue
        if source is None:
            source = src
        if ev_size != 8 or ts_offset != 4:
            raise FileFormatError(f"{where}: the polarity packet at byte {pos} has events of {ev_size} bytes with the "
                                  f"timestamp at {ts_offset}; AEDAT 3.1 polarity events are 8 bytes, timestamp at 4")
        check_allocation(2 * body, f"the packet at byte {pos}", where)
        raw = np.frombuffer(read_exact(fh, body, where, body_at, "a packet body"), dtype=_EVENT31, count=number)
        data = raw["data"].astype(np.int64)
        keep = np.flatnonzero(data & 1)
        ts = raw["t"][keep].astype(np.int64)
        neg = np.flatnonzero(ts < 0)
        if neg.size:
            i = int(keep[neg[0]])
            raise FileFormatError(f"{where}: event {i} of the packet at byte {pos} has timestamp {int(ts[neg[0]])}; "
                                  "AEDAT 3.1 timestamps are 31-bit, never negative")
        d = data[keep]
        events = fill_events(new_events(keep.size, where, f"the packet at byte {pos}"),
                             (d >> 17) & 0x7FFF, (d >> 2) & 0x7FFF, (d >> 1) & 1, (overflow << 31) | ts)
        guard.check(events, record_offsets(body_at, 8, keep))
        yield from split_chunks(events, chunk_events)
        pos = body_at + body


# --------------------------------------------------------------------------- public readers


def iter_aedat(path: str | os.PathLike[str], chunk_events: int = DEFAULT_CHUNK_EVENTS,
               sensor_size: Sequence[int] | None = None, layout: str | None = None,
               source: int | None = None) -> Iterator[np.ndarray]:
    """Stream the polarity events of an AEDAT 2.0 or 3.1 file in chunks of at most
    ``chunk_events`` events (AEDAT 3.1: packet by packet). See :func:`read_aedat`."""
    chunk_events = check_chunk_events(chunk_events)
    if source is not None and (isinstance(source, bool) or not isinstance(source, int)):
        raise TypeError(f"source must be an int or None, got {type(source).__name__}")
    info = aedat_info(path, sensor_size, layout)
    where = _where(info.path)
    with info.path.open("rb") as fh:
        if info.version == "2.0":
            if info.sensor_size is None:
                raise FileFormatError(f"{where}: the sensor size is unknown (camera {info.extra['camera'][:80]!r}); "
                                      "pass sensor_size=(width, height)")
            yield from _iter2(fh, info, info.sensor_size, chunk_events, where)
        else:
            fh.seek(info.data_offset)
            yield from _iter31(fh, info, info.sensor_size, chunk_events, where, source)


def read_aedat(path: str | os.PathLike[str], sensor_size: Sequence[int] | None = None,
               layout: str | None = None, source: int | None = None) -> np.ndarray:
    """Read the polarity (DVS) events of an AEDAT 2.0 or 3.1 file (see the module docstring).

    Args:
        path: the ``.aedat`` file.
        sensor_size: ``(width, height)``; needed for AEDAT 2.0 when the header names no known
            camera (the addresses are mirrored with it).
        layout: AEDAT 2.0 only: ``"davis"`` or ``"dvs128"``, overriding the camera named in the
            header.
        source: AEDAT 3.1 only: read the polarity packets of this source id; ``None`` takes the
            source of the first polarity packet.

    Raises:
        ValueError: the path is not an existing file; a bad argument.
        FileFormatError: naming the file and the byte offset: no ``#!AER-DAT`` line, an
            unsupported version, a truncated record or packet, an impossible packet header, an
            address outside the sensor, timestamps that go backwards (other than a 32-bit wrap
            in 2.0).
        ResourceLimitError: the events would not fit in the free memory.
    """
    info = aedat_info(path, sensor_size, layout)
    if info.version == "2.0":
        n = (info.path.stat().st_size - info.data_offset) // 8
        check_allocation(n * (16 + 40), f"decoding up to {n} events", repr(str(info.path)))
    return collect(iter_aedat(info.path, 1 << 22, sensor_size, layout, source), _where(info.path))


# --------------------------------------------------------------------------- writing


def _camera_name(sensor: tuple[int, int, int], version: str, layout: str) -> str:
    if layout == "dvs128":
        return "ch.unizh.ini.jaer.chip.retina.DVS128" if version == "2.0" else "DVS128"
    known = {(346, 260): "Davis346B", (240, 180): "DAVIS240C", (640, 480): "DAVIS640"}
    name = known.get(sensor[:2], "DavisBaseCamera")
    return f"eu.seebetter.ini.chips.davis.{name}" if version == "2.0" else name.upper().replace("BASECAMERA", "")


def write_aedat(path: str | os.PathLike[str], events: Any, sensor_size: Sequence[int], version: str = "2.0",
                layout: str = "davis", start_timestamp: int | None = None, packet_events: int = 8192) -> None:
    """Write events as an AEDAT 2.0 file (jAER, address ``layout`` ``"davis"`` or
    ``"dvs128"``) or an AEDAT 3.1 file (polarity packets of at most ``packet_events``, source 1).

    The header names a camera that matches ``sensor_size`` when there is one and always holds
    a ``# Sensor size: WxH`` line; ``start_timestamp`` (ms since the epoch) is written as jAER's
    creation time when given. AEDAT 2.0 holds 32-bit timestamps: the first event must lie
    below 2**32 us and no two consecutive events more than 2**31 - 1 us apart (the reader
    unwraps the counter); AEDAT 3.1 holds 64-bit times.

    Raises:
        ValueError: a bad version, layout or sensor for the layout (DAVIS: width <= 1024,
            height <= 512; DVS128: both <= 128), events outside the sensor or unsorted, times
            that the format cannot hold.
    """
    p = writable_path(path)
    if version not in ("2.0", "3.1"):
        raise ValueError(f"version must be '2.0' or '3.1', got {version!r}")
    if layout not in AEDAT_LAYOUTS:
        raise ValueError(f"layout must be one of {AEDAT_LAYOUTS}, got {layout!r}")
    if start_timestamp is not None and (isinstance(start_timestamp, bool) or not isinstance(start_timestamp, int)
                                        or start_timestamp < 0):
        raise ValueError(f"start_timestamp must be None or an int >= 0 (ms), got {start_timestamp!r}")
    packet_events = check_chunk_events(packet_events)
    ev, sensor = check_events_for_writing(events, sensor_size)
    width, height, _ = sensor
    limits = (1024, 512) if layout == "davis" else (128, 128)
    if version == "2.0" and (width > limits[0] or height > limits[1]):
        raise ValueError(f"sensor_size {sensor_size!r} does not fit the {layout} address layout "
                         f"(at most {limits[0]}x{limits[1]})")
    t = ev["t"].astype(np.int64)
    lines = [f"#!AER-DAT{version}", "# This is a raw AE data file created by axonal",
             f"# AEChip: {_camera_name(sensor, version, layout)}" if version == "2.0" else "#Format: RAW"]
    if version == "3.1":
        lines.append(f"#Source 1: {_camera_name(sensor, version, layout)}")
    lines.append(f"# Sensor size: {width}x{height}")
    if start_timestamp is not None:
        lines.append(f"# Creation time: System.currentTimeMillis() {start_timestamp}")
    if version == "3.1":
        lines.append("#!END-HEADER")
    header = ("\r\n".join(lines) + "\r\n").encode("ascii")
    x, y, pol = ev["x"].astype(np.int64), ev["y"].astype(np.int64), ev["p"].astype(np.int64)
    if version == "2.0" and t.size and (int(t[0]) >= 1 << 32 or bool((np.diff(t) >= 1 << 31).any())):
        raise ValueError("events.t does not fit AEDAT 2.0's 32-bit timestamps: the first event must lie below "
                         "2**32 us and consecutive events less than 2**31 us apart")
    with p.open("wb") as fh:
        fh.write(header)
        if version == "2.0":
            rec = np.empty(ev.shape[0], dtype=_RECORD2)
            xr, yr = (width - 1) - x, (height - 1) - y
            if layout == "davis":
                rec["a"] = (yr << 22) | (xr << 12) | (pol << 11)
            else:
                rec["a"] = (yr << 8) | (xr << 1) | (1 - pol)
            rec["t"] = t & 0xFFFFFFFF
            rec.tofile(fh)
            return
        overflow = t >> 31
        cuts = np.flatnonzero(np.diff(overflow)) + 1
        for part in np.split(np.arange(t.size), cuts):
            for a in range(0, part.size, packet_events):
                idx = part[a:a + packet_events]
                rec31 = np.empty(idx.size, dtype=_EVENT31)
                rec31["data"] = (x[idx] << 17) | (y[idx] << 2) | (pol[idx] << 1) | 1
                rec31["t"] = t[idx] & 0x7FFFFFFF
                fh.write(_PACKET31.pack(_POLARITY, 1, 8, 4, int(overflow[idx[0]]), idx.size, idx.size, idx.size))
                fh.write(rec31.tobytes())
