"""AEDAT 4.0, the container of iniVation's DV software (``.aedat4``), decoded here from its
published layout (FlatBuffers schemas ``IOHeader`` and ``EventPacket``); only the polarity
events are read.

Layout (all integers little-endian)::

    "#!AER-DAT4.0\\r\\n"                        14 bytes
    uint32 n, then n bytes                     the IOHeader FlatBuffer (identifier "IOHE"):
                                                 compression (int32 enum: 0 none, 1 LZ4,
                                                 2 LZ4 high, 3 Zstd, 4 Zstd high), dataTablePosition
                                                 (int64, -1 when absent), infoNode (an XML text
                                                 naming each stream: id, "typeIdentifier",
                                                 sensor "sizeX"/"sizeY")
    packets, up to dataTablePosition (or the end of the file):
        int32 stream id, int32 size, size bytes  the compressed packet: a size-prefixed
                                                 FlatBuffer; for an event stream ("EVTS") an
                                                 EventPacket whose vector ``elements`` holds
                                                 16-byte structs {int64 t (us), int16 x, int16 y,
                                                 bool on, 3 bytes padding}

The file data table after the packets (an index) is not needed to read the file in order and
is not read. LZ4 needs the ``lz4`` package (``pip install axonal[events]``), Zstd the
``zstandard`` package; either is imported only when a file uses it.

Timestamps are the recording's own (microseconds since the Unix epoch for a live camera).
Packets of one stream hold increasing times; a packet earlier than the one before is refused.
"""

from __future__ import annotations

import importlib
import os
import struct
import xml.etree.ElementTree as ET
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
    new_events,
    optional_sensor,
    read_exact,
    record_offsets,
    sensor_from_dims,
    split_chunks,
    writable_path,
)

__all__ = ["AEDAT4_COMPRESSIONS", "aedat4_info", "iter_aedat4", "read_aedat4", "write_aedat4"]

MAGIC = b"#!AER-DAT4.0\r\n"

AEDAT4_COMPRESSIONS = {"none": 0, "lz4": 1, "lz4_high": 2, "zstd": 3, "zstd_high": 4}
"""The IOHeader's compression codes by name."""

_COMPRESSION_NAMES = {v: k for k, v in AEDAT4_COMPRESSIONS.items()}

_EVENT = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"], "offsets": [0, 8, 10, 12],
                   "itemsize": 16})
"""The 16-byte Event struct of an EventPacket."""

_STEP = 1 << 22
"""Bytes decompressed at a time; the growing packet is checked against the memory each step."""

_MAX_HEADER = 1 << 26


def _where(path: Any) -> str:
    return f"AEDAT4 file {str(path)!r}"


# --------------------------------------------------------------------------- FlatBuffers reading


