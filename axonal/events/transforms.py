"""Transforms of event streams: dense representations, noise filters and augmentations.

Every function takes an event array of :data:`~axonal.events.EVENT_DTYPE` (``x, y, p`` and
``t`` in microseconds; see :mod:`axonal.events.container`), checks it and its other arguments,
and works on all events at once with numpy (no Python loop over events). The conventions are
tonic's, which event-vision users know: a sensor is ``(width, height, polarities)``, frames
are ``[T, P, H, W]`` (batched: time-major ``[T, B, P, H, W]``). Units differ from tonic's in
one way: **every time argument is in seconds** (axonal's physical units; tonic takes them in
the events' microseconds); it is converted to microseconds and rounded to the nanosecond.

==========================  ===============================  =======================================
axonal                      tonic 1.7                        notes
==========================  ===============================  =======================================
:func:`to_frames`           ``ToFrame``                      same windows, float32 tensor
:func:`frames_batch`        ``ToFrame`` per sample + pad     one scatter for the whole batch
:func:`to_time_surface`     ``ToTimesurface``                no ``overlap``
:func:`to_voxel_grid`       ``ToVoxelGrid``                  same normalisation
:func:`denoise`             ``Denoise``                      plus ``connectivity=8`` (3x3)
:func:`refractory`          ``RefractoryPeriod``             same
:func:`downsample`          ``Downsample(spatial/time f.)``  same (floor)
:func:`spatial_downsample`  ``Downsample(target_size=)``     same (floor)
:func:`spatial_jitter`      ``SpatialJitter``                rounds to the nearest pixel
:func:`time_jitter`         ``TimeJitter``                   rounds, drops t < 0, re-sorts
:func:`flip_lr`             ``RandomFlipLR(p=1)``            use :class:`RandomApply` for p
:func:`flip_ud`             ``RandomFlipUD(p=1)``
:func:`flip_polarity`       ``RandomFlipPolarity(p=1)``
:func:`time_reverse`        ``RandomTimeReversal(p=1)``
:func:`random_crop`         ``RandomCrop``                   every offset equally likely
:func:`center_crop`         ``CenterCrop``                   same
:func:`drop_events`         ``DropEvent``                    same count, round(p N)
:func:`time_skew`           ``TimeSkew``                     rounds, drops t < 0
:func:`uniform_noise`       ``UniformNoise``                 integer draws, stable merge
:class:`Compose`            ``Compose``                      steps take ``(events, rng)``
==========================  ===============================  =======================================

Randomness comes only from the ``rng`` argument (a :class:`numpy.random.Generator`, a seed,
or ``None`` for a fresh unseeded generator), never from numpy's global state, so a pipeline
with a seeded generator is reproducible. No function changes its input array.

A pipeline (:class:`Compose`) is a list of steps, each a callable ``step(events, rng)``;
:class:`Step` binds a function of this module to its arguments (and passes ``rng`` only to
the functions that take one), :class:`RandomApply` applies a step with a probability::

    S = (34, 34, 2)
    augment = Compose([
        Step(denoise, 5e-3),
        RandomApply(Step(flip_lr, S), 0.5),
        Step(spatial_jitter, S, 0.5),
        Step(drop_events, 0.1),
        Step(to_frames, S, time_window=1e-3),
    ])
    frames = augment(events, rng=np.random.default_rng(0))   # [T, 2, 34, 34]
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axonal.errors import ResourceLimitError
from axonal.events.container import EVENT_DTYPE, as_events, check_events, check_sensor_size

__all__ = [
    "Compose",
    "RandomApply",
    "Step",
    "center_crop",
    "denoise",
    "downsample",
    "drop_events",
    "flip_lr",
    "flip_polarity",
    "flip_ud",
    "frames_batch",
    "random_crop",
    "refractory",
    "spatial_downsample",
    "spatial_jitter",
    "time_jitter",
    "time_reverse",
    "time_skew",
    "to_frames",
    "to_time_surface",
    "to_voxel_grid",
    "uniform_noise",
]

_INT16_MAX = int(np.iinfo(np.int16).max)
_ONE = np.float32(1.0)
_CHECKED_BYTES = 1 << 24
"""Outputs from this size up are checked against the free memory first (reading
``/proc/meminfo`` costs about as much as binning a small sample)."""

# ------------------------------------------------------------------------------------------
# argument checks


def _real(name: str, value: Any, unit: str = "") -> float:
    """A finite real number (not a bool) as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{unit}, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite{unit}, got {value!r}")
    return v


def _seconds_to_us(name: str, value: Any, *, minimum: float = 0.0, strict: bool = True) -> float:
    """A duration in seconds (> ``minimum``, or >= when not ``strict``) in microseconds,
    rounded to the nanosecond (so that 3e-4 s is 300 us, not 299.99999999999994)."""
    v = _real(name, value, " (seconds)")
    if v < minimum or (strict and v == minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g} s, got {value!r}")
    return round(v * 1e6, 3)


