"""The Free Spoken Digit Dataset (FSDD): spoken digits 0-9, 8 kHz mono 16-bit WAV recordings.

FSDD (Zohar Jackson et al., CC BY-SA 4.0) holds 3,000 recordings at the pinned commit
:data:`FSDD_COMMIT`: 6 speakers x 10 digits x 50 takes, named ``{digit}_{speaker}_{take}.wav``
(``7_jackson_32.wav``) in a ``recordings/`` folder. Nothing here downloads by itself:

* :func:`default_fsdd_root` finds a local copy (``$AXONAL_DATA/fsdd``, then
  ``../shared/data/fsdd`` beside the working directory and beside the repository);
* :func:`scan_fsdd` lists and validates the file names, :func:`load_fsdd` reads the audio
  (with :func:`axonal.audio.read_wav`) into an :class:`FsddData`;
* the splits return index tensors into an :class:`FsddData`: :func:`official_split` (takes 0-4
  are the test set, as the FSDD README says), :func:`loso_folds` (leave one speaker out) and
  :func:`validation_split` (takes 5-9 of a training set held out, to choose hyperparameters
  without touching the test takes);
* :func:`download_fsdd` fetches the GitHub archive of the pinned commit and checks the
  recordings against :data:`FSDD_RECORDINGS_SHA256` (:func:`fsdd_checksum`).

Scanning rules: files whose name starts with ``.`` and files that do not end in ``.wav``
(README, ``.DS_Store``) are skipped; every other ``.wav`` file must be named
``{digit}_{speaker}_{take}.wav`` (digit 0-9, a speaker of letters, digits and ``-`` starting
with a letter, a take without leading zeros) or the scan raises
:class:`~axonal.errors.FileFormatError` naming it: a misnamed recording in the folder is far
more likely a mistake than something to drop silently.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.data.limits import check_allocation, format_bytes
from axonal.errors import FileFormatError

__all__ = [
    "FSDD_COMMIT",
    "FSDD_RATE",
    "FSDD_RECORDINGS_SHA256",
    "FSDD_SPEAKERS",
    "FSDD_URL",
    "FsddData",
    "FsddItem",
    "LosoFold",
    "default_fsdd_root",
    "download_fsdd",
    "fsdd_checksum",
    "load_fsdd",
    "loso_folds",
    "official_split",
    "scan_fsdd",
    "validation_split",
]

FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
"""The six speakers of FSDD at :data:`FSDD_COMMIT`, in alphabetical order: speaker ids index
this tuple (other speakers found in a folder come after them, sorted)."""

FSDD_RATE = 8000
"""FSDD's sample rate (Hz)."""

FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
"""The upstream commit (github.com/Jakobovski/free-spoken-digit-dataset, 2024-05-02) the
project's copy and :func:`download_fsdd` use."""

FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip"
"""The GitHub archive of :data:`FSDD_COMMIT`."""

FSDD_RECORDINGS_SHA256 = "a2e8a660492f28d9eed6270b290d26cbc5c81d6077ce87d3c0ad5adf4d4ee696"
""":func:`fsdd_checksum` of the 3,000 recordings at :data:`FSDD_COMMIT` (GitHub's archive
zips are not byte-stable, so the recordings are checked rather than the archive)."""

TEST_TAKES = range(0, 5)
"""Takes of the official test set (FSDD README); every other take is training."""

VALIDATION_TAKES = range(5, 10)
"""Takes :func:`validation_split` holds out of a training set by default."""

_NAME = re.compile(r"([0-9])_([A-Za-z][A-Za-z0-9-]*)_(0|[1-9][0-9]{0,5})\.wav")
_MAX_ARCHIVE_BYTES = 512 * 2**20
"""The most :func:`download_fsdd` accepts to download (the archive is tens of MB)."""
_MAX_RECORDING_BYTES = 2**20
"""The largest recording :func:`download_fsdd` extracts (FSDD's largest is 36 KB)."""


