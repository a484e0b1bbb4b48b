"""Spectral features: power spectrogram, mel filterbanks, log-mel / power-law features, and
per-utterance normalisation. Everything is time-major (``[T, B, channels]``, frames first)
and differentiable with respect to the waveform.

Frames: a Hann window (periodic, ``torch.hann_window``) of ``win_length`` samples, zero-padded
to ``n_fft``, every ``hop`` samples. With ``center=True`` (the default) frame ``t`` is centred
on sample ``t * hop`` (the signal is zero-padded by ``n_fft // 2`` on both sides), so a signal
of ``N`` samples gives ``1 + N // hop`` frames and frame ``t`` describes the time
``t * hop / sample_rate`` s; the frame step is ``hop / sample_rate`` s.

Mel scales (``f`` in Hz, ``m`` in mel):

* ``"htk"`` (O'Shaughnessy 1987, as in HTK): ``m = 2595 log10(1 + f / 700)``;
* ``"slaney"`` (Slaney's Auditory Toolbox, librosa's default): linear below 1 kHz,
  ``m = 3 f / 200``; logarithmic above, ``m = 15 + 27 ln(f / 1000) / ln(6.4)``.

``n_mels`` triangular filters sit on ``n_mels + 2`` edge frequencies equally spaced in mel
from ``f_min`` to ``f_max``: filter ``i`` rises linearly (in Hz) from 0 at edge ``i`` to 1 at
edge ``i + 1`` (its centre) and falls to 0 at edge ``i + 2``. Unnormalised filters
(``norm=None``) add up to exactly 1 between the first and the last centre; ``norm="slaney"``
scales filter ``i`` by ``2 / (edge[i+2] - edge[i])`` (Hz^-1, equal area).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, overload

import torch
from torch import Tensor, nn

from axonal.audio._checks import check_positive_real, check_rate, check_real, check_signal
from axonal.functional.validate import check_int, warn_plausibility

__all__ = [
    "MelScale",
    "Compression",
    "hz_to_mel",
    "mel_to_hz",
    "fft_frequencies",
    "mel_edges",
    "mel_filterbank",
    "spectrogram",
    "compress",
    "MelSpectrogram",
    "normalize_features",
]

MelScale = Literal["htk", "slaney"]
"""Which mel formula (module docstring)."""

Compression = Literal["log", "power", "none"]
"""``"log"``: ``log(x + eps)``; ``"power"``: ``(x + eps) ** p - eps ** p`` (p = 1/3 by
default: Stevens' power law, 0 maps to 0, the gradient stays finite at 0); ``"none"``."""

_F_SP = 200.0 / 3.0  # Slaney: Hz per mel below the break
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _F_SP  # 15 mel
_LOG_STEP = math.log(6.4) / 27.0  # Slaney: ln(Hz ratio) per mel above the break


def _check_scale(scale: object) -> MelScale:
    if scale == "htk":
        return "htk"
    if scale == "slaney":
        return "slaney"
    raise ValueError(f"scale must be 'htk' or 'slaney', got {scale!r}")


@overload
def hz_to_mel(f: float, scale: MelScale = "htk") -> float: ...
@overload
def hz_to_mel(f: Tensor, scale: MelScale = "htk") -> Tensor: ...
def hz_to_mel(f: float | Tensor, scale: MelScale = "htk") -> float | Tensor:
    """Frequency (Hz, >= 0) to mel on ``scale`` (module docstring)."""
    s = _check_scale(scale)
    t = torch.as_tensor(f, dtype=torch.float64) if not isinstance(f, Tensor) else f
    if s == "htk":
        m = 2595.0 * torch.log10(1.0 + t / 700.0)
    else:
        m = torch.where(
            t < _BREAK_HZ,
            t / _F_SP,
            _BREAK_MEL + torch.log(torch.clamp(t, min=_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP,
        )
    return m if isinstance(f, Tensor) else float(m)


@overload
def mel_to_hz(m: float, scale: MelScale = "htk") -> float: ...
@overload
def mel_to_hz(m: Tensor, scale: MelScale = "htk") -> Tensor: ...
def mel_to_hz(m: float | Tensor, scale: MelScale = "htk") -> float | Tensor:
    """Mel on ``scale`` to frequency (Hz); the inverse of :func:`hz_to_mel`."""
    s = _check_scale(scale)
    t = torch.as_tensor(m, dtype=torch.float64) if not isinstance(m, Tensor) else m
    if s == "htk":
        f = 700.0 * (torch.pow(10.0, t / 2595.0) - 1.0)
    else:
        f = torch.where(
            t < _BREAK_MEL,
            t * _F_SP,
            _BREAK_HZ * torch.exp(_LOG_STEP * (torch.clamp(t, min=_BREAK_MEL) - _BREAK_MEL)),
        )
    return f if isinstance(m, Tensor) else float(f)


def fft_frequencies(n_fft: int, sample_rate: int) -> Tensor:
    """Centre frequencies (Hz) of the ``n_fft // 2 + 1`` bins of a one-sided FFT, float64."""
    n = check_int("n_fft", n_fft, 2)
    sr = check_rate("sample_rate", sample_rate)
    return torch.arange(n // 2 + 1, dtype=torch.float64) * (sr / n)


def _check_band(f_min: object, f_max: object, sample_rate: int) -> tuple[float, float]:
    lo = check_real("f_min", f_min, "Hz")
    hi = sample_rate / 2.0 if f_max is None else check_real("f_max", f_max, "Hz")
    if not 0.0 <= lo < hi <= sample_rate / 2.0:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2:g} Hz, "
            f"got f_min={lo:g} Hz and f_max={hi:g} Hz"
        )
    return lo, hi


def mel_edges(
    n_mels: int, f_min: float, f_max: float, scale: MelScale = "htk"
) -> Tensor:
    """The ``n_mels + 2`` edge frequencies (Hz, float64) of the filters: equally spaced in mel
    from ``f_min`` to ``f_max``. Filter ``i`` spans ``[e[i], e[i+2]]`` with its peak at
    ``e[i+1]``."""
    n = check_int("n_mels", n_mels, 1)
    lo = check_real("f_min", f_min, "Hz")
    hi = check_real("f_max", f_max, "Hz")
    if not 0.0 <= lo < hi:
        raise ValueError(f"need 0 <= f_min < f_max, got f_min={lo:g} Hz and f_max={hi:g} Hz")
    s = _check_scale(scale)
    m = torch.linspace(hz_to_mel(lo, s), hz_to_mel(hi, s), n + 2, dtype=torch.float64)
    e = mel_to_hz(m, s)
    e[0], e[-1] = lo, hi  # exact ends despite the round trip
    return e


def mel_filterbank(
    n_freqs: int,
    sample_rate: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "htk",
    norm: Literal["slaney"] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Triangular mel filters over the bins of a one-sided spectrum (module docstring).

    Args:
        n_freqs: number of spectrum bins, ``n_fft // 2 + 1`` (>= 2); bin ``k`` is at
            ``k * sample_rate / (2 (n_freqs - 1))`` Hz.
        sample_rate: Hz.
        n_mels: number of filters (>= 1).
        f_min, f_max: the band (Hz), ``0 <= f_min < f_max <= sample_rate / 2``; ``f_max``
            ``None`` is ``sample_rate / 2``.
        scale: ``"htk"`` or ``"slaney"``.
        norm: ``None`` (peaks of 1) or ``"slaney"`` (equal area, module docstring).

    Returns:
        ``[n_freqs, n_mels]``: ``mel = power @ fbank``. A filter narrower than the bin spacing
        may cover no bin; that gives a :class:`~axonal.errors.PlausibilityWarning` (use fewer
        mels, a larger ``n_fft`` or a higher ``f_min``).
    """
    nf = check_int("n_freqs", n_freqs, 2)
    sr = check_rate("sample_rate", sample_rate)
    lo, hi = _check_band(f_min, f_max, sr)
    if norm is not None and norm != "slaney":
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    edges = mel_edges(n_mels, lo, hi, scale)
    freqs = torch.arange(nf, dtype=torch.float64) * (sr / (2.0 * (nf - 1)))
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    f = freqs[:, None]
    rise = (f - left) / (centre - left)
    fall = (right - f) / (right - centre)
    fb = torch.clamp(torch.minimum(rise, fall), min=0.0)
    if norm == "slaney":
        fb = fb * (2.0 / (right - left))
    empty = (fb.amax(dim=0) <= 0).nonzero().flatten().tolist()
    if empty:
        warn_plausibility(
            f"mel_filterbank: {len(empty)} of {n_mels} filters cover no FFT bin (filters "
            f"{empty[:8]}{'...' if len(empty) > 8 else ''}; bin spacing "
            f"{sr / (2.0 * (nf - 1)):g} Hz); use fewer mels, a larger n_fft or a higher f_min"
        )
    return fb.to(dtype)


def _check_frames(n_fft: object, hop: object, win_length: object) -> tuple[int, int, int]:
    n = check_int("n_fft", n_fft, 2)
    h = check_int("hop", hop, 1)
    w = n if win_length is None else check_int("win_length", win_length, 1)
    if w > n:
        raise ValueError(f"win_length must be <= n_fft = {n}, got {w}")
    return n, h, w


def spectrogram(
    x: Tensor,
    n_fft: int,
    hop: int,
    win_length: int | None = None,
    center: bool = True,
) -> Tensor:
    """Power spectrogram ``|STFT|^2`` with a Hann window, time-major.

    Args:
        x: ``[..., N]`` waveform (any leading shape, at most 3 dims before ``N``).
        n_fft: FFT length (samples, >= 2).
        hop: frame step (samples, >= 1).
        win_length: Hann window length (samples, <= n_fft; default n_fft).
        center: frames centred on ``t * hop`` (zero padding), else starting there.

    Returns:
        ``[T, ..., n_fft // 2 + 1]``: ``T = 1 + N // hop`` with ``center``, else
        ``1 + (N - n_fft) // hop`` (``N >= n_fft`` needed). Units: squared units of ``x``
        (sums over the window, unscaled).
    """
    xs = check_signal("x", x, (1, 2, 3, 4), "[..., N] (samples on the last axis)")
    n, h, w = _check_frames(n_fft, hop, win_length)
    if not isinstance(center, bool):
        raise TypeError(f"center must be a bool, got {type(center).__name__}")
    if not center and xs.shape[-1] < n:
        raise ValueError(f"x must have at least n_fft = {n} samples with center=False, "
                         f"got {xs.shape[-1]}")
    window = torch.hann_window(w, dtype=xs.dtype, device=xs.device)
    return _power(xs, n, h, window, center)


def _power(x: Tensor, n_fft: int, hop: int, window: Tensor, center: bool) -> Tensor:
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    if flat.shape[-1] == 0:
        raise ValueError("x must have at least one sample")
    spec = torch.stft(
        flat, n_fft, hop_length=hop, win_length=window.shape[0], window=window,
        center=center, pad_mode="constant", return_complex=True,
    )  # [M, F, T]
    p = spec.real.square() + spec.imag.square()
    p = p.reshape(*lead, p.shape[-2], p.shape[-1])
    return p.movedim(-1, 0)  # [T, ..., F]


def compress(
    x: Tensor, compression: Compression = "log", eps: float = 1e-6, exponent: float = 1.0 / 3.0
) -> Tensor:
    """Compress non-negative features: ``"log"``: ``log(x + eps)``; ``"power"``:
    ``(x + eps) ** exponent - eps ** exponent``; ``"none"``: ``x``."""
    e = check_positive_real("eps", eps)
    p = check_positive_real("exponent", exponent)
    if compression == "log":
        return torch.log(x + e)
    if compression == "power":
        floor = torch.pow(torch.full((), e, dtype=x.dtype, device=x.device), p)
        out: Tensor = torch.pow(x + e, p) - floor  # 0 at x = 0, up to rounding
        return out
    if compression == "none":
        return x
    raise ValueError(f"compression must be 'log', 'power' or 'none', got {compression!r}")


class MelSpectrogram(nn.Module):
    """Waveform to time-major mel features: ``[B, N]`` (or ``[N]``) -> ``[T, B, n_mels]``.

    Power spectrogram (:func:`spectrogram`), mel filterbank (:func:`mel_filterbank`), then
    :func:`compress`. ``[N]`` gives ``[T, 1, n_mels]`` (always rank 3, ready for a network).
    Frame ``t`` is centred on sample ``t * hop`` (``center=True``): ``T = 1 + N // hop``.
    Differentiable with respect to the waveform; nothing is learned (the window and the
    filterbank are buffers, moved by ``.to()``).

    Args:
        sample_rate: Hz.
        n_fft: FFT length (samples).
        hop: frame step (samples); ``dt = hop / sample_rate`` s.
        n_mels: number of mel bands.
        f_min, f_max: band (Hz); ``f_max=None`` is ``sample_rate / 2``.
        compression: ``"log"`` (``log(x + eps)``), ``"power"`` (``(x + eps)^exponent -
            eps^exponent``) or ``"none"``.
        eps: floor of the compression (squared units of the waveform).
        exponent: power-law exponent (default 1/3).
        win_length: Hann window length (samples, default ``n_fft``).
        scale, norm: as :func:`mel_filterbank`.
        center: as :func:`spectrogram`.

    Attributes:
        dt: frame step (s), ``hop / sample_rate``.
        fbank: ``[n_fft // 2 + 1, n_mels]`` filterbank (buffer).
        window: ``[win_length]`` Hann window (buffer).
    """

    fbank: Tensor
    window: Tensor

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 256,
        hop: int = 80,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        compression: Compression = "log",
        eps: float = 1e-6,
        exponent: float = 1.0 / 3.0,
        win_length: int | None = None,
        scale: MelScale = "htk",
        norm: Literal["slaney"] | None = None,
        center: bool = True,
    ) -> None:
        super().__init__()
        self.sample_rate = check_rate("sample_rate", sample_rate)
        self.n_fft, self.hop, self.win_length = _check_frames(n_fft, hop, win_length)
        self.n_mels = check_int("n_mels", n_mels, 1)
        self.f_min, self.f_max = _check_band(f_min, f_max, self.sample_rate)
        if compression not in ("log", "power", "none"):
            raise ValueError(
                f"compression must be 'log', 'power' or 'none', got {compression!r}"
            )
        self.compression: Compression = compression
        self.eps = check_positive_real("eps", eps)
        self.exponent = check_positive_real("exponent", exponent)
        if not isinstance(center, bool):
            raise TypeError(f"center must be a bool, got {type(center).__name__}")
        self.center = center
        self.scale = _check_scale(scale)
        self.dt = self.hop / self.sample_rate
        self.register_buffer("window", torch.hann_window(self.win_length))
        self.register_buffer(
            "fbank",
            mel_filterbank(self.n_fft // 2 + 1, self.sample_rate, self.n_mels, self.f_min,
                           self.f_max, self.scale, norm),
        )

    def frames(self, n_samples: int | Tensor) -> int | Tensor:
        """Number of frames for ``n_samples`` samples (int or integer tensor of lengths)."""
        if self.center:
            return 1 + n_samples // self.hop
        return 1 + (n_samples - self.n_fft) // self.hop

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N]`` or ``[N]`` waveform -> ``[T, B, n_mels]`` features (``B = 1`` for ``[N]``)."""
        xs = check_signal("x", x, (1, 2), "[B, N] or [N] (a waveform)")
        if xs.dim() == 1:
            xs = xs.unsqueeze(0)
        if not self.center and xs.shape[-1] < self.n_fft:
            raise ValueError(f"x must have at least n_fft = {self.n_fft} samples with "
                             f"center=False, got {xs.shape[-1]}")
        window = self.window.to(dtype=xs.dtype, device=xs.device)
        power = _power(xs, self.n_fft, self.hop, window, self.center)  # [T, B, F]
        mel = power @ self.fbank.to(dtype=xs.dtype, device=xs.device)
        return compress(mel, self.compression, self.eps, self.exponent)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop={self.hop}, "
                f"n_mels={self.n_mels}, f_min={self.f_min:g}, f_max={self.f_max:g}, "
                f"compression={self.compression!r}, dt={self.dt:g}")


def normalize_features(
    x: Tensor, lengths: Tensor | Sequence[int] | None = None, eps: float = 1e-5
) -> Tensor:
    """Per-utterance, per-channel mean/variance normalisation over the valid frames.

    For utterance ``b`` with ``L = lengths[b]`` valid frames, channel ``c`` becomes
    ``(x - mean) / sqrt(var + eps)`` with the mean and the (biased) variance of
    ``x[:L, b, c]``; frames ``t >= L`` (padding) are set to 0.

    Args:
        x: ``[T, B, C]`` features.
        lengths: ``[B]`` valid frames per utterance (ints in ``[1, T]``); ``None``: all ``T``.
        eps: added to the variance (squared units of ``x``, > 0).

    Returns:
        ``[T, B, C]``, differentiable with respect to ``x``.
    """
    xs = check_signal("x", x, (3,), "[T, B, C]")
    e = check_positive_real("eps", eps)
    t_len, b = xs.shape[0], xs.shape[1]
    if lengths is None:
        n = torch.full((b,), t_len, dtype=torch.long, device=xs.device)
    else:
        n = torch.as_tensor(lengths, device=xs.device)
        if n.is_floating_point() or n.dtype == torch.bool or n.is_complex():
            raise TypeError(f"lengths must hold integers, got dtype {n.dtype}")
        if n.shape != (b,):
            raise ValueError(f"lengths must be shaped [B] = [{b}], got {tuple(n.shape)}")
        if b and not bool(((n >= 1) & (n <= t_len)).all()):
            raise ValueError(f"lengths must lie in [1, T] = [1, {t_len}], got values in "
                             f"[{int(n.min())}, {int(n.max())}]")
    valid = (torch.arange(t_len, device=xs.device)[:, None] < n[None, :]).to(xs.dtype)
    valid = valid.unsqueeze(-1)  # [T, B, 1]
    count = n.to(xs.dtype)[:, None]  # [B, 1]
    mean = (xs * valid).sum(0) / count
    var = (((xs - mean) * valid) ** 2).sum(0) / count
    return (xs - mean) * torch.rsqrt(var + e) * valid
