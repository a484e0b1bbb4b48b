"""Spike codes for time-major features ``[T, B, ...]`` (e.g. mel bands ``[T, B, C]``), each
with its decoder.

* :func:`send_on_delta` / :func:`decode_delta`: level crossing with ON and OFF channels and
  a moving reference; the decoded signal is within one threshold of the input at every step.
* :func:`threshold_crossing` / :func:`decode_threshold_crossing`: upward and downward crossings
  of fixed levels; the decoder gives the band between two levels the signal is in.
* :func:`lif_hair_cell` / :func:`decode_lif_rate`: the feature drives a LIF neuron per channel
  (axonal's own :func:`~axonal.functional.neurons.lif.lif_step`); the decoder inverts the LIF
  f-I curve on the inter-spike interval.

Spike tensors are floats in the dtype and on the device of the input (0/1, or counts for
:func:`send_on_delta`). Inputs are checked once per call (shape, finiteness, thresholds > 0);
the loops run over time only, never over batch or channels. The delta and crossing encoders
are input transforms without gradient; the hair cell passes the LIF's surrogate gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.audio._checks import broadcasts_to, check_positive_real, check_real, check_signal, per_channel
from axonal.errors import NonFiniteError
from axonal.functional.neurons.family import ResetMode
from axonal.functional.neurons.lif import LIF_FAMILY, LIFParams
from axonal.functional.neurons.refractory import refractory_steps
from axonal.functional.validate import all_finite, check_dt, check_int, nonfinite_summary

__all__ = [
    "send_on_delta",
    "decode_delta",
    "threshold_crossing",
    "decode_threshold_crossing",
    "Band",
    "lif_hair_cell",
    "decode_lif_rate",
]

_SEQ = tuple(range(2, 33))


def _check_spikes(name: str, s: object, layout: str, min_rank: int) -> Tensor:
    t = check_signal(name, s, tuple(range(min_rank, 33)), layout)
    with torch.no_grad():
        if t.numel() and not bool((t >= 0).all()):
            raise ValueError(f"{name} must hold non-negative spike counts, got a minimum of "
                             f"{float(t.min())}")
    return t


def _x0(x0: float | Tensor, shape: tuple[int, ...], like: Tensor) -> Tensor:
    if isinstance(x0, Tensor):
        if not x0.is_floating_point():
            raise TypeError(f"x0 must be a float or a floating tensor, got dtype {x0.dtype}")
        if not broadcasts_to(x0.shape, shape):
            raise ValueError(f"x0 must be a float or a tensor broadcastable to one step "
                             f"{shape}, got shape {tuple(x0.shape)}")
        if not all_finite((x0,)):
            raise NonFiniteError(f"x0 must be finite, got a tensor with {nonfinite_summary(x0)}")
        return x0.detach().to(dtype=like.dtype, device=like.device).expand(shape)
    return torch.full(shape, check_real("x0", x0), dtype=like.dtype, device=like.device)


# --------------------------------------------------------------------------------------------
# send-on-delta
# --------------------------------------------------------------------------------------------


def send_on_delta(
    x: Tensor,
    threshold: float | Tensor,
    x0: float | Tensor = 0.0,
    max_count: int | None = None,
) -> Tensor:
    """Send-on-delta (level-crossing) code with ON and OFF channels and a moving reference.

    Each channel keeps a reference ``ref``, starting at ``x0``, that always lies on the grid
    ``x0 + k * threshold``. At step ``t`` the reference moves by whole thresholds towards
    ``x[t]`` until it is less than one threshold away, and every threshold it moves is one
    event: ``ON = floor((x[t] - ref) / threshold)`` events when the signal rose by at least a
    threshold, ``OFF = floor((ref - x[t]) / threshold)`` when it fell. A jump of several
    thresholds in one step gives a **count** above 1 in one step (the code stays exact);
    ``max_count`` clips the count per step (the reference then lags and catches up later,
    so the one-threshold bound holds only while the signal moves slower than
    ``max_count * threshold`` per step).

    Hence ``|x[t] - decode_delta(spikes, threshold, x0)[t]| < threshold`` at every step.
    Unlike :func:`axonal.functional.encode.delta`, which sets the reference to ``x[t]`` on
    each event and emits at most one, this reference moves by exactly one threshold per event,
    so the sum of the events is the signal: errors do not accumulate.

    Args:
        x: ``[T, B, ...]`` signal.
        threshold: step size (> 0, units of ``x``): a float, or a tensor broadcastable to
            ``x[0]`` (per channel).
        x0: the initial reference (float or tensor broadcastable to ``x[0]``); ``0`` by
            default, so the first step carries the initial level as a burst; pass ``x[0]``
            to start silent.
        max_count: most events per step and channel (int >= 1), ``None``: unbounded.

    Returns:
        ``[T, B, 2, ...]`` event counts (channel 0: ON, channel 1: OFF), ``x``'s dtype.
    """
    xs = check_signal("x", x, _SEQ, "[T, B, ...] (time-major)")
    shape = tuple(xs.shape[1:])
    th = per_channel("threshold", threshold, shape, xs)
    ref0 = _x0(x0, shape, xs)
    cap = None if max_count is None else check_int("max_count", max_count, 1)
    with torch.no_grad():
        u = (xs.detach() - ref0) / th  # the signal in thresholds above x0
        k = torch.zeros(shape, dtype=xs.dtype, device=xs.device)  # ref = x0 + k threshold
        ks = torch.empty_like(u)
        for t in range(u.shape[0]):
            target = torch.minimum(torch.maximum(k, torch.floor(u[t])), torch.ceil(u[t]))
            if cap is not None:
                target = torch.clamp(target, k - cap, k + cap)
            ks[t] = k = target
        moves = torch.diff(ks, dim=0, prepend=torch.zeros_like(ks[:1]))
        return torch.stack((moves.clamp(min=0), (-moves).clamp(min=0)), dim=2)


def decode_delta(spikes: Tensor, threshold: float | Tensor, x0: float | Tensor = 0.0) -> Tensor:
    """The reference of :func:`send_on_delta`: ``x0 + threshold * cumsum(ON - OFF)``.

    Args:
        spikes: ``[T, B, 2, ...]`` ON/OFF counts.
        threshold, x0: as given to the encoder.

    Returns:
        ``[T, B, ...]``, within one threshold of the encoded signal at every step (unless the
        encoder clipped counts).
    """
    s = _check_spikes("spikes", spikes, "[T, B, 2, ...] (ON, OFF)", 3)
    if s.shape[2] != 2:
        raise ValueError(f"spikes must be shaped [T, B, 2, ...] (ON, OFF), got shape "
                         f"{tuple(s.shape)}")
    shape = (s.shape[1], *s.shape[3:])
    th = per_channel("threshold", threshold, shape, s)
    ref0 = _x0(x0, shape, s)
    return ref0 + th * torch.cumsum(s[:, :, 0] - s[:, :, 1], dim=0)


# --------------------------------------------------------------------------------------------
# threshold crossing
# --------------------------------------------------------------------------------------------


def _check_levels(levels: object, channel_shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Levels ``[L, ...]`` (strictly increasing along axis 0), broadcast to ``[L, *channel]``
    where ``channel`` is one step of ``x`` without the batch axis."""
    if isinstance(levels, Tensor):
        lv = levels
    elif isinstance(levels, Sequence) and not isinstance(levels, (str, bytes)):
        try:
            lv = torch.tensor([float(v) for v in levels], dtype=torch.float64)
        except (TypeError, ValueError):
            raise TypeError("levels must be a sequence of numbers or a tensor") from None
    else:
        raise TypeError(f"levels must be a sequence of numbers or a tensor [L, ...], got "
                        f"{type(levels).__name__}")
    if not lv.is_floating_point():
        lv = lv.to(torch.float64)
    if lv.dim() == 0 or lv.shape[0] == 0:
        raise ValueError(f"levels must hold at least one level along axis 0, got shape "
                         f"{tuple(lv.shape)}")
    if lv.dim() == 1:  # shared by every channel
        lv = lv.reshape(-1, *([1] * len(channel_shape)))
    if not all_finite((lv,)):
        raise NonFiniteError(f"levels must be finite, got a tensor with {nonfinite_summary(lv)}")
    target = (lv.shape[0], *channel_shape)
    if not broadcasts_to(lv.shape, target):
        raise ValueError(f"levels must be shaped [L] or [L, ...] broadcastable to [L, *x.shape[2:]] "
                         f"= {list(target)}, got shape {tuple(lv.shape)}")
    lv = lv.detach().to(dtype=like.dtype, device=like.device)
    if lv.shape[0] > 1 and not bool((lv[1:] > lv[:-1]).all()):
        raise ValueError("levels must increase strictly along axis 0")
    return lv.expand(target)