@dataclass(frozen=True)
class FsddItem:
    """One recording: its file and what its name says."""

    path: Path
    digit: int
    speaker: str
    take: int


@dataclass(frozen=True)
class FsddData:
    """Loaded FSDD recordings, in the order of the items they were loaded from.

    Attributes:
        waveforms: one float32 tensor ``[T_i]`` per recording, samples in ``[-1, 1]``.
        labels: ``[N]`` int64, the spoken digit 0-9.
        speaker_ids: ``[N]`` int64, an index into ``speakers``.
        takes: ``[N]`` int64, the take (repetition) number 0-49.
        speakers: speaker names; :data:`FSDD_SPEAKERS` first, then any others found, sorted.
        sample_rate: Hz, shared by every recording.
        paths: the file of each recording.
    """

    waveforms: list[Tensor]
    labels: Tensor
    speaker_ids: Tensor
    takes: Tensor
    speakers: tuple[str, ...]
    sample_rate: int
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.waveforms)

    @property
    def durations(self) -> Tensor:
        """``[N]`` float64, each recording's length in seconds."""
        return torch.tensor([w.shape[0] / self.sample_rate for w in self.waveforms], dtype=torch.float64)

    def subset(self, indices: Tensor | Sequence[int]) -> FsddData:
        """The recordings at ``indices`` (e.g. one side of a split), speakers kept as they are."""
        idx = _indices(indices, len(self))
        rows = idx.tolist()
        return FsddData(
            waveforms=[self.waveforms[i] for i in rows],
            labels=self.labels[idx],
            speaker_ids=self.speaker_ids[idx],
            takes=self.takes[idx],
            speakers=self.speakers,
            sample_rate=self.sample_rate,
            paths=tuple(self.paths[i] for i in rows),
        )


class LosoFold(NamedTuple):
    """One leave-one-speaker-out fold: the held-out speaker and index tensors into the data."""

    speaker: str
    train: Tensor
    test: Tensor


def _indices(indices: Tensor | Sequence[int], n: int) -> Tensor:
    idx = torch.as_tensor(indices)
    if idx.dim() != 1 or (idx.numel() and (idx.dtype.is_floating_point or idx.dtype == torch.bool)):
        raise ValueError(f"indices must be a 1-D sequence of ints, got {idx.dtype} of shape {tuple(idx.shape)}")
    idx = idx.to(torch.int64)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"indices must lie in 0..{n - 1}, got {int(idx.min())}..{int(idx.max())}")
    return idx


def _recordings_dir(root: Path) -> Path:
    """``root/recordings`` when it exists, else ``root`` itself (the recordings folder)."""
    inner = root / "recordings"
    return inner if inner.is_dir() else root


def default_fsdd_root() -> Path | None:
    """The first FSDD folder (one holding ``recordings/``) among ``$AXONAL_DATA/fsdd``,
    ``<cwd>/../shared/data/fsdd`` and ``<repository>/../shared/data/fsdd``; ``None`` when none
    exists."""
    candidates: list[Path] = []
    env = os.environ.get("AXONAL_DATA")
    if env:
        candidates.append(Path(env) / "fsdd")
    candidates.append(Path.cwd().parent / "shared" / "data" / "fsdd")
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fsdd")
    for c in candidates:
        if (c / "recordings").is_dir():
            return c
    return None


def _parse_name(path: Path) -> FsddItem:
    m = _NAME.fullmatch(path.name)
    if m is None:
        raise FileFormatError(
            f"FSDD recording {str(path)!r}: the name must be '{{digit}}_{{speaker}}_{{take}}.wav' (digit 0-9, "
            "a speaker name of letters, digits or '-', a take without leading zeros), e.g. '7_jackson_32.wav'"
        )
    return FsddItem(path=path, digit=int(m.group(1)), speaker=m.group(2), take=int(m.group(3)))


