"""Band-limited resampling by a rational factor: windowed-sinc low-pass, polyphase.

With ``g = gcd(orig_hz, new_hz)``, ``up = new_hz / g`` and ``down = orig_hz / g``, the signal is
(conceptually) upsampled by ``up`` (zeros between samples), low-pass filtered at
``min(orig_hz, new_hz) / 2`` Hz and every ``down``-th sample kept. The filter is an ideal
low-pass (a sinc) times a Kaiser window::

    h[k] = up * w[k] sinc(f_c (k - c)) / sum_j w[j] sinc(f_c (j - c)),   k = 0 .. 2c,
    c = zeros * max(up, down),   f_c = 1 / max(up, down),   w = Kaiser(2c + 1, beta)

(``sinc(u) = sin(pi u) / (pi u)``; ``f_c`` is the cutoff relative to the Nyquist frequency
of the upsampled rate, ``zeros`` the half-length in zero crossings of the sinc). The filter
is zero-phase: output sample ``n`` sits at time ``n / new_hz``, the time of input sample
``n * orig_hz / new_hz``, and there are ``ceil(N * up / down)`` of them. Outside the signal
the input counts as zero. These are the conventions (and, with the defaults, the filter) of
``scipy.signal.resample_poly``.

The zeros of the upsampled signal are never multiplied: output sample ``r + k up`` uses
only the taps ``h[p_r + j up]`` of one phase ``r``, so the work is one strided ``conv1d``
with ``up`` output channels (one per phase), about ``N * up * (2 zeros max(up, down) / down + 1)``
multiply-adds. The operation is linear and differentiable with respect to ``x``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from axonal.audio._checks import check_positive_real, check_rate, check_signal
from axonal.functional.validate import check_int

__all__ = ["resample", "resample_filter"]


def _ratio(orig_hz: int, new_hz: int) -> tuple[int, int]:
    g = math.gcd(orig_hz, new_hz)
    return new_hz // g, orig_hz // g


@lru_cache(maxsize=32)
def _design(up: int, down: int, zeros: int, beta: float) -> np.ndarray:
    """The windowed-sinc low-pass of the module docstring, float64, length ``2c + 1``."""
    m = max(up, down)
    half = zeros * m
    k = np.arange(2 * half + 1, dtype=np.float64) - half
    h = np.sinc(k / m) * np.kaiser(2 * half + 1, beta)
    h *= up / h.sum()
    h.setflags(write=False)
    return h


def resample_filter(orig_hz: int, new_hz: int, zeros: int = 10, beta: float = 5.0) -> Tensor:
    """The low-pass filter :func:`resample` applies at the upsampled rate ``up * orig_hz``
    (float64, ``[2 zeros max(up, down) + 1]``, DC gain ``up``)."""
    up, down = _ratio(check_rate("orig_hz", orig_hz), check_rate("new_hz", new_hz))
    return torch.from_numpy(
        _design(up, down, check_int("zeros", zeros, 1), check_positive_real("beta", beta)).copy()
    )


@lru_cache(maxsize=32)
def _polyphase(up: int, down: int, zeros: int, beta: float) -> tuple[np.ndarray, int]:
    """Conv weights ``[up, 1, width]`` and the left padding for :func:`resample`.

    Output ``n = r + k up`` is ``sum_j x[j] h[n down - j up + c]``. With ``q = r down + c``,
    ``A = q // up`` and ``p = q % up`` the nonzero terms are ``j = k down + A - i`` for
    ``i = 0, 1, ...`` with tap ``h[p + i up]``. A strided conv (stride ``down``) over ``x``
    padded by ``P`` on the left reads ``x[k down + m - P]``, so the kernel of phase ``r`` holds
    ``h[p + i up]`` at ``m = A - i + P``.
    """
    h = _design(up, down, zeros, beta)
    c = (len(h) - 1) // 2
    phases = []
    for r in range(up):
        q = r * down + c
        a, p = divmod(q, up)
        taps = h[p::up]
        phases.append((a, taps))
    pad = max(len(taps) - 1 - a for a, taps in phases)
    pad = max(pad, 0)
    width = max(a for a, _ in phases) + pad + 1
    w = np.zeros((up, 1, width), dtype=np.float64)
    for r, (a, taps) in enumerate(phases):
        for i, tap in enumerate(taps):
            w[r, 0, a - i + pad] = tap
    w.setflags(write=False)
    return w, pad


def resample(
    x: Tensor, orig_hz: int, new_hz: int, zeros: int = 10, beta: float = 5.0
) -> Tensor:
    """Resample the last axis of ``x`` from ``orig_hz`` to ``new_hz`` (band-limited).

    See the module docstring for the filter. Frequencies above ``min(orig_hz, new_hz) / 2``
    are removed (the transition band is about ``(beta + 2) / (zeros * 2 pi)`` of that
    frequency wide around it); in-band tones pass with a gain within about 1e-3 of one.

    Args:
        x: ``[..., N]`` samples (any leading shape), floating point, finite.
        orig_hz: the sample rate of ``x`` (Hz, int > 0).
        new_hz: the wanted sample rate (Hz, int > 0).
        zeros: half-length of the filter in zero crossings of the sinc (>= 1; longer: a
            sharper cutoff, more work).
        beta: Kaiser window shape (> 0; larger: less ripple, a wider transition).

    Returns:
        ``[..., ceil(N * up / down)]`` in ``x``'s dtype and device (``x`` itself, cloned, when
        the rates are equal).
    """
    xs = check_signal("x", x, tuple(range(1, 33)), "[..., N] (samples on the last axis)")
    up, down = _ratio(check_rate("orig_hz", orig_hz), check_rate("new_hz", new_hz))
    zeros = check_int("zeros", zeros, 1)
    beta_f = check_positive_real("beta", beta)
    if up == down:
        return xs.clone()
    n = xs.shape[-1]
    n_out = -(-n * up // down)
    lead = xs.shape[:-1]
    if n == 0:
        return xs.new_zeros((*lead, 0))
    w_np, pad = _polyphase(up, down, zeros, beta_f)
    w = torch.from_numpy(np.array(w_np)).to(dtype=xs.dtype, device=xs.device)
    width = w.shape[-1]
    per_phase = -(-n_out // up)  # outputs k = 0 .. per_phase - 1 of every phase
    right = max(0, (per_phase - 1) * down + width - pad - n)
    flat = xs.reshape(-1, 1, n)
    y = F.conv1d(F.pad(flat, (pad, right)), w, stride=down)[..., :per_phase]  # [M, up, K]
    y = y.transpose(1, 2).reshape(flat.shape[0], per_phase * up)[:, :n_out]
    return y.reshape(*lead, n_out)