def threshold_crossing(x: Tensor, levels: Tensor | Sequence[float]) -> Tensor:
    """Spikes on every upward and every downward crossing of fixed levels.

    Level ``l`` is crossed upward at step ``t`` when ``x[t-1] < level[l] <= x[t]`` and
    downward when ``x[t-1] >= level[l] > x[t]``. Before the first step the signal counts as
    below every level, so step 0 has an upward spike for each level ``<= x[0]`` and the code
    needs no initial value.

    Args:
        x: ``[T, B, ...]`` signal.
        levels: ``[L]`` levels shared by every channel, or ``[L, ...]`` broadcastable to
            ``[L, *x.shape[2:]]`` (per channel), strictly increasing along axis 0.

    Returns:
        ``[T, B, 2, L, ...]`` spikes (0/1): channel 0 upward, channel 1 downward crossings.
    """
    xs = check_signal("x", x, _SEQ, "[T, B, ...] (time-major)")
    lv = _check_levels(levels, tuple(xs.shape[2:]), xs)
    with torch.no_grad():
        above = xs.detach().unsqueeze(2) >= lv  # [T, B, L, ...]
        before = torch.cat((torch.zeros_like(above[:1]), above[:-1]), dim=0)
        up = above & ~before
        down = before & ~above
        return torch.stack((up, down), dim=2).to(xs.dtype)


