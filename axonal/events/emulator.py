"""A dynamic-vision-sensor (DVS) emulator and an N-MNIST-style saccade generator.

:class:`DVSEmulator` turns a video (intensity in [0, 1], one frame per entry of ``times``)
into an event array of :data:`~axonal.events.EVENT_DTYPE`. Each pixel follows the standard
DVS pixel model (as v2e does, written here from the model, not from v2e's code):

* the photoreceptor reports the log intensity ``L = log(I + log_eps)``, optionally through a
  first-order low-pass filter of corner frequency ``cutoff_hz``;
* the pixel memorises a reference level; when ``L`` rises ``threshold_on`` above it the pixel
  emits an ON event (OFF: falls ``threshold_off`` below). Between two frames ``L`` moves along
  a straight line, and each event is timed where that line crosses its level, so a change of
  several thresholds gives several events spread over the frame interval;
* after an event the pixel is blind for ``refractory`` seconds. With ``reset="level"`` (the
  default, what the DVS circuit does: its differencing amplifier is held in reset) the
  reference follows the input while blind and is the level at the moment the pixel wakes up,
  so the change during the refractory period is lost; with ``reset="threshold"`` (v2e's
  bookkeeping) each event moves the reference by one threshold and a crossing made while blind
  is emitted as soon as the pixel wakes up, if the level is still past it. With
  ``refractory=0`` both give one event per threshold crossed;
* every pixel has its own thresholds, ``threshold * (1 + mismatch * N(0, 1))`` (clipped to at
  least a tenth of the nominal value);
* noise: *leak* events (ON), a Poisson process of ``leak_rate`` Hz per pixel that lowers the
  reference by one ON threshold at each of its instants (so a pixel seeing a still scene emits
  one ON event then, not before the instant; a second instant of the same pixel within one
  frame interval acts at the next frame time), and *shot noise*, Poisson events of
  ``shot_noise_rate`` Hz per pixel of random polarity that leave the pixel's state alone;
* with ``random_reference`` (the default) each pixel starts with a reference level drawn
  uniformly from the levels that do not fire at once, as a sensor that had been looking at
  something else before the recording would.

:func:`saccade_recording` / :func:`saccade_recordings` show a static image (a 28x28 MNIST digit)
to the emulated sensor while it moves along three saccades, as the N-MNIST recordings were made
(Orchard et al. 2015, "Converting static image datasets to spiking neuromorphic datasets using
saccades", Front. Neurosci. 9:437: an ATIS camera on a pan-tilt unit looking at an LCD monitor,
three saccades of about 100 ms each tracing a triangle, a 34x34 pixel window). The default path
(:data:`NMNIST_SACCADES`) is fitted to the 700 N-MNIST training recordings of the project's
data folder (``benchmarks/nmnist_emulator_stats.py`` shows the fit). The monitor shows the
image with a display gamma (luminance ``= value ** gamma``), the optics blur it (Gaussian,
``blur`` pixels), and it is moved with sub-pixel (bilinear) resampling every ``frame_dt``
seconds.

Random numbers: each recording (each batch entry) draws from its own generator, seeded by
``seed`` (or, in a batch, by ``seeds[b]``; with ``seeds=None`` entry ``b`` uses
``np.random.SeedSequence(seed).spawn(B)[b]``, which is ``SeedSequence(seed, spawn_key=(b,))``).
The thresholds, the starting references and the noise are drawn from it in a fixed order, and
the pixel arithmetic is elementwise, so a recording is the same whether it is emulated alone or
inside a batch.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import torch
from torch import Tensor

from axonal.data.limits import check_allocation
from axonal.errors import NonFiniteError
from axonal.events.container import EVENT_DTYPE, check_sensor_size

__all__ = [
    "DEFAULT_EMULATOR",
    "NMNIST_SACCADES",
    "DVSEmulator",
    "SaccadePath",
    "saccade_recording",
    "saccade_recordings",
]

SeedLike: TypeAlias = "int | np.random.SeedSequence | None"

_MIN_THRESHOLD_FRACTION = 0.1
"""Per-pixel thresholds drawn with mismatch are clipped to this fraction of the nominal one."""

_TOLERANCE = 1e-5
"""Log-intensity slack of the threshold tests, so that a level that reaches a threshold exactly
(a leak step of one threshold, float32 rounding of the reference) counts as crossing it."""

_STATE_BYTES_PER_PIXEL = 64
"""Rough bytes of emulator state per pixel (levels, reference, thresholds, last event time and
the temporaries of one step)."""


# --------------------------------------------------------------------------- validation


def _check_real(name: str, value: Any, *, minimum: float = 0.0, strict: bool = False, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{f' in {unit}' if unit else ''}, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise NonFiniteError(f"{name} must be finite, got {v}")
    if v < minimum or (strict and v == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {minimum:g}{f' {unit}' if unit else ''}, got {v:g}")
    return v


def _check_seed(name: str, seed: Any) -> None:
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise TypeError(f"{name} must be None, an int >= 0 or a numpy SeedSequence, got {seed!r}")


def _as_numpy(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__} ({err})") from None
    return arr


def _check_intensity(name: str, arr: np.ndarray, ndim: int, layout: str) -> np.ndarray:
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have shape {layout} ({ndim} dimensions), got shape {arr.shape}")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real intensities in [0, 1], got dtype {arr.dtype}")
    if arr.size:
        if np.issubdtype(arr.dtype, np.floating) and not bool(np.isfinite(arr).all()):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise NonFiniteError(f"{name} holds NaN or inf at {bad} of {arr.size} entries")
        low, high = float(arr.min()), float(arr.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(f"{name} must hold intensities in [0, 1], got values in [{low:g}, {high:g}]")
    return arr


def _check_times(times: Any, n_frames: int) -> np.ndarray:
    t = _as_numpy("times", times)
    if t.dtype == np.bool_ or not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
        raise TypeError(f"times must be real numbers (seconds), got dtype {t.dtype}")
    t = t.astype(np.float64).reshape(-1) if t.ndim <= 1 else t
    if t.ndim != 1 or t.shape[0] != n_frames:
        raise ValueError(f"times must hold one time (s) per frame, {n_frames} of them, got shape {np.shape(times)}")
    if not bool(np.isfinite(t).all()):
        raise NonFiniteError("times must be finite (seconds)")
    if t.size and float(t[0]) < 0:
        raise ValueError(f"times must be >= 0 s (event timestamps are non-negative), got times[0] = {float(t[0]):g}")
    if t.size > 1:
        step = np.diff(t)
        if bool((step <= 0).any()):
            i = int(np.flatnonzero(step <= 0)[0]) + 1
            raise ValueError(f"times must increase strictly; times[{i}] = {float(t[i]):g} s does not exceed "
                             f"times[{i - 1}] = {float(t[i - 1]):g} s")
    if t.size and float(t[-1]) * 1e6 > float(np.iinfo(np.int64).max) / 4:
        raise ValueError(f"times must stay below {float(np.iinfo(np.int64).max) / 4e6:.3g} s, got {float(t[-1]):g}")
    return t


# --------------------------------------------------------------------------- emulator


@dataclasses.dataclass(frozen=True)
class DVSEmulator:
    """Configuration of an emulated DVS pixel array; :meth:`emulate` runs it on a video.

    Attributes:
        threshold_on, threshold_off: contrast thresholds in log intensity (natural log); an
            ON event per ``threshold_on`` of rise, an OFF event per ``threshold_off`` of fall.
        mismatch: relative standard deviation of each pixel's thresholds (fixed-pattern noise).
        refractory: seconds a pixel stays blind after an event.
        leak_rate: Hz per pixel of leak (ON) events; a Poisson process acting on the reference.
        shot_noise_rate: Hz per pixel of shot-noise events (either polarity, Poisson).
        log_eps: added to the intensity before the log (the dark level, intensity units).
        cutoff_hz: corner frequency (Hz) of the photoreceptor's first-order low-pass filter;
            ``None`` for none.
        random_reference: start each pixel's reference at a random level that does not fire at
            once (``False``: at the first frame's level).
        seed: seed of the random numbers (``None``: fresh entropy on every call).

    The defaults are fitted to the N-MNIST recordings (see ``docs/vision_emulator.md``).
    """

    threshold_on: float = 0.26
    threshold_off: float = 0.24
    mismatch: float = 0.1
    refractory: float = 1e-3
    leak_rate: float = 0.3
    shot_noise_rate: float = 0.0
    log_eps: float = 0.18
    cutoff_hz: float | None = None
    random_reference: bool = True
    reset: str = "level"
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_real("threshold_on", self.threshold_on, strict=True)
        _check_real("threshold_off", self.threshold_off, strict=True)
        _check_real("mismatch", self.mismatch)
        _check_real("refractory", self.refractory, unit="s")
        _check_real("leak_rate", self.leak_rate, unit="Hz")
        _check_real("shot_noise_rate", self.shot_noise_rate, unit="Hz")
        _check_real("log_eps", self.log_eps, strict=True)
        if self.cutoff_hz is not None:
            _check_real("cutoff_hz", self.cutoff_hz, strict=True, unit="Hz")
        if self.reset not in ("level", "threshold"):
            raise ValueError(f"reset must be 'level' or 'threshold', got {self.reset!r}")
        if not isinstance(self.random_reference, bool):
            raise TypeError(f"random_reference must be a bool, got {type(self.random_reference).__name__}")
        _check_seed("seed", self.seed)

    # ------------------------------------------------------------------ public

    def emulate(self, frames: Any, times: Any, *, seed: SeedLike = None) -> np.ndarray:
        """Events of one video.

        Args:
            frames: ``[T, H, W]`` intensities in [0, 1] (numpy array or torch tensor).
            times: ``[T]`` frame times in seconds, >= 0 and strictly increasing.
            seed: overrides :attr:`seed` for this call.

        Returns:
            An event array (``x`` the column, ``y`` the row, ``t`` in microseconds, sorted by
            time) of the sensor ``(W, H)``.
        """
        arr = _check_intensity("frames", _as_numpy("frames", frames), 3, "[T, H, W]")
        t = _check_times(times, arr.shape[0])
        _check_seed("seed", seed)
        n_frames, height, width = arr.shape
        return self._run(lambda k: arr[k].reshape(1, -1), t, 1, height, width,
                         [self.seed if seed is None else seed])[0]

    def emulate_batch(self, frames: Any, times: Any, *, seeds: Sequence[SeedLike] | None = None) -> list[np.ndarray]:
        """Events of ``B`` videos at once (time-major ``[T, B, H, W]``), one array per video.

        Entry ``b`` uses ``seeds[b]``; without ``seeds`` it uses
        ``np.random.SeedSequence(self.seed).spawn(B)[b]`` (fresh entropy when ``seed`` is
        ``None``). ``emulate_batch(frames, times, seeds=s)[b]`` equals
        ``emulate(frames[:, b], times, seed=s[b])``.
        """
        arr = _check_intensity("frames", _as_numpy("frames", frames), 4, "[T, B, H, W]")
        t = _check_times(times, arr.shape[0])
        batch, height, width = arr.shape[1], arr.shape[2], arr.shape[3]
        seed_list = self._batch_seeds(seeds, batch)
        return self._run(lambda k: arr[k].reshape(batch, -1), t, batch, height, width, seed_list)

    # ------------------------------------------------------------------ engine

    def _batch_seeds(self, seeds: Sequence[SeedLike] | None, batch: int, name: str = "seeds") -> list[SeedLike]:
        if seeds is None:
            root = np.random.SeedSequence(self.seed)
            return list(root.spawn(batch))
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
            raise TypeError(f"{name} must be a sequence of {batch} seeds (ints or SeedSequences), got "
                            f"{type(seeds).__name__}")
        if len(seeds) != batch:
            raise ValueError(f"{name} must hold one seed per batch entry ({batch}), got {len(seeds)}")
        for i, s in enumerate(seeds):
            _check_seed(f"{name}[{i}]", s)
        return list(seeds)

    def _run(self, frame_at: Callable[[int], np.ndarray], times: np.ndarray, batch: int, height: int, width: int,
             seeds: Sequence[SeedLike], offset_included: bool = False) -> list[np.ndarray]:
        """Emulate ``batch`` videos whose frame ``k`` (``[batch, height * width]`` intensities)
        ``frame_at(k)`` returns; one event array per video. With ``offset_included`` the frames
        hold ``intensity + log_eps`` already, each a fresh float32 array the engine may overwrite."""
        check_sensor_size((width, height))
        n_pix = height * width
        check_allocation(batch * n_pix * _STATE_BYTES_PER_PIXEL, f"emulator state of {batch} x {height} x {width} pixels")
        engine = _Engine(self, times, batch, height, width, seeds, frame_at, offset_included)
        return engine.run()


class _Engine:
    """The state of ``batch * height * width`` pixels during one emulation."""

    def __init__(self, emu: DVSEmulator, times: np.ndarray, batch: int, height: int, width: int,
                 seeds: Sequence[SeedLike], frame_at: Callable[[int], np.ndarray], offset_included: bool = False) -> None:
        self.emu = emu
        self.times = times
        self.batch, self.height, self.width = batch, height, width
        self.n_pix = height * width
        self.frame_at = frame_at
        self.offset_included = offset_included
        self.eps = np.float32(emu.log_eps)
        n = batch * self.n_pix
        t_start = float(times[0]) if times.size else 0.0
        t_end = float(times[-1]) if times.size else 0.0
        self.rngs = [np.random.default_rng(s) for s in seeds]

        # Per-pixel thresholds (fixed-pattern noise), drawn first from each entry's generator.
        thr_on = np.full((batch, self.n_pix), emu.threshold_on, dtype=np.float32)
        thr_off = np.full((batch, self.n_pix), emu.threshold_off, dtype=np.float32)
        if emu.mismatch > 0:
            for b, rng in enumerate(self.rngs):
                noise = rng.standard_normal((2, self.n_pix)).astype(np.float32)
                thr_on[b] *= 1 + np.float32(emu.mismatch) * noise[0]
                thr_off[b] *= 1 + np.float32(emu.mismatch) * noise[1]
            np.maximum(thr_on, np.float32(_MIN_THRESHOLD_FRACTION * emu.threshold_on), out=thr_on)
            np.maximum(thr_off, np.float32(_MIN_THRESHOLD_FRACTION * emu.threshold_off), out=thr_off)
        self.thr_on = thr_on.reshape(n)
        self.thr_off = thr_off.reshape(n)
        # The test "on or off?" is one comparison: |L - (ref + centre)| >= half.
        self.centre = (self.thr_on - self.thr_off) * np.float32(0.5)
        self.half = (self.thr_on + self.thr_off) * np.float32(0.5)
        self.half_tol = self.half - np.float32(_TOLERANCE)
        self.thr_on64 = self.thr_on.astype(np.float64)
        self.thr_off64 = self.thr_off.astype(np.float64)
        self.centre64 = self.centre.astype(np.float64)

        # Starting reference: a uniform draw from the levels that do not fire at once.
        self.phase: np.ndarray | None = None
        if emu.random_reference:
            self.phase = np.stack([rng.random(self.n_pix, dtype=np.float32) for rng in self.rngs]).reshape(n)

        # Leak instants (Poisson, ON) and shot noise (Poisson, either polarity), per entry.
        leak_pix: list[np.ndarray] = []
        leak_t: list[np.ndarray] = []
        shot: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        span = max(t_end - t_start, 0.0)
        for b, rng in enumerate(self.rngs):
            if emu.leak_rate > 0 and span > 0:
                k = int(rng.poisson(emu.leak_rate * self.n_pix * span))
                leak_pix.append(rng.integers(0, self.n_pix, k) + b * self.n_pix)
                leak_t.append(t_start + span * rng.random(k))
            if emu.shot_noise_rate > 0 and span > 0:
                k = int(rng.poisson(emu.shot_noise_rate * self.n_pix * span))
                pix = rng.integers(0, self.n_pix, k) + b * self.n_pix
                ts = t_start + span * rng.random(k)
                pol = rng.integers(0, 2, k).astype(np.int8)
                shot.append((pix, ts, pol))
        if leak_pix:
            lp = np.concatenate(leak_pix)
            lt = np.concatenate(leak_t)
            order = np.argsort(lt, kind="stable")
            self.leak_pix, self.leak_t = lp[order], lt[order]
        else:
            self.leak_pix, self.leak_t = np.zeros(0, np.int64), np.zeros(0, np.float64)
        self.shot = shot

        self.out_pix: list[np.ndarray] = []
        self.out_t: list[np.ndarray] = []
        self.out_p: list[np.ndarray] = []

    # ------------------------------------------------------------------ helpers

    def _level(self, k: int) -> np.ndarray:
        frame = self.frame_at(k)
        if self.offset_included:  # the frame holds intensity + log_eps already (a fresh array)
            level = np.asarray(frame, dtype=np.float32).reshape(-1)
        else:
            level = np.asarray(frame, dtype=np.float32).reshape(-1) + self.eps
        np.log(level, out=level)
        return level

    def run(self) -> list[np.ndarray]:
        emu = self.emu
        times = self.times
        n_frames = times.shape[0]
        if n_frames:
            raw = self._level(0)
            level = raw
            lowpass = emu.cutoff_hz is not None
            ref_c = level + self.centre  # reference + centre
            if self.phase is not None:
                # reference uniform in (L - thr_on, L + thr_off): never beyond a threshold
                ref_c += (self.phase * (self.thr_on + self.thr_off) - self.thr_on) * np.float32(0.999)
            last = np.full(level.shape[0], -np.inf)
            pending = np.zeros(0, dtype=np.int64)
            leak_pos = 0
            defer_pix, defer_t = np.zeros(0, np.int64), np.zeros(0, np.float64)
            refractory = float(emu.refractory)
            two_pi_fc = 2 * math.pi * float(emu.cutoff_hz) if emu.cutoff_hz is not None else 0.0
            for k in range(1, n_frames):
                t0, t1 = float(times[k - 1]), float(times[k])
                raw_new = self._level(k)
                if lowpass:
                    alpha = np.float32(1.0 - math.exp(-two_pi_fc * (t1 - t0)))
                    new = level + alpha * (raw_new - level)
                else:
                    new = raw_new
                # leak instants in (t0, t1], after those carried over from the step before
                leak_end = int(np.searchsorted(self.leak_t, t1, side="right"))
                jump_pix = self.leak_pix[leak_pos:leak_end]
                jump_t = self.leak_t[leak_pos:leak_end]
                leak_pos = leak_end
                if defer_pix.size:
                    jump_pix = np.concatenate([defer_pix, jump_pix])
                    jump_t = np.concatenate([defer_t, jump_t])
                floor: np.ndarray | None = None
                if jump_pix.size:
                    # one leak step per pixel and frame step (the earliest); a pixel's further
                    # steps wait for the next frame step
                    uniq, first = np.unique(jump_pix, return_index=True)
                    rest = np.ones(jump_pix.size, dtype=bool)
                    rest[first] = False
                    defer_pix, defer_t = jump_pix[rest], jump_t[rest]
                    jump_pix, jump_t = uniq, jump_t[first]
                    ref_c[jump_pix] -= self.thr_on[jump_pix]
                d = new - ref_c
                np.abs(d, out=d)
                beyond = d >= self.half_tol
                if pending.size or jump_pix.size:
                    beyond[pending] = True
                    beyond[jump_pix] = True
                cand = np.flatnonzero(beyond)
                if jump_pix.size:
                    floor = np.full(cand.shape[0], -np.inf)
                    floor[np.searchsorted(cand, jump_pix)] = jump_t
                if cand.size:
                    self._segment(cand, level, new, ref_c, last, t0, t1, refractory, floor)
                    # carried to the next step: pixels still past a threshold (refractory) or
                    # still in reset
                    still = (np.abs(new[cand] - ref_c[cand]) >= self.half_tol[cand]) | (last[cand] + refractory > t1)
                    pending = cand[still]
                else:
                    pending = cand
                level = new
        return self._collect()

    def _segment(self, idx: np.ndarray, level: np.ndarray, new: np.ndarray, ref_c: np.ndarray, last: np.ndarray,
                 t0: float, t1: float, refractory: float, floor: np.ndarray | None) -> None:
        """Emit the events of pixels ``idx`` while their level goes in a straight line from
        ``level`` (at ``t0``) to ``new`` (at ``t1``), one event per pixel per pass.

        On a line the times where ``L >= up`` form one interval: ``[t(up), t1]`` when the level
        rises (or stays), ``[t0, t(up)]`` when it falls; likewise ``L <= down``. A pixel fires at
        the first moment of such an interval at which it is out of reset (and, for a leak step,
        not before the step's instant)."""
        follow = self.emu.reset == "level"
        centre = self.centre64
        dt = t1 - t0
        lp = level[idx].astype(np.float64)
        ln = new[idx].astype(np.float64)
        slope = ln - lp
        inv = np.divide(dt, slope, out=np.zeros_like(slope), where=slope != 0)
        up_rises = slope >= 0  # the ON interval ends at t1
        down_falls = slope <= 0  # the OFF interval ends at t1
        hi = np.maximum(lp, ln)
        lo = np.minimum(lp, ln)
        start = np.maximum(last[idx] + refractory, t0)
        fl = floor
        if follow:
            # a pixel in reset follows the input: one still in reset at t1 ends the step at the
            # new level, one released inside the step takes the level of that moment
            busy = start >= t1
            if busy.any():
                b_idx = idx[busy]
                ref_c[b_idx] = new[b_idx] + self.centre[b_idx]
                keep = ~busy
                idx, lp, slope, inv, up_rises, down_falls, hi, lo, start = (
                    a[keep] for a in (idx, lp, slope, inv, up_rises, down_falls, hi, lo, start))
                if fl is not None:
                    fl = fl[keep]
            part = start > t0
            if part.any():
                p_idx = idx[part]
                at = lp[part] + slope[part] * ((start[part] - t0) / dt)
                ref_c[p_idx] = (at + centre[p_idx]).astype(np.float32)
        while idx.size:
            ref = ref_c[idx] - centre[idx]
            up = ref + (self.thr_on64[idx] - _TOLERANCE)
            down = ref - (self.thr_off64[idx] - _TOLERANCE)
            on_ok = hi >= up
            off_ok = lo <= down
            t_up = np.clip(t0 + (up - lp) * inv, t0, t1)
            t_down = np.clip(t0 + (down - lp) * inv, t0, t1)
            t_on = np.maximum(np.where(up_rises, t_up, t0), start)
            if fl is not None:
                t_on = np.maximum(t_on, fl)
            t_off = np.maximum(np.where(down_falls, t_down, t0), start)
            on_ok &= t_on <= np.where(up_rises, t1, t_up)
            off_ok &= t_off <= np.where(down_falls, t1, t_down)
            pick_on = on_ok & (~off_ok | (t_on <= t_off))
            fired = pick_on | off_ok
            if not fired.any():
                break
            t_fire = np.where(pick_on, t_on, t_off)[fired]
            on_fired = pick_on[fired]
            f_idx = idx[fired]
            self.out_pix.append(f_idx)
            self.out_t.append(t_fire)
            self.out_p.append(on_fired.astype(np.int8))
            last[f_idx] = t_fire
            lp, slope, inv, up_rises, down_falls, hi, lo = (
                a[fired] for a in (lp, slope, inv, up_rises, down_falls, hi, lo))
            if fl is not None:
                fl = fl[fired]
            release = t_fire + refractory
            if follow:
                inside = release < t1
                at_release = lp + slope * ((np.minimum(release, t1) - t0) / dt)
                ref_c[f_idx] = (at_release + centre[f_idx]).astype(np.float32)
                idx, lp, slope, inv, up_rises, down_falls, hi, lo, start = (
                    a[inside] for a in (f_idx, lp, slope, inv, up_rises, down_falls, hi, lo, release))
                if fl is not None:
                    fl = fl[inside]
            else:
                step = np.where(on_fired, self.thr_on64[f_idx], -self.thr_off64[f_idx])
                ref_c[f_idx] = (ref_c[f_idx] + step).astype(np.float32)
                idx, start = f_idx, release

    def _collect(self) -> list[np.ndarray]:
        pix_parts = list(self.out_pix)
        t_parts = list(self.out_t)
        p_parts = list(self.out_p)
        for pix, ts, pol in self.shot:
            pix_parts.append(pix)
            t_parts.append(ts)
            p_parts.append(pol)
        if pix_parts:
            gpix = np.concatenate(pix_parts).astype(np.int64)
            t_us = np.rint(np.concatenate(t_parts) * 1e6).astype(np.int64)
            pol = np.concatenate(p_parts).astype(np.int8)
        else:
            gpix = np.zeros(0, np.int64)
            t_us = np.zeros(0, np.int64)
            pol = np.zeros(0, np.int8)
        b = gpix // self.n_pix
        # Group by entry (a stable sort, so each entry's events keep the order they were made
        # in, which does not depend on the rest of the batch), then sort each entry by time
        # (stable; the events come nearly in time order already, one frame step after another).
        by_entry = np.argsort(b.astype(np.int16) if self.batch <= 32767 else b, kind="stable")
        gpix, t_us, pol, b = gpix[by_entry], t_us[by_entry], pol[by_entry], b[by_entry]
        pix = gpix - b * self.n_pix
        y = pix // self.width
        x = pix - y * self.width
        bounds = np.searchsorted(b, np.arange(self.batch + 1))
        out = []
        for i in range(self.batch):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            order = np.argsort(t_us[lo:hi], kind="stable") + lo
            ev = np.empty(hi - lo, dtype=EVENT_DTYPE)
            ev["x"] = x[order]
            ev["y"] = y[order]
            ev["p"] = pol[order]
            ev["t"] = t_us[order]
            out.append(ev)
        return out


# --------------------------------------------------------------------------- saccades


def _beta_cdf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """The regularised incomplete beta function ``I_u(a, b)`` for ``a, b >= 1`` (numerically:
    the trapezoidal integral of ``u^(a-1) (1-u)^(b-1)`` on 4097 points, interpolated)."""
    grid = np.linspace(0.0, 1.0, 4097)
    pdf = grid ** (a - 1) * (1 - grid) ** (b - 1)
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) * 0.5)])
    cdf /= cdf[-1]
    return np.asarray(np.interp(np.clip(u, 0.0, 1.0), grid, cdf))


