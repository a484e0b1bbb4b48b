"""The Heidelberg spiking data sets (Cramer et al. 2020): Spiking Heidelberg Digits (SHD) and
Spiking Speech Commands (SSC), in their published HDF5 layout.

Spoken words were passed through a cochlea model of 700 channels; each sample is a list of
spikes. One file (``shd_train.h5``, ``ssc_valid.h5``, ...) holds::

    spikes/times        [N] variable-length float arrays: spike times in seconds
    spikes/units        [N] variable-length integer arrays: the channel 0..699 of each spike
    labels              [N] integers: the class (SHD: 20 digits, English and German)
    extra/speaker       [N] integers: the speaker id               (optional here)
    extra/keys          [C] strings: the name of each class        (optional here)
    extra/meta_info/*   per-speaker arrays (gender, age, body_height), indexed by speaker id
                        (optional, returned as stored)

:func:`read_shd` returns each sample as an event array (:data:`~axonal.events.EVENT_DTYPE`) in
tonic's SHD convention (sensor size ``(700, 1, 1)``): ``x`` = channel, ``y`` = 0, ``p`` = 1,
``t`` = the spike time in microseconds (rounded to the nearest, int64). A sample's spikes are returned
sorted by time (a stable sort keeps the file's order among equal times); the published files
are already sorted, so this only costs a check. :func:`shd_to_frames` bins samples into spike
counts ``[T, B, 700]``. :func:`download_shd` fetches the official files (never called here).

h5py is an optional dependency, imported by the functions that need it.
"""

from __future__ import annotations

import gzip
import hashlib
import numbers
import os
import shutil
import tempfile
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axonal.data.limits import check_allocation, format_bytes
from axonal.events.container import EVENT_DTYPE, as_events
from axonal.errors import AxonalError, FileFormatError, ResourceLimitError
from axonal.functional.validate import check_dt

__all__ = [
    "SHD_CHANNELS",
    "SHD_URL",
    "ShdData",
    "download_shd",
    "read_shd",
    "shd_to_frames",
]

SHD_CHANNELS = 700
"""Channels of the cochlea model (``x`` runs over 0..699)."""

SHD_URL = "https://zenkelab.org/datasets/"
"""Where the official files and their ``md5sums.txt`` are published."""

_MAX_TIME_S = 2.0**53 / 1e6
"""The latest spike time accepted (s): microseconds stay exact in int64 and float64."""

_BLOCK = 512
"""Samples read from the file at a time."""

_HELD_PER_EVENT = EVENT_DTYPE.itemsize
"""Bytes :func:`read_shd` keeps per spike: one event record."""

_TEMP_PER_EVENT = 4 * 8
"""Bytes of temporaries per spike while a block is decoded (the float64 times, the products)."""

_HDF5_SLACK = 64 * 1024
_DEFLATE_MAX_RATIO = 1032

_HDF5_ERRORS = (OSError, KeyError, ValueError, TypeError, AttributeError, RuntimeError, IndexError, OverflowError)
"""What h5py raises on a damaged file; each becomes a FileFormatError naming the file."""


@dataclass(frozen=True)
class ShdData:
    """The samples of one SHD/SSC file.

    Attributes:
        events: one event array (:data:`~axonal.events.EVENT_DTYPE`) per sample (``x``
            channel, ``y`` 0, ``p`` 1, ``t`` in microseconds, sorted).
        labels: ``[N]`` int64 class indices.
        speakers: ``[N]`` int64 speaker ids, or ``None`` when the file has no ``extra/speaker``.
        keys: the class names (``keys[label]``), empty when the file has no ``extra/keys``.
        speaker_info: ``extra/meta_info`` arrays by name (``"gender"``, ``"age"``,
            ``"body_height"``), indexed by speaker id; strings decoded; empty when absent.
        n_channels: 700.
        path: the file read.
    """

    events: list[np.ndarray]
    labels: Tensor
    speakers: Tensor | None
    keys: tuple[str, ...]
    speaker_info: dict[str, np.ndarray] = field(default_factory=dict)
    n_channels: int = SHD_CHANNELS
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.events)


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as err:
        raise ImportError("reading SHD/SSC files needs h5py: pip install h5py") from err
    return h5py


