"""FSDD loader: scanning, loading, the splits, the error cases (on small generated WAV files
with FSDD's names), the download path (served from a local zip), and the real folder when present."""

from __future__ import annotations

import io
import math
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

import axonal.data.fsdd as fsdd
from axonal.audio import write_wav
from axonal.data import (
    FSDD_SPEAKERS,
    FsddItem,
    default_fsdd_root,
    load_fsdd,
    loso_folds,
    official_split,
    scan_fsdd,
    validation_split,
)
from axonal.errors import FileFormatError

REAL = default_fsdd_root() or Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd"
"""The real folder: $AXONAL_DATA/fsdd or ../shared/data/fsdd (beside the working directory or
the repository), as default_fsdd_root finds it."""
SPEAKERS = ("jackson", "theo", "zoe")  # two of FSDD's speakers and one it does not have
TAKES = (0, 3, 5, 7, 12)


def _tone(digit: int, speaker: int, take: int) -> torch.Tensor:
    """A short tone whose length and pitch encode the recording, so each file is recognisable."""
    n = 400 + 10 * digit + 100 * speaker + take
    t = torch.arange(n, dtype=torch.float64) / 8000
    return 0.5 * torch.sin(2 * math.pi * (200 + 50 * digit) * t)


def make_fsdd(root: Path, digits: range = range(3), speakers: tuple[str, ...] = SPEAKERS, takes: tuple[int, ...] = TAKES) -> Path:
    rec = root / "recordings"
    rec.mkdir(parents=True)
    for s, name in enumerate(speakers):
        for d in digits:
            for k in takes:
                write_wav(rec / f"{d}_{name}_{k}.wav", _tone(d, s, k), 8000)
    (rec / "README.txt").write_text("not a recording")
    (rec / "._0_jackson_0.wav").write_bytes(b"\0\5\x16\7 AppleDouble resource fork")
    return root


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fsdd(tmp_path_factory.mktemp("fsdd"))


def test_scan_reads_names_skips_foreign_files_and_orders_speakers(small: Path) -> None:
    items = scan_fsdd(small)
    assert len(items) == 3 * 3 * len(TAKES)
    assert [i.speaker for i in items[:: 3 * len(TAKES)]] == ["jackson", "theo", "zoe"]  # FSDD order, then others
    first = items[0]
    assert first == FsddItem(small / "recordings" / "0_jackson_0.wav", 0, "jackson", 0)
    assert [(i.digit, i.take) for i in items[: len(TAKES) + 1]] == [(0, k) for k in TAKES] + [(1, 0)]
    assert scan_fsdd(small / "recordings") == items  # the recordings folder itself works too


def test_load_matches_what_was_written(small: Path) -> None:
    data = load_fsdd(small)
    n = 3 * 3 * len(TAKES)
    assert len(data) == n and data.sample_rate == 8000
    assert data.speakers == FSDD_SPEAKERS + ("zoe",)
    assert data.labels.dtype == data.speaker_ids.dtype == data.takes.dtype == torch.int64
    assert data.labels.shape == data.speaker_ids.shape == data.takes.shape == (n,)
    for i in (0, 17, n - 1):
        item = fsdd._parse_name(data.paths[i])
        assert int(data.labels[i]) == item.digit and int(data.takes[i]) == item.take
        assert data.speakers[int(data.speaker_ids[i])] == item.speaker
        s = SPEAKERS.index(item.speaker)
        w = data.waveforms[i]
        assert w.dtype == torch.float32 and w.dim() == 1
        expect = _tone(item.digit, s, item.take).float()
        assert w.shape == expect.shape and torch.allclose(w, expect, atol=1 / 32768)  # 16-bit quantisation
    assert torch.allclose(data.durations[:1], torch.tensor([400 / 8000], dtype=torch.float64))
    part = data.subset(torch.tensor([2, 0]))
    assert part.paths == (data.paths[2], data.paths[0]) and torch.equal(part.labels, data.labels[[2, 0]])
    assert part.speakers == data.speakers
    # a chosen list of items loads just those, in that order
    items = [i for i in scan_fsdd(small) if i.speaker == "theo" and i.digit == 2]
    some = load_fsdd(items=items)
    assert some.paths == tuple(i.path for i in items)
    assert set(some.speaker_ids.tolist()) == {FSDD_SPEAKERS.index("theo")}  # ids stay those of the full set


