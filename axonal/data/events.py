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

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["NMNIST_SENSOR", "Events", "events_to_frames", "read_label_list", "read_nmnist", "write_nmnist"]

NMNIST_SENSOR = (34, 34)
"""N-MNIST sensor size (width, height)."""

_MAX_T = (1 << 23) - 1


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


def read_nmnist(path: str | os.PathLike[str], sensor_size: Sequence[int] = NMNIST_SENSOR) -> Events:
    """Read one N-MNIST 40-bit event file.

    Raises:
        ValueError: naming the file when it is missing, empty, truncated (size not a multiple
        of 5 bytes) or holds an address outside ``sensor_size`` (width, height).
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"event file {str(p)!r} does not exist")
    raw = np.fromfile(p, dtype=np.uint8)
    if raw.size == 0:
        raise ValueError(f"event file {str(p)!r} is empty")
    if raw.size % 5:
        raise ValueError(
            f"event file {str(p)!r} is truncated or not in the N-MNIST format: {raw.size} bytes is not a multiple of 5"
        )
    r = raw.reshape(-1, 5).astype(np.int64)
    x, y = r[:, 0], r[:, 1]
    pol = r[:, 2] >> 7
    t = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
    width, height = int(sensor_size[0]), int(sensor_size[1])
    bad = np.flatnonzero((x >= width) | (y >= height))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"event file {str(p)!r}: event {i} has address (x={int(x[i])}, y={int(y[i])}) outside the "
            f"{width}x{height} sensor; the file is corrupt or not N-MNIST"
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

    Shapes:
        returns float32 ``[T, 2, height, width]``.
    """
    if isinstance(time_window, bool) or not isinstance(time_window, (int, float)) or not time_window > 0:
        raise ValueError(f"time_window must be a float > 0 s, got {time_window!r}")
    width, height = int(sensor_size[0]), int(sensor_size[1])
    x, y, pol, t = (np.asarray(a, dtype=np.int64) for a in events)
    if t.size == 0:
        raise ValueError("events is empty: no frame to build")
    w_us = time_window * 1e6
    t0 = int(t.min())
    span = int(t.max()) - t0
    n = int(np.ceil((span - w_us) / w_us) + 1) if include_incomplete else int(np.floor((span - w_us) / w_us) + 1)
    n = max(n, 1)
    k = np.floor((t - t0) / w_us).astype(np.int64)
    keep = (k >= 0) & (k < n)
    frames = np.zeros((n, 2, height, width), dtype=np.float32)
    np.add.at(frames, (k[keep], pol[keep], y[keep], x[keep]), 1.0)
    return torch.from_numpy(frames)


def read_label_list(path: str | os.PathLike[str]) -> dict[int, int]:
    """Read a ``sample<TAB>class`` list (lines starting with ``#`` skipped): sample -> class."""
    labels: dict[int, int] = {}
    for i, line in enumerate(Path(path).read_text().splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{str(path)!r} line {i + 1}: expected 'sample class', got {line!r}")
        labels[int(parts[0])] = int(parts[1])
    return labels
