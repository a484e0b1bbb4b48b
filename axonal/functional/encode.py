"""Spike coding: turn static intensities or analogue signals into time-major spike trains.

Every encoder returns a float tensor of zeros and ones shaped ``[T, B, ...]`` (time first), in
the dtype and on the device of its input, except :func:`population`, which returns intensities
to feed to :func:`rate` or :func:`latency`, and :func:`latency_times`, which returns the spike
step indices that :func:`latency` turns into spikes.

Random encoders (:func:`rate`, :func:`poisson`) take an optional ``torch.Generator``: the same
seeded generator gives the same spikes. The encoders are not differentiable (they are input
transforms); :func:`population` is smooth and passes gradients.

Units: ``steps`` counts time steps; ``dt`` is in seconds and firing rates in Hz. Latency
constants (``tau``) are in steps.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.validate import (
    all_finite,
    check_bool,
    check_dt,
    check_int,
    check_positive,
    nonfinite_summary,
)

__all__ = [
    "LatencyMode",
    "rate",
    "poisson",
    "latency",
    "latency_times",
    "delta",
    "population",
]

LatencyMode = Literal["linear", "log"]
"""Shape of the latency code: ``"linear"`` or ``"log"`` (RC charging), see :func:`latency_times`."""


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _check_tensor(name: str, x: object, min_rank: int, layout: str) -> Tensor:
    """Raise unless ``x`` is a finite floating tensor of rank >= ``min_rank``; return it."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < min_rank:
        raise ValueError(
            f"{name} must have rank >= {min_rank} ({layout}), got shape {tuple(x.shape)}"
        )
    if not all_finite((x,)):
        raise NonFiniteError(f"{name} must be finite, got a tensor with {nonfinite_summary(x)}")
    return x


def _check_unit_interval(name: str, x: Tensor) -> None:
    """Raise unless every element of ``x`` lies in ``[0, 1]``."""
    with torch.no_grad():
        if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
            raise ValueError(
                f"{name} must lie in [0, 1], got values in [{float(x.min())}, {float(x.max())}]"
            )


def _check_float(name: str, value: object) -> float:
    """Raise unless ``value`` is a finite real number (not a bool); return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    if not math.isfinite(value):
        raise NonFiniteError(f"{name} must be finite, got {value}")
    return float(value)


def _check_generator(generator: object, device: torch.device) -> torch.Generator | None:
    """Raise unless ``generator`` is ``None`` or a ``torch.Generator`` on ``device``'s type."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    if generator.device.type != device.type:
        raise ValueError(
            f"generator must live on the input's device type {device.type!r}, "
            f"got a generator on {generator.device.type!r}"
        )
    return generator


def _bernoulli(p: Tensor, steps: int, generator: torch.Generator | None) -> Tensor:
    """``steps`` independent Bernoulli draws of probability ``p``, stacked on a new dim 0."""
    u = torch.rand((steps, *p.shape), generator=generator, dtype=p.dtype, device=p.device)
    # u lies in [0, 1), so p = 0 never fires and p = 1 always fires.
    return (u < p).to(p.dtype)


# --------------------------------------------------------------------------------------------
# rate coding
# --------------------------------------------------------------------------------------------