class _Flat:
    """Bounds-checked reads from one FlatBuffer (``base``: the byte offset of the buffer in the
    file, for messages)."""

    def __init__(self, buf: bytes, where: str, base: int, what: str) -> None:
        self.buf, self.where, self.base, self.what = buf, where, base, what

    def fail(self, pos: int, why: str) -> FileFormatError:
        return FileFormatError(f"{self.where}: {self.what} (at byte {self.base}) is corrupt at its byte {pos}: {why}")

    def unpack(self, fmt: str, pos: int) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise self.fail(pos, f"a {size}-byte value would lie outside its {len(self.buf)} bytes")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def table(self, pos: int) -> tuple[int, list[int], int]:
        """``(table position, field offsets, table size)`` of the table at ``pos``."""
        vtable = pos - int(self.unpack("<i", pos))
        vt_size = int(self.unpack("<H", vtable))
        tbl_size = int(self.unpack("<H", vtable + 2))
        if vt_size < 4 or vt_size % 2 or vtable + vt_size > len(self.buf) or tbl_size < 4 or pos + tbl_size > len(self.buf):
            raise self.fail(vtable, f"a vtable of {vt_size} bytes for a table of {tbl_size} bytes does not fit")
        fields = [int(self.unpack("<H", vtable + 4 + 2 * i)) for i in range((vt_size - 4) // 2)]
        for k, off in enumerate(fields):
            if off and off >= tbl_size:
                raise self.fail(vtable, f"field {k} lies at {off}, outside its {tbl_size}-byte table")
        return pos, fields, tbl_size

    @staticmethod
    def field(fields: list[int], k: int) -> int:
        return fields[k] if k < len(fields) else 0

    def scalar(self, table: tuple[int, list[int], int], k: int, fmt: str, default: int) -> int:
        off = self.field(table[1], k)
        return default if off == 0 else int(self.unpack(fmt, table[0] + off))

    def target(self, table: tuple[int, list[int], int], k: int) -> int | None:
        """Where the offset field ``k`` points (a string or vector), or None when absent."""
        off = self.field(table[1], k)
        if off == 0:
            return None
        at = table[0] + off
        return at + int(self.unpack("<I", at))

    def string(self, pos: int) -> bytes:
        n = int(self.unpack("<I", pos))
        if pos + 4 + n > len(self.buf):
            raise self.fail(pos, f"a string of {n} bytes runs past the end")
        return self.buf[pos + 4:pos + 4 + n]


# --------------------------------------------------------------------------- the header


def _streams(xml_text: bytes, where: str) -> dict[int, dict[str, Any]]:
    """``{stream id: {"type": identifier, "width": int | None, "height": int | None}}`` from the
    infoNode XML."""
    try:
        root = ET.fromstring(xml_text.rstrip(b"\0").decode("utf-8"))
    except (ET.ParseError, UnicodeDecodeError, ValueError) as err:
        raise FileFormatError(f"{where}: the header's stream description is not valid XML ({err})") from None
    out_info = next((n for n in root if n.tag == "node" and n.get("name") == "outInfo"), None)
    if root.tag != "dv" or out_info is None:
        raise FileFormatError(f"{where}: the header's stream description has no <dv><node name='outInfo'> element")
    streams: dict[int, dict[str, Any]] = {}
    for node in out_info:
        if node.tag != "node":
            continue
        name = node.get("name", "")
        if not name.isascii() or not name.isdigit() or len(name) > 9:
            raise FileFormatError(f"{where}: a stream of the header is named {name[:40]!r}; expected a stream id")
        attrs = {a.get("key"): (a.text or "") for a in node if a.tag == "attr"}
        info = next((n for n in node if n.tag == "node" and n.get("name") == "info"), None)
        dims = {a.get("key"): (a.text or "") for a in info if a.tag == "attr"} if info is not None else {}
        size: list[int | None] = []
        for key in ("sizeX", "sizeY"):
            text = dims.get(key, "").strip()
            size.append(int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else None)
        if int(name) in streams:
            raise FileFormatError(f"{where}: the header names stream {name} twice")
        streams[int(name)] = {"type": attrs.get("typeIdentifier", "").strip(), "width": size[0], "height": size[1]}
    return streams


def aedat4_info(path: str | os.PathLike[str], stream: int | None = None) -> EventFileInfo:
    """The header of an AEDAT 4.0 file: compression, streams, the event stream's sensor size.

    ``extra`` holds ``compression`` (a name of :data:`AEDAT4_COMPRESSIONS`), ``streams`` (see
    :func:`read_aedat4`), ``stream`` (the event stream that :func:`read_aedat4` reads) and
    ``data_end`` (where the packets end).
    """
    p = existing_file(path, "AEDAT4 file")
    where = _where(p)
    size = p.stat().st_size
    with p.open("rb") as fh:
        magic = fh.read(len(MAGIC))
        if magic != MAGIC:
            raise FileFormatError(f"{where} does not start with {MAGIC!r}; it is not an AEDAT 4.0 file")
        n = struct.unpack("<I", read_exact(fh, 4, where, len(MAGIC), "the header length"))[0]
        if n > size - len(MAGIC) - 4 or n > _MAX_HEADER:
            raise FileFormatError(f"{where}: the header claims {n} bytes but the file holds {size - len(MAGIC) - 4} "
                                  "after it; the file is truncated or corrupt")
        buf = read_exact(fh, n, where, len(MAGIC) + 4, "the IOHeader")
    flat = _Flat(buf, where, len(MAGIC) + 4, "the IOHeader")
    if buf[4:8] != b"IOHE":
        raise FileFormatError(f"{where}: the IOHeader lacks its identifier 'IOHE' (found {buf[4:8]!r})")
    table = flat.table(int(flat.unpack("<I", 0)))
    code = flat.scalar(table, 0, "<i", 0)
    if code not in _COMPRESSION_NAMES:
        raise FileFormatError(f"{where}: unknown compression code {code} (known: {AEDAT4_COMPRESSIONS})")
    data_table = flat.scalar(table, 1, "<q", -1)
    data_offset = len(MAGIC) + 4 + n
    if data_table != -1 and not data_offset <= data_table <= size:
        raise FileFormatError(f"{where}: the header puts the data table at byte {data_table}, outside the packets "
                              f"({data_offset}..{size})")
    text_at = flat.target(table, 2)
    if text_at is None:
        raise FileFormatError(f"{where}: the IOHeader has no stream description (infoNode)")
    streams = _streams(flat.string(text_at), where)
    events = sorted(k for k, v in streams.items() if v["type"] == "EVTS")
    if stream is None:
        if not events:
            raise FileFormatError(f"{where}: no event stream ('EVTS') among its streams {streams}")
        stream = events[0]
    elif isinstance(stream, bool) or not isinstance(stream, int):
        raise TypeError(f"stream must be an int stream id or None, got {type(stream).__name__}")
    elif stream not in events:
        raise ValueError(f"stream {stream} of {where} is not an event stream; its event streams are {events}")
    width, height = streams[stream]["width"], streams[stream]["height"]
    sensor = sensor_from_dims(width, height, where) if width is not None and height is not None else None
    return EventFileInfo(
        format="aedat4", path=p, sensor_size=sensor, data_offset=data_offset, version="4.0",
        extra={"compression": _COMPRESSION_NAMES[code], "streams": streams, "stream": stream,
               "data_end": data_table if data_table != -1 else size},
    )


# --------------------------------------------------------------------------- packets


def _decompress(data: bytes, compression: str, where: str, offset: int) -> bytes:
    if compression == "none":
        return data
    if compression in ("lz4", "lz4_high"):
        try:
            frame = importlib.import_module("lz4.frame")
        except ImportError:
            raise ImportError(f"{where} is LZ4-compressed; reading it needs the lz4 package: pip install lz4 "
                              "(or axonal[events])") from None
        decoder = frame.LZ4FrameDecompressor()
        parts: list[bytes] = []
        total = 0
        chunk = data
        try:
            while True:
                out = decoder.decompress(chunk, max_length=_STEP)
                chunk = b""
                parts.append(out)
                total += len(out)
                check_allocation(2 * total + _STEP, f"the packet at byte {offset} decompressed so far", where)
                if decoder.eof:
                    break
                if decoder.needs_input:
                    raise FileFormatError(f"{where}: the LZ4 frame of the packet at byte {offset} is truncated")
        except RuntimeError as err:
            raise FileFormatError(f"{where}: the packet at byte {offset} is not a valid LZ4 frame ({err})") from None
        if decoder.unused_data:
            raise FileFormatError(f"{where}: the packet at byte {offset} holds {len(decoder.unused_data)} bytes after "
                                  "its LZ4 frame")
        return b"".join(parts)
    try:
        zstd = importlib.import_module("zstandard")
    except ImportError:
        raise ImportError(f"{where} is Zstd-compressed; reading it needs the zstandard package: pip install "
                          "zstandard") from None
    parts = []
    total = 0
    try:
        reader = zstd.ZstdDecompressor().stream_reader(data, read_across_frames=False)
        while out := reader.read(_STEP):
            parts.append(out)
            total += len(out)
            check_allocation(2 * total + _STEP, f"the packet at byte {offset} decompressed so far", where)
    except zstd.ZstdError as err:
        raise FileFormatError(f"{where}: the packet at byte {offset} is not a valid Zstd frame ({err})") from None
    return b"".join(parts)


def _packet_events(buf: bytes, where: str, offset: int) -> np.ndarray:
    """The raw Event structs of one decompressed EventPacket."""
    flat = _Flat(buf, where, offset, "the event packet")
    declared = int(flat.unpack("<I", 0))
    if declared != len(buf) - 4:
        raise flat.fail(0, f"its size prefix says {declared} bytes, {len(buf) - 4} follow it")
    if buf[8:12] != b"EVTS":
        raise flat.fail(8, f"its identifier is {buf[8:12]!r}, not 'EVTS'")
    table = flat.table(4 + int(flat.unpack("<I", 4)))
    at = flat.target(table, 0)
    if at is None:
        return np.zeros(0, dtype=_EVENT)
    n = int(flat.unpack("<I", at))
    if at + 4 + 16 * n > len(buf):
        raise flat.fail(at, f"its vector claims {n} events ({16 * n} bytes), {len(buf) - at - 4} bytes follow")
    return np.frombuffer(buf, dtype=_EVENT, count=n, offset=at + 4)


def _packets(fh: BinaryIO, info: EventFileInfo, where: str) -> Iterator[tuple[int, int, bytes]]:
    """``(stream id, offset, compressed body)`` of every packet of the wanted stream."""
    pos = info.data_offset
    end = int(info.extra["data_end"])
    wanted = int(info.extra["stream"])
    while pos < end:
        if end - pos < 8:
            raise FileFormatError(f"{where}: {end - pos} stray bytes at byte {pos}, too few for a packet header")
        fh.seek(pos)
        stream, size = struct.unpack("<ii", read_exact(fh, 8, where, pos, "a packet header"))
        if size < 0 or pos + 8 + size > end:
            raise FileFormatError(f"{where}: the packet at byte {pos} claims {size} bytes but {end - pos - 8} remain "
                                  "before the end of the packets; the file is truncated or corrupt")
        if stream not in info.extra["streams"]:
            raise FileFormatError(f"{where}: the packet at byte {pos} belongs to stream {stream}, which the header "
                                  f"does not name (streams {sorted(info.extra['streams'])})")
        if stream == wanted:
            check_allocation(2 * size, f"the packet at byte {pos}", where)
            yield stream, pos, read_exact(fh, size, where, pos + 8, "a packet body")
        pos += 8 + size


def iter_aedat4(path: str | os.PathLike[str], chunk_events: int = DEFAULT_CHUNK_EVENTS,
                sensor_size: Sequence[int] | None = None, stream: int | None = None) -> Iterator[np.ndarray]:
    """Stream the polarity events of an AEDAT 4.0 file, packet by packet (a packet larger than
    ``chunk_events`` is split). See :func:`read_aedat4`."""
    chunk_events = check_chunk_events(chunk_events)
    sensor = optional_sensor(sensor_size)
    info = aedat4_info(path, stream)
    where = _where(info.path)
    guard = OrderGuard(where, sensor if sensor is not None else info.sensor_size)
    compression = str(info.extra["compression"])
    with info.path.open("rb") as fh:
        for _, pos, body in _packets(fh, info, where):
            raw = _packet_events(_decompress(body, compression, where, pos), where, pos)
            bad = np.flatnonzero(raw["on"] > 1)
            if bad.size:
                raise FileFormatError(f"{where}: event {int(bad[0])} of the packet at byte {pos} has polarity byte "
                                      f"{int(raw['on'][bad[0]])}; a bool is 0 or 1")
            events = fill_events(new_events(raw.shape[0], where, f"the packet at byte {pos}"),
                                 raw["x"], raw["y"], raw["on"], raw["t"])
            guard.check(events, record_offsets(pos, 0))
            yield from split_chunks(events, chunk_events)


def read_aedat4(path: str | os.PathLike[str], sensor_size: Sequence[int] | None = None,
                stream: int | None = None) -> np.ndarray:
    """Read the polarity events of an AEDAT 4.0 file (one event stream; the others, frames,
    IMU samples and triggers, are skipped unread).

    Args:
        path: the ``.aedat4`` file.
        sensor_size: check addresses against this sensor instead of the one the header gives.
        stream: the id of the event stream to read; ``None`` takes the lowest id whose type is
            ``"EVTS"``.

    Raises:
        ValueError: the path is not an existing file; ``stream`` is not an event stream.
        ImportError: the file is LZ4- or Zstd-compressed and lz4 / zstandard is missing.
        FileFormatError: naming the file and byte offset: a wrong magic line, a damaged header
            or packet (sizes past the end, a FlatBuffer offset outside its buffer, a bad
            compressed frame), an address outside the sensor, a polarity byte not 0/1,
            timestamps that go backwards.
        ResourceLimitError: a packet or the events would not fit in the free memory.
    """
    info = aedat4_info(path, stream)
    return collect(iter_aedat4(info.path, 1 << 62, sensor_size, stream), _where(info.path))


# --------------------------------------------------------------------------- writing


def _info_xml(width: int, height: int, compression: str) -> bytes:
    text = (
        '<dv version="2.0">\n'
        '    <node name="outInfo" path="/mainloop/axonal/outInfo/">\n'
        '        <node name="0" path="/mainloop/axonal/outInfo/0/">\n'
        f'            <attr key="compression" type="string">{compression.upper()}</attr>\n'
        '            <attr key="originalModuleName" type="string">axonal</attr>\n'
        '            <attr key="originalOutputName" type="string">events</attr>\n'
        '            <attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>\n'
        '            <attr key="typeIdentifier" type="string">EVTS</attr>\n'
        '            <node name="info" path="/mainloop/axonal/outInfo/0/info/">\n'
        '                <attr key="sizeX" type="int">' + str(width) + '</attr>\n'
        '                <attr key="sizeY" type="int">' + str(height) + '</attr>\n'
        '                <attr key="source" type="string">axonal</attr>\n'
        '            </node>\n'
        '        </node>\n'
        '    </node>\n'
        '</dv>\n'
    )
    return text.encode("utf-8")


def _ioheader(code: int, description: bytes) -> bytes:
    """The IOHeader FlatBuffer: root offset, "IOHE", a vtable of three fields, the table
    (compression int32, dataTablePosition int64 = -1, offset to infoNode) and the string."""
    vtable = struct.pack("<HHHHH", 10, 20, 4, 8, 16) + b"\0\0" * 3  # padded so the table starts at 24
    table_pos = 8 + len(vtable)
    string_pos = table_pos + 20
    table = struct.pack("<iiqI", table_pos - 8, code, -1, string_pos - (table_pos + 16))
    body = struct.pack("<I", table_pos) + b"IOHE" + vtable + table + struct.pack("<I", len(description)) + description + b"\0"
    return body + b"\0" * (-len(body) % 4)


def _event_packet(events: np.ndarray) -> bytes:
    """One size-prefixed EventPacket FlatBuffer: prefix, root offset, "EVTS", a one-field
    vtable, the table and the vector of 16-byte Event structs (8-byte aligned)."""
    n = events.shape[0]
    elements = np.zeros(n, dtype=_EVENT)
    elements["t"], elements["x"], elements["y"], elements["on"] = events["t"], events["x"], events["y"], events["p"]
    head = (struct.pack("<II", 28 + 16 * n, 16) + b"EVTS"  # size prefix; the table at 4 + 16 = 20
            + struct.pack("<HHH", 6, 8, 4) + b"\0\0"  # vtable at 12: one field, 4 bytes into the table
            + struct.pack("<iII", 20 - 12, 4, n))  # table: soffset, the vector 4 bytes on; its length
    return head + elements.tobytes()


def _compress(data: bytes, compression: str) -> bytes:
    if compression == "none":
        return data
    if compression in ("lz4", "lz4_high"):
        try:
            frame = importlib.import_module("lz4.frame")
        except ImportError:
            raise ImportError("writing an LZ4-compressed AEDAT4 file needs the lz4 package: pip install lz4") from None
        level = frame.COMPRESSIONLEVEL_MINHC if compression == "lz4_high" else 0
        out: bytes = frame.compress(data, compression_level=level)
        return out
    try:
        zstd = importlib.import_module("zstandard")
    except ImportError:
        raise ImportError("writing a Zstd-compressed AEDAT4 file needs the zstandard package: pip install zstandard") from None
    level = 19 if compression == "zstd_high" else 3
    zout: bytes = zstd.ZstdCompressor(level=level).compress(data)
    return zout


def write_aedat4(path: str | os.PathLike[str], events: Any, sensor_size: Sequence[int], compression: str = "lz4",
                 packet_events: int = 4096) -> None:
    """Write events as an AEDAT 4.0 file with one event stream (id 0) of ``sensor_size``.

    Packets of at most ``packet_events`` events are compressed with ``compression`` (a key of
    :data:`AEDAT4_COMPRESSIONS`). No file data table is written (``dataTablePosition = -1``,
    what DV itself leaves when a recording is cut short); readers walk the packets instead.

    Raises:
        ValueError: an unknown compression, ``packet_events`` not an int >= 1, events outside
            the sensor or with decreasing times.
        ImportError: the compression's package is missing.
    """
    p = writable_path(path)
    if compression not in AEDAT4_COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(AEDAT4_COMPRESSIONS)}, got {compression!r}")
    packet_events = check_chunk_events(packet_events)
    ev, sensor = check_events_for_writing(events, sensor_size)
    description = _info_xml(sensor[0], sensor[1], compression)
    header = _ioheader(AEDAT4_COMPRESSIONS[compression], description)
    with p.open("wb") as fh:
        fh.write(MAGIC + struct.pack("<I", len(header)) + header)
        for part in split_chunks(ev, packet_events):
            body = _compress(_event_packet(part), compression)
            fh.write(struct.pack("<ii", 0, len(body)) + body)
