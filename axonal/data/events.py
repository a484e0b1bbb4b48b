"""Event-camera data: the N-MNIST binary event format and event-to-frame binning.

N-MNIST files (``.bin``; the NMNISTsmall copy names them ``.bs2``) hold 5 bytes (40 bits) per
event, big-endian bit order::

    byte 0      x (0..33)
    byte 1      y (0..33)
    byte 2      bit 7: polarity (1 = ON, 0 = OFF); bits 6..0: timestamp bits 22..16
    bytes 3, 4  timestamp bits 15..0   (23-bit timestamp in microseconds)

:func:`events_to_frames` bins events into frames ``[T, 2, H, W]`` of event counts per polarity,
in windows of ``time_window`` seconds from the first event (as tonic's
``ToFrame(sensor_size, time_window)``: an incomplete last window is dropped unless asked).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from axonal.data.limits import check_allocation, format_bytes
from axonal.errors import FileFormatError, ResourceLimitError

__all__ = ["NMNIST_SENSOR", "Events", "events_to_frames", "read_label_list", "read_nmnist", "write_nmnist"]

NMNIST_SENSOR = (34, 34)
"""N-MNIST sensor size (width, height)."""

_MAX_T = (1 << 23) - 1

_BYTES_PER_EVENT = 5 + 4 * 8 + 3 * 8
"""Peak bytes :func:`read_nmnist` holds per event: the raw record, the four int64 fields and
the temporaries of decoding them."""


class Events(NamedTuple):
    """Address events, one entry per event (numpy arrays of equal length).

    Attributes:
        x, y: pixel column and row (int64).
        p: polarity, 1 = ON, 0 = OFF (int64).
        t: timestamp in microseconds (int64).
    """

    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    t: np.ndarray


def _sensor(sensor_size: Any) -> tuple[int, int]:
    """Validate a (width, height) pair of positive ints."""
    try:
        pair = tuple(sensor_size)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"sensor_size must be (width, height), two ints >= 1, got {sensor_size!r}")
    width, height = int(pair[0]), int(pair[1])
    if width < 1 or height < 1:
        raise ValueError(f"sensor_size must be (width, height), two ints >= 1, got {sensor_size!r}")
    return width, height


def read_nmnist(path: str | os.PathLike[str], sensor_size: Sequence[int] = NMNIST_SENSOR) -> Events:
    """Read one N-MNIST 40-bit event file.

    The file's size is checked before anything is read (a multiple of 5 bytes, the decoded
    events fitting in the free memory); the events are then checked for what the format allows
    but a recording cannot hold: an address outside ``sensor_size`` (width, height) or a
    timestamp earlier than the one before it.

    Raises:
        ValueError: the path is not an existing file; ``sensor_size`` is not two ints >= 1.
        FileFormatError: naming the file when it is empty, truncated (size not a multiple of 5
            bytes), unreadable, holds an address outside the sensor or timestamps that go
            backwards (naming the event).
        ResourceLimitError: the decoded events would not fit in the free memory.
    """
    width, height = _sensor(sensor_size)
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"event file {str(p)!r} does not exist")
    size = p.stat().st_size
    if size == 0:
        raise FileFormatError(f"event file {str(p)!r} is empty")
    if size % 5:
        raise FileFormatError(
            f"event file {str(p)!r} is truncated or not in the N-MNIST format: {size} bytes is not a multiple of 5"
        )
    n = size // 5
    check_allocation(n * _BYTES_PER_EVENT, f"decoding {n} events (a {format_bytes(size)} file)", repr(str(p)))
    try:
        raw = np.fromfile(p, dtype=np.uint8)
    except OSError as err:
        raise FileFormatError(f"event file {str(p)!r} cannot be read: {err}") from None
    if raw.size != size:
        raise FileFormatError(f"event file {str(p)!r} changed while it was read ({size} bytes, then {raw.size})")
    r = raw.reshape(n, 5)
    x = r[:, 0].astype(np.int64)
    y = r[:, 1].astype(np.int64)
    pol = (r[:, 2] >> 7).astype(np.int64)
    t = ((r[:, 2].astype(np.int64) & 0x7F) << 16) | (r[:, 3].astype(np.int64) << 8) | r[:, 4]
    bad = np.flatnonzero((x >= width) | (y >= height))
    if bad.size:
        i = int(bad[0])
        raise FileFormatError(
            f"event file {str(p)!r}: event {i} has address (x={int(x[i])}, y={int(y[i])}) outside the "
            f"{width}x{height} sensor; the file is corrupt or not N-MNIST"
        )
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:
        i = int(back[0]) + 1
        raise FileFormatError(
            f"event file {str(p)!r}: event {i} has timestamp {int(t[i])} us, earlier than event {i - 1}'s "
            f"{int(t[i - 1])} us ({back.size} such steps back); a recording's timestamps never decrease, "
            "the file is corrupt or not N-MNIST"
        )
    return Events(x=x, y=y, p=pol, t=t)


def write_nmnist(path: str | os.PathLike[str], events: Events) -> None:
    """Write events in the N-MNIST 40-bit format (x, y < 256; t < 2**23 us)."""
    x, y, pol, t = (np.asarray(a, dtype=np.int64) for a in events)
    if not (x.shape == y.shape == pol.shape == t.shape) or x.ndim != 1:
        raise ValueError("events fields must be 1-D arrays of equal length")
    if np.any((x < 0) | (x > 255) | (y < 0) | (y > 255)):
        raise ValueError("events x and y must be in 0..255")
    if np.any((pol != 0) & (pol != 1)):
        raise ValueError("events p must be 0 or 1")
    if np.any((t < 0) | (t > _MAX_T)):
        raise ValueError(f"events t must be in 0..{_MAX_T} us")
    out = np.empty((x.size, 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = x, y
    out[:, 2] = (pol << 7) | (t >> 16)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    out.tofile(Path(path))


def _event_field(name: str, value: Any) -> np.ndarray:
    """One field of an :class:`Events` as a 1-D int64 array (finite, whole numbers)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"events.{name} must be a 1-D array of integers, got {type(value).__name__} ({err})") from None
    if arr.ndim != 1:
        raise ValueError(f"events.{name} must be 1-D (one entry per event), got shape {arr.shape}")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"events.{name} must hold integers, got dtype {arr.dtype}")
    if not bool(np.isfinite(arr).all()):
        raise ValueError(f"events.{name} holds NaN or inf")
    if bool((arr != np.round(arr)).any()) or bool((np.abs(arr) >= 2.0**62).any()):
        raise ValueError(f"events.{name} must hold whole numbers below 2**62, got {arr[arr != np.round(arr)][:3].tolist()}...")
    return arr.astype(np.int64)