class Band(NamedTuple):
    """Where :func:`decode_threshold_crossing` puts the signal at each step.

    Attributes:
        n_below: ``[T, B, ...]`` (long): the number of levels at or below the signal, ``0..L``.
        lower: ``[T, B, ...]``: ``levels[n_below - 1]`` (``-inf`` for 0), ``<= x``.
        upper: ``[T, B, ...]``: ``levels[n_below]`` (``+inf`` for ``L``), ``> x``.
    """

    n_below: Tensor
    lower: Tensor
    upper: Tensor


def decode_threshold_crossing(spikes: Tensor, levels: Tensor | Sequence[float]) -> Band:
    """The band the signal is in at each step, from :func:`threshold_crossing`'s spikes:
    ``n_below[t] = sum over steps <= t and levels of (up - down)``, and the two levels around it.

    Args:
        spikes: ``[T, B, 2, L, ...]``.
        levels: as given to the encoder.
    """
    s = _check_spikes("spikes", spikes, "[T, B, 2, L, ...] (up, down)", 4)
    if s.shape[2] != 2:
        raise ValueError(f"spikes must be shaped [T, B, 2, L, ...] (up, down), got shape "
                         f"{tuple(s.shape)}")
    lv = _check_levels(levels, tuple(s.shape[4:]), s)
    if lv.shape[0] != s.shape[3]:
        raise ValueError(f"spikes hold {s.shape[3]} levels (axis 3) but levels has "
                         f"{lv.shape[0]}")
    with torch.no_grad():
        net = (s[:, :, 0] - s[:, :, 1]).sum(dim=2)  # [T, B, ...]
        index = torch.round(torch.cumsum(net, dim=0)).long()
        if index.numel() and not bool(((index >= 0) & (index <= lv.shape[0])).all()):
            raise ValueError("spikes are not a threshold-crossing code: the running count "
                             "of crossings leaves [0, L]")
        inf = torch.full_like(lv[:1], float("inf"))
        ext = torch.cat((-inf, lv, inf), dim=0)  # [L + 2, ...]; ext[i] = levels[i - 1]
        ext = ext.unsqueeze(0).unsqueeze(0).expand(s.shape[0], s.shape[1], *ext.shape)
        lower = torch.gather(ext, 2, index.unsqueeze(2)).squeeze(2)
        upper = torch.gather(ext, 2, (index + 1).unsqueeze(2)).squeeze(2)
    return Band(index, lower, upper)


# --------------------------------------------------------------------------------------------
# LIF hair cell
# --------------------------------------------------------------------------------------------


