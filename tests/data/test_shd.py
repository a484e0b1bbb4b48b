"""SHD/SSC reader on small HDF5 files written here in the published layout, its refusals,
``shd_to_frames`` against a plain loop, and the download path served locally."""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import axonal.data.limits as limits
import axonal.data.shd as shd
from axonal.data import read_shd, shd_to_frames
from axonal.events import EVENT_DTYPE, make_events
from axonal.errors import FileFormatError, ResourceLimitError

h5py = pytest.importorskip("h5py")

KEYS = [b"null", b"eins", b"zero", b"one"]


def sample_spikes(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 0.9, n)).astype(np.float32)
    units = rng.integers(0, 700, n).astype(np.uint16)
    return times, units


def write_shd(
    path: Path,
    samples: list[tuple[Any, Any]],
    labels: Any,
    speakers: Any | None = None,
    keys: list[bytes] | None = KEYS,
    meta: bool = True,
    time_dtype: str = "float32",
    unit_dtype: str = "uint16",
) -> Path:
    """An HDF5 file in the layout of shd_train.h5 / ssc_test.h5."""
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        times = spikes.create_dataset("times", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
        units = spikes.create_dataset("units", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(unit_dtype)))
        for i, (t, u) in enumerate(samples):
            times[i] = np.asarray(t, dtype=time_dtype)
            units[i] = np.asarray(u, dtype=unit_dtype)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        extra = f.create_group("extra")
        if speakers is not None:
            extra.create_dataset("speaker", data=np.asarray(speakers, dtype=np.uint16))
        if keys is not None:
            extra.create_dataset("keys", data=np.array(keys))
        if meta:
            info = extra.create_group("meta_info")
            info.create_dataset("gender", data=np.array([b"female", b"male", b"female"]))
            info.create_dataset("age", data=np.array([23, 41, 30], dtype=np.uint16))
            info.create_dataset("body_height", data=np.array([165.0, 182.0, 171.5]))
    return path


@pytest.fixture()
def good(tmp_path: Path) -> tuple[Path, list[tuple[np.ndarray, np.ndarray]]]:
    samples = [sample_spikes(i, n) for i, n in enumerate([50, 0, 7, 300])]
    return write_shd(tmp_path / "shd_test.h5", samples, [0, 3, 2, 1], [2, 0, 1, 2]), samples


def test_reads_the_published_layout(good: tuple[Path, list[tuple[np.ndarray, np.ndarray]]]) -> None:
    path, samples = good
    data = read_shd(path)
    assert len(data) == 4 and data.n_channels == 700 and data.path == path
    assert data.labels.tolist() == [0, 3, 2, 1] and data.labels.dtype == torch.int64
    assert data.speakers is not None and data.speakers.tolist() == [2, 0, 1, 2]
    assert data.keys == ("null", "eins", "zero", "one")
    assert data.speaker_info["gender"].tolist() == ["female", "male", "female"]
    assert data.speaker_info["age"].tolist() == [23, 41, 30]
    assert data.speaker_info["body_height"].tolist() == [165.0, 182.0, 171.5]
    for ev, (times, units) in zip(data.events, samples):
        assert isinstance(ev, np.ndarray) and ev.dtype == EVENT_DTYPE and ev.ndim == 1
        np.testing.assert_array_equal(ev["x"], units.astype(np.int64))
        np.testing.assert_array_equal(ev["t"], np.rint(times.astype(np.float64) * 1e6).astype(np.int64))
        assert not ev["y"].any() and ev["p"].all()
    assert data.events[1].size == 0
    first_two = read_shd(path, max_samples=2)
    assert len(first_two) == 2 and first_two.labels.tolist() == [0, 3]
    np.testing.assert_array_equal(first_two.events[0]["t"], data.events[0]["t"])
    layout_only = read_shd(path, max_samples=0)
    assert len(layout_only) == 0 and layout_only.keys == data.keys
    assert len(read_shd(path, max_samples=99)) == 4


@pytest.mark.parametrize("time_dtype", ["float16", "float64"])
def test_other_stored_types_and_an_ssc_file_without_speakers(tmp_path: Path, time_dtype: str) -> None:
    times, units = np.array([0.5, 0.25, 0.25, 0.125]), np.array([3, 9, 1, 699])
    path = write_shd(tmp_path / "ssc_valid.h5", [(times, units)], [1], None, keys=None, meta=False,
                     time_dtype=time_dtype, unit_dtype="int32")
    data = read_shd(path)
    assert data.speakers is None and data.keys == () and data.speaker_info == {}
    ev = data.events[0]
    # sorted by time, equal times kept in the file's order, units following their times
    assert ev["t"].tolist() == [125_000, 250_000, 250_000, 500_000] and ev["x"].tolist() == [699, 9, 1, 3]


