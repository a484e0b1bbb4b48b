"""Event file formats: hand-made bytes decoded against the published layouts, every writer
read back exactly, streaming equal to reading whole, and damaged files refused by name and
offset. Real sample files (../shared/data/event_samples) are used when present."""

from __future__ import annotations

import importlib
import io
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import axonal.data.limits as limits
import axonal.events.formats.aedat4 as aedat4_module
from axonal.errors import FileFormatError, ResourceLimitError
from axonal.events import (
    EVENT_DTYPE,
    detect_event_format,
    event_file_info,
    iter_events,
    make_events,
    read_aedat,
    read_aedat4,
    read_events,
    read_evt,
    read_nmnist,
    read_npz,
    write_aedat,
    write_aedat4,
    write_events,
    write_evt,
    write_nmnist,
    write_npz,
)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "event_samples"


def random_events(n: int, width: int, height: int, t_max: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, width, n), rng.integers(0, height, n), np.sort(rng.integers(0, t_max, n)),
                       rng.integers(0, 2, n))


def chunked(path: Path, chunk: int, **kw: Any) -> list[np.ndarray]:
    parts = list(iter_events(path, chunk_events=chunk, **kw))
    assert all(0 < p.size <= chunk and p.dtype == EVENT_DTYPE for p in parts)
    return parts


def assert_streams_like_whole(path: Path, expected: np.ndarray, **kw: Any) -> None:
    for chunk in (1, 7, 1000):
        parts = chunked(path, chunk, **kw)
        got = np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
        assert np.array_equal(got, expected), f"chunks of {chunk} differ from the whole file"


# --------------------------------------------------------------------------- N-MNIST


def test_nmnist_decodes_hand_written_bytes(tmp_path: Path) -> None:
    # x=5, y=7, ON, t=0x010203 ; x=33, y=0, OFF, t=0x7FFFFF (largest 23-bit stamp)
    path = tmp_path / "two.bin"
    path.write_bytes(bytes([5, 7, 0x80 | 0x01, 0x02, 0x03, 33, 0, 0x7F, 0xFF, 0xFF]))
    ev = read_nmnist(path)
    assert ev.dtype == EVENT_DTYPE
    assert ev["x"].tolist() == [5, 33] and ev["y"].tolist() == [7, 0] and ev["p"].tolist() == [1, 0]
    assert ev["t"].tolist() == [0x010203, (1 << 23) - 1]
    assert detect_event_format(path) == "nmnist" and event_file_info(path).sensor_size == (34, 34, 2)


def test_nmnist_round_trip_and_streaming(tmp_path: Path) -> None:
    ev = random_events(500, 34, 34, 300_000)
    path = tmp_path / "r.bin"
    write_nmnist(path, ev)
    assert path.stat().st_size == 5 * 500
    assert np.array_equal(read_nmnist(path), ev) and np.array_equal(read_events(path), ev)
    assert_streams_like_whole(path, ev)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 1), st.integers(0, (1 << 23) - 1)),
                min_size=1, max_size=50))
def test_nmnist_hypothesis_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int, int, int, int]]) -> None:
    rows = sorted(rows, key=lambda r: r[3])
    x, y, p, t = (list(c) for c in zip(*rows))
    ev = make_events(x, y, t, p)
    path = tmp_path_factory.mktemp("nm") / "h.bin"
    write_nmnist(path, ev, sensor_size=(256, 256))
    assert np.array_equal(read_nmnist(path, sensor_size=(256, 256)), ev)


def test_nmnist_damaged_files_are_named(tmp_path: Path) -> None:
    good = bytes([1, 2, 0x80, 0, 10]) * 3
    trunc = tmp_path / "trunc.bin"
    trunc.write_bytes(good[:-2])
    with pytest.raises(FileFormatError, match=r"trunc\.bin.*13 bytes is not a multiple of 5"):
        read_nmnist(trunc)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"empty\.bin.*empty"):
        read_nmnist(empty)
    with pytest.raises(ValueError, match=r"missing\.bin.*does not exist"):
        read_nmnist(tmp_path / "missing.bin")
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(good + bytes([200, 3, 0, 0, 11]))
    with pytest.raises(FileFormatError, match=r"corrupt\.bin': event 3 \(record at byte 15\) has address \(x=200, y=3\) "
                                              r"outside the 34x34 sensor"):
        read_nmnist(corrupt)
    with pytest.raises(FileFormatError, match=r"event 3 \(record at byte 15\) has address"):
        list(iter_events(corrupt, chunk_events=2))  # found in the second chunk, numbered in the file