class _Reader:
    """Checks on the datasets of one open file; every failure names the file."""

    def __init__(self, h5py: Any, f: Any, path: Path) -> None:
        self.h5py, self.f, self.path = h5py, f, path
        self.where = f"SHD file {str(path)!r}"

    def fail(self, why: str) -> FileFormatError:
        return FileFormatError(f"{self.where}: {why}")

    def group(self, name: str) -> Any:
        """The group at ``name`` (hard links only), or ``None`` when a part of it is missing."""
        group = self.f
        for part in [p for p in name.split("/") if p]:
            if part not in group:
                return None
            link = group.get(part, getlink=True)
            if not isinstance(link, self.h5py.HardLink):
                raise self.fail(f"{name!r} goes through {part!r}, a {type(link).__name__}; links are not followed")
            group = group[part]
            if not isinstance(group, self.h5py.Group):
                raise self.fail(f"{part!r} (in {name!r}) is a {type(group).__name__}, not a group")
        return group

    def dataset(self, name: str, required: bool = True) -> Any:
        """The dataset at ``name`` (a plain dataset stored in this file), or ``None``."""
        parent, _, leaf = name.rpartition("/")
        group = self.group(parent)
        if group is None or leaf not in group:
            if required:
                raise self.fail(f"it has no {name!r} dataset; an SHD/SSC file holds spikes/times, spikes/units and labels")
            return None
        link = group.get(leaf, getlink=True)
        if not isinstance(link, self.h5py.HardLink):
            raise self.fail(f"{name!r} is a {type(link).__name__}; links are not followed")
        obj = group[leaf]
        if not isinstance(obj, self.h5py.Dataset):
            raise self.fail(f"{name!r} is a {type(obj).__name__}, not a dataset")
        if obj.is_virtual or obj.id.get_create_plist().get_external_count():
            raise self.fail(f"dataset {name!r} keeps its data outside the file")
        return obj

    def vector(self, name: str, n: int | None, kind: str, required: bool = True) -> np.ndarray | None:
        """A fixed-size 1-D dataset read whole, or ``None`` when absent and not required.

        ``kind``: ``"index"`` (integers >= 0, returned int64), ``"str"`` (decoded to an object
        array of str) or ``"any"`` (strings decoded, numbers as stored, floats finite); ``n``
        the required length (``None``: any)."""
        d = self.dataset(name, required)
        if d is None:
            return None
        shape: tuple[int, ...] = tuple(d.shape or ())
        if len(shape) != 1 or (n is not None and shape[0] != n):
            want = f"[{n}]" if n is not None else "1-D"
            raise self.fail(f"dataset {name!r} has shape {shape}; expected {want}")
        is_str = self.h5py.check_string_dtype(d.dtype) is not None or d.dtype.kind == "S"
        if self.h5py.check_vlen_dtype(d.dtype) is not None and not is_str:
            raise self.fail(f"dataset {name!r} holds variable-length arrays; expected one value per entry")
        stored = d.id.get_storage_size()
        if is_str:
            if kind == "index":
                raise self.fail(f"dataset {name!r} holds strings; expected integers")
            item = d.dtype.itemsize if d.dtype.kind == "S" else 16
            if d.dtype.kind == "S" and shape[0] * item > _DEFLATE_MAX_RATIO * stored + _HDF5_SLACK:
                raise self.fail(f"dataset {name!r} claims {format_bytes(shape[0] * item)} but stores "
                                f"{format_bytes(stored)}; the file is corrupt")
            check_allocation(4 * shape[0] * item + 64 * shape[0] + 4 * stored, f"strings {name!r} of shape {shape}", self.where)
            values = d[()]
            try:
                return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object)
            except UnicodeDecodeError as err:
                raise self.fail(f"dataset {name!r} holds text that is not UTF-8 ({err})") from None
        if kind == "str":
            raise self.fail(f"dataset {name!r} has type {d.dtype}; expected strings")
        if d.dtype.kind not in ("iu" if kind == "index" else "biuf"):
            raise self.fail(f"dataset {name!r} has type {d.dtype}; expected {'integers' if kind == 'index' else 'numbers or strings'}")
        claimed = shape[0] * d.dtype.itemsize
        if claimed > _DEFLATE_MAX_RATIO * stored + _HDF5_SLACK:
            raise self.fail(f"dataset {name!r} claims {format_bytes(claimed)} but stores {format_bytes(stored)}; the file is corrupt")
        check_allocation(2 * claimed + 8 * shape[0], f"dataset {name!r} of shape {shape}", self.where)
        values = np.asarray(d[()])
        if kind == "any":
            if values.dtype.kind == "f" and not bool(np.isfinite(values).all()):
                raise self.fail(f"dataset {name!r} holds NaN or inf")
            return values
        if values.size and values.dtype.kind == "i" and int(values.min()) < 0:
            j = int(np.argmin(values))
            raise self.fail(f"dataset {name!r}[{j}] is {int(values[j])}; expected indices >= 0")
        if values.size and values.dtype.kind == "u" and int(values.max()) > np.iinfo(np.int64).max:
            raise self.fail(f"dataset {name!r} holds {int(values.max())}, beyond int64")
        return values.astype(np.int64)

    def spike_dataset(self, name: str, kind: str) -> Any:
        d = self.dataset(name)
        base = self.h5py.check_vlen_dtype(d.dtype)
        if base is None or len(d.shape or ()) != 1:
            raise self.fail(
                f"dataset {name!r} has type {d.dtype} and shape {d.shape}; expected a 1-D dataset of "
                f"variable-length {kind} arrays (one per sample)"
            )
        base = np.dtype(base)
        ok = base.kind == "f" if kind == "float" else base.kind in "iu"
        if not ok:
            raise self.fail(f"dataset {name!r} holds variable-length arrays of {base}; expected {kind}s")
        return d