def scan_fsdd(root: str | os.PathLike[str] | None = None) -> list[FsddItem]:
    """List the recordings of an FSDD folder, sorted by speaker (:data:`FSDD_SPEAKERS` order,
    others after), digit and take.

    ``root`` is the folder holding ``recordings/`` or the recordings folder itself; ``None``
    means :func:`default_fsdd_root`. Hidden files and files not ending in ``.wav`` are skipped.

    Raises:
        FileNotFoundError: ``root`` is not a folder (or ``None`` and no local copy was found),
            or it holds no ``.wav`` recording.
        FileFormatError: a ``.wav`` file's name is not ``{digit}_{speaker}_{take}.wav``, or two
            files name the same digit, speaker and take.
    """
    if root is None:
        found = default_fsdd_root()
        if found is None:
            raise FileNotFoundError(
                "no FSDD folder found: set $AXONAL_DATA (to a folder holding fsdd/recordings), put the data in "
                "../shared/data/fsdd, pass the folder, or fetch it with axonal.data.fsdd.download_fsdd(dest)"
            )
        root = found
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"FSDD folder {str(base)!r} does not exist or is not a folder")
    folder = _recordings_dir(base)
    items: dict[tuple[int, str, int], FsddItem] = {}
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() != ".wav" or not path.is_file():
            continue
        item = _parse_name(path)
        key = (item.digit, item.speaker, item.take)
        if key in items:
            raise FileFormatError(
                f"FSDD folder {str(folder)!r}: {path.name!r} and {items[key].path.name!r} are both digit "
                f"{item.digit}, speaker {item.speaker!r}, take {item.take}"
            )
        items[key] = item
    if not items:
        raise FileNotFoundError(
            f"FSDD folder {str(folder)!r} holds no recordings ({{digit}}_{{speaker}}_{{take}}.wav files)"
        )
    order = _speaker_order(i.speaker for i in items.values())
    return sorted(items.values(), key=lambda i: (order.index(i.speaker), i.digit, i.take))


def _speaker_order(names: Iterable[str]) -> tuple[str, ...]:
    others = sorted(set(names) - set(FSDD_SPEAKERS))
    return FSDD_SPEAKERS + tuple(others)


def load_fsdd(
    root: str | os.PathLike[str] | None = None, items: Sequence[FsddItem] | None = None
) -> FsddData:
    """Read FSDD recordings into memory.

    Args:
        root: the FSDD folder (see :func:`scan_fsdd`); ``None`` means :func:`default_fsdd_root`.
        items: the recordings to read (e.g. a filtered :func:`scan_fsdd`), instead of ``root``.

    Every recording must be mono, hold at least one sample, and share one sample rate (FSDD
    is 8 kHz; no resampling happens here). The total size is checked against the free memory
    before reading.

    Raises:
        ValueError: both ``root`` and ``items`` given, or ``items`` empty or not
            :class:`FsddItem`.
        FileNotFoundError, FileFormatError: from :func:`scan_fsdd` and
            :func:`axonal.audio.read_wav`; a recording that is not mono, is empty or has
            another sample rate than the first (naming the file).
        ResourceLimitError: the decoded audio would not fit in the free memory.
    """
    if items is None:
        chosen = scan_fsdd(root)
    else:
        if root is not None:
            raise ValueError("pass either root or items to load_fsdd, not both")
        chosen = list(items)
        if not chosen:
            raise ValueError("items is empty: no recording to load")
        bad = [i for i in chosen if not isinstance(i, FsddItem)]
        if bad:
            raise ValueError(f"items must be FsddItem records (from scan_fsdd), got {type(bad[0]).__name__}")
    sizes = []
    for item in chosen:
        try:
            sizes.append(item.path.stat().st_size)
        except OSError as err:
            raise FileNotFoundError(f"FSDD recording {str(item.path)!r} cannot be read: {err}") from None
    total = sum(sizes)
    check_allocation(4 * total, f"decoding {len(chosen)} recordings ({format_bytes(total)} of WAV files)", "load_fsdd")
    # imported here: axonal.audio.wav imports axonal.data.limits, so a module-level import would
    # make importing axonal.audio first run into a half-initialised module
    from axonal.audio.wav import read_wav

    speakers = _speaker_order(i.speaker for i in chosen)
    waveforms: list[Tensor] = []
    rate = 0
    for item in chosen:
        rec = read_wav(item.path)
        if rec.samples.shape[1] != 1:
            raise FileFormatError(
                f"FSDD recording {str(item.path)!r} has {rec.samples.shape[1]} channels; FSDD recordings are mono"
            )
        if rec.samples.shape[0] == 0:
            raise FileFormatError(f"FSDD recording {str(item.path)!r} holds no samples")
        if rate == 0:
            rate = rec.rate
        elif rec.rate != rate:
            raise FileFormatError(
                f"FSDD recording {str(item.path)!r} is sampled at {rec.rate} Hz, {str(chosen[0].path)!r} at "
                f"{rate} Hz; every recording must share one rate (resample them first)"
            )
        waveforms.append(rec.samples[:, 0].contiguous())
    return FsddData(
        waveforms=waveforms,
        labels=torch.tensor([i.digit for i in chosen], dtype=torch.int64),
        speaker_ids=torch.tensor([speakers.index(i.speaker) for i in chosen], dtype=torch.int64),
        takes=torch.tensor([i.take for i in chosen], dtype=torch.int64),
        speakers=speakers,
        sample_rate=rate,
        paths=tuple(i.path for i in chosen),
    )