def test_nmnist_writer_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    with pytest.raises(ValueError, match=r"events.t must be in 0..8388607 us"):
        write_nmnist(path, make_events([1], [1], [1 << 23], [0]))
    with pytest.raises(ValueError, match=r"does not fit the N-MNIST format"):
        write_nmnist(path, make_events([300], [1], [0], [0]), sensor_size=(400, 10))
    with pytest.raises(ValueError, match=r"events.x must be in \[0, 33\]"):
        write_nmnist(path, make_events([40], [1], [0], [0]))
    with pytest.raises(ValueError, match=r"events.t must be non-decreasing to be written; event 1 at 5 us comes after 9 us"):
        write_nmnist(path, make_events([1, 2], [1, 1], [9, 5], [0, 0]))


@pytest.mark.skipif(not (SAMPLES / "sample_nmnist.bin").is_file(), reason="../shared/data/event_samples is absent")
def test_nmnist_real_sample() -> None:
    ev = read_events(SAMPLES / "sample_nmnist.bin")
    assert ev.size == 4325 and int(ev["t"].min()) == 654 and int(ev["t"].max()) == 311175
    assert int(ev["x"].max()) <= 33 and int(ev["y"].max()) <= 33 and set(ev["p"].tolist()) == {0, 1}


# --------------------------------------------------------------------------- npz


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip(tmp_path: Path, compressed: bool) -> None:
    ev = random_events(300, 640, 480, 10**12)
    path = tmp_path / "e.npz"
    write_npz(path, ev, (640, 480), compressed=compressed)
    assert np.array_equal(read_npz(path), ev)
    assert event_file_info(path).sensor_size == (640, 480, 2) and detect_event_format(path) == "npz"
    assert_streams_like_whole(path, ev)
    with np.load(path) as f:
        assert f["x"].dtype == np.int16 and f["t"].dtype == np.int64 and f["sensor_size"].tolist() == [640, 480, 2]


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 32767), st.integers(0, 32767), st.integers(0, 1), st.integers(0, 2**62)),
                max_size=30))
def test_npz_hypothesis_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int, int, int, int]]) -> None:
    rows = sorted(rows, key=lambda r: r[3])
    cols = [list(c) for c in zip(*rows)] if rows else [[], [], [], []]
    ev = make_events(cols[0], cols[1], cols[3], cols[2])
    path = tmp_path_factory.mktemp("npz") / "h.npz"
    write_npz(path, ev, (32768, 32768))
    back = read_npz(path)
    assert back.dtype == EVENT_DTYPE and np.array_equal(back, ev)


def test_npz_reads_tonic_style_structured_arrays(tmp_path: Path) -> None:
    tonic = np.zeros(4, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    tonic["x"], tonic["y"], tonic["t"], tonic["p"] = [3, 1, 2, 0], [0, 1, 2, 3], [5, 6, 6, 9], [True, False, True, False]
    for name, kwargs in (("named.npz", {"events": tonic}), ("alone.npz", {"arr_0": tonic})):
        path = tmp_path / name
        np.savez(path, **kwargs)
        ev = read_npz(path, sensor_size=(4, 4))
        assert ev["x"].tolist() == [3, 1, 2, 0] and ev["p"].tolist() == [1, 0, 1, 0] and ev["t"].tolist() == [5, 6, 6, 9]
    with pytest.raises(FileFormatError, match=r"event 0 has address \(x=3, y=0\) outside the 2x2 sensor"):
        read_npz(tmp_path / "named.npz", sensor_size=(2, 2))


def test_npz_refuses_what_is_not_events(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.arange(3), y=np.arange(3), t=np.arange(3))
    with pytest.raises(FileFormatError, match=r"found members \['t', 'x', 'y'\]; expected arrays x, y, t, p"):
        read_npz(path)
    np.savez(path, x=np.arange(3), y=np.arange(3), t=np.arange(3), p=np.arange(2))
    with pytest.raises(FileFormatError, match=r"the event fields must be 1-D of one length"):
        read_npz(path)
    np.savez(path, x=np.arange(3), y=np.arange(3), t=np.array([0.0, 1.5, 2.0]), p=np.zeros(3))
    with pytest.raises(FileFormatError, match=r"events field t must hold integers, got dtype float64"):
        read_npz(path)
    np.savez(path, x=np.arange(3), y=np.arange(3), t=np.array([3, 2, 1]), p=np.zeros(3, int))
    with pytest.raises(FileFormatError, match=r"event 1 has timestamp 2 us, earlier than event 0's 3 us"):
        read_npz(path)
    np.savez(path, x=np.arange(3), y=np.arange(3), t=np.arange(3), p=np.zeros(3, int), sensor_size=np.array([2, 9]))
    with pytest.raises(FileFormatError, match=r"has address \(x=2, y=2\) outside the 2x9 sensor"):
        read_npz(path)
    np.savez(path, x=np.array([None, 1, 2], dtype=object), y=np.arange(3), t=np.arange(3), p=np.zeros(3, int))
    with pytest.raises(FileFormatError, match=r"member 'x' holds Python objects"):
        read_npz(path)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FileFormatError, match=r"bad\.npz' is not an \.npz archive"):
        read_npz(path)