@dataclasses.dataclass(frozen=True)
class SaccadePath:
    """The displacement of the image on the sensor over time: saccades along a polygon.

    Saccade ``k`` moves the image from ``vertices[k % n]`` to ``vertices[(k + 1) % n]`` (pixels,
    ``(x, y)``, ``y`` down, relative to the image centred on the sensor). Within its slot of
    ``period`` seconds it moves between the fractions ``onset[k % n]`` and ``offset[k % n]`` of
    the slot with a speed proportional to ``u^(a-1) (1-u)^(b-1)``, ``(a, b) = shape[k % n]``
    (``u`` the fraction of the movement's time; ``(3, 3)`` is the minimum-jerk profile, a larger
    ``a`` than ``b`` puts the speed peak late). When it arrives the image overshoots by
    ``overshoot[k % n]`` times the saccade's vector and comes back, along ``sin^2``, within
    ``settle[k % n]`` periods (a pan-tilt unit's settling; empty tuples: none). Otherwise the
    image stands still between saccades.
    """

    vertices: tuple[tuple[float, float], ...]
    onset: tuple[float, ...]
    offset: tuple[float, ...]
    shape: tuple[tuple[float, float], ...]
    period: float = 0.1
    overshoot: tuple[float, ...] = ()
    settle: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.vertices)
        if n < 2:
            raise ValueError(f"vertices must hold at least 2 (x, y) points, got {n}")
        for i, v in enumerate(self.vertices):
            if not isinstance(v, tuple) or len(v) != 2:
                raise ValueError(f"vertices[{i}] must be an (x, y) pair of pixels, got {v!r}")
            _check_real(f"vertices[{i}][0]", v[0], minimum=-math.inf)
            _check_real(f"vertices[{i}][1]", v[1], minimum=-math.inf)
        for name in ("onset", "offset", "shape", "overshoot", "settle"):
            seq = getattr(self, name)
            if len(seq) != n and not (name in ("overshoot", "settle") and len(seq) == 0):
                raise ValueError(f"{name} must hold one value per vertex ({n}), got {len(seq)}")
        if len(self.overshoot) != len(self.settle):
            raise ValueError(f"overshoot and settle must both be empty or both hold {n} values, got "
                             f"{len(self.overshoot)} and {len(self.settle)}")
        for i in range(len(self.overshoot)):
            _check_real(f"overshoot[{i}]", self.overshoot[i], minimum=-1.0)
            _check_real(f"settle[{i}]", self.settle[i])
        for i in range(n):
            on = _check_real(f"onset[{i}]", self.onset[i])
            off = _check_real(f"offset[{i}]", self.offset[i])
            if not 0.0 <= on < off <= 1.0:
                raise ValueError(f"onset[{i}] and offset[{i}] must satisfy 0 <= onset < offset <= 1 (fractions of the "
                                 f"slot), got {on:g} and {off:g}")
            sh = self.shape[i]
            if not isinstance(sh, tuple) or len(sh) != 2:
                raise ValueError(f"shape[{i}] must be an (a, b) pair of exponents >= 1, got {sh!r}")
            _check_real(f"shape[{i}][0]", sh[0], minimum=1.0)
            _check_real(f"shape[{i}][1]", sh[1], minimum=1.0)
        _check_real("period", self.period, strict=True, unit="s")

    def scaled(self, factor: float) -> SaccadePath:
        """The same path with every vertex multiplied by ``factor``."""
        f = _check_real("factor", factor, minimum=-math.inf)
        return dataclasses.replace(self, vertices=tuple((x * f, y * f) for x, y in self.vertices))

    def extent(self) -> float:
        """The longest distance (pixels) between two vertices."""
        pts = np.asarray(self.vertices, dtype=np.float64)
        return float(np.max(np.linalg.norm(pts[:, None] - pts[None], axis=-1)))

    def displacement(self, t: Any, saccades: int = 3) -> np.ndarray:
        """``[len(t), 2]`` displacement ``(x, y)`` in pixels at times ``t`` (seconds), for a
        recording of ``saccades`` saccades (the image stays at the last vertex afterwards)."""
        ts = np.asarray(t, dtype=np.float64).reshape(-1)
        n = len(self.vertices)
        pts = np.asarray(self.vertices, dtype=np.float64)
        out = np.empty((ts.size, 2))
        out[:] = pts[0]
        for k in range(saccades):
            j = k % n
            step = pts[(j + 1) % n] - pts[j]
            start = (k + self.onset[j]) * self.period
            end = (k + self.offset[j]) * self.period
            frac = _beta_cdf((ts - start) / (end - start), float(self.shape[j][0]), float(self.shape[j][1]))
            if self.overshoot and self.settle[j] > 0 and self.overshoot[j] != 0:
                u = np.clip((ts - end) / (self.settle[j] * self.period), 0.0, 1.0)
                frac = frac + self.overshoot[j] * np.sin(np.pi * u) ** 2
            out += frac[:, None] * step
        return out