def _in_takes(takes: Tensor, which: range) -> Tensor:
    return (takes >= which.start) & (takes < which.stop)


def official_split(data: FsddData) -> tuple[Tensor, Tensor]:
    """``(train, test)`` int64 index tensors: takes 0-4 are the test set, all others training
    (takes 5-49 in FSDD; the FSDD README's split).

    Raises:
        ValueError: one side would be empty (e.g. data loaded without takes 0-4).
    """
    test_mask = _in_takes(data.takes, TEST_TAKES)
    train, test = torch.nonzero(~test_mask).flatten(), torch.nonzero(test_mask).flatten()
    if train.numel() == 0 or test.numel() == 0:
        raise ValueError(
            f"official_split: {train.numel()} training (takes >= 5) and {test.numel()} test recordings (takes 0-4); "
            "both sides need at least one"
        )
    return train, test


def loso_folds(data: FsddData) -> list[LosoFold]:
    """Leave-one-speaker-out folds, one per speaker present (in ``data.speakers`` order): that
    speaker's recordings (all takes) are the test set, every other speaker's the training set.

    Raises:
        ValueError: fewer than two speakers are present.
    """
    present = sorted(set(data.speaker_ids.tolist()))
    if len(present) < 2:
        names = [data.speakers[i] for i in present]
        raise ValueError(f"loso_folds needs recordings of at least two speakers, got {names}")
    folds = []
    for s in present:
        held = data.speaker_ids == s
        folds.append(LosoFold(data.speakers[s], torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()))
    return folds


def validation_split(
    data: FsddData, train: Tensor | Sequence[int] | None = None, takes: range = VALIDATION_TAKES
) -> tuple[Tensor, Tensor]:
    """Split a training set into ``(fit, validation)`` index tensors: the recordings of
    ``train`` whose take lies in ``takes`` (default 5-9) are held out for choosing
    hyperparameters, so the test takes are never looked at.

    Args:
        train: indices into ``data``; ``None`` means the training side of :func:`official_split`.
            For a LOSO fold pass ``fold.train``: takes 5-9 of the other speakers are held out.
        takes: the take numbers to hold out.

    Raises:
        ValueError: ``takes`` is not a range, or one side would be empty.
    """
    if not isinstance(takes, range) or takes.step != 1:
        raise ValueError(f"takes must be a range of consecutive take numbers, e.g. range(5, 10), got {takes!r}")
    idx = official_split(data)[0] if train is None else _indices(train, len(data))
    held = _in_takes(data.takes[idx], takes)
    fit, val = idx[~held], idx[held]
    if fit.numel() == 0 or val.numel() == 0:
        raise ValueError(
            f"validation_split: {fit.numel()} recordings to fit and {val.numel()} to validate (takes "
            f"{takes.start}-{takes.stop - 1}) in the training set; both sides need at least one"
        )
    return fit, val