def test_npz_member_claiming_more_than_it_stores_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.npz"
    header = {"descr": "<i8", "fortran_order": False, "shape": (10**12,)}
    member = tmp_path / "x.npy"
    with member.open("wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    with zipfile.ZipFile(path, "w") as zf:
        for name in "xytp":
            zf.write(member, f"{name}.npy")
    with pytest.raises(FileFormatError, match=r"member 'x' claims shape \(1000000000000,\) of int64 \(7.28 TiB\) but stores"):
        read_npz(path)


# --------------------------------------------------------------------------- AEDAT 4.0


@pytest.mark.parametrize("compression", ["none", "lz4", "lz4_high"])
def test_aedat4_round_trip(tmp_path: Path, compression: str) -> None:
    pytest.importorskip("lz4") if compression != "none" else None
    ev = random_events(5000, 346, 260, 10**15)
    path = tmp_path / "e.aedat4"
    write_aedat4(path, ev, (346, 260), compression=compression, packet_events=700)
    info = event_file_info(path)
    assert info.format == "aedat4" and info.sensor_size == (346, 260, 2) and info.extra["compression"] == compression
    assert np.array_equal(read_aedat4(path), ev) and np.array_equal(read_events(path), ev)
    parts = chunked(path, 10**6)
    assert [p.size for p in parts] == [700] * 7 + [100]  # one chunk per packet
    assert_streams_like_whole(path, ev)


def test_aedat4_writer_output_is_read_by_the_aedat_package(tmp_path: Path) -> None:
    aedat = pytest.importorskip("aedat")
    pytest.importorskip("lz4")
    ev = random_events(3000, 320, 240, 10**15, seed=3)
    path = tmp_path / "ref.aedat4"
    write_aedat4(path, ev, (320, 240), packet_events=1000)
    decoder = aedat.Decoder(str(path))
    assert decoder.id_to_stream() == {0: {"type": "events", "width": 320, "height": 240}}
    ref = np.concatenate([p["events"] for p in decoder if "events" in p])
    for ours, theirs in (("x", "x"), ("y", "y"), ("t", "t"), ("p", "on")):
        assert np.array_equal(ev[ours].astype(np.int64), ref[theirs].astype(np.int64))


@pytest.mark.skipif(not (SAMPLES / "sample.aedat4").is_file(), reason="../shared/data/event_samples is absent")
def test_aedat4_real_sample_matches_the_recording_and_the_aedat_package() -> None:
    pytest.importorskip("lz4")
    path = SAMPLES / "sample.aedat4"
    info = event_file_info(path)
    assert info.sensor_size == (320, 240, 2) and info.extra["compression"] == "lz4"
    assert {k: v["type"] for k, v in info.extra["streams"].items()} == {0: "EVTS", 2: "IMUS", 3: "TRIG"}
    ev = read_events(path)
    assert ev.size == 111_954 and round(float(ev["p"].mean()), 2) == 0.49
    assert bool((np.diff(ev["t"]) >= 0).all()) and 0.58e6 < int(ev["t"][-1] - ev["t"][0]) < 0.6e6
    assert len(list(iter_events(path, chunk_events=10**6))) == 59  # one chunk per event packet
    try:
        aedat = importlib.import_module("aedat")
    except ImportError:
        return
    ref = np.concatenate([p["events"] for p in aedat.Decoder(str(path)) if "events" in p])
    for ours, theirs in (("x", "x"), ("y", "y"), ("t", "t"), ("p", "on")):
        assert np.array_equal(ev[ours].astype(np.int64), ref[theirs].astype(np.int64))


def _aedat4_none(tmp_path: Path, ev: np.ndarray, name: str = "n.aedat4") -> Path:
    path = tmp_path / name
    write_aedat4(path, ev, (64, 48), compression="none", packet_events=4)
    return path


def test_aedat4_damaged_files_are_named_with_offsets(tmp_path: Path) -> None:
    ev = random_events(10, 64, 48, 10**6)
    path = _aedat4_none(tmp_path, ev)
    data = path.read_bytes()
    start = event_file_info(path).data_offset
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(data[:-10])
    with pytest.raises(FileFormatError, match=r"cut\.aedat4': the packet at byte \d+ claims 64 bytes but 54 remain"):
        read_aedat4(cut)
    magic = tmp_path / "magic.aedat4"
    magic.write_bytes(b"#!AER-DAT3.1\r\n" + data[14:])
    with pytest.raises(FileFormatError, match=r"does not start with b'#!AER-DAT4.0\\r\\n'"):
        read_aedat4(magic)
    # the first packet's EventPacket claims more elements than its bytes hold
    bad = bytearray(data)
    struct.pack_into("<I", bad, start + 8 + 28, 1000)
    broken = tmp_path / "vector.aedat4"
    broken.write_bytes(bytes(bad))
    with pytest.raises(FileFormatError, match=rf"the event packet \(at byte {start}\) is corrupt at its byte 28: its vector "
                                              r"claims 1000 events"):
        read_aedat4(broken)
    # times going back from one packet to the next
    back = ev.copy()
    back["t"][4:] = back["t"][4:] - 10**7
    with pytest.raises(FileFormatError, match=r"event 4 \(record at byte \d+\) has timestamp -?\d+ us, earlier than event 3's"):
        bad_path = _aedat4_none(tmp_path, ev, "back.aedat4")
        raw = bytearray(bad_path.read_bytes())
        second = start + 8 + 96  # the second packet (the first: 8-byte header, 32 + 4 x 16 bytes)
        for k in range(4):
            struct.pack_into("<q", raw, second + 8 + 32 + 16 * k, 0)
        bad_path.write_bytes(bytes(raw))
        read_aedat4(bad_path)


def test_aedat4_zstd_needs_its_package_and_lz4_is_decoded_in_bounded_steps(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ev = random_events(10, 64, 48, 10**6)
    path = _aedat4_none(tmp_path, ev)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<i", raw, 14 + 4 + 28, 3)  # the IOHeader's compression field: Zstd
    zpath = tmp_path / "z.aedat4"
    zpath.write_bytes(bytes(raw))
    assert event_file_info(zpath).extra["compression"] == "zstd"
    real_import = importlib.import_module

    def no_zstd(name: str, *args: Any) -> Any:
        if name == "zstandard":
            raise ImportError("no zstandard here")
        return real_import(name, *args)

    monkeypatch.setattr(aedat4_module.importlib, "import_module", no_zstd)
    with pytest.raises(ImportError, match=r"is Zstd-compressed; reading it needs the zstandard package"):
        read_aedat4(zpath)
    monkeypatch.undo()
    pytest.importorskip("lz4")
    big = make_events(np.zeros(40_000, int), 0, np.arange(40_000), 1)  # compresses well: inflates 20-fold
    lz = tmp_path / "big.aedat4"
    write_aedat4(lz, big, (64, 48), packet_events=40_000)
    monkeypatch.setattr(limits, "available_memory", lambda: 1_000_000)
    with pytest.raises(ResourceLimitError, match=r"big\.aedat4'.*the packet at byte \d+ decompressed so far needs"):
        read_aedat4(lz)


class _FakeZstd:
    """Stands in for the zstandard package: "decompresses" by passing the bytes through (or
    fails like a damaged frame), so the Zstd path's reading loop and checks run without it."""

    class ZstdError(Exception):
        pass

    def __init__(self, broken: bool) -> None:
        self.broken = broken

    def ZstdDecompressor(self) -> Any:  # noqa: N802 - the package's name
        fake = self

        class Decompressor:
            def stream_reader(self, data: bytes, read_across_frames: bool = False) -> Any:
                if fake.broken:
                    raise fake.ZstdError("Unknown frame descriptor")
                return io.BytesIO(data)

        return Decompressor()


@pytest.mark.parametrize("broken", [False, True])
def test_aedat4_zstd_path_reads_through_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: bool) -> None:
    ev = random_events(10, 64, 48, 10**6)
    raw = bytearray(_aedat4_none(tmp_path, ev).read_bytes())
    struct.pack_into("<i", raw, 14 + 4 + 28, 4)  # Zstd high
    path = tmp_path / "zh.aedat4"
    path.write_bytes(bytes(raw))
    real_import = importlib.import_module
    fake = _FakeZstd(broken)
    monkeypatch.setattr(aedat4_module.importlib, "import_module",
                        lambda name, *a: fake if name == "zstandard" else real_import(name, *a))
    if broken:
        with pytest.raises(FileFormatError, match=r"the packet at byte \d+ is not a valid Zstd frame \(Unknown frame"):
            read_aedat4(path)
    else:
        assert np.array_equal(read_aedat4(path), ev)


def test_aedat4_stream_choice(tmp_path: Path) -> None:
    path = _aedat4_none(tmp_path, random_events(5, 64, 48, 100))
    assert read_aedat4(path, stream=0).size == 5
    with pytest.raises(ValueError, match=r"stream 2 of AEDAT4 file .* is not an event stream; its event streams are \[0\]"):
        read_aedat4(path, stream=2)


# --------------------------------------------------------------------------- AEDAT 2.0 / 3.1

_HEADER2 = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# AEChip: eu.seebetter.ini.chips.davis.Davis346B\r\n"


def test_aedat2_header_sample_as_tonic_reads_it() -> None:
    path = SAMPLES / "sample_aedat_header.aedat"
    if not path.is_file():
        pytest.skip("../shared/data/event_samples is absent")
    info = event_file_info(path)
    assert info.format == "aedat2" and info.version == "2.0" and info.start_timestamp == 1695355587880
    assert info.sensor_size == (346, 260, 2) and info.extra["layout"] == "davis" and info.data_offset == 599
    assert dict(info.header)["AEChip"] == "eu.seebetter.ini.chips.davis.Davis346red"
    assert read_events(path).size == 0  # a header without events


def test_aedat2_davis_addresses_decode_as_jaer_lays_them_out(tmp_path: Path) -> None:
    def davis(x: int, y: int, pol: int) -> int:
        return (y << 22) | (x << 12) | (pol << 11)

    records = [(davis(10, 20, 1), 100), ((1 << 31) | davis(3, 3, 0), 101),  # an APS sample: skipped
               (davis(0, 0, 0) | (1 << 10), 102),  # an external input event: skipped
               (davis(345, 259, 0), 200), (davis(0, 0, 1), 0xFFFF_FFF0), (davis(1, 1, 1), 5)]  # 32-bit wrap
    path = tmp_path / "d.aedat"
    path.write_bytes(_HEADER2 + b"".join(struct.pack(">II", a, t) for a, t in records))
    ev = read_aedat(path)
    assert ev["x"].tolist() == [335, 0, 345, 344] and ev["y"].tolist() == [239, 0, 259, 258]
    assert ev["p"].tolist() == [1, 0, 1, 1] and ev["t"].tolist() == [100, 200, 0xFFFF_FFF0, (1 << 32) + 5]
    path.write_bytes(_HEADER2 + struct.pack(">II", davis(1, 1, 1), 500) + struct.pack(">II", davis(2, 2, 1), 400))
    at = len(_HEADER2) + 8
    with pytest.raises(FileFormatError, match=rf"event 1 \(record at byte {at}\) has timestamp 400 us, earlier than event 0's 500"):
        read_aedat(path)
    path.write_bytes(_HEADER2 + struct.pack(">II", davis(400, 1, 1), 1))
    with pytest.raises(FileFormatError, match=r"has raw address \(x=400, y=1\) outside the 346x260 sensor"):
        read_aedat(path)
    path.write_bytes(_HEADER2 + b"\0" * 12)
    with pytest.raises(FileFormatError, match=r"is truncated: 12 bytes after the header is not a whole number of 8-byte records"):
        read_aedat(path)


def test_aedat2_dvs128_layout(tmp_path: Path) -> None:
    header = b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n"
    records = [((7 << 8) | (5 << 1) | 0, 10), ((1 << 15) | 3, 11), ((0 << 8) | (127 << 1) | 1, 12)]
    path = tmp_path / "dvs.aedat"
    path.write_bytes(header + b"".join(struct.pack(">II", a, t) for a, t in records))
    ev = read_aedat(path)
    assert ev["x"].tolist() == [122, 0] and ev["y"].tolist() == [120, 127] and ev["p"].tolist() == [1, 0]
    assert event_file_info(path).extra["layout"] == "dvs128"


def test_aedat2_unknown_camera_needs_sensor_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "u.aedat"
    path.write_bytes(b"#!AER-DAT2.0\r\n# AEChip: some.OtherChip\r\n" + struct.pack(">II", (1 << 12), 3))
    with pytest.raises(FileFormatError, match=r"the sensor size is unknown \(camera 'some.OtherChip'\); pass sensor_size"):
        read_aedat(path)
    with pytest.raises(FileFormatError, match=r"its camera 'some.OtherChip' has no known address layout; pass layout="):
        read_aedat(path, sensor_size=(10, 10))
    assert read_aedat(path, sensor_size=(10, 10), layout="davis")["x"].tolist() == [8]


@pytest.mark.parametrize(("version", "layout", "sensor"), [("2.0", "davis", (346, 260)), ("2.0", "davis", (100, 30)),
                                                          ("2.0", "dvs128", (128, 128)), ("3.1", "davis", (128, 128)),
                                                          ("3.1", "davis", (640, 480))])
def test_aedat_round_trip(tmp_path: Path, version: str, layout: str, sensor: tuple[int, int]) -> None:
    t_max = (1 << 31) - 1 if version == "2.0" else 1 << 40
    ev = random_events(3000, sensor[0], sensor[1], t_max)
    path = tmp_path / "r.aedat"
    write_aedat(path, ev, sensor, version=version, layout=layout, start_timestamp=1695355587880, packet_events=500)
    info = event_file_info(path)
    assert info.version == version and info.sensor_size == (*sensor, 2)
    assert info.start_timestamp == 1695355587880
    assert np.array_equal(read_aedat(path), ev) and np.array_equal(read_events(path), ev)
    assert_streams_like_whole(path, ev)


def test_aedat2_times_past_32_bits_round_trip_through_the_wrap(tmp_path: Path) -> None:
    t = np.array([0, 1 << 30, (1 << 31) + 5, (1 << 32) - 3, (1 << 32) + 7, (1 << 32) + (1 << 30), (5 << 32) + 1])
    ev = make_events([1, 2, 3, 4, 5, 6, 7], 1, t, [0, 1, 0, 1, 0, 1, 0])
    path = tmp_path / "wrap.aedat"
    with pytest.raises(ValueError, match=r"does not fit AEDAT 2.0's 32-bit timestamps"):
        write_aedat(path, ev, (346, 260))  # the last gap spans several wraps: the reader could not tell
    assert not path.exists()  # refused before anything was written
    write_aedat(path, ev[:6], (346, 260))
    assert read_aedat(path)["t"].tolist() == t[:6].tolist()


def _packet31(kind: int, events: list[tuple[int, int]], overflow: int = 0, capacity: int | None = None) -> bytes:
    cap = len(events) if capacity is None else capacity
    body = b"".join(struct.pack("<Ii", d, t) for d, t in events) + b"\0" * 8 * (cap - len(events))
    return struct.pack("<hhiiiiii", kind, 1, 8, 4, overflow, cap, len(events), len(events)) + body


def test_aedat31_packets_decode_as_libcaer_lays_them_out(tmp_path: Path) -> None:
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"

    def pol(x: int, y: int, p: int, valid: int = 1) -> int:
        return (x << 17) | (y << 2) | (p << 1) | valid

    data = (header + _packet31(0, [(5, 1)])  # a special-event packet: skipped
            + _packet31(1, [(pol(3, 4, 1), 10), (pol(9, 9, 0, valid=0), 11), (pol(127, 0, 0), 12)], capacity=4)
            + _packet31(1, [(pol(1, 2, 1), 5)], overflow=1))
    path = tmp_path / "c.aedat"
    path.write_bytes(data)
    assert detect_event_format(path) == "aedat31" and event_file_info(path).sensor_size == (128, 128, 2)
    ev = read_aedat(path)
    assert ev["x"].tolist() == [3, 127, 1] and ev["y"].tolist() == [4, 0, 2] and ev["p"].tolist() == [1, 0, 1]
    assert ev["t"].tolist() == [10, 12, (1 << 31) + 5]
    path.write_bytes(data[:-3])
    with pytest.raises(FileFormatError, match=r"the packet at byte \d+ claims 1 events of 8 bytes but 5 bytes remain"):
        read_aedat(path)
    path.write_bytes(header + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 2, 3, 3))
    with pytest.raises(FileFormatError, match=r"the packet header at byte \d+ is impossible"):
        read_aedat(path)