def _spikes(r: _Reader, i: int, times: Any, units: Any) -> np.ndarray:
    """Check one sample's spikes and turn them into an event array (sorted by time)."""
    times = np.asarray(times)
    units = np.asarray(units)
    if times.ndim != 1 or units.ndim != 1 or times.size != units.size:
        raise r.fail(f"sample {i} has {times.size} spike times but {units.size} spike units; they must pair up")
    n = times.size
    if n:
        tf = times.astype(np.float64)
        if not bool(np.isfinite(tf).all()):
            j = int(np.flatnonzero(~np.isfinite(tf))[0])
            raise r.fail(f"sample {i}: spike {j} has time {tf[j]:.9g}; spike times must be finite")
        lo, hi = float(tf.min()), float(tf.max())
        if lo < 0 or hi > _MAX_TIME_S:
            j = int(np.argmin(tf)) if lo < 0 else int(np.argmax(tf))
            raise r.fail(f"sample {i}: spike {j} has time {tf[j]:.9g} s; spike times must lie in 0..{_MAX_TIME_S:.3g} s")
        u_lo, u_hi = int(units.min()), int(units.max())
        if u_lo < 0 or u_hi >= SHD_CHANNELS:
            j = int(np.argmin(units)) if u_lo < 0 else int(np.argmax(units))
            raise r.fail(f"sample {i}: spike {j} has unit {int(units[j])}; units are channels 0..{SHD_CHANNELS - 1}")
        t = np.rint(tf * 1e6).astype(np.int64)
        x = units.astype(np.int64)
        if bool((t[1:] < t[:-1]).any()):
            order = np.argsort(t, kind="stable")
            t, x = t[order], x[order]
    else:
        t = np.zeros(0, np.int64)
        x = np.zeros(0, np.int64)
    out = np.zeros(n, dtype=EVENT_DTYPE)
    out["x"] = x
    out["p"] = 1
    out["t"] = t
    return out


def read_shd(path: str | os.PathLike[str], max_samples: int | None = None) -> ShdData:
    """Read an SHD or SSC file (the published HDF5 layout, see the module docstring).

    Args:
        path: the ``.h5`` file (gunzipped).
        max_samples: read only the first this many samples (``0`` checks the layout and
            reads the labels only); ``None`` reads all.

    Checks, each a :class:`~axonal.errors.FileFormatError` naming the file (and the sample):
    the required datasets exist as plain datasets of this file (no links, no external data);
    ``spikes/times`` are variable-length floats and ``spikes/units`` variable-length integers,
    one array per sample, as many as ``labels`` (and ``extra/speaker``); labels and speakers
    are integers >= 0, labels below the number of ``extra/keys`` when present; every sample
    has as many times as units, times finite in ``[0, 2**53 us]``, units in 0..699. Fixed-size
    datasets are checked against the bytes they store and the free memory before reading,
    the spikes against the free memory block by block.

    Raises:
        ImportError: h5py is not installed.
        ValueError: ``path`` is not an existing file; ``max_samples`` not an int >= 0.
        FileFormatError: as above, or the file is not HDF5.
        ResourceLimitError: the spikes would not fit in the free memory.
    """
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 0):
        raise ValueError(f"max_samples must be None or an int >= 0, got {max_samples!r}")
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"SHD file {str(p)!r} does not exist")
    h5py = _h5py()
    try:
        with h5py.File(p, "r") as f:
            return _read(_Reader(h5py, f, p), max_samples)
    except AxonalError:
        raise
    except _HDF5_ERRORS as err:
        raise FileFormatError(f"{str(p)!r} is not a readable SHD/SSC file ({type(err).__name__}: {err})") from None