def fsdd_checksum(root: str | os.PathLike[str]) -> str:
    """SHA-256 over the recordings of an FSDD folder (for each ``.wav`` name in sorted order:
    the name, a zero byte and the SHA-256 of the file's bytes), hex. Equals
    :data:`FSDD_RECORDINGS_SHA256` for the 3,000 recordings at :data:`FSDD_COMMIT`."""
    folder = _recordings_dir(Path(root))
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.wav"), key=lambda p: p.name):
        if path.name.startswith("."):
            continue
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def download_fsdd(dest: str | os.PathLike[str], timeout: float = 60.0) -> Path:
    """Download FSDD at :data:`FSDD_COMMIT` into ``dest/recordings`` (and its README, which
    states the license); returns ``dest``, ready for :func:`load_fsdd`.

    The archive (:data:`FSDD_URL`) is streamed to a temporary file in ``dest`` (at most
    :data:`_MAX_ARCHIVE_BYTES`), only ``<top>/recordings/{digit}_{speaker}_{take}.wav`` members
    are extracted (nothing is written outside ``dest``), and the extracted folder must match
    :data:`FSDD_RECORDINGS_SHA256` before it is moved into place. A ``dest/recordings`` that
    already matches is kept without downloading.

    Raises:
        FileExistsError: ``dest/recordings`` exists with other contents.
        FileFormatError: the archive is not a zip, too large, or its recordings differ from
            the pinned ones.
        OSError (urllib.error.URLError): the download failed.
    """
    base = Path(dest)
    target = base / "recordings"
    if target.is_dir():
        if fsdd_checksum(base) == FSDD_RECORDINGS_SHA256:
            return base
        raise FileExistsError(
            f"{str(target)!r} exists but does not hold FSDD at commit {FSDD_COMMIT[:12]}; move it away first"
        )
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fsdd-download-", dir=base) as tmp:
        archive = Path(tmp) / "fsdd.zip"
        got = 0
        with urllib.request.urlopen(FSDD_URL, timeout=timeout) as response, archive.open("wb") as out:
            while chunk := response.read(1 << 20):
                got += len(chunk)
                if got > _MAX_ARCHIVE_BYTES:
                    raise FileFormatError(f"{FSDD_URL}: the download exceeds {format_bytes(_MAX_ARCHIVE_BYTES)}")
                out.write(chunk)
        staging = Path(tmp) / "recordings"
        staging.mkdir()
        readme: bytes | None = None
        try:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    parts = PurePosixPath(info.filename).parts
                    if len(parts) == 2 and parts[1] == "README.md" and info.file_size <= _MAX_RECORDING_BYTES:
                        readme = zf.read(info)
                    if len(parts) != 3 or parts[1] != "recordings" or not _NAME.fullmatch(parts[2]):
                        continue
                    if info.file_size > _MAX_RECORDING_BYTES:
                        raise FileFormatError(f"{FSDD_URL}: {info.filename} claims {format_bytes(info.file_size)}")
                    (staging / parts[2]).write_bytes(zf.read(info))
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as err:
            raise FileFormatError(f"{FSDD_URL}: the download is not a readable zip archive ({err})") from None
        found = fsdd_checksum(staging)
        if found != FSDD_RECORDINGS_SHA256:
            raise FileFormatError(
                f"{FSDD_URL}: the recordings' checksum is {found}, expected {FSDD_RECORDINGS_SHA256}; "
                "the download is damaged or not the pinned commit"
            )
        if readme is not None:
            (base / "README.md").write_bytes(readme)
        shutil.move(str(staging), str(target))
    return base
