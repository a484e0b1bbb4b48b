"""N-MNIST 40-bit event files (written here in the real format) and frame binning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from axonal.data.events import Events, events_to_frames, read_label_list, read_nmnist, write_nmnist

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nmnist_small"


def test_decodes_hand_written_bytes(tmp_path: Path) -> None:
    # x=5, y=7, ON, t=0x010203 ; x=33, y=0, OFF, t=0x7FFFFF (largest 23-bit stamp)
    raw = bytes([5, 7, 0x80 | 0x01, 0x02, 0x03, 33, 0, 0x7F, 0xFF, 0xFF])
    path = tmp_path / "two.bin"
    path.write_bytes(raw)
    ev = read_nmnist(path)
    assert ev.x.tolist() == [5, 33] and ev.y.tolist() == [7, 0]
    assert ev.p.tolist() == [1, 0]
    assert ev.t.tolist() == [0x010203, (1 << 23) - 1]


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 500
    ev = Events(
        x=rng.integers(0, 34, n), y=rng.integers(0, 34, n), p=rng.integers(0, 2, n), t=np.sort(rng.integers(0, 300_000, n))
    )
    path = tmp_path / "r.bin"
    write_nmnist(path, ev)
    assert path.stat().st_size == 5 * n
    back = read_nmnist(path)
    for a, b in zip(ev, back):
        assert np.array_equal(a, b)


def test_truncated_empty_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    good = bytes([1, 2, 0x80, 0, 10]) * 3
    trunc = tmp_path / "trunc.bin"
    trunc.write_bytes(good[:-2])
    with pytest.raises(ValueError, match=r"trunc\.bin.*13 bytes is not a multiple of 5"):
        read_nmnist(trunc)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.bin.*empty"):
        read_nmnist(empty)
    with pytest.raises(ValueError, match=r"missing\.bin.*does not exist"):
        read_nmnist(tmp_path / "missing.bin")
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(good + bytes([200, 3, 0, 0, 1]))
    with pytest.raises(ValueError, match=r"corrupt\.bin': event 3 has address \(x=200, y=3\) outside the 34x34"):
        read_nmnist(corrupt)


def test_frames_count_events_per_window_polarity_and_pixel() -> None:
    # t0 = 100 us; window 1 ms => bins [100,1100), [1100,2100), ...
    ev = Events(
        x=np.array([0, 0, 3, 3, 5, 2]),
        y=np.array([1, 1, 2, 2, 4, 0]),
        p=np.array([1, 1, 0, 1, 0, 0]),
        t=np.array([100, 900, 1099, 1100, 2500, 3150]),
    )
    frames = events_to_frames(ev, sensor_size=(6, 5), time_window=1e-3)
    # span 3050 us: floor((3050-1000)/1000)+1 = 3 complete windows (tonic's default)
    assert frames.shape == (3, 2, 5, 6)
    assert frames[0, 1, 1, 0] == 2 and frames[0, 0, 2, 3] == 1
    assert frames[1, 1, 2, 3] == 1 and frames[2, 0, 4, 5] == 1
    assert frames.sum() == 5  # the event at 3150 us lies in the dropped incomplete window
    full = events_to_frames(ev, sensor_size=(6, 5), time_window=1e-3, include_incomplete=True)
    assert full.shape[0] == 4 and full.sum() == 6 and full[3, 0, 0, 2] == 1


def test_frames_reject_bad_arguments() -> None:
    ev = Events(x=np.array([0]), y=np.array([0]), p=np.array([0]), t=np.array([0]))
    with pytest.raises(ValueError, match="time_window"):
        events_to_frames(ev, time_window=0.0)
    empty = Events(*(np.array([], dtype=np.int64) for _ in range(4)))
    with pytest.raises(ValueError, match="events is empty"):
        events_to_frames(empty)


def test_label_list(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("#sample #class\n60001\t7\n60002\t2\n")
    assert read_label_list(path) == {60001: 7, 60002: 2}
    path.write_text("60001 7 extra\n")
    with pytest.raises(ValueError, match="line 1"):
        read_label_list(path)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/nmnist_small is absent")
def test_real_recording_decodes_to_a_plausible_saccade_recording() -> None:
    ev = read_nmnist(DATA / "60001.bs2")
    assert 1000 < ev.t.size < 8000
    assert ev.x.max() <= 33 and ev.y.max() <= 33 and set(ev.p.tolist()) == {0, 1}
    assert 250_000 < int(ev.t.max() - ev.t.min()) < 400_000  # three saccades, about 0.3 s
    frames = events_to_frames(ev)
    assert frames.dtype == torch.float32 and frames.shape[1:] == (2, 34, 34)
    assert 250 <= frames.shape[0] <= 400
