"""Dataset-level helpers for event data: count frames and label lists.

Event files are read by :mod:`axonal.events.formats` (N-MNIST ``.bin`` included:
:func:`axonal.events.read_nmnist`); their events are the arrays of :mod:`axonal.events.container`.

:func:`events_to_frames` bins events into frames ``[T, P, H, W]`` of event counts per polarity,
in windows of ``time_window`` seconds from the first event (as tonic's
``ToFrame(sensor_size, time_window)``: an incomplete last window is dropped unless asked).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axonal.data.limits import check_allocation
from axonal.errors import FileFormatError, ResourceLimitError
from axonal.events.container import check_events, check_sensor_size

__all__ = ["events_to_frames", "read_label_list"]

_NMNIST_SENSOR = (34, 34)


def events_to_frames(
    events: Any,
    sensor_size: Sequence[int] = _NMNIST_SENSOR,
    time_window: float = 1e-3,
    include_incomplete: bool = False,
) -> Tensor:
    """Bin an event array into count frames ``[T, P, H, W]`` (channel = polarity, OFF then ON).

    Window ``k`` covers ``[t0 + k w, t0 + (k+1) w)`` with ``t0`` the first event's time and
    ``w = time_window`` (seconds). Without ``include_incomplete`` the last window must end at
    or before the last event (tonic's default); otherwise it is kept.

    Every argument is checked before the frames are allocated: ``time_window`` finite and
    ``> 0``, ``sensor_size`` ``(width, height[, polarities])`` (two polarities by default),
    ``events`` an event array (:data:`~axonal.events.EVENT_DTYPE`, or any structured array with
    integer fields x, y, t, p) whose addresses and polarities lie inside the sensor; the frames
    must fit in the free memory.

    Shapes:
        returns float32 ``[T, polarities, height, width]``.

    Raises:
        TypeError / ValueError: naming the argument (and the field at fault).
        ResourceLimitError: the frames would not fit in the free memory (a window far too
            short for the recording, a huge sensor).
    """
    if isinstance(time_window, bool) or not isinstance(time_window, numbers.Real):
        raise TypeError(f"time_window must be a float in seconds, got {type(time_window).__name__}")
    if not math.isfinite(time_window) or not time_window > 0:
        raise ValueError(f"time_window must be a finite float > 0 s, got {time_window!r}")
    if not isinstance(include_incomplete, bool):
        raise TypeError(f"include_incomplete must be a bool, got {type(include_incomplete).__name__}")
    width, height, polarities = check_sensor_size(sensor_size)
    ev = check_events(events, (width, height, polarities), require_sorted=False)
    if ev.size == 0:
        raise ValueError("events is empty: no frame to build")
    t = ev["t"].astype(np.int64)
    w_us = float(time_window) * 1e6
    t0 = int(t.min())
    span = int(t.max()) - t0
    windows = (span - w_us) / w_us
    count = (math.ceil(windows) if include_incomplete else math.floor(windows)) + 1 if math.isfinite(windows) else math.inf
    n = max(count, 1)
    frame_bytes = polarities * height * width * 4
    if not math.isfinite(n) or n * frame_bytes > 2**62:
        raise ResourceLimitError(
            f"events_to_frames: a {span} us recording in windows of {time_window:g} s would make "
            f"{n:.3g} frames of {width}x{height}; raise time_window"
        )
    n = int(n)
    check_allocation(n * frame_bytes + t.size * 8 * 2,
                     f"{n} frames [{n}, {polarities}, {height}, {width}] (float32)", "events_to_frames")
    k = np.floor((t - t0) / w_us).astype(np.int64)
    keep = (k >= 0) & (k < n)
    flat = ((k[keep] * polarities + ev["p"][keep]) * height + ev["y"][keep]) * width + ev["x"][keep]
    frames = np.bincount(flat, minlength=n * frame_bytes // 4).astype(np.float32)
    return torch.from_numpy(frames.reshape(n, polarities, height, width))


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