NMNIST_SACCADES = SaccadePath(
    vertices=((-2.98, -1.65), (-0.63, 4.08), (2.90, -1.53)),
    onset=(0.0, 0.008, 0.287),
    offset=(0.86, 0.933, 1.0),
    shape=((3.26, 2.62), (3.49, 3.0), (1.6, 2.15)),
    period=0.1,
    overshoot=(0.019, 0.036, 0.0),
    settle=(0.31, 0.38, 0.0),
)
"""The N-MNIST motion: three saccades of 100 ms along a triangle (image first moves down, then
up and right, then left back to the start), fitted to the real recordings' event centroids and
event-rate profile (``benchmarks/nmnist_emulator_stats.py``)."""


def _gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of ``[N, H, W]`` (zero outside), float32."""
    if sigma <= 0:
        return images
    radius = max(1, int(math.ceil(3 * sigma)))
    xs = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (xs / sigma) ** 2)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    n, h, w = images.shape
    padded = np.zeros((n, h + 2 * radius, w + 2 * radius), dtype=np.float32)
    padded[:, radius:radius + h, radius:radius + w] = images
    rows = np.zeros((n, h + 2 * radius, w), dtype=np.float32)
    for i, c in enumerate(kernel):
        rows += c * padded[:, :, i:i + w]
    out = np.zeros((n, h, w), dtype=np.float32)
    for i, c in enumerate(kernel):
        out += c * rows[:, i:i + h, :]
    return out


class _Renderer:
    """Frames of images moving rigidly on the sensor (bilinear resampling)."""

    def __init__(self, images: np.ndarray, sensor_size: tuple[int, int], shifts: np.ndarray, blur: float,
                 contrast: float, background: float, gamma: float, offset: float = 0.0) -> None:
        width, height = sensor_size
        n, h, w = images.shape
        reach = float(np.max(np.abs(shifts))) if shifts.size else 0.0
        margin = int(math.ceil(reach)) + 2 + int(math.ceil(3 * blur))
        self.margin = margin
        canvas = np.zeros((n, height + 2 * margin + 1, width + 2 * margin + 1), dtype=np.float32)
        oy, ox = margin + (height - h) // 2, margin + (width - w) // 2
        canvas[:, oy:oy + h, ox:ox + w] = images if gamma == 1.0 else images**np.float32(gamma)
        canvas = _gaussian_blur(canvas, blur)
        self.canvas = np.float32(background + offset) + np.float32(contrast) * canvas
        self.height, self.width = height, width
        self.shifts = shifts
        self.n = n
        self._rows = np.empty((n, height + 1, width), dtype=np.float32)
        self.centre_offset = ((width - w) / 2 - (width - w) // 2, (height - h) / 2 - (height - h) // 2)

    def frame(self, k: int) -> np.ndarray:
        dx = float(self.shifts[k, 0]) + self.centre_offset[0]
        dy = float(self.shifts[k, 1]) + self.centre_offset[1]
        # sensor pixel (x, y) sees canvas point (x + margin - dx, y + margin - dy)
        sx, sy = self.margin - dx, self.margin - dy
        ix, iy = int(math.floor(sx)), int(math.floor(sy))
        fx, fy = np.float32(sx - ix), np.float32(sy - iy)
        h, w, c = self.height, self.width, self.canvas
        # separable: along x on the h + 1 rows needed, then along y
        rows = self._rows
        left = c[:, iy:iy + h + 1, ix:ix + w]
        np.subtract(c[:, iy:iy + h + 1, ix + 1:ix + 1 + w], left, out=rows)
        rows *= fx
        rows += left
        out = rows[:, 1:] - rows[:, :-1]
        out *= fy
        out += rows[:, :-1]
        return out.reshape(self.n, -1)


def _check_images(images: Any, sensor_size: tuple[int, int]) -> np.ndarray:
    arr = _check_intensity("images", _as_numpy("images", images), 3, "[N, h, w]")
    width, height = sensor_size
    if arr.shape[1] > height or arr.shape[2] > width:
        raise ValueError(f"images of {arr.shape[1]}x{arr.shape[2]} pixels do not fit the {width}x{height} sensor "
                         "(sensor_size is (width, height))")
    return np.ascontiguousarray(arr, dtype=np.float32)


DEFAULT_EMULATOR = DVSEmulator()
"""The emulator :func:`saccade_recording` uses when given none."""


def saccade_recordings(
    images: Any,
    *,
    sensor_size: Sequence[int] = (34, 34),
    duration: float = 0.3,
    saccades: int = 3,
    amplitude: float | None = None,
    emulator: DVSEmulator | None = None,
    seed: SeedLike = None,
    seeds: Sequence[SeedLike] | None = None,
    path: SaccadePath | None = None,
    frame_dt: float = 1e-3,
    blur: float = 0.7,
    gamma: float = 2.2,
    contrast: float = 1.0,
    background: float = 0.0,
    chunk: int = 256,
) -> list[np.ndarray]:
    """N-MNIST-style recordings of static images: one event array per image.

    Each image (``[N, h, w]`` intensities in [0, 1], e.g. MNIST digits reshaped to
    ``[N, 28, 28]``) is centred on the sensor and moved along ``path`` (default
    :data:`NMNIST_SACCADES`) for ``duration`` seconds, rendered every ``frame_dt`` seconds with
    bilinear resampling after a Gaussian blur of ``blur`` pixels (the optics); the sensor sees
    ``background + contrast * image`` and ``emulator`` (default :data:`DEFAULT_EMULATOR`)
    makes the events.

    Args:
        amplitude: the longest side of the path's polygon in pixels (``None``: the path's own).
        saccades: how many saccades of ``path.period`` seconds (the polygon is walked round).
        seed: image ``i`` uses ``np.random.SeedSequence(seed, spawn_key=(i,))`` (``seed``
            ``None``: the emulator's seed).
        seeds: one seed per image instead (``saccade_recording(images[i], seed=seeds[i])``
            then gives the same recording).
        chunk: images emulated together (memory: about 70 kB each).
    """
    size = check_sensor_size(sensor_size)
    sensor = (size[0], size[1])
    arr = _check_images(images, sensor)
    emu = DEFAULT_EMULATOR if emulator is None else emulator
    if not isinstance(emu, DVSEmulator):
        raise TypeError(f"emulator must be a DVSEmulator or None, got {type(emu).__name__}")
    dur = _check_real("duration", duration, strict=True, unit="s")
    step = _check_real("frame_dt", frame_dt, strict=True, unit="s")
    n_steps = int(round(dur / step))
    if n_steps < 1 or n_steps > 10**7:
        raise ValueError(f"duration / frame_dt must give 1 .. 1e7 frames, got {dur:g} / {step:g} = {dur / step:.3g}")
    if isinstance(saccades, bool) or not isinstance(saccades, int) or saccades < 0:
        raise TypeError(f"saccades must be an int >= 0, got {saccades!r}")
    base = NMNIST_SACCADES if path is None else path
    if not isinstance(base, SaccadePath):
        raise TypeError(f"path must be a SaccadePath or None, got {type(base).__name__}")
    if amplitude is not None:
        amp = _check_real("amplitude", amplitude, unit="pixels")
        extent = base.extent()
        base = base.scaled(amp / extent if extent > 0 else 0.0)
    blur_px = _check_real("blur", blur, unit="pixels")
    gam = _check_real("gamma", gamma, strict=True)
    gain = _check_real("contrast", contrast)
    floor = _check_real("background", background)
    if floor + gain > 1.0 + 1e-9:
        raise ValueError(f"background + contrast must be <= 1 (intensities in [0, 1]), got {floor + gain:g}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise TypeError(f"chunk must be an int >= 1, got {chunk!r}")
    n = arr.shape[0]
    if seeds is not None:
        seed_list = emu._batch_seeds(seeds, n)
    else:
        _check_seed("seed", seed)
        root = emu.seed if seed is None else seed
        entropy = root.entropy if isinstance(root, np.random.SeedSequence) else root
        key = tuple(root.spawn_key) if isinstance(root, np.random.SeedSequence) else ()
        if entropy is None:
            entropy = np.random.SeedSequence().entropy
        seed_list = [np.random.SeedSequence(entropy, spawn_key=key + (i,)) for i in range(n)]
    times = np.arange(n_steps + 1, dtype=np.float64) * step
    shifts = base.displacement(times, saccades)
    out: list[np.ndarray] = []
    for lo in range(0, n, chunk):
        part = arr[lo:lo + chunk]
        # the renderer adds the emulator's log_eps (bilinear weights sum to 1)
        renderer = _Renderer(part, sensor, shifts, blur_px, gain, floor, gam, emu.log_eps)
        out.extend(emu._run(renderer.frame, times, part.shape[0], sensor[1], sensor[0], seed_list[lo:lo + chunk],
                            offset_included=True))
    return out


def saccade_recording(
    image: Any,
    *,
    sensor_size: Sequence[int] = (34, 34),
    duration: float = 0.3,
    saccades: int = 3,
    amplitude: float | None = None,
    emulator: DVSEmulator | None = None,
    seed: SeedLike = None,
    **options: Any,
) -> np.ndarray:
    """One N-MNIST-style recording of a static image ``[h, w]`` (see :func:`saccade_recordings`
    for the options; ``seed`` is this recording's own seed, as ``seeds[i]`` there)."""
    arr = _as_numpy("image", image)
    if arr.ndim != 2:
        raise ValueError(f"image must have shape [h, w], got shape {arr.shape}")
    _check_seed("seed", seed)
    emu = DEFAULT_EMULATOR if emulator is None else emulator
    if not isinstance(emu, DVSEmulator):
        raise TypeError(f"emulator must be a DVSEmulator or None, got {type(emu).__name__}")
    if "seeds" in options:
        raise TypeError("saccade_recording takes seed, not seeds")
    return saccade_recordings(arr[None], sensor_size=sensor_size, duration=duration, saccades=saccades,
                              amplitude=amplitude, emulator=emu, seeds=[emu.seed if seed is None else seed],
                              **options)[0]