def test_aedat_versions_not_read_here_are_named(tmp_path: Path) -> None:
    path = tmp_path / "v1.aedat"
    path.write_bytes(b"#!AER-DAT1.0\r\n" + b"\0" * 12)
    with pytest.raises(FileFormatError, match=r"is AEDAT version '1.0'; versions 2.0 and 3.1 are read here"):
        read_events(path)


# --------------------------------------------------------------------------- Prophesee EVT 2.0 / 3.0


def _raw(path: Path, header: str, words: list[int], width: int) -> Path:
    path.write_bytes(header.encode() + np.array(words, dtype=f"<u{width}").tobytes())
    return path


def test_evt2_words_decode_as_the_format_description_says(tmp_path: Path) -> None:
    def cd(p: int, ts: int, x: int, y: int) -> int:
        return (p << 28) | (ts << 22) | (x << 11) | y

    words = [cd(1, 1, 9, 9),  # before the first time-high: no time base, dropped
             (0x8 << 28) | 5, cd(1, 7, 3, 4), (0xA << 28) | 33, cd(0, 63, 2047 - 1000, 700),
             (0x8 << 28) | ((1 << 28) - 1), cd(0, 0, 1, 1), (0x8 << 28) | 2, cd(1, 1, 2, 2)]  # a wrap of the time-high
    path = _raw(tmp_path / "e2.raw", "% evt 2.0\n% geometry 1280x720\n", words, 4)
    assert detect_event_format(path) == "evt2" and event_file_info(path).sensor_size == (1280, 720, 2)
    ev = read_evt(path)
    assert ev["x"].tolist() == [3, 1047, 1, 2] and ev["y"].tolist() == [4, 700, 1, 2] and ev["p"].tolist() == [1, 0, 0, 1]
    assert ev["t"].tolist() == [5 * 64 + 7, 5 * 64 + 63, ((1 << 28) - 1) * 64, ((1 << 28) + 2) * 64 + 1]
    assert_streams_like_whole(path, ev)
    _raw(path, "% evt 2.0\n", [(0x8 << 28) | 10, cd(1, 0, 1, 1), (0x8 << 28) | 9, cd(1, 0, 1, 1)], 4)
    with pytest.raises(FileFormatError, match=r"event 1 \(record at byte \d+\) has timestamp 576 us, earlier than event 0's 640"):
        read_evt(path)
    _raw(path, "% evt 2.0\n", [(0x8 << 28) | 10, 0x3 << 28], 4)
    hlen = len("% evt 2.0\n")
    with pytest.raises(FileFormatError, match=rf"the word at byte {hlen + 4} has type 0x3, which the format reserves"):
        read_evt(path)