def _int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _probability(name: str, value: Any) -> float:
    v = _real(name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def _generator(rng: Any) -> np.random.Generator:
    """``rng`` as a numpy Generator: a Generator is used as is, an int seeds a new one,
    ``None`` makes an unseeded one."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        if rng is not None and int(rng) < 0:
            raise ValueError(f"rng seed must be >= 0, got {rng!r}")
        return np.random.default_rng(None if rng is None else int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def _size2(name: str, value: Any) -> tuple[int, int]:
    """A ``(width, height)`` pair of ints >= 1 (an int means a square)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair: tuple[Any, ...] = (value, value)
    else:
        try:
            pair = tuple(value)
        except TypeError:
            pair = ()
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be (width, height), two ints >= 1 (or one int), got {value!r}")
    w, h = int(pair[0]), int(pair[1])
    if not (1 <= w <= _INT16_MAX + 1 and 1 <= h <= _INT16_MAX + 1):
        raise ValueError(f"{name} must be (width, height) in 1..{_INT16_MAX + 1}, got {value!r}")
    return w, h


def _field_range(ev: np.ndarray, field: str, limit: int, name: str, sensor_size: Any) -> None:
    """``0 <= ev[field] < limit`` (one min and one max)."""
    if ev.size:
        col = ev[field]
        low, high = int(col.min()), int(col.max())
        if low < 0 or high >= limit:
            raise ValueError(f"{name}.{field} must be in [0, {limit - 1}] for sensor {sensor_size!r}, "
                             f"got values in [{low}, {high}]")


def _checked(events: Any, sensor_size: Any = None, *, fields: str = "xyp", sort: bool = True,
             name: str = "events") -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """The event array checked for what a transform relies on: the addresses in ``fields``
    inside ``sensor_size`` (when given) and, with ``sort``, non-decreasing timestamps."""
    sensor = check_sensor_size(sensor_size) if sensor_size is not None else None
    if sort:
        ev = check_events(events, None, name=name, require_sorted=True)
    else:
        ev = as_events(events, name)
    if sensor is not None:
        for field in fields:
            _field_range(ev, field, sensor["xyp".index(field)], name, sensor_size)
    return ev, sensor


_RAW = np.dtype("V16")
"""The event record as 16 opaque bytes: numpy copies, gathers and masks these several times
faster than a structured dtype with gaps between its fields (a whole-record move instead of
one per field)."""


def _copy(ev: np.ndarray) -> np.ndarray:
    out: np.ndarray = ev.view(_RAW).copy().view(EVENT_DTYPE)
    return out


def _select(ev: np.ndarray, which: np.ndarray | slice) -> np.ndarray:
    """``ev[which]`` (a mask, indices or a slice) as a new array."""
    out: np.ndarray = ev.view(_RAW)[which].view(EVENT_DTYPE)
    if isinstance(which, slice):
        out = _copy(out)
    return out


def _new_events(x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape[0], dtype=EVENT_DTYPE)
    out["x"], out["y"], out["p"], out["t"] = x, y, p, t
    return out


def _rebuild(ev: np.ndarray, **fields: np.ndarray) -> np.ndarray:
    """A copy of ``ev`` with some fields replaced."""
    out = _copy(ev)
    for key, value in fields.items():
        out[key] = value
    return out


def _pixel_index(ev: np.ndarray, width: int, height: int, with_polarity: bool) -> np.ndarray:
    """``(p H + y) W + x`` (int64), the index of each event in a ``[P, H, W]`` frame."""
    if with_polarity:
        pix = ev["p"].astype(np.int64)
        pix *= height
        pix += ev["y"]
    else:
        pix = ev["y"].astype(np.int64)
    pix *= width
    pix += ev["x"]
    return pix


# ------------------------------------------------------------------------------------------
# windows (shared by the frames and the time surface)


def _take(a: Any, idx: np.ndarray | None) -> Any:
    """``a[idx]`` for a per-event array, ``a`` itself for a value shared by all events."""
    return a[idx] if idx is not None and isinstance(a, np.ndarray) and a.ndim else a


Windows = list[tuple["np.ndarray | None", np.ndarray]]


def _windows(v: np.ndarray, base: Any, stride: Any, width: Any, count: Any, exact: bool) -> Windows:
    """Which windows hold each event.

    Window ``k`` (``0 <= k < count``) holds the values ``base + k stride <= v < base + k
    stride + width``, the bounds computed in float64 in that order (tonic's slicers compute
    them so: ``arange(n) * stride + start``, then ``+ window``). ``v`` is int64 (microseconds
    or event indices); ``base, stride, width, count`` are scalars or per-event arrays, with
    ``stride >= 0``. ``exact``: base, stride and width are whole numbers and ``width ==
    stride`` (back-to-back windows: event ``v`` lies in window ``(v - base) // stride`` only,
    in integer arithmetic).

    Returns ``(events, k)`` pairs, the windows ``k[i]`` holding the events ``events[i]``
    (``None``: every event, in order); over several pairs, latest windows first. The ``k``
    arrays are new (the caller may overwrite them).
    """
    if v.size == 0:
        return []
    if exact:
        s = np.asarray(stride).astype(np.int64)
        k = v - np.asarray(base).astype(np.int64)
        if s.ndim == 0:
            if s <= 0:
                return []
            k //= s
            valid = (k >= 0) & (k < count)
        else:
            k //= np.maximum(s, 1)
            valid = (k >= 0) & (k < count) & (s > 0)
        if valid.all():
            return [(None, k)]
        hits = np.flatnonzero(valid)
        return [(hits, k[hits])]
    vf = v.astype(np.float64)
    positive = np.asarray(stride) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        k0 = np.floor((vf - base) / np.where(positive, stride, 1.0))
    if not positive.all():
        k0 = np.where(positive, k0, np.where(vf >= base, np.asarray(count) - 1, -1))
    k0 = np.clip(k0, -1, np.asarray(count) - 1).astype(np.int64)
    # bring the estimate to the last window starting at or before v (off by one at most)
    for _ in range(4):
        high = (k0 >= 0) & (k0 * stride + base > vf)
        if not high.any():
            break
        k0 -= high
    for _ in range(4):
        low = positive & (k0 + 1 < count) & ((k0 + 1) * stride + base <= vf)
        if not low.any():
            break
        k0 += low
    idx: np.ndarray | None = None
    k = k0
    if not (k0 >= 0).all():
        idx = np.flatnonzero(k0 >= 0)
        k = k0[idx]
    out: Windows = []
    while k.size:
        b, s_, w = _take(base, idx), _take(stride, idx), _take(width, idx)
        inside = (vf if idx is None else vf[idx]) < (k * s_ + b) + w
        if inside.all():
            out.append((idx, k))
        else:
            sel = np.flatnonzero(inside)
            out.append((sel if idx is None else idx[sel], k[sel]))
        more = inside & (k > 0)
        if not more.any():
            break
        idx = np.flatnonzero(more) if idx is None else idx[more]
        k = k[more] - 1
    return out


def _frame_count_check(n_frames: float, batch: int, sensor: tuple[int, int, int], what: str) -> int:
    width, height, polarities = sensor
    frame_bytes = 4 * polarities * height * width * batch
    if not math.isfinite(n_frames) or n_frames * frame_bytes > 2.0**62:
        raise ResourceLimitError(f"{what}: {n_frames:.3g} frames of {width}x{height}x{polarities} "
                                 f"(batch {batch}) cannot be allocated; use longer windows or fewer bins")
    n = int(n_frames)
    _check_memory(n * frame_bytes, f"frames [{n}, {batch}, {polarities}, {height}, {width}] (float32)", what)
    return n


def _check_memory(nbytes: int, what: str, source: str) -> None:
    if nbytes >= _CHECKED_BYTES:
        # imported here: importing axonal.data.limits runs axonal/data/__init__.py, which
        # imports every dataset module (some of which import axonal.events)
        from axonal.data.limits import check_allocation

        check_allocation(nbytes, what, source)


# ------------------------------------------------------------------------------------------
# frames


def _mode(time_window: Any, event_count: Any, n_time_bins: Any, n_event_bins: Any) -> str:
    given = [name for name, value in (("time_window", time_window), ("event_count", event_count),
                                      ("n_time_bins", n_time_bins), ("n_event_bins", n_event_bins))
             if value is not None]
    if len(given) != 1:
        raise ValueError("exactly one of time_window, event_count, n_time_bins, n_event_bins must be given, "
                         f"got {', '.join(given) if given else 'none'}")
    return given[0]


def _gather_samples(samples: Any) -> tuple[np.ndarray, np.ndarray]:
    """All samples in one array and the offsets ``[0, n0, n0 + n1, ...]``."""
    if isinstance(samples, np.ndarray) or not isinstance(samples, Sequence) or isinstance(samples, (str, bytes)):
        raise TypeError(f"samples must be a list (sequence) of event arrays, got {type(samples).__name__}")
    if len(samples) == 0:
        raise ValueError("samples is empty: no sample to bin")
    arrays = []
    for i, s in enumerate(samples):
        if isinstance(s, np.ndarray) and s.dtype == EVENT_DTYPE and s.ndim == 1:
            arrays.append(s)
        else:
            arrays.append(as_events(s, f"samples[{i}]"))
    sizes = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
    bounds = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    ev = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    return ev, bounds


def _check_batch(ev: np.ndarray, bounds: np.ndarray, sensor: tuple[int, int, int], sensor_size: Any,
                 single: bool) -> None:
    """Addresses inside the sensor, timestamps non-decreasing within each sample (checked on
    the whole batch at once; the message names the sample)."""
    def label(i: int) -> str:
        return "events" if single else f"samples[{int(np.searchsorted(bounds, i, side='right')) - 1}]"

    for field, limit in zip("xyp", sensor):
        if not ev.size:
            break
        col = ev[field]
        if int(col.min()) < 0 or int(col.max()) >= limit:
            i = int(np.flatnonzero((col < 0) | (col >= limit))[0])
            raise ValueError(f"{label(i)}.{field} must be in [0, {limit - 1}] for sensor {sensor_size!r}, "
                             f"got {int(col[i])} (event {i - int(bounds[np.searchsorted(bounds, i, side='right') - 1])})")
    if ev.size > 1:
        t = ev["t"]
        back = t[1:] < t[:-1]
        if bounds.size > 2:  # a new sample may start earlier than the last one ended
            inner = bounds[1:-1]
            back[inner[(inner > 0) & (inner < ev.size)] - 1] = False
        if back.any():
            i = int(np.flatnonzero(back)[0]) + 1
            start = int(bounds[np.searchsorted(bounds, i, side="right") - 1])
            raise ValueError(f"{label(i)}.t must be non-decreasing; event {i - start} at {int(t[i])} us comes "
                             f"after {int(t[i - 1])} us (sort the events by time first)")


def _bin(ev: np.ndarray, bounds: np.ndarray, sensor: tuple[int, int, int], sensor_size: Any, *,
         time_window: Any, event_count: Any, n_time_bins: Any, n_event_bins: Any, overlap: Any,
         include_incomplete: Any, start_time: Any, end_time: Any, what: str, single: bool) -> Tensor:
    """Frames ``[T, B, P, H, W]`` of the samples ``ev[bounds[b]:bounds[b + 1]]``."""
    mode = _mode(time_window, event_count, n_time_bins, n_event_bins)
    incomplete = _bool("include_incomplete", include_incomplete)
    if mode in ("n_time_bins", "n_event_bins") and incomplete:
        raise ValueError(f"include_incomplete applies to time_window and event_count only, not to {mode}")
    if mode != "time_window" and (start_time is not None or end_time is not None):
        raise ValueError(f"start_time and end_time apply to time_window only, not to {mode}")
    _check_batch(ev, bounds, sensor, sensor_size, single)

    n_samples = bounds.size - 1
    sizes = np.diff(bounds)
    nonempty = sizes > 0
    first_idx = np.minimum(bounds[:-1], max(ev.size - 1, 0))
    last_idx = np.maximum(bounds[1:] - 1, 0)
    t = ev["t"]
    t_first = t[first_idx] if ev.size else np.zeros(n_samples, np.int64)
    t_last = t[last_idx] if ev.size else np.zeros(n_samples, np.int64)

    base: np.ndarray
    if mode == "time_window":
        window = _seconds_to_us("time_window", time_window)
        ov = _seconds_to_us("overlap", overlap, strict=False)
        if ov >= window:
            raise ValueError(f"overlap must be shorter than time_window ({time_window!r} s), got {overlap!r} s")
        stride_s = window - ov
        start = t_first.astype(np.float64) if start_time is None else np.full(
            n_samples, _seconds_to_us("start_time", start_time, strict=False))
        end = t_last.astype(np.float64) if end_time is None else np.full(
            n_samples, _seconds_to_us("end_time", end_time, strict=False))
        if start_time is None:
            start = np.where(nonempty, start, end if end_time is not None else 0.0)
        if end_time is None:
            end = np.where(nonempty, end, start)
        spans = (end - start - window) / stride_s
        counts_f = (np.ceil(spans) if incomplete else np.floor(spans)) + 1
        counts_f = np.maximum(counts_f, 1.0)
        n_frames = _frame_count_check(float(counts_f.max()), n_samples, sensor, what)
        counts = counts_f.astype(np.int64)
        base, stride, width = start, np.full(n_samples, stride_s), np.full(n_samples, window)
        exact = ov == 0 and float(window).is_integer() and bool(np.all(np.mod(start, 1.0) == 0))
    elif mode == "n_time_bins":
        n_bins = _int("n_time_bins", n_time_bins)
        ov = _real("overlap", overlap)
        if not 0.0 <= ov < 1.0:
            raise ValueError(f"overlap must be a fraction of a bin in [0, 1) for n_time_bins, got {overlap!r}")
        n_frames = _frame_count_check(float(n_bins), n_samples, sensor, what)
        width = ((t_last - t_first) // n_bins) * (1.0 + ov)
        stride = width * (1.0 - ov)
        base = t_first.astype(np.float64)
        counts = np.full(n_samples, n_bins, dtype=np.int64)
        exact = ov == 0.0
    else:  # the two modes that count events: windows over the index of each event in its sample
        if mode == "event_count":
            per = _int("event_count", event_count)
            ov_i = overlap
            if isinstance(ov_i, float) and ov_i.is_integer():
                ov_i = int(ov_i)
            ov_n = _int("overlap", ov_i, minimum=0)
            if ov_n >= per:
                raise ValueError(f"overlap must be fewer events than event_count ({per}), got {overlap!r}")
            stride_n = per - ov_n
            width = np.minimum(per, sizes).astype(np.float64)
            spans = (sizes - width) / stride_n
            counts_f = (np.ceil(spans) if incomplete else np.floor(spans)) + 1
            n_frames = _frame_count_check(float(counts_f.max()), n_samples, sensor, what)
            counts = counts_f.astype(np.int64)
            stride = np.full(n_samples, float(stride_n))
        else:
            n_bins = _int("n_event_bins", n_event_bins)
            ov = _real("overlap", overlap)
            if not 0.0 <= ov < 1.0:
                raise ValueError(f"overlap must be a fraction of a bin in [0, 1) for n_event_bins, got {overlap!r}")
            n_frames = _frame_count_check(float(n_bins), n_samples, sensor, what)
            width = ((sizes // n_bins) * (1.0 + ov)).astype(np.int64).astype(np.float64)
            stride = (width * (1.0 - ov)).astype(np.int64).astype(np.float64)
            counts = np.full(n_samples, n_bins, dtype=np.int64)
        base = np.zeros(n_samples)
        exact = bool(np.all(width == stride))
        t = np.arange(ev.size, dtype=np.int64)  # the windows run over each event's index in its sample
        if n_samples > 1:
            t -= np.repeat(bounds[:-1], sizes)

    width_px, height, polarities = sensor
    plane = height * width_px
    frame = polarities * plane
    out = np.zeros(n_frames * n_samples * frame, dtype=np.float32)
    if ev.size:
        if n_samples == 1:
            params: list[Any] = [base[0], stride[0], width[0], counts[0]]
        else:
            params = [np.repeat(a, sizes) for a in (base, stride, width, counts)]
        pix = _pixel_index(ev, width_px, height, polarities > 1)
        if n_samples > 1:
            pix += np.repeat(np.arange(n_samples, dtype=np.int64) * frame, sizes)
        step = n_samples * frame
        for idx, k in _windows(t, params[0], params[1], params[2], params[3], exact=exact):
            k *= step  # the flat index in [T, B, P, H, W]
            k += pix if idx is None else pix[idx]
            np.add.at(out, k, np.broadcast_to(_ONE, k.shape))
    return torch.from_numpy(out).view(n_frames, n_samples, polarities, height, width_px)


def to_frames(events: Any, sensor_size: Any, *, time_window: float | None = None,
              event_count: int | None = None, n_time_bins: int | None = None,
              n_event_bins: int | None = None, overlap: float = 0.0, include_incomplete: bool = False,
              start_time: float | None = None, end_time: float | None = None) -> Tensor:
    """Count events into frames ``[T, P, H, W]`` (float32), one channel per polarity.

    tonic equivalent: ``ToFrame(sensor_size, time_window=..., ...)``, with the same windows
    (checked against tonic 1.7 in the tests); tonic returns int16 numpy arrays.

    Exactly one way to cut the stream is given:

    * ``time_window`` (seconds): windows ``[s + k (w - o), s + k (w - o) + w)`` with ``s``
      ``start_time`` (seconds; default the first event), ``w`` the window and ``o`` the
      ``overlap`` (seconds, ``0 <= o < w``). ``floor((e - s - w) / (w - o)) + 1`` windows (at
      least one) with ``e`` ``end_time`` (default the last event), or ``ceil(...) + 1`` with
      ``include_incomplete``. As in tonic, an event exactly at the end of the last window is
      left out (a recording of 0..100 ms in 50 ms windows gives 2 frames without the event at
      100 ms, with or without ``include_incomplete``).
    * ``event_count``: windows of that many events, starting every ``event_count - overlap``
      events (``overlap`` an int of events); the counts of windows follow the same rule.
    * ``n_time_bins``: that many windows of ``floor(duration / n) (1 + overlap)`` microseconds
      (``overlap`` a fraction of a bin in [0, 1)), starting every ``window (1 - overlap)`` at
      the first event. As in tonic, the window is a whole number of microseconds rounded
      down, so the last events (always the last one) can fall after the last window, and a
      recording shorter than ``n`` microseconds gives empty frames.
    * ``n_event_bins``: that many windows of ``floor(N / n) (1 + overlap)`` events.

    An event lying in several windows (``overlap``) is counted in each. An empty stream gives
    one empty frame (``n`` for the two ``n_*`` modes).

    Args:
        events: event array (:data:`~axonal.events.EVENT_DTYPE` or any array with fields
            ``x, y, t, p``), timestamps non-decreasing.
        sensor_size: ``(width, height, polarities)``; every address must lie inside it.

    Shapes:
        returns float32 ``[T, polarities, height, width]``.

    Raises:
        TypeError / ValueError: naming the argument; ResourceLimitError: the frames would not
        fit in the free memory.
    """
    ev, _ = _checked(events, None, sort=False)
    sensor = check_sensor_size(sensor_size)
    bounds = np.array([0, ev.size], dtype=np.int64)
    frames = _bin(ev, bounds, sensor, sensor_size, time_window=time_window, event_count=event_count,
                  n_time_bins=n_time_bins, n_event_bins=n_event_bins, overlap=overlap,
                  include_incomplete=include_incomplete, start_time=start_time, end_time=end_time,
                  what="to_frames", single=True)
    return frames[:, 0]


def frames_batch(samples: Sequence[Any], sensor_size: Any, *, time_window: float | None = None,
                 event_count: int | None = None, n_time_bins: int | None = None,
                 n_event_bins: int | None = None, overlap: float = 0.0, include_incomplete: bool = False,
                 start_time: float | None = None, end_time: float | None = None) -> Tensor:
    """Frames of many samples at once, time-major ``[T, B, P, H, W]`` (float32).

    Sample ``b`` gets exactly ``to_frames(samples[b], ...)`` (same arguments, each sample
    windowed from its own first event unless ``start_time`` is given), zero-padded at the end
    to the longest sample's ``T``. All the events go through one scatter into the batch, so
    this costs about what :func:`to_frames` costs on the concatenated events, not ``B``
    calls. tonic has no batched form (``ToFrame`` per sample, then padding, as
    ``tonic.collation.PadTensors`` does).

    Args:
        samples: a list of event arrays (each sorted by time).
        sensor_size, time_window, event_count, n_time_bins, n_event_bins, overlap,
        include_incomplete, start_time, end_time: as in :func:`to_frames` (seconds for the
            times).

    Shapes:
        returns float32 ``[T, B, polarities, height, width]``.
    """
    sensor = check_sensor_size(sensor_size)
    ev, bounds = _gather_samples(samples)
    return _bin(ev, bounds, sensor, sensor_size, time_window=time_window, event_count=event_count,
                n_time_bins=n_time_bins, n_event_bins=n_event_bins, overlap=overlap,
                include_incomplete=include_incomplete, start_time=start_time, end_time=end_time,
                what="frames_batch", single=False)


# ------------------------------------------------------------------------------------------
# time surface and voxel grid


def to_time_surface(events: Any, sensor_size: Any, tau: float, *, dt: float,
                    include_incomplete: bool = False) -> Tensor:
    """Exponentially decaying time surfaces sampled every ``dt`` seconds: ``[T, P, H, W]``.

    tonic equivalent: ``ToTimesurface(sensor_size, dt=..., tau=...)`` (both in microseconds
    there), same values to float32 precision (relative 2e-5 against tonic 1.7's float64 in
    the tests; the exponent is carried from sample to sample, one subtraction each, and the
    exponential taken in float32). tonic's ``overlap`` is not offered: with it, tonic samples
    at ``(k + 1) dt`` while its windows end elsewhere.

    Sample ``k`` is taken at ``s_k = t0 + (k + 1) dt`` (``t0`` the first event) and holds, per
    pixel and polarity, ``exp(-(s_k - t_last) / tau)`` where ``t_last`` is the latest event
    there before ``s_k`` (0 where none yet). The samples are the ends of the windows of
    :func:`to_frames` with ``time_window=dt`` (same count, same ``include_incomplete``), and an
    event exactly at ``s_k`` counts from sample ``k + 1`` on. An empty stream gives one
    empty surface.

    Args:
        events: event array, timestamps non-decreasing, addresses inside ``sensor_size``.
        sensor_size: ``(width, height, polarities)``.
        tau: decay time constant (seconds, > 0).
        dt: interval between samples (seconds, > 0).
        include_incomplete: add a last sample after the last event when the recording does
            not end on a whole number of ``dt``.

    Shapes:
        returns float32 ``[T, polarities, height, width]``.
    """
    ev, sensor = _checked(events, sensor_size)
    assert sensor is not None
    tau_us = _seconds_to_us("tau", tau)
    dt_us = _seconds_to_us("dt", dt)
    incomplete = _bool("include_incomplete", include_incomplete)
    width_px, height, polarities = sensor
    frame = polarities * height * width_px
    if ev.size == 0:
        return torch.zeros(1, polarities, height, width_px)
    t = ev["t"]
    t0 = int(t[0])
    span = (float(t[-1] - t0) - dt_us) / dt_us
    n_frames = _frame_count_check(max((math.ceil(span) if incomplete else math.floor(span)) + 1, 1), 1, sensor,
                                  "to_time_surface")
    _check_memory(2 * frame * 8, "time-surface working memory", "to_time_surface")
    v = t.astype(np.float64)
    first = np.full(ev.size, n_frames, dtype=np.int64)  # the first sample that sees each event
    for idx, win in _windows(t, t0, dt_us, dt_us, n_frames, exact=float(dt_us).is_integer()):
        if idx is None:
            first = win
        else:
            first[idx] = win  # the windows come latest first: the last write is the earliest
    pix = _pixel_index(ev, width_px, height, polarities > 1)
    if first.size > 1 and bool(np.any(first[1:] < first[:-1])):
        # an event in no window (a float gap between two windows) is followed by earlier ones
        order = np.argsort(first, kind="stable")
        first, pix, v = first[order], pix[order], v[order]
    edges = np.searchsorted(first, np.arange(n_frames + 1))
    # exponent = (t_last - s_k) / tau per pixel: set where a pixel has a new event, else
    # lowered by dt / tau from the sample before (float64: one subtraction per sample instead
    # of tonic's float64 arithmetic on timestamps), then rounded to float32 for a float32 exp
    memory = np.full(frame, -np.inf)
    exponent = np.full(frame, -np.inf)
    decay = dt_us / tau_us
    out = np.empty((n_frames, frame), dtype=np.float32)
    for k in range(n_frames):
        if k:
            exponent -= decay
        a, b = edges[k], edges[k + 1]
        if b > a:
            where = pix[a:b]
            np.maximum.at(memory, where, v[a:b])
            sample = (k + 1) * dt_us + t0
            exponent[where] = (memory[where] - sample) / tau_us
        np.copyto(out[k], exponent, casting="same_kind")
        np.exp(out[k], out=out[k])
    return torch.from_numpy(out).view(n_frames, polarities, height, width_px)


def to_voxel_grid(events: Any, sensor_size: Any, n_time_bins: int) -> Tensor:
    """Voxel grid ``[T, 1, H, W]``: polarities +1 (ON) / -1 (OFF), bilinear in time.

    tonic equivalent: ``ToVoxelGrid(sensor_size, n_time_bins)`` (the event volume of Zhu et
    al. 2019), same values (checked against tonic 1.7 in the tests). Each event's time is
    mapped to ``u = n (t - t_first) / (t_last - t_first)`` and its polarity shared between bin
    ``floor(u)`` (weight ``1 - frac(u)``) and the next (weight ``frac(u)``), a bin past the
    last one being dropped; so, as in tonic, the events at ``t_last`` (``u = n``) add nothing.
    Where all events share one time, every event goes whole into bin 0 (tonic divides by 0).

    Args:
        events: event array, timestamps non-decreasing.
        sensor_size: ``(width, height, 2)``: the grid needs both polarities.
        n_time_bins: number of time bins (int >= 1).

    Shapes:
        returns float32 ``[n_time_bins, 1, height, width]``.
    """
    ev, sensor = _checked(events, sensor_size)
    assert sensor is not None
    n_bins = _int("n_time_bins", n_time_bins)
    width_px, height, polarities = sensor
    if polarities != 2:
        raise ValueError(f"to_voxel_grid needs a sensor with 2 polarities (ON = +1, OFF = -1), got {sensor_size!r}")
    plane = height * width_px
    _check_memory((n_bins + 2) * plane * 12, f"voxel grid [{n_bins}, 1, {height}, {width_px}]", "to_voxel_grid")
    if ev.size == 0:
        return torch.zeros(n_bins, 1, height, width_px)
    t = ev["t"]
    duration = int(t[-1] - t[0])
    # in place where it can be: every temporary of 8 N bytes costs its page faults
    u = t.astype(np.float64)
    if duration > 0:
        u -= t[0]
        u *= n_bins
        u /= duration  # (n (t - t0)) / duration, tonic's order of operations
    else:
        u[:] = 0.0
    at = u.astype(np.int64)  # the left bin
    u -= at  # the fraction towards the right bin
    sign = ev["p"].astype(np.float64)
    sign *= 2.0
    sign -= 1.0
    w_left = np.subtract(1.0, u)
    w_left *= sign
    u *= sign  # the right weight
    at *= plane
    at += _pixel_index(ev, width_px, height, False)
    # two spare bins take the weights past the last bin (u = n, and the right of the last)
    grid = np.zeros((n_bins + 2) * plane)
    np.add.at(grid, at, w_left)
    at += plane
    np.add.at(grid, at, u)
    return torch.from_numpy(grid[: n_bins * plane].astype(np.float32)).view(n_bins, 1, height, width_px)


# ------------------------------------------------------------------------------------------
# filters


def _by_pixel(ev: np.ndarray) -> np.ndarray:
    """The order that groups the events by pixel ``(x, y)``, array order kept inside a pixel:
    two stable sorts of the int16 addresses (numpy radix-sorts 16-bit keys), several times
    faster than one stable sort of an int64 pixel index."""
    for field in ("x", "y"):
        low = int(ev[field].min())
        if low < 0:
            raise ValueError(f"events.{field} must be >= 0, got {low}")
    order = np.argsort(ev["y"], kind="stable")
    order = order[np.argsort(ev["x"][order], kind="stable")]
    return order


def denoise(events: Any, filter_time: float, *, connectivity: int = 4) -> np.ndarray:
    """Background-activity filter: keep an event when a neighbouring pixel had an event less
    than ``filter_time`` seconds before it.

    tonic equivalent: ``Denoise(filter_time)`` (microseconds there), same events kept
    (checked against tonic 1.7 in the tests): event ``i`` at ``(x, y, t)`` is kept when some
    earlier event in the array (same time allowed, either polarity) at a neighbour pixel has
    ``t_j + filter_time > t``. The neighbours are the 4 pixels left, right, above and below
    (``connectivity=4``, tonic's) or the whole 3x3 square around it (``connectivity=8``). As
    in tonic, the neighbourhood is clipped to the grid the events span (largest ``x`` and
    ``y`` seen), and a neighbour that has had no event yet counts as one at time 0, so events
    in the first ``filter_time`` of the clock (t < filter_time) are kept.

    Args:
        events: event array, timestamps non-decreasing.
        filter_time: the time window (seconds, > 0).
        connectivity: 4 or 8.

    Returns:
        the kept events (a new array, order kept).
    """
    ev, _ = _checked(events)
    ft = _seconds_to_us("filter_time", filter_time)
    if connectivity not in (4, 8) or isinstance(connectivity, bool):
        raise ValueError(f"connectivity must be 4 (left, right, up, down) or 8 (3x3), got {connectivity!r}")
    n = ev.size
    if n == 0:
        return _copy(ev)
    width = int(ev["x"].max()) + 1  # tonic's grid: the largest address seen
    height = int(ev["y"].max()) + 1
    if (width * height + 1) * n >= 2**62:
        raise ResourceLimitError(f"denoise: {n} events on a {width}x{height} grid overflow its int64 sort keys")
    order = _by_pixel(ev)
    xs = ev["x"][order]
    ys = ev["y"][order]
    # key = pixel * n + index: sorted (by pixel, then array order)
    keys = xs.astype(np.int64)
    keys *= height
    keys += ys
    keys *= n
    keys += order
    t_sorted = ev["t"][order].astype(np.float64)
    keep_sorted = np.zeros(n, dtype=bool)
    offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        offsets += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    for dx, dy in offsets:
        # for each event (in key order, so the queries are sorted too), the last event at the
        # neighbour pixel before it in the array: the key just below (neighbour, index)
        query = keys + (dx * height + dy) * n
        pos = np.searchsorted(keys, query)
        pos -= 1
        query -= order  # neighbour * n: the candidate must be at least this to be there
        found = keys[np.maximum(pos, 0)] >= query
        found &= pos >= 0
        t_prev = np.where(found, t_sorted[pos], 0.0)  # a neighbour without events yet: t = 0
        t_prev += ft
        hit = t_prev > t_sorted  # tonic: memory = t_prev + filter_time > t
        if dx < 0:
            hit &= xs > 0
        elif dx > 0:
            hit &= xs < width - 1
        if dy < 0:
            hit &= ys > 0
        elif dy > 0:
            hit &= ys < height - 1
        keep_sorted |= hit
    keep = np.empty(n, dtype=bool)
    keep[order] = keep_sorted
    return _select(ev, keep)


def refractory(events: Any, refractory_period: float) -> np.ndarray:
    """Per-pixel refractory filter: drop an event when its pixel had an event (kept or not,
    either polarity) at most ``refractory_period`` seconds before.

    tonic equivalent: ``RefractoryPeriod(delta)`` (microseconds there), same events kept
    (checked against tonic 1.7 in the tests): keep event ``i`` when ``t_i - t_prev >
    refractory_period``, ``t_prev`` the previous event at its ``(x, y)``; for the first event
    at a pixel ``t_prev = -refractory_period``, so it is kept unless ``t = 0`` (tonic's
    starting memory).

    Args:
        events: event array, timestamps non-decreasing.
        refractory_period: seconds, >= 0.

    Returns:
        the kept events (a new array, order kept).
    """
    ev, _ = _checked(events)
    rp = _seconds_to_us("refractory_period", refractory_period, strict=False)
    n = ev.size
    if n == 0:
        return _copy(ev)
    order = _by_pixel(ev)
    xs = ev["x"][order]
    ys = ev["y"][order]
    t_sorted = ev["t"][order].astype(np.float64)
    prev = np.empty(n)
    prev[0] = -rp
    prev[1:] = t_sorted[:-1]
    new_pixel = np.empty(n, dtype=bool)
    new_pixel[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new_pixel[1:])
    new_pixel[1:] |= ys[1:] != ys[:-1]
    prev[new_pixel] = -rp
    keep = np.empty(n, dtype=bool)
    keep[order] = (t_sorted - prev) > rp
    return _select(ev, keep)


def downsample(events: Any, *, spatial_factor: float | tuple[float, float] = 1.0,
               time_factor: float = 1.0) -> np.ndarray:
    """Multiply the addresses and timestamps by factors, rounding down; no event is dropped.

    tonic equivalent: ``Downsample(time_factor=..., spatial_factor=...)``, same results
    (checked against tonic 1.7 in the tests). ``spatial_factor`` is one factor or ``(fx,
    fy)``, each in (0, 1] (the new sensor is ``floor(W fx) x floor(H fy)`` rounded up to hold
    ``x = W - 1``; see :func:`spatial_downsample` to aim at a size). ``time_factor`` (> 0)
    rescales the clock: the timestamps stay labelled microseconds, so ``0.001`` turns a
    recording into one 1000x shorter, with a coarser time grid.
    """
    ev, _ = _checked(events, sort=False)
    if isinstance(spatial_factor, tuple) or isinstance(spatial_factor, list):
        if len(spatial_factor) != 2:
            raise ValueError(f"spatial_factor must be one factor or (fx, fy), got {spatial_factor!r}")
        fx, fy = (_real(f"spatial_factor[{i}]", f) for i, f in enumerate(spatial_factor))
    else:
        fx = fy = _real("spatial_factor", spatial_factor)
    for name, f in (("spatial_factor", fx), ("spatial_factor", fy)):
        if not 0.0 < f <= 1.0:
            raise ValueError(f"{name} must be in (0, 1] (a downsampling), got {spatial_factor!r}")
    tf = _real("time_factor", time_factor)
    if tf <= 0:
        raise ValueError(f"time_factor must be > 0, got {time_factor!r}")
    return _rebuild(ev, x=(ev["x"] * fx).astype(np.int64), y=(ev["y"] * fy).astype(np.int64),
                    t=(ev["t"] * tf).astype(np.int64) if tf != 1.0 else ev["t"])


def spatial_downsample(events: Any, sensor_size: Any, target_size: Any) -> np.ndarray:
    """Map the addresses of a ``sensor_size`` sensor onto a smaller ``target_size`` grid:
    ``x' = floor(x * W' / W)``, ``y' = floor(y * H' / H)``; no event is dropped.

    tonic equivalent: ``Downsample(sensor_size=..., target_size=...)``, same results (checked
    against tonic 1.7 in the tests).

    Args:
        events: event array, addresses inside ``sensor_size``.
        sensor_size: ``(width, height, polarities)``.
        target_size: ``(width, height)``, each at most the sensor's.
    """
    ev, sensor = _checked(events, sensor_size, fields="xy", sort=False)
    assert sensor is not None
    tw, th = _size2("target_size", target_size)
    if tw > sensor[0] or th > sensor[1]:
        raise ValueError(f"target_size must not exceed the sensor's (width, height) {sensor[:2]}, got {target_size!r}")
    fx, fy = tw / sensor[0], th / sensor[1]
    return _rebuild(ev, x=(ev["x"] * fx).astype(np.int64), y=(ev["y"] * fy).astype(np.int64))


# ------------------------------------------------------------------------------------------
# augmentation


def spatial_jitter(events: Any, sensor_size: Any, sigma: float | tuple[float, float], clip: bool = True, *,
                   rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Move each event by a Gaussian offset of ``sigma`` pixels, rounded to the nearest pixel.

    tonic equivalent: ``SpatialJitter(sensor_size, var_x=sigma**2, var_y=sigma**2,
    clip_outliers=clip)``; tonic truncates the shifted address toward zero (a bias toward
    the origin), this rounds it.

    Args:
        sigma: standard deviation in pixels (>= 0), one or ``(sigma_x, sigma_y)``.
        clip: drop the events moved off the sensor (tonic's ``clip_outliers``); with
            ``False`` they are clamped onto its border instead (the event array cannot hold
            addresses outside the sensor).
        rng: numpy Generator (or seed, or ``None``).
    """
    ev, sensor = _checked(events, sensor_size, fields="xy", sort=False)
    assert sensor is not None
    if isinstance(sigma, (tuple, list)):
        if len(sigma) != 2:
            raise ValueError(f"sigma must be one value or (sigma_x, sigma_y) in pixels, got {sigma!r}")
        sx, sy = (_real(f"sigma[{i}]", s) for i, s in enumerate(sigma))
    else:
        sx = sy = _real("sigma", sigma)
    if sx < 0 or sy < 0:
        raise ValueError(f"sigma must be >= 0 pixels, got {sigma!r}")
    do_clip = _bool("clip", clip)
    gen = _generator(rng)
    x = np.rint(ev["x"] + gen.normal(0.0, sx, ev.size)).astype(np.int64)
    y = np.rint(ev["y"] + gen.normal(0.0, sy, ev.size)).astype(np.int64)
    if do_clip:
        keep = (x >= 0) & (x < sensor[0]) & (y >= 0) & (y < sensor[1])
        return _new_events(x[keep], y[keep], ev["p"][keep], ev["t"][keep])
    return _rebuild(ev, x=np.clip(x, 0, sensor[0] - 1), y=np.clip(y, 0, sensor[1] - 1))


def time_jitter(events: Any, std: float, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Add Gaussian noise of ``std`` seconds to each timestamp (rounded to the microsecond),
    drop the events that land before 0 and sort the rest by time.

    tonic equivalent: ``TimeJitter(std, clip_negative=True, sort_timestamps=True)``
    (microseconds there; tonic truncates toward zero, this rounds).
    """
    ev, _ = _checked(events, sort=False)
    std_us = _seconds_to_us("std", std, strict=False)
    gen = _generator(rng)
    t = np.rint(ev["t"] + gen.normal(0.0, std_us, ev.size)).astype(np.int64)
    keep = t >= 0
    if not keep.all():
        ev, t = _select(ev, keep), t[keep]
    order = np.argsort(t)
    out = _select(ev, order)
    out["t"] = t[order]
    return out


def flip_lr(events: Any, sensor_size: Any) -> np.ndarray:
    """Mirror left-right: ``x' = W - 1 - x``. tonic equivalent: ``RandomFlipLR(sensor_size,
    p=1)`` (wrap in :class:`RandomApply` for a probability)."""
    ev, sensor = _checked(events, sensor_size, fields="x", sort=False)
    assert sensor is not None
    return _rebuild(ev, x=(sensor[0] - 1) - ev["x"])


def flip_ud(events: Any, sensor_size: Any) -> np.ndarray:
    """Mirror up-down: ``y' = H - 1 - y``. tonic equivalent: ``RandomFlipUD(sensor_size,
    p=1)``."""
    ev, sensor = _checked(events, sensor_size, fields="y", sort=False)
    assert sensor is not None
    return _rebuild(ev, y=(sensor[1] - 1) - ev["y"])


def flip_polarity(events: Any) -> np.ndarray:
    """Swap ON and OFF: ``p' = 1 - p``. tonic equivalent: ``RandomFlipPolarity(p=1)``."""
    ev, _ = _checked(events, sort=False)
    _field_range(ev, "p", 2, "events", "(any, any, 2)")
    return _rebuild(ev, p=1 - ev["p"])


def time_reverse(events: Any, flip_polarities: bool = True) -> np.ndarray:
    """Play the recording backwards: ``t' = max(t) - t``, the array reversed (so still sorted),
    and ON and OFF swapped (a brightening played backwards is a darkening) unless
    ``flip_polarities`` is ``False``. tonic equivalent: ``RandomTimeReversal(p=1,
    flip_polarities=...)``."""
    ev, _ = _checked(events)
    flip = _bool("flip_polarities", flip_polarities)
    out = _select(ev, slice(None, None, -1))
    if ev.size:
        out["t"] = int(ev["t"][-1]) - out["t"]
        if flip:
            _field_range(ev, "p", 2, "events", "(any, any, 2)")
            out["p"] = 1 - out["p"]
    return out


def _crop(ev: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    # 0 <= x - x0 < w as one unsigned comparison (x - x0 wraps in int16; the uint16 view of the
    # wrapped value is the true difference whenever that is in 0..65535)
    keep = (ev["x"] - np.int16(x0)).view(np.uint16) < w
    keep &= (ev["y"] - np.int16(y0)).view(np.uint16) < h
    out = _select(ev, keep)
    if x0:
        out["x"] -= x0
    if y0:
        out["y"] -= y0
    return out


def random_crop(events: Any, sensor_size: Any, target_size: Any, *,
                rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Keep a ``target_size`` window at a random place, shifted to the origin (the events
    then live on a ``target_size`` sensor).

    tonic equivalent: ``RandomCrop(sensor_size, target_size)``; here every offset
    ``0..W - w`` is equally likely (tonic never draws the last one).

    Args:
        sensor_size: ``(width, height, polarities)``; target_size: ``(width, height)`` (or one
            int for a square) no larger than the sensor.
    """
    ev, sensor = _checked(events, sensor_size, fields="xy", sort=False)
    assert sensor is not None
    w, h = _size2("target_size", target_size)
    if w > sensor[0] or h > sensor[1]:
        raise ValueError(f"target_size must fit in the sensor's (width, height) {sensor[:2]}, got {target_size!r}")
    gen = _generator(rng)
    x0 = int(gen.integers(0, sensor[0] - w + 1))
    y0 = int(gen.integers(0, sensor[1] - h + 1))
    return _crop(ev, x0, y0, w, h)


def center_crop(events: Any, sensor_size: Any, size: Any) -> np.ndarray:
    """Keep the central ``size`` window, shifted to the origin: offsets ``(W - w) // 2`` and
    ``(H - h) // 2``. A size larger than the sensor pads (the events move inward, none is
    dropped). tonic equivalent: ``CenterCrop(sensor_size, size)`` (size ``(width, height)``
    or one int)."""
    ev, sensor = _checked(events, sensor_size, fields="xy", sort=False)
    assert sensor is not None
    w, h = _size2("size", size)
    return _crop(ev, (sensor[0] - w) // 2, (sensor[1] - h) // 2, w, h)


def drop_events(events: Any, p: float, *, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Drop ``round(p N)`` events chosen at random (order kept). tonic equivalent:
    ``DropEvent(p)`` (same count; a range of ``p`` is ``Step(lambda ev, rng:
    drop_events(ev, rng.uniform(a, b), rng=rng))``)."""
    ev, _ = _checked(events, sort=False)
    prob = _probability("p", p)
    gen = _generator(rng)
    n_drop = int(prob * ev.size + 0.5)
    if n_drop == 0:
        return _copy(ev)
    keep = np.ones(ev.size, dtype=bool)
    keep[gen.choice(ev.size, n_drop, replace=False)] = False
    return _select(ev, keep)


def time_skew(events: Any, coefficient: float, offset: float = 0.0) -> np.ndarray:
    """Stretch and shift time: ``t' = round(coefficient * t + offset)``, ``offset`` in
    seconds; events moved before 0 are dropped. tonic equivalent: ``TimeSkew(coefficient,
    offset)`` (offset in microseconds there; tonic truncates).

    Args:
        coefficient: > 0 (a time reversal is :func:`time_reverse`).
        offset: seconds, any sign.
    """
    ev, _ = _checked(events, sort=False)
    c = _real("coefficient", coefficient)
    if c <= 0:
        raise ValueError(f"coefficient must be > 0 (use time_reverse to reverse time), got {coefficient!r}")
    off = round(_real("offset", offset, " (seconds)") * 1e6, 3)
    t = np.rint(ev["t"] * c + off)
    if t.size and float(t.max()) >= 2.0**62:
        raise ValueError(f"time_skew(coefficient={coefficient!r}, offset={offset!r}) moves timestamps past 2**62 us")
    t_int = t.astype(np.int64)
    keep = t_int >= 0
    if keep.all():
        return _rebuild(ev, t=t_int)
    out = _select(ev, keep)
    out["t"] = t_int[keep]
    return out


def uniform_noise(events: Any, sensor_size: Any, n: int, *,
                  rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Add ``n`` events drawn uniformly over the sensor's pixels and polarities and over the
    recording's time span (whole microseconds from the first to the last event), merged in
    time order (stable: a noise event goes after the recorded ones of the same time).
    An empty stream is returned unchanged (it has no span). tonic equivalent:
    ``UniformNoise(sensor_size, n)``.
    """
    ev, sensor = _checked(events, sensor_size)
    assert sensor is not None
    count = _int("n", n, minimum=0)
    gen = _generator(rng)
    if ev.size == 0 or count == 0:
        return _copy(ev)
    t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
    noise = _new_events(gen.integers(0, sensor[0], count), gen.integers(0, sensor[1], count),
                        gen.integers(0, sensor[2], count), np.sort(gen.integers(t0, t1 + 1, count)))
    at = np.searchsorted(ev["t"], noise["t"], side="right")
    out: np.ndarray = np.insert(ev.view(_RAW), at, noise.view(_RAW)).view(EVENT_DTYPE)
    return out


# ------------------------------------------------------------------------------------------
# pipelines


class Step:
    """One step of a :class:`Compose` pipeline: ``fn`` with its arguments bound.

    ``Step(fn, *args, **kwargs)(events, rng)`` calls ``fn(events, *args, **kwargs)``, adding
    ``rng=rng`` when ``fn`` has an ``rng`` parameter (the random transforms of this module).
    A step of a module-level function pickles (for data-loader worker processes), unlike a
    lambda.
    """

    def __init__(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"Step needs a callable, got {type(fn).__name__}")
        if "rng" in kwargs:
            raise ValueError("do not bind rng in a Step: the pipeline passes its generator to every step")
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        try:
            self.takes_rng = "rng" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            self.takes_rng = False

    def __call__(self, events: Any, rng: np.random.Generator) -> Any:
        if self.takes_rng:
            return self.fn(events, *self.args, rng=rng, **self.kwargs)
        return self.fn(events, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        parts = [getattr(self.fn, "__name__", repr(self.fn))]
        parts += [repr(a) for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Step({', '.join(parts)})"


class RandomApply:
    """Apply ``step`` with probability ``p`` (one draw from the pipeline's generator per
    call), else pass the events through. tonic's ``RandomFlipLR(p=0.5)`` is
    ``RandomApply(Step(flip_lr, sensor_size), 0.5)``."""

    def __init__(self, step: Callable[[Any, np.random.Generator], Any], p: float) -> None:
        if not callable(step):
            raise TypeError(f"step must be a callable step(events, rng), got {type(step).__name__}")
        self.step = step
        self.p = _probability("p", p)

    def __call__(self, events: Any, rng: np.random.Generator) -> Any:
        if rng.random() < self.p:
            return self.step(events, rng)
        return events

    def __repr__(self) -> str:
        return f"RandomApply({self.step!r}, p={self.p})"


class Compose:
    """A pipeline: ``Compose(steps)(events, rng)`` runs each ``step(events, rng)`` in order.

    A step is any callable taking the events (or what the previous step returned) and a numpy
    Generator: a :class:`Step`, a :class:`RandomApply`, a function or a lambda. The last step
    may turn the events into a tensor (:func:`to_frames` ...). tonic equivalent: ``Compose``
    (whose steps take the events only and draw from numpy's global state); unlike tonic's,
    an empty stream still goes through every step (each function here accepts one).
    """

    def __init__(self, steps: Sequence[Callable[[Any, np.random.Generator], Any]]) -> None:
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
            raise TypeError(f"steps must be a list of callables step(events, rng), got {type(steps).__name__}")
        for i, step in enumerate(steps):
            if not callable(step):
                raise TypeError(f"steps[{i}] must be a callable step(events, rng), got {type(step).__name__}")
        self.steps = list(steps)

    def __call__(self, events: Any, rng: np.random.Generator | int | None = None) -> Any:
        gen = _generator(rng)
        for step in self.steps:
            events = step(events, gen)
        return events

    def __repr__(self) -> str:
        inner = "".join(f"\n    {s!r}," for s in self.steps)
        return f"Compose([{inner}\n])"