def _read(r: _Reader, max_samples: int | None) -> ShdData:
    times = r.spike_dataset("spikes/times", "float")
    units = r.spike_dataset("spikes/units", "integer")
    n_file = times.shape[0]
    if units.shape[0] != n_file:
        raise r.fail(f"spikes/times holds {n_file} samples but spikes/units {units.shape[0]}")
    labels = r.vector("labels", n_file, "index")
    speakers = r.vector("extra/speaker", n_file, "index", required=False)
    keys_arr = r.vector("extra/keys", None, "str", required=False)
    keys = tuple(str(k) for k in keys_arr) if keys_arr is not None else ()
    assert labels is not None
    if keys and labels.size and int(labels.max()) >= len(keys):
        j = int(np.argmax(labels))
        raise r.fail(f"sample {j} has label {int(labels[j])} but extra/keys names {len(keys)} classes")
    info: dict[str, np.ndarray] = {}
    meta = r.group("extra/meta_info")
    if meta is not None:
        for name in sorted(meta.keys()):
            values = r.vector(f"extra/meta_info/{name}", None, "any")
            assert values is not None
            info[name] = values
    n = n_file if max_samples is None else min(max_samples, n_file)
    stored = np.dtype(r.h5py.check_vlen_dtype(times.dtype)).itemsize + np.dtype(r.h5py.check_vlen_dtype(units.dtype)).itemsize
    if n == n_file and n:
        # the file cannot hold more spikes than its bytes (variable-length data is not compressed)
        bound = r.path.stat().st_size // stored
        check_allocation(bound * _HELD_PER_EVENT, f"the spikes of {n} samples (at most {bound} spikes)", r.where)
    events: list[np.ndarray] = []
    for a in range(0, n, _BLOCK):
        b = min(a + _BLOCK, n)
        t_block = times[a:b]
        u_block = units[a:b]
        count = sum(int(np.asarray(v).size) for v in t_block)
        check_allocation(count * (_HELD_PER_EVENT + _TEMP_PER_EVENT), f"the {count} spikes of samples {a}..{b - 1}", r.where)
        for k in range(b - a):
            events.append(_spikes(r, a + k, t_block[k], u_block[k]))
    return ShdData(
        events=events,
        labels=torch.from_numpy(labels[:n].copy()),
        speakers=torch.from_numpy(speakers[:n].copy()) if speakers is not None else None,
        keys=keys,
        speaker_info=info,
        path=r.path,
    )