def test_official_split_holds_out_takes_0_to_4(small: Path) -> None:
    data = load_fsdd(small)
    train, test = official_split(data)
    assert set(data.takes[test].tolist()) == {0, 3} and set(data.takes[train].tolist()) == {5, 7, 12}
    assert sorted(train.tolist() + test.tolist()) == list(range(len(data)))
    fit, val = validation_split(data)
    assert set(data.takes[val].tolist()) == {5, 7} and set(data.takes[fit].tolist()) == {12}
    assert sorted(fit.tolist() + val.tolist()) == sorted(train.tolist())
    only_train = data.subset(train)
    with pytest.raises(ValueError, match=r"0 test recordings \(takes 0-4\)"):
        official_split(only_train)
    with pytest.raises(ValueError, match="takes must be a range"):
        validation_split(data, takes=[5, 6])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"0 to validate \(takes 40-49\)"):
        validation_split(data, takes=range(40, 50))


def test_loso_folds_leave_each_speaker_out(small: Path) -> None:
    data = load_fsdd(small)
    folds = loso_folds(data)
    assert [f.speaker for f in folds] == ["jackson", "theo", "zoe"]
    for f in folds:
        sid = data.speakers.index(f.speaker)
        assert set(data.speaker_ids[f.test].tolist()) == {sid}
        assert sid not in set(data.speaker_ids[f.train].tolist())
        assert sorted(f.train.tolist() + f.test.tolist()) == list(range(len(data)))
        fit, val = validation_split(data, f.train)  # takes 5-9 of the other speakers
        assert set(data.takes[val].tolist()) == {5, 7} and sid not in set(data.speaker_ids[val].tolist())
        assert sorted(fit.tolist() + val.tolist()) == sorted(f.train.tolist())
    one = data.subset(folds[0].test)
    with pytest.raises(ValueError, match=r"at least two speakers, got \['jackson'\]"):
        loso_folds(one)


@pytest.mark.parametrize(
    "name",
    ["7_jackson.wav", "10_jackson_1.wav", "x_jackson_1.wav", "7_jackson_01.wav", "7__1.wav", "7_jack_son_1.wav"],
)
def test_a_misnamed_recording_is_refused(tmp_path: Path, name: str) -> None:
    root = make_fsdd(tmp_path, digits=range(1), speakers=("jackson",), takes=(0,))
    write_wav(root / "recordings" / name, torch.zeros(10), 8000)
    with pytest.raises(FileFormatError, match=rf"FSDD recording .*{name}.*'{{digit}}_{{speaker}}_{{take}}.wav'"):
        scan_fsdd(root)


def test_missing_or_empty_folders_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist or is not a folder"):
        scan_fsdd(tmp_path / "nowhere")
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"holds no recordings \({digit}_{speaker}_{take}.wav files\)"):
        scan_fsdd(tmp_path)
    with pytest.raises(ValueError, match="either root or items"):
        load_fsdd(tmp_path, items=[])
    with pytest.raises(ValueError, match="items is empty"):
        load_fsdd(items=[])
    with pytest.raises(ValueError, match="items must be FsddItem records"):
        load_fsdd(items=["0_jackson_0.wav"])  # type: ignore[list-item]


def test_recordings_that_are_not_fsdd_audio(tmp_path: Path) -> None:
    root = make_fsdd(tmp_path, digits=range(2), speakers=("jackson",), takes=(0,))
    rec = root / "recordings"
    write_wav(rec / "1_jackson_0.wav", torch.zeros(50, 2), 8000)
    with pytest.raises(FileFormatError, match="1_jackson_0.wav' has 2 channels; FSDD recordings are mono"):
        load_fsdd(root)
    write_wav(rec / "1_jackson_0.wav", torch.zeros(50), 16000)
    with pytest.raises(FileFormatError, match="1_jackson_0.wav' is sampled at 16000 Hz, .* at 8000 Hz"):
        load_fsdd(root)
    write_wav(rec / "1_jackson_0.wav", torch.zeros(0), 8000)
    with pytest.raises(FileFormatError, match="1_jackson_0.wav' holds no samples"):
        load_fsdd(root)
    (rec / "1_jackson_0.wav").write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(FileFormatError, match="1_jackson_0.wav' is not a readable WAV file"):
        load_fsdd(root)