def _bad(tmp_path: Path, **changes: Any) -> Path:
    args: dict[str, Any] = {"samples": [sample_spikes(0, 5), sample_spikes(1, 4)], "labels": [0, 1], "speakers": [0, 1]}
    args.update(changes)
    return write_shd(tmp_path / "bad.h5", **args)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"samples": [sample_spikes(0, 5), ([0.1, 0.2, 0.3], [1, 2])]}, r"sample 1 has 3 spike times but 2 spike units"),
        ({"samples": [sample_spikes(0, 5), ([0.1, 0.2], [1, 700])]}, r"sample 1: spike 1 has unit 700; units are channels 0..699"),
        ({"samples": [([0.1, np.nan], [1, 2]), sample_spikes(1, 4)]}, r"sample 0: spike 1 has time nan; spike times must be finite"),
        ({"samples": [([0.1, -0.2], [1, 2]), sample_spikes(1, 4)]}, r"sample 0: spike 1 has time -0.200000003 s; spike times must lie in"),
        ({"samples": [([1e12, 0.2], [1, 2]), sample_spikes(1, 4)]}, r"sample 0: spike 0 has time 9.99999996e\+11 s; spike times must lie in 0..9.01e\+09 s"),
        ({"samples": [([0.1], [-1]), sample_spikes(1, 4)], "unit_dtype": "int16"}, r"sample 0: spike 0 has unit -1"),
        ({"labels": [0, 1, 2]}, r"dataset 'labels' has shape \(3,\); expected \[2\]"),
        ({"speakers": [0]}, r"dataset 'extra/speaker' has shape \(1,\); expected \[2\]"),
        ({"labels": [0, 4]}, r"sample 1 has label 4 but extra/keys names 4 classes"),
        ({"unit_dtype": "float32"}, r"'spikes/units' holds variable-length arrays of float32; expected integers"),
        ({"time_dtype": "int32"}, r"'spikes/times' holds variable-length arrays of int32; expected floats"),
    ],
    ids=["lengths", "unit-700", "nan-time", "negative-time", "huge-time", "negative-unit", "labels-count",
         "speakers-count", "label-beyond-keys", "float-units", "int-times"],
)
def test_bad_contents_are_refused(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    path = _bad(tmp_path, **changes)
    with pytest.raises(FileFormatError, match=rf"SHD file '.*bad.h5': (dataset )?{message}"):
        read_shd(path)


@pytest.mark.parametrize("edit", ["no-labels", "no-units", "labels-2d", "labels-float", "labels-link", "times-fixed",
                                  "negative-label", "keys-numbers", "times-external"])
def test_bad_structure_is_refused(tmp_path: Path, edit: str) -> None:
    path = _bad(tmp_path)
    with h5py.File(path, "r+") as f:
        if edit == "no-labels":
            del f["labels"]
        elif edit == "no-units":
            del f["spikes/units"]
        elif edit == "labels-2d":
            del f["labels"]
            f["labels"] = np.zeros((2, 1), np.uint16)
        elif edit == "labels-float":
            del f["labels"]
            f["labels"] = np.zeros(2, np.float32)
        elif edit == "labels-link":
            f["real_labels"] = f["labels"][()]
            del f["labels"]
            f["labels"] = h5py.SoftLink("/real_labels")
        elif edit == "times-fixed":
            del f["spikes/times"]
            f["spikes/times"] = np.zeros((2, 5), np.float32)
        elif edit == "negative-label":
            del f["labels"]
            f["labels"] = np.array([0, -1], np.int16)
        elif edit == "keys-numbers":
            del f["extra/keys"]
            f["extra/keys"] = np.arange(4)
        elif edit == "times-external":
            del f["labels"]
            (tmp_path / "raw.bin").write_bytes(np.zeros(2, np.uint16).tobytes())
            f.create_dataset("labels", shape=(2,), dtype=np.uint16, external=[(str(tmp_path / "raw.bin"), 0, 4)])
    expected = {
        "no-labels": r"it has no 'labels' dataset",
        "no-units": r"it has no 'spikes/units' dataset",
        "labels-2d": r"'labels' has shape \(2, 1\); expected \[2\]",
        "labels-float": r"'labels' has type float32; expected integers",
        "labels-link": r"'labels' is a SoftLink; links are not followed",
        "times-fixed": r"'spikes/times' has type float32 and shape \(2, 5\); expected a 1-D dataset of variable-length",
        "negative-label": r"'labels'\[1\] is -1; expected indices >= 0",
        "keys-numbers": r"'extra/keys' has type int64; expected strings",
        "times-external": r"'labels' keeps its data outside the file",
    }[edit]
    with pytest.raises(FileFormatError, match=expected):
        read_shd(path)


def test_not_hdf5_missing_file_bad_arguments_and_no_h5py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(FileFormatError, match=r"junk.h5' is not a readable SHD/SSC file \(OSError"):
        read_shd(junk)
    with pytest.raises(ValueError, match="does not exist"):
        read_shd(tmp_path / "absent.h5")
    with pytest.raises(ValueError, match="max_samples must be None or an int >= 0, got -1"):
        read_shd(junk, max_samples=-1)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        read_shd(junk)


def test_memory_is_checked_before_the_spikes_are_held(good: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = good
    monkeypatch.setattr(limits, "available_memory", lambda: 2_000)
    with pytest.raises(ResourceLimitError, match=r"SHD file .*: the spikes of 4 samples \(at most \d+ spikes\) needs"):
        read_shd(path)
    with pytest.raises(ResourceLimitError, match=r"the 57 spikes of samples 0..2 needs"):
        read_shd(path, max_samples=3)


def test_frames_count_spikes_per_step_and_channel(good: tuple[Path, Any]) -> None:
    data = read_shd(good[0])
    dt = 4e-3
    frames = shd_to_frames(data.events, dt)
    latest = max(int(ev["t"].max()) for ev in data.events if ev.size)
    assert frames.dtype == torch.float32 and frames.shape == (latest // 4000 + 1, 4, 700)
    expect = torch.zeros_like(frames)
    for b, ev in enumerate(data.events):
        for x, t in zip(ev["x"].tolist(), ev["t"].tolist()):
            expect[t // 4000, b, x] += 1
    assert torch.equal(frames, expect)
    assert frames.sum().item() == sum(ev.size for ev in data.events)
    short = shd_to_frames(data.events, dt, n_steps=10)
    assert short.shape == (10, 4, 700) and torch.equal(short, expect[:10])
    long = shd_to_frames(data.events[1:2], dt, n_steps=3)  # an empty sample: zeros
    assert long.shape == (3, 1, 700) and not long.any()
    assert shd_to_frames(data.events[1:2], dt).shape == (1, 1, 700)


def test_frames_refuse_bad_arguments() -> None:
    ev = make_events(x=[1, 5], y=0, t=[0, 2500], p=1)
    with pytest.raises(ValueError, match=r"events_list\[0\].x\[1\] = 5 is outside channels 0..3"):
        shd_to_frames([ev], 1e-3, n_channels=4)
    back = ev.copy()
    back["t"] = [-1, 0]  # the record holds it; make_events would refuse it
    with pytest.raises(ValueError, match=r"events_list\[1\].t\[0\] = -1 us is negative"):
        shd_to_frames([ev, back], 1e-3)
    with pytest.raises(TypeError, match=r"events_list\[0\] must be a structured numpy array with fields x, y, t, p"):
        shd_to_frames([(ev["x"], ev["y"], ev["p"], ev["t"])], 1e-3)
    with pytest.raises(ValueError, match=r"events_list\[0\] lacks the event field\(s\) p"):
        shd_to_frames([np.zeros(2, dtype=[("x", "i8"), ("y", "i8"), ("t", "i8")])], 1e-3)
    with pytest.raises(ValueError, match="dt must be finite and > 0 s"):
        shd_to_frames([ev], 0.0)
    with pytest.raises(ValueError, match="events_list is empty"):
        shd_to_frames([], 1e-3)
    with pytest.raises(TypeError, match="events_list must be a sequence of event arrays \\(one per sample\\), got one event array"):
        shd_to_frames(ev, 1e-3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_steps must be None or an int >= 1, got 0"):
        shd_to_frames([ev], 1e-3, n_steps=0)
    with pytest.raises(ResourceLimitError, match=r"frames \[2500000001, 1, 700\] \(float32\) needs"):
        shd_to_frames([ev], 1e-12)
    late = make_events(x=[1, 5], y=0, t=[0, 2**53], p=1)  # step 9e21 at dt = 1 ps: past int64, refused rather than wrapped
    with pytest.raises(ResourceLimitError, match=r"9.007e\+21 steps of 1e-12 s x 1 samples x 700 channels is far too many"):
        shd_to_frames([late], 1e-12)
    kept = shd_to_frames([late], 1e-12, n_steps=2)  # with T given, later spikes are dropped
    assert kept.shape == (2, 1, 700) and kept.sum().item() == 1 and kept[0, 0, 1].item() == 1


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def test_download_checks_the_published_md5_then_the_layout(good: tuple[Path, Any], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The download code against a local server stand-in (no network)."""
    gz = gzip.compress(good[0].read_bytes())
    served: dict[str, bytes] = {
        shd.SHD_URL + "md5sums.txt": f"{hashlib.md5(gz).hexdigest()}  shd_test.h5.gz\n0123  ssc_train.h5.gz\n".encode(),
        shd.SHD_URL + "shd_test.h5.gz": gz,
        shd.SHD_URL + "ssc_train.h5.gz": gz,
        shd.SHD_URL + "shd_train.h5.gz": gz,
    }
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=0: _Response(served[url]))
    out = shd.download_shd(tmp_path / "dl", "shd", "test")
    assert out == tmp_path / "dl" / "shd_test.h5" and out.read_bytes() == good[0].read_bytes()
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["shd_test.h5"]  # no temporaries left
    with pytest.raises(FileFormatError, match=r"ssc_train.h5.gz: MD5 [0-9a-f]{32}, expected 0123"):
        shd.download_shd(tmp_path / "dl", "ssc", "train")
    with pytest.raises(FileFormatError, match="md5sums.txt does not list shd_train.h5.gz"):
        shd.download_shd(tmp_path / "dl", "shd", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        shd.download_shd(tmp_path / "dl", "shd", "valid")
    with pytest.raises(ValueError, match="subset must be 'shd' or 'ssc'"):
        shd.download_shd(tmp_path / "dl", "hd", "test")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["shd_test.h5"]
