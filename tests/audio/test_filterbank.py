"""Spectral features: mel formulas, filter shapes and tiling, the spectrogram against numpy's
FFT of hand-made frames, the time-major MelSpectrogram (shapes, compression, gradients),
per-utterance normalisation, and refusals."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from axonal.audio import (
    MelSpectrogram,
    fft_frequencies,
    hz_to_mel,
    mel_edges,
    mel_filterbank,
    mel_to_hz,
    normalize_features,
    spectrogram,
)
from axonal.errors import NonFiniteError, PlausibilityWarning


def _htk(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _slaney(f: np.ndarray) -> np.ndarray:
    return np.where(f < 1000, 3 * f / 200, 15 + 27 * np.log(np.maximum(f, 1e-9) / 1000) / np.log(6.4))


def test_mel_scales_known_values_and_inverse() -> None:
    assert hz_to_mel(700.0, "htk") == pytest.approx(2595 * math.log10(2))
    assert hz_to_mel(1000.0, "htk") == pytest.approx(1000.0, abs=0.02)
    assert hz_to_mel(1000.0, "slaney") == pytest.approx(15.0)
    assert hz_to_mel(6400.0, "slaney") == pytest.approx(42.0)
    assert hz_to_mel(500.0, "slaney") == pytest.approx(7.5)
    f = torch.linspace(0, 8000, 97, dtype=torch.float64)
    for scale, ref in (("htk", _htk), ("slaney", _slaney)):
        m = hz_to_mel(f, scale)  # type: ignore[arg-type]
        assert np.allclose(m.numpy(), ref(f.numpy()))
        assert torch.allclose(mel_to_hz(m, scale), f, atol=1e-9)  # type: ignore[arg-type]


@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_filters_follow_the_triangle_formula(scale: str) -> None:
    sr, n_fft, n_mels, lo, hi = 8000, 512, 20, 20.0, 4000.0
    fb = mel_filterbank(n_fft // 2 + 1, sr, n_mels, lo, hi, scale, dtype=torch.float64).numpy()  # type: ignore[arg-type]
    assert fb.shape == (257, 20)
    to_mel = _htk if scale == "htk" else _slaney
    grid = np.linspace(to_mel(np.array(lo)), to_mel(np.array(hi)), n_mels + 2)
    edges = mel_edges(n_mels, lo, hi, scale).numpy()  # type: ignore[arg-type]
    assert np.allclose(to_mel(edges), grid)  # equally spaced in mel, ends exact
    assert edges[0] == lo and edges[-1] == hi
    freqs = np.arange(257) * sr / n_fft
    for i in range(n_mels):
        a, c, b = edges[i : i + 3]
        want = np.clip(np.minimum((freqs - a) / (c - a), (b - freqs) / (b - c)), 0, None)
        assert np.allclose(fb[:, i], want)
        inside = (freqs > a) & (freqs < b)
        assert np.all(fb[inside, i] > 0) and np.all(fb[~inside, i] == 0)
        assert np.isclose(freqs[np.argmax(fb[:, i])], c, atol=sr / n_fft / 2 + 1e-9)
    centres = edges[1:-1]
    between = (freqs >= centres[0]) & (freqs <= centres[-1])
    assert np.allclose(fb.sum(1)[between], 1.0)  # the filters tile the band
    assert np.all(fb.sum(1)[(freqs < lo) | (freqs > hi)] == 0)


def test_slaney_norm_gives_equal_areas() -> None:
    n_fft = 1 << 15
    fb = mel_filterbank(n_fft // 2 + 1, 16000, 30, 0.0, 8000.0, "slaney", "slaney", torch.float64)
    areas = fb.sum(0).numpy() * (16000 / n_fft)
    assert np.allclose(areas, 1.0, atol=1e-3)


def test_spectrogram_matches_numpy_frames() -> None:
    sr, n_fft, hop = 8000, 64, 16
    x = torch.randn(2, 300, dtype=torch.float64)
    p = spectrogram(x, n_fft, hop)
    assert p.shape == (1 + 300 // hop, 2, n_fft // 2 + 1)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    padded = np.pad(x.numpy(), ((0, 0), (n_fft // 2, n_fft // 2)))
    for t in (0, 5, p.shape[0] - 1):
        frame = padded[:, t * hop : t * hop + n_fft] * win
        assert np.allclose(p[t].numpy(), np.abs(np.fft.rfft(frame, axis=-1)) ** 2)
    tone = torch.sin(2 * torch.pi * 1000.0 * torch.arange(800) / sr)  # bin 8 of 64 at 8 kHz
    assert int(spectrogram(tone, n_fft, hop)[10].argmax()) == 8
    assert fft_frequencies(n_fft, sr)[8] == 1000.0
    assert spectrogram(x, n_fft, hop, center=False).shape == (1 + (300 - n_fft) // hop, 2, 33)


def test_mel_spectrogram_shapes_time_step_and_compression() -> None:
    m = MelSpectrogram(8000, n_fft=256, hop=80, n_mels=40, f_min=20.0, f_max=4000.0)
    assert m.dt == pytest.approx(0.01)
    x = 0.1 * torch.randn(3, 8000)
    y = m(x)
    assert y.shape == (101, 3, 40) and m.frames(8000) == 101 and y.dtype == torch.float32
    assert m(x[0]).shape == (101, 1, 40)
    assert torch.allclose(m(x[1]), y[:, 1:2], atol=1e-5)
    lengths = m.frames(torch.tensor([8000, 4000]))
    assert isinstance(lengths, torch.Tensor) and lengths.tolist() == [101, 51]
    power = MelSpectrogram(8000, 256, 80, 40, 20.0, 4000.0, compression="none")(x)
    assert torch.allclose(y, torch.log(power + 1e-6), atol=1e-5)
    cube = MelSpectrogram(8000, 256, 80, 40, 20.0, 4000.0, compression="power")(x)
    assert torch.allclose(cube, (power + 1e-6) ** (1 / 3) - 1e-2, atol=1e-5)
    silent = MelSpectrogram(8000, 256, 80, 40, compression="power")(torch.zeros(1, 400))
    assert float(silent.abs().max()) < 1e-8  # 0 maps to 0 (up to rounding)
    assert torch.allclose(MelSpectrogram(8000, 256, 80, 40)(torch.zeros(400)), torch.tensor(math.log(1e-6)))
    # a 1 kHz tone lands in the band whose centre is nearest to 1 kHz
    tone = torch.sin(2 * torch.pi * 1000.0 * torch.arange(4000) / 8000)
    band = int(m(tone)[20, 0].argmax())
    centres = mel_edges(40, 20.0, 4000.0)[1:-1]
    assert band == int((centres - 1000.0).abs().argmin())


@pytest.mark.parametrize("compression", ["log", "power", "none"])
def test_mel_spectrogram_gradcheck(compression: str) -> None:
    m = MelSpectrogram(1000, n_fft=16, hop=4, n_mels=3, compression=compression).double()  # type: ignore[arg-type]
    x = torch.randn(2, 24, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,), fast_mode=True)


def test_filterbank_warns_about_empty_filters() -> None:
    with pytest.warns(PlausibilityWarning, match="cover no FFT bin"):
        mel_filterbank(9, 8000, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scale in ("htk", "slaney"):
            for n_mels in (40, 64):  # the speech recipe's settings are fine
                MelSpectrogram(8000, 256, 80, n_mels, 20.0, 4000.0, scale=scale)  # type: ignore[arg-type]


def test_normalize_features_uses_valid_frames_only() -> None:
    x = torch.randn(30, 3, 5, dtype=torch.float64) * 4 + 2
    lengths = [30, 12, 1]
    y = normalize_features(x, lengths)
    for b, n in enumerate(lengths):
        v = y[:n, b]
        assert torch.allclose(v.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-9)
        if n > 1:
            assert torch.allclose(v.var(0, unbiased=False), torch.ones(5, dtype=torch.float64), atol=1e-4)
        assert torch.all(y[n:, b] == 0)
    x2 = x.clone()
    x2[12:, 1] = 1e3  # padding content does not matter
    assert torch.allclose(normalize_features(x2, torch.tensor(lengths)), y)
    assert torch.allclose(normalize_features(x), normalize_features(x, [30, 30, 30]))


def test_refusals() -> None:
    with pytest.raises(ValueError, match="f_max"):
        MelSpectrogram(8000, f_max=5000.0)
    with pytest.raises(ValueError, match="compression"):
        MelSpectrogram(8000, compression="cube")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="win_length"):
        MelSpectrogram(8000, n_fft=64, win_length=128)
    with pytest.raises(ValueError, match="scale"):
        mel_filterbank(129, 8000, 10, scale="bark")  # type: ignore[arg-type]
    m = MelSpectrogram(8000)
    with pytest.raises(ValueError, match=r"\[B, N\] or \[N\]"):
        m(torch.zeros(2, 2, 100))
    with pytest.raises(NonFiniteError, match="inf"):
        m(torch.tensor([0.0, float("inf")] * 100))
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.zeros(100, dtype=torch.int16))
    with pytest.raises(ValueError, match=r"\[1, T\]"):
        normalize_features(torch.zeros(5, 2, 3), [5, 6])
    with pytest.raises(ValueError, match=r"\[B\]"):
        normalize_features(torch.zeros(5, 2, 3), [5])
    with pytest.raises(TypeError, match="integers"):
        normalize_features(torch.zeros(5, 2, 3), torch.tensor([5.0, 2.0]))