def test_evt3_words_decode_as_the_format_description_says(tmp_path: Path) -> None:
    words = [
        0x2000 | 5,  # EVT_ADDR_X before any time base: dropped
        0x8000 | 1, 0x6000 | 2,  # time 1 << 12 | 2
        0x0000 | 10,  # y = 10
        0x2000 | (1 << 11) | 100,  # ON at x 100
        0x3000 | 200,  # vector base x 200, OFF
        0x4000 | 0b101,  # x 200, 202; base -> 212
        0x5000 | 0x80,  # x 219; base -> 220
        0x7000 | 3, 0xE000 | 1, 0xF000 | 4, 0xA000 | 1,  # CONTINUED_4, OTHERS, CONTINUED_12, EXT_TRIGGER: skipped
        0x8000 | 1,  # the same time-high: the low bits stay
        0x2000 | 7,  # x 7 at 4098
        0x8000 | 2,  # a new time-high: low reset to 0
        0x0800 | 11,  # y 11 (bit 11: a slave camera; ignored)
        0x4000 | 1,  # x 220 at 8192 (the base carried on)
        0x8000 | 4095, 0x6000 | 4095, 0x2000 | 1,  # the last time before the wrap
        0x8000 | 0, 0x6000 | 1, 0x2000 | 2,  # the 24-bit time base wraps
    ]
    path = _raw(tmp_path / "e3.raw", "% camera_integrator_name Prophesee\n% format EVT3;height=480;width=640\n% end\n",
                words, 2)
    info = event_file_info(path)
    assert info.format == "evt3" and info.sensor_size == (640, 480, 2) and ("camera_integrator_name", "Prophesee") in info.header
    ev = read_evt(path)
    assert ev["x"].tolist() == [100, 200, 202, 219, 7, 220, 1, 2]
    assert ev["y"].tolist() == [10, 10, 10, 10, 10, 11, 11, 11]
    assert ev["p"].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert ev["t"].tolist() == [4098] * 5 + [8192, (1 << 24) - 1, (1 << 24) + 1]
    assert_streams_like_whole(path, ev)
    _raw(path, "% evt 3.0\n", [0x8000 | 5, 0x0000, 0x6000 | 9, 0x2000, 0x6000 | 8, 0x2000], 2)
    with pytest.raises(FileFormatError, match=r"event 1 \(record at byte 20\) has timestamp 20488 us, earlier than event 0's 20489"):
        read_evt(path)
    _raw(path, "% evt 3.0\n% geometry 100x50\n", [0x8000, 0x0000 | 60, 0x2000 | 3], 2)
    with pytest.raises(FileFormatError, match=r"has address \(x=3, y=60\) outside the 100x50 sensor"):
        read_evt(path)
    _raw(path, "% evt 3.0\n", [0x8000, 0x0000, 0x3000 | 2040] + [0x4000] * 4 + [0x4000 | 1], 2)
    with pytest.raises(FileFormatError, match=r"the vector word at byte 24 puts an event at x=2088, beyond the 11-bit"):
        read_evt(path)  # the base advanced by 4 x 12 past 2047: would wrap in int16 unchecked
    _raw(path, "% evt 3.0\n", [0x9000], 2)
    with pytest.raises(FileFormatError, match=r"the word at byte 10 has type 0x9, which the format reserves"):
        read_evt(path)
    path.write_bytes(b"% evt 3.0\n\x00\x80\x00")
    with pytest.raises(FileFormatError, match=r"is truncated: 3 bytes of data is not a whole number of 2-byte words"):
        read_evt(path)
    path.write_bytes(b"% evt 2.1\n")
    with pytest.raises(FileFormatError, match=r"the header names the encoding 'EVT21'; EVT 2.0 and EVT 3.0 are read here"):
        read_evt(path)


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_evt_round_trip_with_vectors_long_gaps_and_late_times(tmp_path: Path, version: str) -> None:
    rng = np.random.default_rng(5)
    runs = []
    t = 3 * 10**9  # starts at 50 minutes: many time-high steps in EVT 3.0
    for _ in range(400):
        t += int(rng.integers(0, 2)) * int(rng.choice([1, 4096, 10**7]))  # same time, next step, a 10 s gap
        n = int(rng.integers(1, 12))
        xs = np.sort(rng.choice(64, n, replace=False)) + 64 * int(rng.integers(0, 20))
        runs.append(make_events(xs, int(rng.integers(0, 720)), t, int(rng.integers(0, 2))))
    ev = np.concatenate(runs)
    path = tmp_path / "r.raw"
    write_events(path, ev, (1280, 720), format="evt3" if version == "3.0" else "evt2")
    assert detect_event_format(path) == ("evt3" if version == "3.0" else "evt2")
    assert np.array_equal(read_evt(path), ev)
    assert_streams_like_whole(path, ev)
    if version == "3.0":  # the runs went out as vectors: far fewer words than events
        words = (path.stat().st_size - event_file_info(path).data_offset) // 2
        assert words < 2 * ev.size


