"""Fuzzed readers: every file reader and parser of axonal.data and axonal.interop, fed random
bytes, truncations at every length class, bit flips, huge headers and structurally valid but
impossible content, lets only axonal's own errors out, within a time bound.

Each reader has a *target* (bytes or arguments in, ``"accepted"`` or ``"refused"`` out) and a
hypothesis strategy, collected in :data:`TARGETS`; the tests below run each with a small,
derandomized budget (CI), and ``benchmarks/fuzz_readers.py --examples N`` runs the same targets
for a long time and counts cases and failures.

A case fails when the reader raises anything but :class:`~axonal.errors.AxonalError` (for the
argument checkers, ``TypeError`` / ``ValueError`` naming the argument), or when what it accepts
breaks the reader's own promises (an address outside the sensor, a shape that disagrees with
the header, an imported model whose zero-input run fails).
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import itertools
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import h5py
import nir

import axonal.data.limits as limits
from axonal.audio import read_wav, write_wav
from axonal.data.events import events_to_frames, read_label_list
from axonal.data.mnist import read_idx
from axonal.data.shd import SHD_CHANNELS, read_shd
from axonal.errors import AxonalError, NonFiniteError
from axonal.events import (
    EVENT_DTYPE,
    event_file_info,
    make_events,
    read_aedat,
    read_aedat4,
    read_evt,
    read_nmnist,
    read_npz,
    write_aedat,
    write_aedat4,
    write_evt,
    write_nmnist,
    write_npz,
)
from axonal.interop import from_nir, read_nir

pytestmark = pytest.mark.filterwarnings("ignore::axonal.errors.PlausibilityWarning")  # fuzzed values are implausible

FUZZ = settings(
    max_examples=100,
    deadline=timedelta(seconds=3),  # per case, on a loaded 2-core machine
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
"""The CI budget: deterministic examples, no example database, a per-case time bound."""

_DIR = Path(tempfile.mkdtemp(prefix="axonal-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_counter = itertools.count()


def _file(data: bytes, suffix: str) -> Path:
    path = _DIR / f"case{next(_counter) % 4}{suffix}"
    path.write_bytes(data)
    return path


FUZZ_MEMORY = 256 * 2**20
"""The free memory the readers are told there is during a fuzz case: what a reader accepts
then allocates at most a few hundred MB (on a shared machine), and the ResourceLimitError path
is exercised by ordinary sizes."""


@contextlib.contextmanager
def memory_budget(limit: int = FUZZ_MEMORY) -> Iterator[None]:
    original = limits.available_memory
    limits.available_memory = lambda: min(limit, original() or limit)
    try:
        yield
    finally:
        limits.available_memory = original


def refused_or(call: Callable[[], Any]) -> tuple[str, Any]:
    """``("accepted", result)`` or ``("refused", error)`` for one of axonal's own errors; any
    other exception propagates (the fuzz failure)."""
    try:
        with memory_budget():
            return "accepted", call()
    except AxonalError as err:
        assert str(err), "an error without a message"
        return "refused", err


# --------------------------------------------------------------------------- byte mutations


def _cuts(n: int, header: int, record: int) -> list[int]:
    """The length classes: 0, 1, header-1, header, header+1, mid-record, one byte short."""
    mid = header + record * ((n - header) // (2 * record)) + record // 2 if record > 1 else n // 2
    return sorted({c for c in (0, 1, header - 1, header, header + 1, mid, n - 1) if 0 <= c < n})


def _flip(data: bytes, bits: list[int]) -> bytes:
    out = bytearray(data)
    for b in bits:
        out[(b // 8) % len(out)] ^= 1 << (b % 8)
    return bytes(out)


def mutations(seeds: st.SearchStrategy[bytes], header: int, record: int, max_random: int = 512) -> st.SearchStrategy[bytes]:
    """Random bytes; a valid seed truncated at every length class (and anywhere); bit flips;
    trailing junk; a chunk of the seed overwritten with random bytes."""

    def truncated(seed: bytes) -> st.SearchStrategy[bytes]:
        return st.one_of(st.sampled_from(_cuts(len(seed), header, record)), st.integers(0, max(len(seed) - 1, 0))).map(
            lambda n: seed[:n]
        )

    def flipped(seed: bytes) -> st.SearchStrategy[bytes]:
        return st.lists(st.integers(0, 8 * len(seed) - 1), min_size=1, max_size=8).map(lambda bits: _flip(seed, bits))

    def overwritten(seed: bytes) -> st.SearchStrategy[bytes]:
        return st.tuples(st.integers(0, len(seed) - 1), st.binary(min_size=1, max_size=16)).map(
            lambda a: seed[: a[0]] + a[1] + seed[a[0] + len(a[1]) :]
        )

    return st.one_of(
        st.binary(max_size=max_random),
        seeds.flatmap(truncated),
        seeds.flatmap(flipped),
        seeds.flatmap(overwritten),
        st.tuples(seeds, st.binary(min_size=1, max_size=32)).map(lambda a: a[0] + a[1]),
    )


# --------------------------------------------------------------------------- WAV audio


@st.composite
def wav_files(draw: st.DrawFn) -> bytes:
    """A valid WAV file: 1-3 channels, 8/16/24/32-bit PCM, a few hundred frames."""
    frames = draw(st.integers(0, 300))
    channels = draw(st.integers(1, 3))
    bits = draw(st.sampled_from([8, 16, 24, 32]))
    rate = draw(st.sampled_from([8000, 16000, 44100]))
    seed = draw(st.integers(0, 2**16))
    x = torch.rand(frames, channels, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    return write_wav(_DIR / f"seed{next(_counter) % 4}.wav", x, rate, bits=bits).read_bytes()


def wav_target(data: bytes) -> str:
    outcome, rec = refused_or(lambda: read_wav(_file(data, ".wav")))
    if outcome == "accepted":
        assert rec.samples.dim() == 2 and 1 <= rec.samples.shape[1] <= 256 and rec.rate >= 1
        assert bool(torch.isfinite(rec.samples).all()), "accepted samples that are not finite"
        assert rec.samples.numel() * rec.samples.element_size() <= 8 * len(data) + 64
    return outcome


WAV_CASES = mutations(wav_files(), header=44, record=2)


@FUZZ
@given(WAV_CASES)
def test_fuzz_wav_reader(data: bytes) -> None:
    wav_target(data)


# --------------------------------------------------------------------------- N-MNIST events

NMNIST_SENSOR = (34, 34)


@st.composite
def nmnist_events(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(1, 40))
    x = draw(st.lists(st.integers(0, 33), min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, 33), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    t = sorted(draw(st.lists(st.integers(0, (1 << 23) - 1), min_size=n, max_size=n)))
    return make_events(x, y, t, p)


def _nmnist_bytes(ev: np.ndarray) -> bytes:
    buf = _DIR / "seed.bin"
    write_nmnist(buf, ev)
    return buf.read_bytes()


def _check_events(ev: np.ndarray, sensor: tuple[int, int], max_events: int) -> None:
    """The promises of every event reader: the container's dtype, addresses inside the sensor,
    polarities 0/1, times that never decrease, no more events than the file can encode."""
    assert isinstance(ev, np.ndarray) and ev.dtype == EVENT_DTYPE and ev.ndim == 1
    assert ev.size <= max_events, f"{ev.size} events from a file that encodes at most {max_events}"
    if ev.size:
        assert int(ev["x"].min()) >= 0 and int(ev["x"].max()) < sensor[0], "accepted an x outside the sensor"
        assert int(ev["y"].min()) >= 0 and int(ev["y"].max()) < sensor[1], "accepted a y outside the sensor"
        assert set(np.unique(ev["p"]).tolist()) <= {0, 1}
        assert int(ev["t"][0]) >= 0 and bool((np.diff(ev["t"]) >= 0).all()), "accepted timestamps that go backwards"


def nmnist_target(data: bytes) -> str:
    outcome, ev = refused_or(lambda: read_nmnist(_file(data, ".bin")))
    if outcome == "accepted":
        assert len(data) % 5 == 0 and ev.size == len(data) // 5
        _check_events(ev, NMNIST_SENSOR, len(data) // 5)
    return outcome


NMNIST_CASES = mutations(nmnist_events().map(_nmnist_bytes), header=0, record=5)


@FUZZ
@given(NMNIST_CASES)
def test_fuzz_nmnist_reader(data: bytes) -> None:
    nmnist_target(data)


def _nmnist_raw(x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> bytes:
    """40-bit records written byte by byte (the writer refuses what these tests need)."""
    out = np.empty((x.size, 5), dtype=np.uint8)
    out[:, 0], out[:, 1], out[:, 2] = x, y, (p << 7) | (t >> 16)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


@st.composite
def impossible_recordings(draw: st.DrawFn) -> tuple[bytes, str]:
    """Valid records with one impossible event: an address outside the sensor or a timestamp
    earlier than the one before."""
    ev = draw(nmnist_events().filter(lambda e: e.size >= 2))
    x, y, p, t = (ev[f].astype(np.int64) for f in ("x", "y", "p", "t"))
    t = np.maximum(t, 1)
    i = draw(st.integers(1, t.size - 1))
    if draw(st.booleans()):
        t[i] = draw(st.integers(0, int(t[i - 1]) - 1))  # later events stay after t[i - 1]
        expect = f"event {i} (record at byte {5 * i}) has timestamp {int(t[i])} us, earlier than event {i - 1}'s"
    else:
        axis = draw(st.sampled_from(["x", "y"]))
        (x if axis == "x" else y)[i] = draw(st.integers(34, 255))
        expect = f"event {i} (record at byte {5 * i}) has address"
    return _nmnist_raw(x, y, p, t), expect


@FUZZ
@given(impossible_recordings())
def test_fuzz_nmnist_refuses_impossible_recordings(case: tuple[bytes, str]) -> None:
    data, expect = case
    outcome, err = refused_or(lambda: read_nmnist(_file(data, ".bin")))
    assert outcome == "refused" and expect in str(err) and "case" in str(err), err


# --------------------------------------------------------------------------- event files: npz, AEDAT, EVT


@st.composite
def sensor_events(draw: st.DrawFn, width: int, height: int, t_max: int, max_n: int = 40) -> np.ndarray:
    """Sorted events on a width x height sensor; some share a timestamp and row (EVT 3.0 vectors)."""
    n = draw(st.integers(0, max_n))
    x = draw(st.lists(st.integers(0, width - 1), min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, height - 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    t = sorted(draw(st.lists(st.integers(0, t_max), min_size=n, max_size=n)))
    ev = make_events(x, y, t, p)
    if n >= 4 and draw(st.booleans()):  # a run that EVT 3.0 writes as vectors
        ev[:4]["t"], ev[:4]["y"], ev[:4]["p"] = ev["t"][0], ev["y"][0], ev["p"][0]
        ev[:4]["x"] = sorted(draw(st.sets(st.integers(0, min(width, 32) - 1), min_size=4, max_size=4)))
    return ev


_EV_SENSOR = (40, 30)


def _written(writer: Callable[[Path], None], suffix: str) -> bytes:
    path = _DIR / f"seed{next(_counter) % 4}{suffix}"
    writer(path)
    return path.read_bytes()


@st.composite
def event_file_seeds(draw: st.DrawFn, kind: str) -> bytes:
    sensor = (128, 128) if kind == "aedat2-dvs128" else _EV_SENSOR
    ev = draw(sensor_events(sensor[0], sensor[1], (1 << 30) if kind.startswith("aedat2") else 1 << 40))
    if kind == "npz":
        compressed = draw(st.booleans())
        return _written(lambda p: write_npz(p, ev, sensor, compressed=compressed), ".npz")
    if kind == "aedat4":
        compression = draw(st.sampled_from(["none", "lz4"]))
        return _written(lambda p: write_aedat4(p, ev, sensor, compression=compression, packet_events=16), ".aedat4")
    if kind.startswith("aedat"):
        version = "3.1" if kind == "aedat31" else "2.0"
        layout = "dvs128" if kind == "aedat2-dvs128" else "davis"
        return _written(lambda p: write_aedat(p, ev, sensor, version=version, layout=layout, packet_events=16), ".aedat")
    return _written(lambda p: write_evt(p, ev, sensor, version="2.0" if kind == "evt2" else "3.0"), ".raw")


_EVENT_READERS: dict[str, tuple[Callable[[Path], np.ndarray], str, Callable[[int], int]]] = {
    # reader, suffix, the most events a file of n bytes can encode
    "npz": (read_npz, ".npz", lambda n: n),  # not used: compressed members are bounded by the memory budget
    "aedat4": (read_aedat4, ".aedat4", lambda n: 256 * n // 16 + 1),  # LZ4 inflates at most ~255x
    "aedat2": (read_aedat, ".aedat", lambda n: n // 8),
    "aedat2-dvs128": (read_aedat, ".aedat", lambda n: n // 8),
    "aedat31": (read_aedat, ".aedat", lambda n: n // 8),
    "evt2": (read_evt, ".raw", lambda n: n // 4),
    "evt3": (read_evt, ".raw", lambda n: 6 * n),  # a 2-byte VECT_12 word holds up to 12 events
}


def event_file_target(kind: str) -> Callable[[bytes], str]:
    reader, suffix, most = _EVENT_READERS[kind]

    def target(data: bytes) -> str:
        path = _file(data, suffix)
        outcome, ev = refused_or(lambda: reader(path))
        if outcome == "accepted":
            # the sensor the (possibly damaged) header names, else the format's address range
            named = event_file_info(path).sensor_size
            _check_events(ev, named[:2] if named is not None else (1 << 15, 1 << 15),
                          most(len(data)) if kind != "npz" else FUZZ_MEMORY // 16)
        return outcome

    return target


EVENT_FILE_CASES = {kind: mutations(event_file_seeds(kind), header=64, record=8, max_random=512) for kind in _EVENT_READERS}


@pytest.mark.parametrize("kind", sorted(_EVENT_READERS))
def test_fuzz_event_file_readers(kind: str) -> None:
    target = event_file_target(kind)

    def case(data: bytes) -> None:
        target(data)

    settings(FUZZ, max_examples=60)(given(EVENT_FILE_CASES[kind])(case))()


# --------------------------------------------------------------------------- IDX

_IDX_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@st.composite
def idx_seeds(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from(sorted(_IDX_CODES)))
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    arr = np.arange(int(np.prod(shape)), dtype=_IDX_CODES[code]).reshape(shape)
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + arr.tobytes()


@st.composite
def idx_huge_headers(draw: st.DrawFn) -> bytes:
    """A header claiming up to (2**32-1)**ndim elements over a small body."""
    code = draw(st.sampled_from(sorted(_IDX_CODES) + [0x00, 0x0A, 0xFF]))
    ndim = draw(st.sampled_from([1, 2, 3, 4, 33, 255]))
    dims = draw(st.lists(st.integers(0, 2**32 - 1), min_size=min(ndim, 8), max_size=min(ndim, 8)))
    dims += [1] * (ndim - len(dims))
    body = draw(st.one_of(st.just(b""), st.binary(max_size=64)))
    return bytes([0, 0, code, ndim]) + struct.pack(f">{ndim}I", *dims) + body


def idx_target(case: tuple[bytes, bool]) -> str:
    data, gz = case
    path = _file(gzip.compress(data, mtime=0) if gz else data, "-idx.gz" if gz else "-idx")
    outcome, arr = refused_or(lambda: read_idx(path))
    if outcome == "accepted":
        header = 4 + 4 * data[3]
        assert data[:2] == b"\0\0" and arr.shape == struct.unpack(f">{data[3]}I", data[4:header])
        assert arr.dtype.isnative and header + arr.nbytes == len(data)
        if arr.dtype.kind == "f":
            assert np.isfinite(arr).all()
    return outcome


IDX_CASES = st.tuples(st.one_of(mutations(idx_seeds(), header=8, record=4), idx_huge_headers()), st.booleans())


@FUZZ
@given(IDX_CASES)
def test_fuzz_idx_reader(case: tuple[bytes, bool]) -> None:
    idx_target(case)


def gz_target(data: bytes) -> str:
    """A damaged gzip container around a valid IDX file."""
    return refused_or(lambda: read_idx(_file(data, "-idx.gz")))[0]


GZ_CASES = mutations(idx_seeds().map(lambda raw: gzip.compress(raw, mtime=0)), header=10, record=1, max_random=128)


@FUZZ
@given(GZ_CASES)
def test_fuzz_idx_gzip_container(data: bytes) -> None:
    gz_target(data)


# --------------------------------------------------------------------------- label lists


def labels_target(data: bytes) -> str:
    outcome, labels = refused_or(lambda: read_label_list(_file(data, ".txt")))
    if outcome == "accepted":
        assert all(isinstance(k, int) and isinstance(v, int) and k >= 0 and v >= 0 for k, v in labels.items())
    return outcome


LABEL_SEED = b"#sample #class\n60001\t7\n60002\t2\n60003\t1\n"
LABEL_CASES = st.one_of(
    mutations(st.just(LABEL_SEED), header=15, record=8),
    st.lists(st.sampled_from([b"1 2\n", b"#c\n", b"\n", b"1\t2\t3\n", b"-1 2\n", b"9" * 5000 + b" 1\n", b"\xff\xfe\n", b"\x00 1\n"]),
             max_size=6).map(b"".join),
)


@FUZZ
@given(LABEL_CASES)
def test_fuzz_label_list(data: bytes) -> None:
    labels_target(data)


# --------------------------------------------------------------------------- events_to_frames

@st.composite
def valid_frame_arguments(draw: st.DrawFn) -> tuple[Any, Any, Any, Any]:
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    n = draw(st.integers(1, 30))
    x = draw(st.lists(st.integers(0, width - 1), min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, height - 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    t = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))
    window = draw(st.floats(1e-4, 2.0))
    sensor = draw(st.sampled_from([(width, height), (width, height, 2)]))
    return make_events(x, y, t, p), sensor, window, draw(st.booleans())


def _tonic_like(events: np.ndarray, fields: dict[str, np.ndarray]) -> np.ndarray:
    """A structured array with fields x, y, t, p, some of them of another type or value."""
    out = np.zeros(events.size, dtype=[(f, fields[f].dtype if f in fields else events.dtype[f]) for f in ("x", "y", "t", "p")])
    for f in ("x", "y", "t", "p"):
        out[f] = fields.get(f, events[f])
    return out


@st.composite
def bad_frame_arguments(draw: st.DrawFn) -> tuple[Any, Any, Any, Any]:
    """Valid arguments with one or more replaced by something wrong: event fields of another
    type or out of range (through a tonic-style array, or written straight into the records),
    something that is no event array, a bad sensor, window or flag."""
    events, sensor, window, incomplete = draw(valid_frame_arguments())
    n = events.size
    field = st.one_of(
        st.lists(st.integers(-3, 60), min_size=n, max_size=n).map(np.array),
        st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=n, max_size=n).map(np.array),
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int64)),
        st.sampled_from([np.array(["a"] * n), np.array([1j] * n), np.ones(n, dtype=bool)]),
    )
    which = draw(st.sets(st.sampled_from(["fields", "records", "events", "sensor", "window", "incomplete"]), min_size=1))
    if "fields" in which:
        names = draw(st.sets(st.sampled_from(["x", "y", "t", "p"]), min_size=1))
        events = _tonic_like(events, {f: draw(field) for f in names})
    if "records" in which:
        events = events.copy()  # the record's fields hold what the container's checks refuse
        i = draw(st.integers(0, n - 1))
        name = draw(st.sampled_from(["x", "y", "p", "t"]))
        events[name][i] = draw(st.sampled_from([-1, -(2**7), 2, 41, 127]))
    if "events" in which:
        events = draw(st.sampled_from([None, (1, 2), "events", events[:0], (events["x"], events["y"], events["t"], events["p"]),
                                       events.reshape(1, -1), np.zeros(2, dtype=[("x", "i8"), ("t", "i8")])]))
    if "sensor" in which:
        sensor = draw(st.one_of(st.tuples(st.integers(-2, 50), st.integers(-2, 50)),
                                st.sampled_from([(34,), (2**40, 2**40), (3.5, 4), None, "ab", (True, 3), (4, 4, 3)])))
    if "window" in which:
        window = draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
                                st.sampled_from([0, 1e-300, 5e-324, 1e-12, -1e-3, True, "1ms", None])))
    if "incomplete" in which:
        incomplete = draw(st.sampled_from([0, None, "yes"]))
    return events, sensor, window, incomplete


FRAME_CASES = st.one_of(valid_frame_arguments(), bad_frame_arguments())


def frames_target(args: tuple[Any, Any, Any, Any]) -> str:
    events, sensor, window, incomplete = args
    try:
        with memory_budget():
            frames = events_to_frames(events, sensor, window, incomplete)
    except (TypeError, ValueError) as err:  # argument errors (ValueError includes axonal's own)
        assert str(err)
        return "refused"
    polarities = sensor[2] if len(sensor) == 3 else 2
    assert frames.dtype == torch.float32 and frames.dim() == 4 and frames.shape[1:] == (polarities, sensor[1], sensor[0])
    assert float(frames.sum()) <= len(events) and bool((frames >= 0).all())
    return "accepted"


@FUZZ
@given(FRAME_CASES)
def test_fuzz_events_to_frames_arguments(args: tuple[Any, Any, Any, Any]) -> None:
    frames_target(args)


def test_events_to_frames_validates_window_sensor_and_addresses() -> None:
    ev = make_events(x=[0, 5], y=[1, 2], t=[0, 5000], p=[0, 1])
    with pytest.raises(ValueError, match=r"time_window must be a finite float > 0 s, got inf"):
        events_to_frames(ev, time_window=float("inf"))
    with pytest.raises(ValueError, match=r"sensor_size must be \(width, height, polarities\) with width and height in "
                                         r"1..32768 and polarities 1 or 2, got \(0, 34\)"):
        events_to_frames(ev, sensor_size=(0, 34))
    with pytest.raises(ValueError, match=r"events.x must be in \[0, 3\] for sensor \(4, 4, 2\), got values in \[0, 5\]"):
        events_to_frames(ev, sensor_size=(4, 4))
    bad_p = ev.copy()
    bad_p["p"][1] = 2
    with pytest.raises(ValueError, match=r"events.p must be in \[0, 1\] for sensor \(34, 34, 2\), got values in \[0, 2\]"):
        events_to_frames(bad_p)
    with pytest.raises(TypeError, match=r"events field t must hold integers, got dtype float64"):
        events_to_frames(_tonic_like(ev, {"t": np.array([0.0, np.nan])}))
    from axonal.errors import ResourceLimitError

    with pytest.raises(ResourceLimitError, match=r"5000000000 frames \[5000000000, 2, 34, 34\] \(float32\) needs 42.1 TiB"):
        events_to_frames(ev, time_window=1e-12, include_incomplete=True)
    with pytest.raises(ResourceLimitError, match=r"would make 5e\+299 frames of 34x34; raise time_window"):
        events_to_frames(ev, time_window=1e-302)


# --------------------------------------------------------------------------- NIR files


def _nir_seed_graphs() -> list[Any]:
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    ones = lambda *s: np.ones(s, np.float32)  # noqa: E731
    chain = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Affine(weight=f32(4, 3), bias=f32(4)),
            "lif": nir.LIF(tau=ones(4) * 1e-2, r=ones(4), v_leak=0 * ones(4), v_threshold=ones(4), v_reset=0 * ones(4)),
            "output": nir.Output(output_type={"output": np.array([4])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        type_check=False,
    )
    conv = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
            "conv": nir.Conv2d(input_shape=(6, 6), weight=f32(2, 1, 3, 3), stride=1, padding=1, dilation=1, groups=1, bias=f32(2)),
            "if": nir.IF(r=ones(2, 6, 6), v_threshold=ones(2, 6, 6), v_reset=0 * ones(2, 6, 6)),
            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            "flat": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0, end_dim=-1),
            "output": nir.Output(output_type={"output": np.array([18])}),
        },
        edges=[("input", "conv"), ("conv", "if"), ("if", "pool"), ("pool", "flat"), ("flat", "output")],
        type_check=False,
    )
    rec = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "w": nir.Linear(weight=f32(3, 2)),
            "cuba": nir.CubaLIF(tau_mem=ones(3) * 2e-2, tau_syn=ones(3) * 5e-3, r=ones(3), v_leak=0 * ones(3),
                                v_threshold=ones(3), v_reset=0 * ones(3), w_in=ones(3) * 2),
            "rec": nir.Linear(weight=f32(3, 3)),
            "delay": nir.Delay(delay=ones(3) * 2e-3),
            "scale": nir.Scale(scale=f32(3)),
            "th": nir.Threshold(threshold=ones(3) * 0.5),
            "output": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("input", "w"), ("w", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "delay"),
               ("delay", "scale"), ("scale", "th"), ("th", "output")],
        type_check=False,
    )
    return [chain, conv, rec]


_NIR_SEEDS: list[bytes] = []


def nir_seed_bytes() -> list[bytes]:
    if not _NIR_SEEDS:
        for graph in _nir_seed_graphs():
            path = _DIR / "seed.nir"
            nir.write(str(path), graph)
            _NIR_SEEDS.append(path.read_bytes())
    return _NIR_SEEDS


def _run_imported(net: torch.nn.Module) -> None:
    """An accepted graph must run: two steps of zeros, through the state contract."""
    shape = tuple(getattr(net, "input_shape", ()))
    x = torch.zeros(2, 1, *shape)
    with torch.no_grad(), memory_budget():
        out, state = net(x)
        out2, _ = net(x, state)
    assert out.shape[:2] == (2, 1) and out2.shape == out.shape
    assert bool(torch.isfinite(out).all() and torch.isfinite(out2).all()), "an accepted graph computes NaN or inf"


def nir_file_target(data: bytes) -> str:
    outcome, net = refused_or(lambda: read_nir(_file(data, ".nir"), dt=1e-3))
    if outcome == "accepted":
        _run_imported(net)
    return outcome


NIR_FILE_CASES = st.sampled_from([0, 1, 2]).flatmap(
    lambda i: mutations(st.just(nir_seed_bytes()[i]), header=8, record=64, max_random=1024)
)


@settings(FUZZ, max_examples=60)
@given(NIR_FILE_CASES)
def test_fuzz_nir_file_bytes(data: bytes) -> None:
    nir_file_target(data)


@st.composite
def hdf5_huge_datasets(draw: st.DrawFn) -> bytes:
    """A valid NIR file whose one dataset is replaced by one that claims up to petabytes (its
    storage never written, or written as a few chunks)."""
    seed = nir_seed_bytes()[0]
    path = _file(seed, ".nir")
    target = draw(st.sampled_from(["node/nodes/fc/weight", "node/nodes/lif/tau", "node/nodes/input/shape", "node/edges",
                                   "node/nodes/fc/type"]))
    dtype = draw(st.sampled_from(["f4", "f8", "i8", "S1000000", "u1"]))
    high = 2**20 if dtype != "S1000000" else 2**10  # HDF5 refuses to create contiguous data past 2**64 bytes
    shape = tuple(draw(st.lists(st.integers(1, high), min_size=1, max_size=3)))
    write_part = draw(st.booleans())
    with h5py.File(path, "r+") as f:
        del f[target]
        chunks = tuple(min(s, 16) for s in shape)
        dset = f.create_dataset(target, shape=shape, dtype=dtype, chunks=chunks if dtype != "S1000000" else None,
                                maxshape=None)
        if write_part and dtype != "S1000000":
            dset[tuple(slice(0, c) for c in chunks)] = 1
    return path.read_bytes()


def nir_huge_target(data: bytes) -> str:
    return nir_file_target(data)


@settings(FUZZ, max_examples=40)
@given(hdf5_huge_datasets())
def test_fuzz_nir_hdf5_datasets_claiming_terabytes(data: bytes) -> None:
    nir_huge_target(data)


# --------------------------------------------------------------------------- NIR graphs in memory

_BAD_VALUES = st.one_of(
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e300, 2**40, -(2**40), 2**20, 1e6, "same", "full", b"\xff", None, True]),
    st.sampled_from([np.array([10**5, 10**5]), np.array([1, 10**5, 10**5]), np.array([2**16] * 4), np.array([1e-3, np.nan])]),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=5).map(np.array),
    st.lists(st.integers(-(2**33), 2**33), min_size=0, max_size=4).map(np.array),
    st.sampled_from([np.zeros((2, 2, 2)), np.array(["a", "b"]), np.array([1 + 2j]), np.zeros(0), np.ones((10**3, 1))]),
)


@st.composite
def nir_graph_edits(draw: st.DrawFn) -> Any:
    """A valid graph with node fields, declared shapes or edges replaced by bad values."""
    graph = draw(st.sampled_from([0, 1, 2]).map(lambda i: _nir_seed_graphs()[i]))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(graph.nodes)))
        node = graph.nodes[name]
        kind = type(node).__name__
        if kind in ("Input", "Output"):
            key = "input" if kind == "Input" else "output"
            value = draw(st.one_of(_BAD_VALUES, st.lists(st.integers(-5, 2**40), max_size=10).map(np.array)))
            setattr(node, f"{key}_type", {key: value})
            continue
        fields = sorted(k for k in vars(node) if k not in ("input_type", "output_type", "metadata"))
        if not fields:
            continue
        field = draw(st.sampled_from(fields + ["metadata"]))
        if field == "metadata":
            node.metadata = draw(st.sampled_from([{"axonal.reset": "bogus"}, {"axonal.reset": np.array(["a", "b"])},
                                                  {"axonal.reset": b"\xff"}, None, {"axonal.reset": "subtract"},
                                                  np.array([1, 2]), "zero", {"axonal.reset": np.array("subtract")}]))
        else:
            setattr(node, field, draw(_BAD_VALUES))
    if draw(st.integers(0, 4)) == 0:
        graph.edges = draw(st.sampled_from([[("input", "nowhere")], [("input",)], [(1, 2)], "ab", [["input", "output", "x"]],
                                            list(graph.edges) + [(next(iter(graph.nodes)), next(iter(graph.nodes)))]]))
    return graph


def nir_graph_target(graph: Any) -> str:
    outcome, net = refused_or(lambda: from_nir(graph, dt=1e-3))
    if outcome == "accepted":
        _run_imported(net)
    return outcome


@settings(FUZZ, max_examples=100)
@given(nir_graph_edits())
def test_fuzz_nir_graph_contents(graph: Any) -> None:
    nir_graph_target(graph)


# --------------------------------------------------------------------------- GraphModule states


@st.composite
def graph_states(draw: st.DrawFn) -> tuple[Any, Any, torch.Tensor]:
    net = from_nir(_nir_seed_graphs()[2], dt=1e-3, as_graph=True)
    x = torch.zeros(3, 2, 2)
    _, state = net(x)
    kind = draw(st.sampled_from(["nan", "shape", "key", "type", "none", "tuple"]))
    nodes = state["nodes"]
    name = draw(st.sampled_from(sorted(k for k, v in nodes.items() if v is not None)))
    if kind == "nan":
        value = nodes[name]
        if isinstance(value, torch.Tensor):
            nodes[name] = value.clone().fill_(draw(st.sampled_from([float("nan"), float("inf")])))
        else:
            i = draw(st.integers(0, len(value) - 1))
            bad = value[i].clone().reshape(-1)
            bad[draw(st.integers(0, bad.numel() - 1))] = float("nan")
            nodes[name] = value._replace(**{value._fields[i]: bad.reshape(value[i].shape)})
    elif kind == "shape":
        value = nodes[name]
        if isinstance(value, torch.Tensor):
            nodes[name] = torch.zeros(*value.shape[:-1], value.shape[-1] + 1)
        else:
            nodes[name] = value._replace(**{value._fields[0]: torch.zeros(5, 7)})
    elif kind == "key":
        del nodes[name]
    elif kind == "type":
        nodes[name] = "not a state"
    elif kind == "none":
        state["prev"] = None
    else:
        state = (state,)
    return net, state, x


def test_graph_module_state_names_the_entry() -> None:
    net = from_nir(_nir_seed_graphs()[2], dt=1e-3, as_graph=True)
    x = torch.zeros(3, 2, 2)
    _, state = net(x)
    v = state["nodes"]["cuba"]
    state["nodes"]["cuba"] = v._replace(v=torch.full_like(v.v, float("nan")))
    with pytest.raises(NonFiniteError, match=r"state\['nodes'\]\['cuba'\]\.v holds NaN or inf \(6 of 6 values\)"):
        net(x, state)
    with pytest.raises(NonFiniteError, match=r"state\['nodes'\]\['cuba'\]\.v"):
        net.step(x[0], state)
    _, state = net(x)
    state["nodes"]["delay"] = torch.zeros(5, 2, 3)
    with pytest.raises(ValueError, match=r"state\['nodes'\]\['delay'\] has shape \(5, 2, 3\), expected \(2, 2, 3\)"):
        net(x, state)
    _, state = net(x)
    del state["prev"]["rec"]
    with pytest.raises(ValueError, match=r"state\['prev'\] must have the keys \['rec'\]; missing \['rec'\]"):
        net(x, state)
    _, state = net(x)
    assert net(x, state)[0].shape == (3, 2, 3)  # a good state still runs


def state_target(case: tuple[Any, Any, torch.Tensor]) -> str:
    net, state, x = case
    try:
        with memory_budget():
            net(x, state)
    except (TypeError, ValueError) as err:
        assert "state" in str(err), f"the error does not name the state: {err}"
        return "refused"
    raise AssertionError("a damaged state was accepted")


@settings(FUZZ, max_examples=30)
@given(graph_states())
def test_fuzz_graph_module_states(case: tuple[Any, Any, torch.Tensor]) -> None:
    state_target(case)


# --------------------------------------------------------------------------- SHD/SSC spikes (HDF5)

_SHD_MAX_TIME_S = 2.0**53 / 1e6


def _write_shd(path: Path, samples: list[tuple[np.ndarray, np.ndarray]], labels: np.ndarray, keys: int,
               unit_dtype: str = "uint16") -> bytes:
    """A file in the published SHD layout (spikes/times, spikes/units, labels, extra/...)."""
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.dtype("float32")))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(unit_dtype)))
        for i, (t, u) in enumerate(samples):
            times[i], units[i] = t, u
        f.create_dataset("labels", data=labels)
        f.create_dataset("extra/speaker", data=np.arange(len(samples), dtype=np.uint16) % 3)
        f.create_dataset("extra/keys", data=np.array([f"word{k}".encode() for k in range(keys)]))
        f.create_dataset("extra/meta_info/age", data=np.array([20, 30, 40], dtype=np.uint16))
    return path.read_bytes()


@st.composite
def shd_seed_files(draw: st.DrawFn) -> bytes:
    """A valid SHD file of 1-3 samples with up to 30 spikes each."""
    samples = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 30))
        t = np.sort(np.array(draw(st.lists(st.floats(0, 1.5, width=32), min_size=n, max_size=n)), dtype=np.float32))
        u = np.array(draw(st.lists(st.integers(0, SHD_CHANNELS - 1), min_size=n, max_size=n)), dtype=np.uint16)
        samples.append((t, u))
    labels = np.array(draw(st.lists(st.integers(0, 19), min_size=len(samples), max_size=len(samples))), dtype=np.uint16)
    return _write_shd(_DIR / f"seed{next(_counter) % 4}.h5", samples, labels, keys=20)


def _check_shd(data: Any, size: int) -> None:
    """The promises of an accepted SHD file."""
    assert len(data.events) == data.labels.shape[0] and data.n_channels == SHD_CHANNELS
    total = 0
    for ev in data.events:
        assert ev.dtype == EVENT_DTYPE and ev.ndim == 1
        if ev.size:
            assert int(ev["x"].min()) >= 0 and int(ev["x"].max()) < SHD_CHANNELS, "accepted a unit outside 0..699"
            assert int(ev["t"].min()) >= 0 and bool((np.diff(ev["t"]) >= 0).all()), "accepted times unsorted or negative"
            assert not ev["y"].any() and bool(ev["p"].all())
        total += ev.size
    assert total * 3 <= size, "more spikes than the file can hold"


def shd_target(data: bytes) -> str:
    path = _file(data, ".h5")
    outcome, result = refused_or(lambda: read_shd(path))
    if outcome == "accepted":
        _check_shd(result, len(data))
    return outcome


SHD_CASES = mutations(shd_seed_files(), header=512, record=6, max_random=1024)


@settings(FUZZ, max_examples=60)
@given(SHD_CASES)
def test_fuzz_shd_file_bytes(data: bytes) -> None:
    shd_target(data)


_SHD_BAD_TIMES = st.sampled_from([np.nan, np.inf, -np.inf, -1e-3, 1e10, 3e38])
_SHD_BAD_UNITS = st.sampled_from([-1, SHD_CHANNELS, 2**15 - 1, -(2**15)])


@st.composite
def shd_contents(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A structurally valid SHD file whose contents may be impossible (NaN, negative or huge
    times, units outside 0..699, times and units of unequal length, labels beyond the keys;
    each fault drawn rarely, so about half the files are valid; unsorted times are valid), and
    whether a reader must accept it."""
    samples = []
    valid = True
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 12))
        m = n if draw(st.integers(0, 7)) else draw(st.integers(0, 12))
        t = np.array(draw(st.lists(st.floats(0, 2.0, width=32), min_size=n, max_size=n)), dtype=np.float32)
        if draw(st.booleans()):
            t = np.sort(t)
        u = np.array(draw(st.lists(st.integers(0, SHD_CHANNELS - 1), min_size=m, max_size=m)), dtype=np.int16)
        if n and not draw(st.integers(0, 7)):
            t[draw(st.integers(0, n - 1))] = draw(_SHD_BAD_TIMES)
        if m and not draw(st.integers(0, 7)):
            u[draw(st.integers(0, m - 1))] = draw(_SHD_BAD_UNITS)
        tf = t.astype(np.float64)
        valid &= m == n and bool(np.isfinite(tf).all() and (tf >= 0).all() and (tf <= _SHD_MAX_TIME_S).all())
        valid &= bool(((u >= 0) & (u < SHD_CHANNELS)).all())
        samples.append((t, u))
    keys = draw(st.integers(1, 20))
    high = keys - 1 if draw(st.integers(0, 7)) else 24
    labels = np.array(draw(st.lists(st.integers(0, high), min_size=len(samples), max_size=len(samples))), dtype=np.uint16)
    valid &= int(labels.max()) < keys
    return _write_shd(_DIR / f"seed{next(_counter) % 4}.h5", samples, labels, keys, unit_dtype="int16"), valid