def shd_to_frames(
    events_list: Sequence[Any], dt: float, n_steps: int | None = None, n_channels: int = SHD_CHANNELS
) -> Tensor:
    """Bin samples into spike counts ``[T, B, n_channels]`` (float32), time-major.

    Step ``k`` counts the spikes with ``k dt <= t < (k + 1) dt``, time measured from 0 (the
    start of the recording, not the first spike). ``n_steps`` ``None`` makes ``T`` just long
    enough for the latest spike of any sample; with a given ``n_steps`` later spikes are
    dropped. ``y`` and ``p`` are ignored (SHD has one row and one polarity).

    Args:
        events_list: one event array per sample (``x`` channel, ``t`` us; any structured array
            with integer fields x, y, t, p is converted).
        dt: the bin width in seconds.
        n_steps: ``T``, or ``None``.
        n_channels: the channel count (700 for SHD/SSC).

    Raises:
        TypeError / ValueError: naming the argument, the sample and the first bad spike (a
            channel outside ``0..n_channels-1``, a negative time, fields of unequal length).
        ResourceLimitError: the frames would not fit in the free memory (``dt`` far too short).
    """
    dt = check_dt(dt)
    if isinstance(n_channels, bool) or not isinstance(n_channels, numbers.Integral) or n_channels < 1:
        raise ValueError(f"n_channels must be an int >= 1, got {n_channels!r}")
    n_channels = int(n_channels)
    if n_steps is not None and (isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1):
        raise ValueError(f"n_steps must be None or an int >= 1, got {n_steps!r}")
    if isinstance(events_list, np.ndarray) or not isinstance(events_list, Sequence):
        kind = "one event array" if isinstance(events_list, np.ndarray) else type(events_list).__name__
        raise TypeError(f"events_list must be a sequence of event arrays (one per sample), got {kind}")
    if len(events_list) == 0:
        raise ValueError("events_list is empty: no sample to bin")
    dt_us = dt * 1e6
    steps: list[np.ndarray] = []
    chans: list[np.ndarray] = []
    latest = -1.0
    for b, ev in enumerate(events_list):
        arr = as_events(ev, f"events_list[{b}]")
        x = arr["x"].astype(np.int64)
        t = arr["t"].astype(np.int64)
        bad = np.flatnonzero((x < 0) | (x >= n_channels))
        if bad.size:
            j = int(bad[0])
            raise ValueError(f"events_list[{b}].x[{j}] = {int(x[j])} is outside channels 0..{n_channels - 1}")
        bad = np.flatnonzero(t < 0)
        if bad.size:
            j = int(bad[0])
            raise ValueError(f"events_list[{b}].t[{j}] = {int(t[j])} us is negative; times count from the recording's start")
        k = np.floor(t / dt_us)  # float64: a step index past int64 is caught below, not wrapped
        if k.size:
            latest = max(latest, float(k.max()))
        steps.append(k)
        chans.append(x)
    batch = len(events_list)
    per_step = batch * n_channels
    n_f = float(n_steps) if n_steps is not None else max(latest + 1.0, 1.0)
    if n_f * per_step > 2.0**60:
        raise ResourceLimitError(
            f"shd_to_frames: {n_f:.4g} steps of {dt:g} s x {batch} samples x {n_channels} channels is far too many; raise dt"
        )
    n_t = int(n_f)
    check_allocation(n_t * per_step * (8 + 4), f"frames [{n_t}, {batch}, {n_channels}] (float32)", "shd_to_frames")
    flat_parts = []
    for b, (k, x) in enumerate(zip(steps, chans)):
        keep = k < n_t
        flat_parts.append((k[keep].astype(np.int64) * batch + b) * n_channels + x[keep])
    flat = np.concatenate(flat_parts) if flat_parts else np.zeros(0, np.int64)
    counts = np.bincount(flat, minlength=n_t * per_step).astype(np.float32)
    return torch.from_numpy(counts.reshape(n_t, batch, n_channels))


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_shd(
    dest: str | os.PathLike[str], subset: str = "shd", split: str = "train", timeout: float = 60.0
) -> Path:
    """Download one official file (``{subset}_{split}.h5.gz`` from :data:`SHD_URL`), check it,
    gunzip it and return the path of ``dest/{subset}_{split}.h5``.

    The gzip file is checked against the MD5 sum that ``md5sums.txt``, published beside it,
    lists for it (the sums are fetched, not hard-coded here: no copy of them was at hand that
    could be checked); a download that is not listed or does not match is refused. The
    gunzipped file is then opened with :func:`read_shd` (``max_samples=0``: the layout only)
    before it is moved into place. An existing ``dest/{subset}_{split}.h5`` is returned as it is.

    Args:
        subset: ``"shd"`` or ``"ssc"``.
        split: ``"train"`` or ``"test"``, or ``"valid"`` (SSC only).

    Raises:
        ValueError: an unknown subset or split.
        FileFormatError: the MD5 sum is missing or differs, the gzip is damaged, or the file
            is not in the SHD layout.
        OSError (urllib.error.URLError): the download failed.
    """
    if subset not in ("shd", "ssc"):
        raise ValueError(f"subset must be 'shd' or 'ssc', got {subset!r}")
    splits = ("train", "test") if subset == "shd" else ("train", "valid", "test")
    if split not in splits:
        raise ValueError(f"split must be one of {splits} for {subset!r}, got {split!r}")
    base = Path(dest)
    name = f"{subset}_{split}.h5"
    target = base / name
    if target.is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(SHD_URL + "md5sums.txt", timeout=timeout) as response:
        listing = response.read(1 << 20).decode("utf-8", errors="replace")
    sums = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    expected = sums.get(name + ".gz")
    if expected is None:
        raise FileFormatError(f"{SHD_URL}md5sums.txt does not list {name}.gz; refusing an unchecked download")
    with tempfile.TemporaryDirectory(prefix=".shd-download-", dir=base) as tmp:
        gz_path = Path(tmp) / (name + ".gz")
        with urllib.request.urlopen(SHD_URL + name + ".gz", timeout=timeout) as response, gz_path.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        found = _md5(gz_path)
        if found != expected:
            raise FileFormatError(f"{SHD_URL}{name}.gz: MD5 {found}, expected {expected} (md5sums.txt); the download is damaged")
        h5_path = Path(tmp) / name
        free = shutil.disk_usage(base).free
        try:
            with gzip.open(gz_path, "rb") as src, h5_path.open("wb") as out:
                while chunk := src.read(1 << 22):
                    out.write(chunk)
                    if out.tell() > free - (1 << 28):
                        raise ResourceLimitError(f"gunzipping {name}.gz would fill the disk at {str(base)!r}")
        except (OSError, EOFError, zlib.error) as err:
            raise FileFormatError(f"{SHD_URL}{name}.gz is not valid gzip ({type(err).__name__}: {err})") from None
        read_shd(h5_path, max_samples=0)
        shutil.move(str(h5_path), str(target))
    return target