def _thresholds(threshold: float | Tensor | Sequence[float]) -> float | Tensor:
    """A float (one neuron per channel) or a 1-D float64 tensor ``[K]`` (K neurons)."""
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        return check_positive_real("threshold", threshold, "mV")
    if isinstance(threshold, Tensor):
        th = threshold.detach()
        if not th.is_floating_point():
            th = th.to(torch.float64)
    elif isinstance(threshold, Sequence) and not isinstance(threshold, (str, bytes)):
        try:
            th = torch.tensor([float(v) for v in threshold], dtype=torch.float64)
        except (TypeError, ValueError):
            raise TypeError("threshold must be a float, a sequence of floats or a 1-D "
                            "tensor") from None
    else:
        raise TypeError(f"threshold must be a float, a sequence of floats or a 1-D tensor, "
                        f"got {type(threshold).__name__}")
    if th.dim() != 1 or th.shape[0] == 0:
        raise ValueError(f"threshold must be a float or a 1-D tensor [K] of staggered "
                         f"thresholds, got shape {tuple(th.shape)}")
    if not all_finite((th,)):
        raise NonFiniteError(f"threshold must be finite, got a tensor with "
                             f"{nonfinite_summary(th)}")
    if not bool((th > 0).all()):
        raise ValueError(f"threshold must be > 0 mV, got a minimum of {float(th.min())}")
    return th


def _hair_params(
    tau: float, threshold: float | Tensor, t_ref: float, channel_rank: int, like: Tensor
) -> LIFParams:
    v_th: float | Tensor = threshold
    if isinstance(threshold, Tensor):  # [K] -> [K, 1, ..., 1] against one step [B, K, ...]
        v_th = threshold.to(dtype=like.dtype, device=like.device).reshape(
            -1, *([1] * channel_rank))
    return LIFParams(tau_mem=tau, v_leak=0.0, v_th=v_th, v_reset=0.0, r=1.0, t_ref=t_ref,
                     reset=ResetMode.ZERO)


def lif_hair_cell(
    x: Tensor,
    dt: float,
    tau: float = 10e-3,
    threshold: float | Tensor | Sequence[float] = 1.0,
    t_ref: float = 0.0,
    gain: float = 1.0,
    substeps: int = 1,
) -> Tensor:
    """Drive one LIF neuron per channel (or ``K`` with staggered thresholds) with a
    non-negative feature as input current.

    The neuron is :func:`~axonal.functional.neurons.lif.lif_step` with ``v_leak = v_reset =
    0`` mV, ``r = 1`` MOhm, a hard reset to 0 and Brian2's refractory period ``t_ref``;
    the input current is ``gain * x`` nA, each frame held for ``substeps`` steps of
    ``dt / substeps`` s. A channel fires when ``gain * x > threshold`` (rheobase), at about
    the rate of the f-I curve ``1 / (t_ref + tau ln(I / (I - v_th)))`` (``I = gain x`` in
    mV across 1 MOhm), which :func:`decode_lif_rate` inverts.

    Args:
        x: ``[T, B, ...]`` non-negative features (e.g. power-law compressed mel bands, or
            half-wave rectified ones: ``x.clamp(min=0)``).
        dt: time step of ``x`` (s), e.g. ``MelSpectrogram.dt``.
        tau: membrane time constant (s, > 0).
        threshold: ``v_th`` (mV, > 0): a float, or ``K`` staggered thresholds (sequence or
            1-D tensor), one neuron each.
        t_ref: refractory period (s, >= 0).
        gain: input current per unit of ``x`` (nA, > 0).
        substeps: LIF steps per frame (int >= 1).

    Returns:
        Spikes (0/1) on the grid of ``dt / substeps`` s: ``[T * substeps, B, ...]`` for a
        float threshold, ``[T * substeps, B, K, ...]`` for ``K`` thresholds. Gradients reach
        ``x`` through the LIF's surrogate.
    """
    xs = check_signal("x", x, _SEQ, "[T, B, ...] (time-major)")
    with torch.no_grad():
        if xs.numel() and not bool((xs >= 0).all()):
            raise ValueError(
                f"x must be non-negative (an input current), got a minimum of "
                f"{float(xs.min())}; rectify it (x.clamp(min=0)) or use power-law features"
            )
    dt = check_dt(dt)
    tau_f = check_positive_real("tau", tau, "s")
    t_ref_f = check_real("t_ref", t_ref, "s")
    if t_ref_f < 0:
        raise ValueError(f"t_ref must be >= 0 s, got {t_ref_f}")
    g = check_positive_real("gain", gain, "nA")
    n_sub = check_int("substeps", substeps, 1)
    th = _thresholds(threshold)
    current = g * (xs.repeat_interleave(n_sub, dim=0) if n_sub > 1 else xs)
    if isinstance(th, Tensor):
        current = current.unsqueeze(2).expand(
            current.shape[0], current.shape[1], th.shape[0], *current.shape[2:])
    params = _hair_params(tau_f, th, t_ref_f, xs.dim() - 2, xs)
    return LIF_FAMILY.multi_step(current, None, params, dt / n_sub).out