def test_default_root_follows_axonal_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_fsdd(tmp_path / "fsdd", digits=range(1), speakers=("theo",), takes=(0,))
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path))
    assert default_fsdd_root() == tmp_path / "fsdd"
    assert len(scan_fsdd()) == 1
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)  # ../shared/data/fsdd from here does not exist either
    if not (REAL / "recordings").is_dir():
        assert default_fsdd_root() is None
        with pytest.raises(FileNotFoundError, match=r"no FSDD folder found: set \$AXONAL_DATA"):
            scan_fsdd()


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _archive(src: Path, extra: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    top = f"free-spoken-digit-dataset-{fsdd.FSDD_COMMIT}"
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/README.md", b"CC BY-SA 4.0")
        for path in sorted((src / "recordings").glob("[0-9]*.wav")):
            zf.writestr(f"{top}/recordings/{path.name}", path.read_bytes())
        for name, data in extra.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_download_extracts_only_recordings_and_checks_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download code, served from a zip built here (no network): only
    ``<top>/recordings/<fsdd name>`` members are written, the checksum gates the result."""
    src = make_fsdd(tmp_path / "src", digits=range(2), speakers=("lucas",), takes=(0, 1))
    payload = _archive(src, {"../evil.wav": b"x", "top/recordings/../../0_lucas_9.wav": b"x", "top/other/0_lucas_8.wav": b"x"})
    urls: list[str] = []

    def fake_urlopen(url: str, timeout: float = 0) -> _Response:
        urls.append(url)
        return _Response(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(FileFormatError, match="the recordings' checksum is .* expected a2e8a660"):
        fsdd.download_fsdd(tmp_path / "out")
    assert urls == [fsdd.FSDD_URL] and not (tmp_path / "out" / "recordings").exists()
    monkeypatch.setattr(fsdd, "FSDD_RECORDINGS_SHA256", fsdd.fsdd_checksum(src))
    dest = fsdd.download_fsdd(tmp_path / "out")
    names = sorted(p.name for p in (dest / "recordings").iterdir())
    assert names == ["0_lucas_0.wav", "0_lucas_1.wav", "1_lucas_0.wav", "1_lucas_1.wav"]
    assert (dest / "README.md").read_bytes() == b"CC BY-SA 4.0"
    assert not (tmp_path / "evil.wav").exists() and sorted(p.name for p in dest.iterdir()) == ["README.md", "recordings"]
    assert fsdd.download_fsdd(dest) == dest and len(urls) == 2  # already there: no second download
    (dest / "recordings" / "0_lucas_0.wav").write_bytes(b"changed")
    with pytest.raises(FileExistsError, match="does not hold FSDD"):
        fsdd.download_fsdd(dest)
    payload = b"not a zip"
    with pytest.raises(FileFormatError, match="not a readable zip archive"):
        fsdd.download_fsdd(tmp_path / "out2")


@pytest.mark.skipif(not (REAL / "recordings").is_dir(), reason="FSDD is absent ($AXONAL_DATA/fsdd, ../shared/data/fsdd)")
def test_the_real_dataset() -> None:
    items = scan_fsdd(REAL)
    assert len(items) == 3000
    assert fsdd.fsdd_checksum(REAL) == fsdd.FSDD_RECORDINGS_SHA256
    data = load_fsdd(items=[i for i in items if i.take in (0, 5, 9, 20)])
    assert len(data) == 6 * 10 * 4 and data.sample_rate == 8000 and data.speakers == FSDD_SPEAKERS
    assert torch.bincount(data.speaker_ids).tolist() == [40] * 6
    assert 0.14 < float(data.durations.min()) and float(data.durations.max()) < 2.3
    assert all(float(w.abs().max()) <= 1.0 for w in data.waveforms)
    train, test = official_split(data)
    assert len(test) == 60 and len(train) == 180
    fit, val = validation_split(data)
    assert set(data.takes[val].tolist()) == {5, 9} and set(data.takes[fit].tolist()) == {20}
    assert [len(f.test) for f in loso_folds(data)] == [40] * 6