# --------------------------------------------------------------------------- dispatch


def test_write_events_picks_the_format_from_the_extension(tmp_path: Path) -> None:
    ev = random_events(50, 34, 34, 10**5)
    expect = {"a.bin": "nmnist", "a.bs2": "nmnist", "a.npz": "npz", "a.aedat": "aedat2", "a.raw": "evt3"}
    if importlib.util.find_spec("lz4") is not None:
        expect["a.aedat4"] = "aedat4"
    for name, fmt in expect.items():
        write_events(tmp_path / name, ev, (34, 34))
        assert detect_event_format(tmp_path / name) == fmt and np.array_equal(read_events(tmp_path / name), ev)
    write_events(tmp_path / "b.aedat", ev, (34, 34), format="aedat31")
    assert detect_event_format(tmp_path / "b.aedat") == "aedat31"
    with pytest.raises(ValueError, match=r"cannot tell the format of .*a\.txt' from its extension '.txt'"):
        write_events(tmp_path / "a.txt", ev, (34, 34))
    with pytest.raises(ValueError, match=r"format must be one of"):
        write_events(tmp_path / "a.bin", ev, (34, 34), format="hdf5")
    (tmp_path / "x.dat").write_bytes(b"\x01\x02garbage")
    with pytest.raises(FileFormatError, match=r"x\.dat' is in no format read here: it starts with b'\\x01\\x02garbage'"):
        read_events(tmp_path / "x.dat")
    with pytest.raises(ValueError, match=r"chunk_events must be an int >= 1, got 0"):
        list(iter_events(tmp_path / "a.bin", chunk_events=0))