def decode_lif_rate(
    spikes: Tensor,
    dt: float,
    window: int,
    tau: float = 10e-3,
    threshold: float | Tensor | Sequence[float] = 1.0,
    t_ref: float = 0.0,
    gain: float = 1.0,
) -> Tensor:
    """The input intensity of :func:`lif_hair_cell` per window, from the spike rate.

    In each window of ``window`` steps the period ``P`` is the mean inter-spike interval
    ``(t_last - t_first) / (n - 1)``: for a constant input it is exact, since after its
    first spike in the window the neuron starts from the reset value. The f-I curve
    ``P = t_ref + tau ln(I / (I - v_th))`` is then inverted::

        I = v_th / (1 - exp(-s / tau)),   s = P - (max(n_ref, 1) - 1/2) dt,
        x = I / gain,

    where ``n_ref`` is the refractory period in whole samples (Brian2's rule) and the half
    step is the mean delay of the threshold crossing to the next sample. The period is known to
    the step, so the relative resolution is about ``(I / v_th - 1) dt / (2 tau)``: choose
    ``dt`` (the encoder's ``substeps``) small against ``tau``. Windows with fewer
    than two spikes give 0 (the input was below rheobase, ``gain * x <= v_th``, or too weak
    to fire twice in the window).

    Args:
        spikes: ``[T, B, ...]`` (or ``[T, B, K, ...]`` for ``K`` thresholds), as returned.
        dt: the step of ``spikes`` (s), i.e. the encoder's ``dt / substeps``.
        window: steps per window (int >= 2); ``T`` must be a multiple of it.
        tau, threshold, t_ref, gain: as given to the encoder.

    Returns:
        ``[T // window, B, ...]`` (or ``[T // window, B, K, ...]``) decoded ``x``.
    """
    s = _check_spikes("spikes", spikes, "[T, B, ...] (time-major)", 2)
    dt = check_dt(dt)
    w = check_int("window", window, 2)
    if s.shape[0] % w:
        raise ValueError(f"spikes has {s.shape[0]} steps, not a multiple of window = {w}")
    tau_f = check_positive_real("tau", tau, "s")
    t_ref_f = check_real("t_ref", t_ref, "s")
    if t_ref_f < 0:
        raise ValueError(f"t_ref must be >= 0 s, got {t_ref_f}")
    g = check_positive_real("gain", gain, "nA")
    th = _thresholds(threshold)
    v_th: float | Tensor = th
    if isinstance(th, Tensor):
        if s.dim() < 3 or s.shape[2] != th.shape[0]:
            raise ValueError(f"with {th.shape[0]} thresholds spikes must be shaped "
                             f"[T, B, {th.shape[0]}, ...], got shape {tuple(s.shape)}")
        v_th = th.to(dtype=s.dtype, device=s.device).reshape(-1, *([1] * (s.dim() - 3)))
    with torch.no_grad():
        fired = (s.detach() > 0).reshape(s.shape[0] // w, w, *s.shape[1:])
        n = fired.sum(dim=1)
        steps = torch.arange(w, device=s.device, dtype=s.dtype).reshape(1, w, *([1] * (s.dim() - 1)))
        first = torch.where(fired, steps, torch.full_like(steps, float(w))).amin(dim=1)
        last = torch.where(fired, steps, torch.full_like(steps, -1.0)).amax(dim=1)
        ok = n >= 2
        period = (last - first) / torch.clamp(n - 1, min=1).to(s.dtype) * dt
        lead = (max(refractory_steps(t_ref_f, dt), 1) - 0.5) * dt
        sl = torch.clamp(period - lead, min=0.5 * dt)
        current = v_th / -torch.expm1(-sl / tau_f)
        return torch.where(ok, current / g, torch.zeros_like(current))