def shd_contents_target(case: tuple[bytes, bool]) -> str:
    data, valid = case
    outcome = shd_target(data)
    assert (outcome == "accepted") == valid, f"a {'valid' if valid else 'impossible'} SHD file was {outcome}"
    return outcome


@settings(FUZZ, max_examples=80)
@given(shd_contents())
def test_fuzz_shd_contents(case: tuple[bytes, bool]) -> None:
    shd_contents_target(case)


TARGETS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], str]]] = {
    "nmnist-bytes": (NMNIST_CASES, nmnist_target),
    "nmnist-impossible": (impossible_recordings(), lambda c: refused_or(lambda: read_nmnist(_file(c[0], ".bin")))[0]),
    "idx-bytes": (IDX_CASES, idx_target),
    "idx-gzip": (GZ_CASES, gz_target),
    "label-list": (LABEL_CASES, labels_target),
    "events-to-frames": (FRAME_CASES, frames_target),
    "nir-file-bytes": (NIR_FILE_CASES, nir_file_target),
    "nir-hdf5-huge": (hdf5_huge_datasets(), nir_huge_target),
    "nir-graph-contents": (nir_graph_edits(), nir_graph_target),
    "graph-module-states": (graph_states(), state_target),
    "wav-bytes": (WAV_CASES, wav_target),
    "shd-file-bytes": (SHD_CASES, shd_target),
    "shd-contents": (shd_contents(), shd_contents_target),
    **{f"{kind}-bytes": (EVENT_FILE_CASES[kind], event_file_target(kind)) for kind in _EVENT_READERS},
}
"""Every fuzz target with its strategy (``benchmarks/fuzz_readers.py`` runs these)."""