def events_to_frames(
    events: Events,
    sensor_size: Sequence[int] = NMNIST_SENSOR,
    time_window: float = 1e-3,
    include_incomplete: bool = False,
) -> Tensor:
    """Bin events into count frames ``[T, 2, H, W]`` (channel = polarity, OFF then ON).

    Window ``k`` covers ``[t0 + k w, t0 + (k+1) w)`` with ``t0`` the first event's time and
    ``w = time_window`` (seconds). Without ``include_incomplete`` the last window must end at
    or before the last event (tonic's default); otherwise it is kept.

    Every argument is checked before the frames are allocated: ``time_window`` finite and
    ``> 0``, ``sensor_size`` two ints ``>= 1``, the four fields 1-D of one length holding whole
    numbers, every address inside the sensor (``0 <= x < width``, ``0 <= y < height``),
    polarities 0 or 1; the frames must fit in the free memory.

    Shapes:
        returns float32 ``[T, 2, height, width]``.

    Raises:
        TypeError / ValueError: naming the argument (and the first bad event).
        ResourceLimitError: the frames would not fit in the free memory (a window far too
            short for the recording, a huge sensor).
    """
    if isinstance(time_window, bool) or not isinstance(time_window, numbers.Real):
        raise TypeError(f"time_window must be a float in seconds, got {type(time_window).__name__}")
    if not math.isfinite(time_window) or not time_window > 0:
        raise ValueError(f"time_window must be a finite float > 0 s, got {time_window!r}")
    if not isinstance(include_incomplete, bool):
        raise TypeError(f"include_incomplete must be a bool, got {type(include_incomplete).__name__}")
    width, height = _sensor(sensor_size)
    if not isinstance(events, tuple) or len(events) != 4:
        raise TypeError(f"events must be an Events (x, y, p, t), got {type(events).__name__}")
    x, y, pol, t = (_event_field(name, value) for name, value in zip(Events._fields, events))
    if not (x.size == y.size == pol.size == t.size):
        raise ValueError(
            f"events fields must have one length, got x {x.size}, y {y.size}, p {pol.size}, t {t.size}"
        )
    if t.size == 0:
        raise ValueError("events is empty: no frame to build")
    for name, arr, high in (("x", x, width), ("y", y, height)):
        bad = np.flatnonzero((arr < 0) | (arr >= high))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"events.{name}[{i}] = {int(arr[i])} is outside the {width}x{height} sensor "
                f"(0 <= {name} < {high}); {bad.size} events are"
            )
    bad = np.flatnonzero((pol != 0) & (pol != 1))
    if bad.size:
        raise ValueError(f"events.p[{int(bad[0])}] = {int(pol[bad[0]])}: polarity must be 0 (OFF) or 1 (ON)")
    w_us = float(time_window) * 1e6
    t0 = int(t.min())
    span = int(t.max()) - t0
    windows = (span - w_us) / w_us
    count = (math.ceil(windows) if include_incomplete else math.floor(windows)) + 1 if math.isfinite(windows) else math.inf
    n = max(count, 1)
    frame_bytes = 2 * height * width * 4
    if not math.isfinite(n) or n * frame_bytes > 2**62:
        raise ResourceLimitError(
            f"events_to_frames: a {span} us recording in windows of {time_window:g} s would make "
            f"{n:.3g} frames of {width}x{height}; raise time_window"
        )
    n = int(n)
    check_allocation(n * frame_bytes + t.size * 8 * 2, f"{n} frames [{n}, 2, {height}, {width}] (float32)", "events_to_frames")
    k = np.floor((t - t0) / w_us).astype(np.int64)
    keep = (k >= 0) & (k < n)
    frames = np.zeros((n, 2, height, width), dtype=np.float32)
    np.add.at(frames, (k[keep], pol[keep], y[keep], x[keep]), 1.0)
    return torch.from_numpy(frames)


def read_label_list(path: str | os.PathLike[str]) -> dict[int, int]:
    """Read a ``sample<TAB>class`` list (lines starting with ``#`` skipped): sample -> class.

    Raises:
        ValueError: the path is not an existing file.
        FileFormatError: naming the file and line for text that is not UTF-8, a line that is
            not two non-negative integers, or a sample listed twice.
        ResourceLimitError: the file would not fit in the free memory.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"label list {str(p)!r} does not exist")
    check_allocation(p.stat().st_size * 2, "reading the label list", repr(str(p)))
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise FileFormatError(f"label list {str(p)!r} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise FileFormatError(f"label list {str(p)!r} cannot be read: {err}") from None
    labels: dict[int, int] = {}
    for i, line in enumerate(text.splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
            raise FileFormatError(
                f"label list {str(p)!r} line {i + 1}: expected 'sample class' (two integers >= 0, at most 18 digits), got {line[:80]!r}"
            )
        sample, label = int(parts[0]), int(parts[1])
        if sample in labels:
            raise FileFormatError(f"label list {str(p)!r} line {i + 1}: sample {sample} is listed twice")
        labels[sample] = label
    return labels
