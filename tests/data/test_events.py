"""Frame binning of event arrays and label lists (the N-MNIST reader: tests/events/test_formats.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from axonal.data.events import events_to_frames, read_label_list
from axonal.events import EVENT_DTYPE, empty_events, make_events, read_nmnist

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nmnist_small"


def test_frames_count_events_per_window_polarity_and_pixel() -> None:
    # t0 = 100 us; window 1 ms => bins [100,1100), [1100,2100), ...
    ev = make_events(
        x=[0, 0, 3, 3, 5, 2],
        y=[1, 1, 2, 2, 4, 0],
        t=[100, 900, 1099, 1100, 2500, 3150],
        p=[1, 1, 0, 1, 0, 0],
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
    ev = make_events(x=[0], y=[0], t=[0], p=[0])
    with pytest.raises(ValueError, match="time_window"):
        events_to_frames(ev, time_window=0.0)
    with pytest.raises(ValueError, match="events is empty"):
        events_to_frames(empty_events(0))
    with pytest.raises(TypeError, match=r"events must be a structured numpy array with fields x, y, t, p"):
        events_to_frames((np.array([0]), np.array([0]), np.array([0]), np.array([0])))
    bad = ev.copy()
    bad["p"] = 2  # the int8 field holds it; a two-polarity sensor does not
    with pytest.raises(ValueError, match=r"events.p must be in \[0, 1\] for sensor \(34, 34, 2\), got values in \[2, 2\]"):
        events_to_frames(bad)


def test_frames_take_tonic_style_arrays_and_one_polarity_sensors() -> None:
    tonic = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    tonic["x"], tonic["y"], tonic["t"], tonic["p"] = [1, 2, 3], [0, 1, 2], [0, 500, 1500], [True, False, True]
    frames = events_to_frames(tonic, sensor_size=(4, 3), time_window=1e-3, include_incomplete=True)
    assert frames.shape == (2, 2, 3, 4) and frames[0, 1, 0, 1] == 1 and frames[0, 0, 1, 2] == 1 and frames[1, 1, 2, 3] == 1
    mono = make_events(x=[0, 1], y=[0, 0], t=[0, 10], p=0)
    assert events_to_frames(mono, sensor_size=(2, 1, 1), time_window=1.0, include_incomplete=True).shape == (1, 1, 1, 2)
    assert mono.dtype == EVENT_DTYPE


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
    assert 1000 < ev.size < 8000
    assert ev["x"].max() <= 33 and ev["y"].max() <= 33 and set(ev["p"].tolist()) == {0, 1}
    assert 250_000 < int(ev["t"].max() - ev["t"].min()) < 400_000  # three saccades, about 0.3 s
    frames = events_to_frames(ev)
    assert frames.dtype == torch.float32 and frames.shape[1:] == (2, 34, 34)
    assert 250 <= frames.shape[0] <= 400
