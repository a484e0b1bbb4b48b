"""Resampling: agreement with scipy's polyphase resampler, in-band tones kept, out-of-band
tones removed, gradients, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from axonal.audio import resample, resample_filter
from axonal.errors import NonFiniteError

RATES = [(16000, 8000), (8000, 16000), (44100, 8000), (8000, 11025), (48000, 16000), (12000, 8000)]


@pytest.mark.parametrize("orig,new", RATES)
def test_matches_scipy_resample_poly_on_noise(orig: int, new: int) -> None:
    x = np.random.default_rng(orig + new).standard_normal((2, 3, 997))
    y = resample(torch.from_numpy(x), orig, new).numpy()
    ref = scipy.signal.resample_poly(x, new, orig, axis=-1)
    assert y.shape == ref.shape
    assert np.abs(y - ref).max() < 1e-10


@pytest.mark.parametrize("orig,new", RATES)
def test_in_band_sines_match_scipy_and_the_ideal_tone(orig: int, new: int) -> None:
    n = orig // 5  # 0.2 s
    t = np.arange(n) / orig
    for f in (110.0, 440.0, 0.35 * min(orig, new)):
        x = np.sin(2 * np.pi * f * t + 0.3)
        y = resample(torch.from_numpy(x).float(), orig, new).double().numpy()
        ref = scipy.signal.resample_poly(x, new, orig)
        ideal = np.sin(2 * np.pi * f * np.arange(len(y)) / new + 0.3)
        inner = slice(len(y) // 5, -len(y) // 5)  # away from the zero-padded ends
        assert np.abs(y - ref)[inner].max() < 1e-3 * np.abs(ref[inner]).max()
        assert np.abs(y - ideal)[inner].max() < 3e-3


def test_tone_above_the_new_nyquist_is_removed() -> None:
    t = np.arange(3200) / 16000
    kept = resample(torch.from_numpy(np.sin(2 * np.pi * 1000 * t)), 16000, 8000)[400:-400]
    gone = resample(torch.from_numpy(np.sin(2 * np.pi * 6000 * t)), 16000, 8000)[400:-400]
    assert float(kept.abs().max()) > 0.99
    assert float(gone.abs().max()) < 1e-2  # 6 kHz would alias to 2 kHz at 8 kHz
    x = torch.from_numpy(np.sin(2 * np.pi * 3000 * np.arange(800) / 8000))
    up = resample(x, 8000, 16000)
    spec = np.abs(np.fft.rfft(up[200:-200].numpy() * np.hanning(1200)))
    freqs = np.fft.rfftfreq(1200, 1 / 16000)
    assert spec[freqs > 5500].max() < 1e-3 * spec.max()  # no image at 16 - 3 = 13 kHz or 5 kHz


def test_filter_is_a_kaiser_windowed_sinc_with_dc_gain_up() -> None:
    h = resample_filter(8000, 12000).numpy()  # up 3, down 2
    assert len(h) == 2 * 10 * 3 + 1 and h.sum() == pytest.approx(3.0)
    k = np.arange(len(h)) - 30
    shape = np.sinc(k / 3) * np.kaiser(len(h), 5.0)
    assert np.allclose(h, 3 * shape / shape.sum())
    assert np.all(np.abs(h[30 + 3 * np.arange(1, 11)]) < 1e-15)  # zeros of the sinc


def test_lengths_dtypes_identity_and_gradient() -> None:
    x = torch.randn(4, 101)
    assert resample(x, 16000, 8000).shape == (4, 51)
    assert resample(x, 8000, 16000).shape == (4, 202)
    assert resample(x, 16000, 8000).dtype == torch.float32
    same = resample(x, 8000, 8000)
    assert torch.equal(same, x) and same.data_ptr() != x.data_ptr()
    assert resample(torch.zeros(3, 0), 3, 2).shape == (3, 0)
    xd = torch.randn(2, 13, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: resample(v, 3, 2, zeros=2), (xd,), fast_mode=True)


def test_refusals() -> None:
    x = torch.randn(10)
    with pytest.raises(TypeError, match="int sample rate"):
        resample(x, 8000.0, 16000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="> 0 Hz"):
        resample(x, 8000, 0)
    with pytest.raises(TypeError, match="floating-point"):
        resample(torch.arange(10), 2, 1)
    with pytest.raises(ValueError, match=r"\[\.\.\., N\]"):
        resample(torch.tensor(1.0), 2, 1)
    with pytest.raises(NonFiniteError, match="NaN"):
        resample(torch.tensor([0.0, float("nan")]), 2, 1)
    with pytest.raises(ValueError, match="beta"):
        resample(x, 2, 1, beta=0.0)
