"""Prophesee RAW files in the EVT 2.0 and EVT 3.0 encodings (``.raw``), decoded from the
published format descriptions (docs.prophesee.ai, "EVT 2.0 Format" and "EVT 3.0 Format").

A RAW file begins with text lines starting with ``%`` (``% key value``), ended by the first
line that does not start with ``%`` or by ``% end``. The encoding is named by ``% format
EVT3;height=720;width=1280`` (newer files) or ``% evt 3.0`` (older ones), the sensor by the
format's ``width``/``height`` or by ``% geometry 1280x720``. The data is little-endian.

**EVT 2.0**: 32-bit words, type in bits 31..28:

======  =============  ==============================================================
type    name           payload
======  =============  ==============================================================
0x0     CD_OFF         bits 27..22 timestamp bits 5..0, 21..11 x, 10..0 y
0x1     CD_ON          as CD_OFF
0x8     EVT_TIME_HIGH  bits 27..0: timestamp bits 33..6
0xA     EXT_TRIGGER    (skipped)
0xD     IMU            (skipped, with its CONTINUED words)
0xE     OTHERS         (skipped)
0xF     CONTINUED      (skipped)
======  =============  ==============================================================

**EVT 3.0**: 16-bit words, type in bits 15..12; the decoder keeps a state (y, base x and
polarity, the 24-bit time base) that the words update:

======  =============  ==============================================================
type    name           payload
======  =============  ==============================================================
0x0     EVT_ADDR_Y     bits 10..0 y (bit 11: master/slave camera, ignored)
0x2     EVT_ADDR_X     one event: bits 10..0 x, bit 11 polarity
0x3     VECT_BASE_X    bits 10..0 base x, bit 11 polarity of the vectors that follow
0x4     VECT_12        bits 11..0: a mask; an event at base x + i for each set bit i,
                       then base x += 12
0x5     VECT_8         bits 7..0: as VECT_12 for 8 pixels, then base x += 8
0x6     EVT_TIME_LOW   bits 11..0: time bits 11..0
0x7     CONTINUED_4    (skipped)
0x8     EVT_TIME_HIGH  bits 11..0: time bits 23..12 (a new value resets the low bits to 0)
0xA     EXT_TRIGGER    (skipped)
0xD     IMU            (skipped)
0xE     OTHERS         (skipped, with its CONTINUED_12 words)
0xF     CONTINUED_12   (skipped)
======  =============  ==============================================================

Other word types are reserved and refused (a FileFormatError naming the byte offset).

Time: the time base wraps (EVT 2.0 after 2**34 us, 4.8 hours; EVT 3.0 after 2**24 us, 16.8 s).
As Prophesee's decoder does, a time-high value smaller than the one before by at least half
its range is a wrap and is unwrapped (the times returned keep growing); any other step back is
refused as corruption. Events before the first time-high word (no time base yet), and EVT 3.0
events before the first EVT_ADDR_Y / VECT_BASE_X they need, are dropped, as Prophesee's
decoder does for a stream picked up in the middle. Timestamps are the camera's, not shifted to
start at 0.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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

__all__ = ["EVT_VERSIONS", "evt_info", "iter_evt", "read_evt", "write_evt"]

EVT_VERSIONS = ("2.0", "3.0")

_MAX_XY = 2048
_TEMP_PER_WORD = 64
"""Bytes of decoding temporaries per word (int64 arrays of types, payloads, fills)."""


def _where(path: Any) -> str:
    return f"RAW file {str(path)!r}"


def evt_info(path: str | os.PathLike[str]) -> EventFileInfo:
    """The header of a Prophesee RAW file: ``format`` ``"evt2"`` or ``"evt3"``, the sensor size
    when the header gives it, ``header`` the ``(key, value)`` lines."""
    p = existing_file(path, "RAW file")
    where = _where(p)
    with p.open("rb") as fh:
        lines, data_offset = header_lines(fh, where, b"%", end_marker=b"% end")
    entries: list[tuple[str, str]] = []
    for line in lines:
        key, _, value = line[1:].strip().partition(" ")
        if key:
            entries.append((key.lower(), value.strip()))
    values = dict(entries)
    fmt = values.get("format", "")
    name, *params = [part.strip() for part in fmt.split(";")] if fmt else [""]
    name = name.upper().replace(".", "")
    if not name and "evt" in values:
        name = "EVT" + values["evt"].replace(".", "").rstrip("0")
    versions = {"EVT2": "evt2", "EVT20": "evt2", "EVT3": "evt3", "EVT30": "evt3"}
    if name not in versions:
        if not lines:
            raise FileFormatError(f"{where} has no '%' text header; a Prophesee RAW file starts with one "
                                  "naming its format")
        raise FileFormatError(f"{where}: the header names the encoding {name[:40] or 'nothing'!r}; EVT 2.0 and "
                              "EVT 3.0 are read here")
    dims = dict(part.partition("=")[::2] for part in params)
    width, height = dims.get("width", ""), dims.get("height", "")
    sensor = None
    if width.isdigit() and height.isdigit() and len(width) <= 6 and len(height) <= 6:
        sensor = sensor_from_dims(int(width), int(height), where)
    elif "geometry" in values:
        m = re.fullmatch(r"(\d{1,6})x(\d{1,6})", values["geometry"])
        if m is None:
            raise FileFormatError(f"{where}: header 'geometry {values['geometry'][:40]}' is not WIDTHxHEIGHT")
        sensor = sensor_from_dims(int(m.group(1)), int(m.group(2)), where)
    if sensor is not None and (sensor[0] > _MAX_XY or sensor[1] > _MAX_XY):
        raise FileFormatError(f"{where}: a {sensor[0]}x{sensor[1]} sensor does not fit the 11-bit addresses of EVT")
    return EventFileInfo(format=versions[name], path=p, sensor_size=sensor, data_offset=data_offset,
                         version=name, header=tuple(entries))


def _last_index(mask: np.ndarray) -> np.ndarray:
    """For each position, the index of the last True at or before it (-1 when none)."""
    idx = np.where(mask, np.arange(mask.size, dtype=np.int64), -1)
    return np.maximum.accumulate(idx) if idx.size else idx


def _reserved(types: np.ndarray, allowed: tuple[int, ...], where: str, start: int, width: int) -> None:
    bad = np.flatnonzero(~np.isin(types, allowed))
    if bad.size:
        i = int(bad[0])
        raise FileFormatError(f"{where}: the word at byte {start + width * i} has type {int(types[i]):#x}, which the "
                              f"format reserves ({bad.size} such words in this block); the file is corrupt or not "
                              "in the encoding its header names")


# --------------------------------------------------------------------------- EVT 2.0


@dataclass
class _State2:
    carry: tuple[int, int] | None = None
    high: int | None = None


def _decode2(w: np.ndarray, st: _State2, where: str, start: int) -> tuple[np.ndarray, np.ndarray]:
    words = w.astype(np.int64)
    types = words >> 28
    _reserved(types, (0x0, 0x1, 0x8, 0xA, 0xD, 0xE, 0xF), where, start, 4)
    is_th = types == 0x8
    highs, st.carry = unwrap_counter(words[is_th] & 0x0FFFFFFF, 1 << 28, st.carry)
    last = _last_index(is_th)
    cd = np.flatnonzero(types <= 1)
    k = last[cd]
    # the time-high in force at each CD word: the latest in this block, else the one carried
    th_rank = np.cumsum(is_th) - 1
    high = np.where(k >= 0, highs[np.maximum(th_rank[cd], 0)] if highs.size else 0, -1 if st.high is None else st.high)
    keep = high >= 0
    cd, high = cd[keep], high[keep]
    if highs.size:
        st.high = int(highs[-1])
    wc = words[cd]
    out = new_events(cd.size, where, f"the words at byte {start}")
    return fill_events(out, (wc >> 11) & 0x7FF, wc & 0x7FF, types[cd], (high << 6) | ((wc >> 22) & 0x3F)), cd


# --------------------------------------------------------------------------- EVT 3.0


@dataclass
class _State3:
    carry: tuple[int, int] | None = None  # unwrap state of the time-high values
    high: int | None = None  # the time-high in force (unwrapped), None before the first
    low: int = 0
    y: int | None = None
    base: int | None = None  # the vector base x, advanced by the vectors already read
    pol: int = 0


def _decode3(w: np.ndarray, st: _State3, where: str, start: int) -> tuple[np.ndarray, np.ndarray]:
    words = w.astype(np.int64)
    n = words.size
    types = words >> 12
    pay = words & 0xFFF
    _reserved(types, (0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xD, 0xE, 0xF), where, start, 2)
    pos = np.arange(n, dtype=np.int64)

    # time: the unwrapped time-high of every word, and the low bits in force
    is_hi = types == 0x8
    hi_at = np.flatnonzero(is_hi)
    highs, st.carry = unwrap_counter(pay[is_hi], 1 << 12, st.carry)
    prev_high = np.empty_like(highs)
    if highs.size:
        prev_high[0] = -1 if st.high is None else st.high
        prev_high[1:] = highs[:-1]
    changed = highs != prev_high
    hi_rank = np.cumsum(is_hi) - 1
    high = np.where(hi_rank >= 0, highs[np.maximum(hi_rank, 0)] if highs.size else 0,
                    -1 if st.high is None else st.high)
    is_lo = types == 0x6
    low_set = is_lo.copy()
    low_set[hi_at[changed]] = True
    low_val = np.where(is_lo, pay, 0)
    j = _last_index(low_set)
    low = np.where(j >= 0, low_val[np.maximum(j, 0)], st.low)
    t_word = high * 4096 + low

    # y, and the vector base x / polarity
    is_y = types == 0x0
    jy = _last_index(is_y)
    y_word = np.where(jy >= 0, pay[np.maximum(jy, 0)] & 0x7FF, -1 if st.y is None else st.y)
    is_bx = types == 0x3
    adv = np.where(types == 0x4, 12, np.where(types == 0x5, 8, 0))
    cum = np.concatenate(([0], np.cumsum(adv)))  # cum[i]: advance of the vectors before word i
    jb = _last_index(is_bx)
    jb0 = np.maximum(jb, 0)
    base_word = np.where(jb >= 0, (pay[jb0] & 0x7FF) + cum[:-1] - cum[jb0], -1 if st.base is None else st.base + cum[:-1])
    pol_word = np.where(jb >= 0, (pay[jb0] >> 11) & 1, st.pol)

    # events: one per EVT_ADDR_X, one per set bit of a vector mask; in word order
    is_ax = types == 0x2
    is_v = (types == 0x4) | (types == 0x5)
    vec_at = np.flatnonzero(is_v)
    masks = np.where(types[vec_at] == 0x4, pay[vec_at], pay[vec_at] & 0xFF)
    bits = ((masks[:, None] >> np.arange(12)) & 1).astype(bool)
    counts = np.zeros(n, dtype=np.int64)
    counts[is_ax] = 1
    counts[vec_at] = bits.sum(axis=1)
    total = int(counts.sum())
    check_allocation(total * 40, f"decoding {total} events of the words at byte {start}", where)
    first = np.cumsum(counts) - counts  # where each word's events begin
    word_of = np.empty(total, dtype=np.int64)
    x = np.empty(total, dtype=np.int64)
    p = np.empty(total, dtype=np.int64)
    ax_at = np.flatnonzero(is_ax)
    word_of[first[ax_at]] = ax_at
    x[first[ax_at]] = pay[ax_at] & 0x7FF
    p[first[ax_at]] = (pay[ax_at] >> 11) & 1
    row, bit = np.nonzero(bits)
    vw = vec_at[row]
    within = np.arange(row.size, dtype=np.int64) - (np.cumsum(bits.sum(axis=1)) - bits.sum(axis=1))[row]
    slot = first[vw] + within
    word_of[slot] = vw
    x[slot] = base_word[vw] + bit
    p[slot] = pol_word[vw]
    keep = (high[word_of] >= 0) & (y_word[word_of] >= 0) & (~is_v[word_of] | (base_word[word_of] >= 0))
    if not keep.all():
        word_of, x, p = word_of[keep], x[keep], p[keep]
    wide = np.flatnonzero(x >= _MAX_XY)  # vectors advance the base x past the 11-bit range
    if wide.size:
        i = int(wide[0])
        raise FileFormatError(f"{where}: the vector word at byte {start + 2 * int(word_of[i])} puts an event at "
                              f"x={int(x[i])}, beyond the 11-bit addresses of EVT 3.0; the file is corrupt")

    # carry the state to the next block
    if highs.size:
        st.high = int(highs[-1])
    if n:
        st.low = int(low[-1])
        if jy[-1] >= 0:
            st.y = int(y_word[-1])
        if jb[-1] >= 0:
            st.base = int((pay[jb[-1]] & 0x7FF) + cum[-1] - cum[jb[-1]])
            st.pol = int(pol_word[-1])
        elif st.base is not None:
            st.base += int(cum[-1])
    out = new_events(word_of.size, where, f"the words at byte {start}")
    return fill_events(out, x, y_word[word_of], p, t_word[word_of]), word_of


# --------------------------------------------------------------------------- reading


def _words(fh: BinaryIO, info: EventFileInfo, width: int, block: int, where: str) -> Iterator[tuple[int, np.ndarray]]:
    size = info.path.stat().st_size
    body = size - info.data_offset
    if body % width:
        raise FileFormatError(f"{where} is truncated: {body} bytes of data is not a whole number of {width}-byte words")
    pos = info.data_offset
    fh.seek(pos)
    while pos < size:
        n = min(block, (size - pos) // width)
        check_allocation(n * (_TEMP_PER_WORD + width), f"decoding {n} words", where)
        yield pos, np.frombuffer(read_exact(fh, n * width, where, pos, f"{n} words"), dtype=f"<u{width}")
        pos += n * width


def iter_evt(path: str | os.PathLike[str], chunk_events: int = DEFAULT_CHUNK_EVENTS,
             sensor_size: Sequence[int] | None = None) -> Iterator[np.ndarray]:
    """Stream the CD events of a Prophesee RAW file (EVT 2.0 or 3.0) in chunks of at most
    ``chunk_events`` events. See :func:`read_evt`."""
    chunk_events = check_chunk_events(chunk_events)
    sensor = optional_sensor(sensor_size)
    info = evt_info(path)
    where = _where(info.path)
    if sensor is None:
        sensor = info.sensor_size if info.sensor_size is not None else (_MAX_XY, _MAX_XY, 2)
    guard = OrderGuard(where, sensor)
    width = 4 if info.format == "evt2" else 2
    st2, st3 = _State2(), _State3()
    with info.path.open("rb") as fh:
        for pos, words in _words(fh, info, width, chunk_events, where):
            if info.format == "evt2":
                events, src = _decode2(words, st2, where, pos)
            else:
                events, src = _decode3(words, st3, where, pos)
            guard.check(events, record_offsets(pos, width, src))
            yield from split_chunks(events, chunk_events)


def read_evt(path: str | os.PathLike[str], sensor_size: Sequence[int] | None = None) -> np.ndarray:
    """Read the CD (contrast detection) events of a Prophesee RAW file in EVT 2.0 or EVT 3.0.

    Args:
        path: the ``.raw`` file.
        sensor_size: check addresses against this sensor instead of the header's geometry
            (without either, the 11-bit range 0..2047).

    Raises:
        ValueError: the path is not an existing file; a bad ``sensor_size``.
        FileFormatError: naming the file and the byte offset: no header naming EVT 2.0/3.0, a
            data size that is not whole words, a reserved word type, an address outside the
            sensor, timestamps that go backwards (other than a wrap of the time base).
        ResourceLimitError: the events would not fit in the free memory.
    """
    info = evt_info(path)
    return collect(iter_evt(info.path, 1 << 22, sensor_size), _where(info.path))


# --------------------------------------------------------------------------- writing


def _time_high_words(high: np.ndarray, new: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The time-high words to write before each unit: ``high`` the (unwrapped) time-high of
    each unit, ``new`` where it differs from the unit before (and at the first). Going up in
    steps of at most ``step`` from 0 keeps every step a reader could mistake for a wrap away.

    Returns the count of words per unit and their values (unwrapped), in order.
    """
    prev = np.concatenate(([0], high[:-1]))
    delta = np.where(new, high - prev, 0)
    count = np.where(new, np.maximum(-(-delta // step), 1), 0)
    total = int(count.sum())
    unit = np.repeat(np.arange(high.size), count)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count) + 1
    values = np.minimum(prev[unit] + step * k, high[unit])
    return count, values


def _write_evt2(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    n = t.size
    high = t >> 6
    new = np.ones(n, dtype=bool)
    new[1:] = high[1:] != high[:-1]
    count, values = _time_high_words(high, new, (1 << 27) - 1)
    per = count + 1
    out = np.empty(int(per.sum()), dtype=np.uint32)
    start = np.cumsum(per) - per
    is_th = np.ones(out.size, dtype=bool)
    is_th[start + count] = False
    out[is_th] = (0x8 << 28) | (values & 0x0FFFFFFF)
    out[start + count] = (p << 28) | ((t & 0x3F) << 22) | (x << 11) | y
    return out


def _write_evt3(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    n = t.size
    # vectors: runs of at least 3 events sharing t, y, p and a 32-pixel block, x increasing
    block = x >> 5
    same = np.zeros(n, dtype=bool)
    same[1:] = (t[1:] == t[:-1]) & (y[1:] == y[:-1]) & (p[1:] == p[:-1]) & (block[1:] == block[:-1]) & (x[1:] > x[:-1])
    group = np.cumsum(~same) - 1
    size = np.bincount(group)
    vec = size[group] >= 3
    unit_start = ~same | ~vec  # a vector group is one unit; every other event is its own
    unit_of = np.cumsum(unit_start) - 1
    first = np.flatnonzero(unit_start)
    u_vec = vec[first]
    ut, uy = t[first], y[first]
    m = first.size
    high = ut >> 12
    new_high = np.ones(m, dtype=bool)
    new_high[1:] = high[1:] != high[:-1]
    th_count, th_values = _time_high_words(high, new_high, 2047)
    tl = np.ones(m, dtype=np.int64)
    tl[1:] = ((ut[1:] != ut[:-1]) | new_high[1:]).astype(np.int64)
    yw = np.ones(m, dtype=np.int64)
    yw[1:] = (uy[1:] != uy[:-1]).astype(np.int64)
    body = np.where(u_vec, 4, 1)
    per = th_count + tl + yw + body
    start = np.cumsum(per) - per
    out = np.zeros(int(per.sum()), dtype=np.uint16)
    th_pos = np.repeat(start, th_count) + (np.arange(th_values.size) - np.repeat(np.cumsum(th_count) - th_count, th_count))
    out[th_pos] = (0x8 << 12) | (th_values & 0xFFF)
    at = start + th_count
    sel = tl == 1
    out[at[sel]] = (0x6 << 12) | (ut[sel] & 0xFFF)
    at = at + tl
    sel = yw == 1
    out[at[sel]] = uy[sel]  # EVT_ADDR_Y, type 0, master camera
    at = at + yw
    single = ~u_vec
    out[at[single]] = (0x2 << 12) | (p[first[single]] << 11) | x[first[single]]
    vu = np.flatnonzero(u_vec)
    if vu.size:
        ev_vec = np.flatnonzero(vec)
        bits = np.zeros(m, dtype=np.int64)
        np.bitwise_or.at(bits, unit_of[ev_vec], 1 << (x[ev_vec] & 31))
        a = at[vu]
        out[a] = (0x3 << 12) | (p[first[vu]] << 11) | (block[first[vu]] << 5)
        out[a + 1] = (0x4 << 12) | (bits[vu] & 0xFFF)
        out[a + 2] = (0x4 << 12) | ((bits[vu] >> 12) & 0xFFF)
        out[a + 3] = (0x5 << 12) | ((bits[vu] >> 24) & 0xFF)
    return out


def write_evt(path: str | os.PathLike[str], events: Any, sensor_size: Sequence[int], version: str = "3.0") -> None:
    """Write events as a Prophesee RAW file in EVT 3.0 (default) or EVT 2.0.

    The header names the encoding and the geometry (``% format EVT3;height=H;width=W``,
    ``% geometry WxH``, ``% end``). EVT 3.0 encodes runs of three or more events that share a
    timestamp, row and polarity within one 32-pixel block as VECT_BASE_X + VECT_12, VECT_12,
    VECT_8 (as the sensor does), every other event as EVT_ADDR_X. Time-high words climb from 0
    in steps the reader cannot mistake for a wrap, so any times (>= 0) round-trip exactly.

    Raises:
        ValueError: a bad version; a sensor larger than 2048x2048 (11-bit addresses); events
            outside the sensor or unsorted.
    """
    p = writable_path(path)
    if version not in EVT_VERSIONS:
        raise ValueError(f"version must be one of {EVT_VERSIONS}, got {version!r}")
    ev, sensor = check_events_for_writing(events, sensor_size)
    if sensor[0] > _MAX_XY or sensor[1] > _MAX_XY:
        raise ValueError(f"sensor_size {sensor_size!r} does not fit EVT's 11-bit addresses (at most 2048x2048)")
    name = "EVT3" if version == "3.0" else "EVT2"
    header = (f"% evt {version}\n% format {name};height={sensor[1]};width={sensor[0]}\n"
              f"% geometry {sensor[0]}x{sensor[1]}\n% end\n").encode("ascii")
    cols = [ev[f].astype(np.int64) for f in ("t", "x", "y", "p")]
    words = (_write_evt3 if version == "3.0" else _write_evt2)(*cols) if ev.size else np.zeros(0, np.uint16)
    with p.open("wb") as fh:
        fh.write(header)
        fh.write(words.astype("<u4" if version == "2.0" else "<u2").tobytes())