def rate(
    x: Tensor,
    steps: int,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Rate (Bernoulli) coding: at every step each input fires with probability ``gain * x``.

    The probability is ``clamp(gain * x, 0, 1)``, drawn independently per step and element.

    Shapes:
        x: ``[B, ...]`` intensities in ``[0, 1]``.
        returns: ``[T, B, ...]`` spikes (0/1) with ``T = steps``.
    Units:
        x and gain are dimensionless (a probability per step).
    """
    x = _check_tensor("x", x, 1, "[B, ...]")
    _check_unit_interval("x", x)
    steps = check_int("steps", steps, 1)
    g = _check_float("gain", gain)
    if g < 0:
        raise ValueError(f"gain must be >= 0, got {g}")
    gen = _check_generator(generator, x.device)
    with torch.no_grad():
        p = torch.clamp(g * x.detach(), 0.0, 1.0)
        return _bernoulli(p, steps, gen)


def poisson(
    rates_hz: Tensor,
    steps: int,
    dt: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Poisson spike trains from firing rates, sampled on a grid of ``dt``.

    A Poisson process of rate ``r`` has at least one event in a bin of width ``dt`` with
    probability ``1 - exp(-r dt)``; each step emits **at most one spike**, with that probability.
    The mean count per step is therefore ``1 - exp(-r dt)``, slightly below ``r dt``: choose
    ``dt << 1 / r`` for the binned train to follow the rate closely.

    Shapes:
        rates_hz: ``[B, ...]`` rates, ``>= 0``.
        returns: ``[T, B, ...]`` spikes (0/1) with ``T = steps``.
    Units:
        rates_hz in Hz, dt in seconds.
    """
    r = _check_tensor("rates_hz", rates_hz, 1, "[B, ...]")
    with torch.no_grad():
        if r.numel() and not bool((r >= 0).all()):
            raise ValueError(f"rates_hz must be >= 0 Hz, got a minimum of {float(r.min())}")
    steps = check_int("steps", steps, 1)
    dt = check_dt(dt)
    gen = _check_generator(generator, r.device)
    with torch.no_grad():
        p = -torch.expm1(-r.detach() * dt)
        return _bernoulli(p, steps, gen)


# --------------------------------------------------------------------------------------------
# latency (time-to-first-spike) coding
# --------------------------------------------------------------------------------------------


def _check_latency_args(
    x: object,
    steps: object,
    mode: object,
    tau: object,
    threshold: object,
    normalize: object,
    silent_below_threshold: object,
) -> tuple[Tensor, int, float, float]:
    xt = _check_tensor("x", x, 1, "[B, ...]")
    _check_unit_interval("x", xt)
    n = check_int("steps", steps, 1)
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str ('linear' or 'log'), got {type(mode).__name__}")
    if mode not in ("linear", "log"):
        raise ValueError(f"mode must be 'linear' or 'log', got {mode!r}")
    t = _check_float("tau", tau)
    if t <= 0:
        raise ValueError(f"tau must be > 0 steps, got {t}")
    th = _check_float("threshold", threshold)
    if mode == "linear" and not 0 <= th < 1:
        raise ValueError(f"threshold must be in [0, 1) for mode='linear', got {th}")
    if mode == "log" and not 0 < th < 1:
        raise ValueError(f"threshold must be in (0, 1) for mode='log', got {th}")
    check_bool("normalize", normalize)
    check_bool("silent_below_threshold", silent_below_threshold)
    return xt, n, t, th


def latency_times(
    x: Tensor,
    steps: int,
    mode: LatencyMode = "linear",
    tau: float = 5.0,
    threshold: float = 0.01,
    normalize: bool = False,
    silent_below_threshold: bool = True,
) -> Tensor:
    """Step index of the single spike that :func:`latency` emits for each input (inf: none).

    Stronger inputs fire earlier. Continuous times ``t`` (in steps) are:

    * ``mode="linear"``: ``t = tau * (1 - x)``, so ``x = 1`` fires at step 0. With
      ``normalize=True``, ``tau = (steps - 1) / (1 - threshold)``: the whole spiking range
      ``(threshold, 1]`` maps linearly onto the window ``[0, steps - 1]``.
    * ``mode="log"``: the time an RC membrane charged towards ``x`` (``tau dv/dt = x - v``,
      ``v(0) = 0``) needs to reach ``threshold``: ``t = tau * ln(x / (x - threshold))``.
      ``t`` grows without bound as ``x`` falls to ``threshold``, so ``normalize=True`` chooses
      ``tau`` such that the input ``x_lo = threshold + (1 - threshold) / steps`` fires exactly at
      ``steps - 1``; weaker supra-threshold inputs are clipped to the last step.

    ``tau`` is ignored when ``normalize=True``. Times are then clipped to ``steps - 1`` and
    rounded to the nearest step (halves round up: ``floor(t + 0.5)``). Inputs at or below
    ``threshold`` never fire (``inf``) when ``silent_below_threshold`` is True (the default);
    otherwise they fire at the last step, ``steps - 1``.

    Shapes:
        x: ``[B, ...]`` intensities in ``[0, 1]``.
        returns: ``[B, ...]`` integer-valued float step indices in ``[0, steps - 1]`` or inf.
    Units:
        tau in steps; x and threshold dimensionless.
    """
    xt, n, tau_f, th = _check_latency_args(
        x, steps, mode, tau, threshold, normalize, silent_below_threshold
    )
    last = float(n - 1)
    with torch.no_grad():
        x_ = xt.detach()
        fires = x_ > th
        if mode == "linear":
            scale = last / (1.0 - th) if normalize else tau_f
            t = scale * (1.0 - x_)
        else:
            if normalize:
                x_lo = th + (1.0 - th) / n
                scale = last / math.log(x_lo / (x_lo - th))
            else:
                scale = tau_f
            # Evaluate the logarithm only where it is defined (x > threshold).
            safe = torch.where(fires, x_, torch.ones_like(x_))
            t = scale * torch.log(safe / (safe - th))
        t = torch.floor(torch.clamp(t, max=last) + 0.5)
        silent_value = math.inf if silent_below_threshold else last
        return torch.where(fires, t, torch.full_like(t, silent_value))


def latency(
    x: Tensor,
    steps: int,
    mode: LatencyMode = "linear",
    tau: float = 5.0,
    threshold: float = 0.01,
    normalize: bool = False,
    silent_below_threshold: bool = True,
) -> Tensor:
    """Latency (time-to-first-spike) coding: each input fires at most once, strong inputs first.

    The spike of each input sits at the step given by :func:`latency_times` (same arguments,
    same formulas); inputs whose time is inf stay silent.

    Shapes:
        x: ``[B, ...]`` intensities in ``[0, 1]``.
        returns: ``[T, B, ...]`` spikes (0/1) with ``T = steps``, at most one per input.
    Units:
        tau in steps; x and threshold dimensionless.
    """
    t = latency_times(x, steps, mode, tau, threshold, normalize, silent_below_threshold)
    grid = torch.arange(steps, dtype=t.dtype, device=t.device).reshape(steps, *([1] * t.dim()))
    return (grid == t.unsqueeze(0)).to(t.dtype)


# --------------------------------------------------------------------------------------------
# delta modulation
# --------------------------------------------------------------------------------------------


def delta(x: Tensor, threshold: float | Tensor, off_spikes: bool = True) -> Tensor:
    """Delta modulation: spike when the signal has moved ``threshold`` away from a reference.

    Each channel keeps a reference level, starting at ``x[0]``. At every step ``t``:

    * ON spike when ``x[t] - ref >= threshold``;
    * OFF spike when ``ref - x[t] >= threshold``;
    * when either fires, ``ref <- x[t]``.

    With ``off_spikes=False`` only the ON channel is returned; the reference still follows
    downward changes, so the ON output equals channel 0 of the full output.

    Shapes:
        x: ``[T, B, ...]`` time-major signal.
        threshold: float, or a tensor broadcastable to ``x[0]`` (per-channel thresholds).
        returns: ``[T, B, 2, ...]`` (channel 0 = ON, channel 1 = OFF), or ``[T, B, 1, ...]``
        with ``off_spikes=False``.
    Units:
        threshold in the units of ``x``.
    """
    xs = _check_tensor("x", x, 2, "[T, B, ...]")
    if xs.shape[0] == 0:
        raise ValueError(f"x must have at least one time step, got shape {tuple(xs.shape)}")
    check_positive("threshold", threshold, unit="(in the units of x)")
    if isinstance(threshold, Tensor):
        try:
            torch.broadcast_shapes(threshold.shape, xs.shape[1:])
        except RuntimeError:
            raise ValueError(
                f"threshold must be a float or a tensor broadcastable to x[0] of shape "
                f"{tuple(xs.shape[1:])}, got shape {tuple(threshold.shape)}"
            ) from None
        th: float | Tensor = threshold.detach().to(dtype=xs.dtype, device=xs.device)
    else:
        th = float(threshold)
    check_bool("off_spikes", off_spikes)
    with torch.no_grad():
        xd = xs.detach()
        ref = xd[0].clone()
        on = torch.zeros_like(xd)
        off = torch.zeros_like(xd)
        for t in range(xd.shape[0]):
            up = (xd[t] - ref) >= th
            down = (ref - xd[t]) >= th
            on[t] = up.to(xd.dtype)
            off[t] = down.to(xd.dtype)
            ref = torch.where(up | down, xd[t], ref)
        if off_spikes:
            return torch.stack((on, off), dim=2)
        return on.unsqueeze(2)


# --------------------------------------------------------------------------------------------
# population (Gaussian receptive field) coding
# --------------------------------------------------------------------------------------------


def population(
    x: Tensor,
    n: int,
    x_min: float,
    x_max: float,
    sigma: float | None = None,
) -> Tensor:
    """Gaussian receptive fields: spread each value over ``n`` tuned units.

    Unit ``i`` has centre ``c_i = x_min + i * (x_max - x_min) / (n - 1)`` and responds with
    ``exp(-(x - c_i)^2 / (2 sigma^2))``, a value in ``(0, 1]`` (1 at its centre). The default
    width makes the full width at half maximum equal to the centre spacing ``s``:
    ``sigma = s / (2 sqrt(2 ln 2)) ~= 0.4247 s``, so neighbouring fields cross at 0.5.
    Values outside ``[x_min, x_max]`` are allowed (they drive the edge units weakly).

    Feed the result to :func:`rate` or :func:`latency` to obtain spikes. The map is smooth and
    passes gradients to ``x``.

    Shapes:
        x: ``[B, ...]``.
        returns: ``[B, ..., n]`` intensities in ``[0, 1]``.
    Units:
        x_min, x_max and sigma in the units of x.
    """
    xt = _check_tensor("x", x, 1, "[B, ...]")
    n = check_int("n", n, 2)
    lo = _check_float("x_min", x_min)
    hi = _check_float("x_max", x_max)
    if not lo < hi:
        raise ValueError(f"x_min must be < x_max, got x_min={lo} and x_max={hi}")
    spacing = (hi - lo) / (n - 1)
    if sigma is None:
        width = spacing / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    else:
        width = _check_float("sigma", sigma)
        if width <= 0:
            raise ValueError(f"sigma must be > 0 (in the units of x), got {width}")
    centres = torch.linspace(lo, hi, n, dtype=xt.dtype, device=xt.device)
    return torch.exp(-((xt.unsqueeze(-1) - centres) ** 2) / (2.0 * width * width))
