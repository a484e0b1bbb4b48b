"""Tests for the spike encoders in axonal.functional.encode."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
import torch

from axonal import encode as public_encode
from axonal.functional import encode
from axonal.functional.encode import LatencyMode

MODES: tuple[LatencyMode, ...] = ("linear", "log")

# --------------------------------------------------------------------------------------------
# rate
# --------------------------------------------------------------------------------------------


def test_rate_shape_dtype_and_binary_values() -> None:
    x = torch.full((2, 3, 4), 0.5, dtype=torch.float64)
    s = encode.rate(x, 7, generator=torch.Generator().manual_seed(0))
    assert s.shape == (7, 2, 3, 4)
    assert s.dtype == torch.float64
    assert set(s.unique().tolist()) <= {0.0, 1.0}


def test_rate_empirical_probability_within_five_sigma() -> None:
    p = torch.tensor([0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
    steps = 20_000
    s = encode.rate(p, steps, generator=torch.Generator().manual_seed(1))
    empirical = s.mean(dim=0)
    sigma = torch.sqrt(p * (1 - p) / steps)
    assert float(empirical[0]) == 0.0
    assert float(empirical[-1]) == 1.0
    assert bool((torch.abs(empirical - p) <= 5 * sigma + 1e-12).all()), empirical


def test_rate_gain_scales_and_clamps() -> None:
    x = torch.tensor([0.1, 0.3, 0.7])
    steps = 20_000
    s = encode.rate(x, steps, gain=2.0, generator=torch.Generator().manual_seed(2))
    empirical = s.mean(dim=0)
    expected = torch.tensor([0.2, 0.6, 1.0])
    sigma = torch.sqrt(expected * (1 - expected) / steps)
    assert float(empirical[2]) == 1.0  # 2 * 0.7 clamps to probability 1
    assert bool((torch.abs(empirical - expected) <= 5 * sigma + 1e-12).all()), empirical
    silent = encode.rate(x, 50, gain=0.0, generator=torch.Generator().manual_seed(2))
    assert float(silent.sum()) == 0.0


def test_rate_same_seed_same_spikes_and_different_seed_differs() -> None:
    x = torch.rand(4, 5, generator=torch.Generator().manual_seed(9))
    a = encode.rate(x, 30, generator=torch.Generator().manual_seed(123))
    b = encode.rate(x, 30, generator=torch.Generator().manual_seed(123))
    c = encode.rate(x, 30, generator=torch.Generator().manual_seed(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --------------------------------------------------------------------------------------------
# poisson
# --------------------------------------------------------------------------------------------


def test_poisson_mean_count_per_step_is_one_minus_exp() -> None:
    rates = torch.tensor([0.0, 10.0, 100.0, 300.0, 1000.0], dtype=torch.float64)
    dt = 1e-3
    steps = 20_000
    s = encode.poisson(rates, steps, dt, generator=torch.Generator().manual_seed(3))
    assert s.shape == (steps, 5)
    assert set(s.unique().tolist()) <= {0.0, 1.0}  # at most one spike per step
    p = 1.0 - torch.exp(-rates * dt)
    empirical = s.mean(dim=0)
    sigma = torch.sqrt(p * (1 - p) / steps)
    assert float(empirical[0]) == 0.0
    assert bool((torch.abs(empirical - p) <= 5 * sigma + 1e-12).all()), empirical
    # 1 - exp(-r dt) and r dt are told apart at high rates (0.259 vs 0.3 at 300 Hz).
    assert abs(float(empirical[3]) - 0.3) > 10 * float(sigma[3])


def test_poisson_is_deterministic_with_a_seeded_generator() -> None:
    rates = torch.full((3, 2), 50.0)
    a = encode.poisson(rates, 100, 1e-3, generator=torch.Generator().manual_seed(5))
    b = encode.poisson(rates, 100, 1e-3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert 0 < float(a.sum()) < a.numel()


# --------------------------------------------------------------------------------------------
# latency
# --------------------------------------------------------------------------------------------


def _round_half_up(t: np.ndarray) -> np.ndarray:
    return np.floor(t + 0.5)


def test_latency_linear_times_by_hand() -> None:
    x = torch.tensor([1.0, 0.8, 0.5, 0.2, 0.01, 0.0, 0.005], dtype=torch.float64)
    t = encode.latency_times(x, 10, mode="linear", tau=5.0, threshold=0.01)
    # t = 5 (1 - x), rounded half up; x <= 0.01 never fires.
    expected = [0.0, 1.0, 3.0, 4.0, math.inf, math.inf, math.inf]
    assert t.tolist() == expected
    # a large tau pushes weak inputs past the window: clipped to the last step
    t_clip = encode.latency_times(x[:4], 10, mode="linear", tau=20.0, threshold=0.01)
    assert t_clip.tolist() == [0.0, 4.0, 9.0, 9.0]


def test_latency_linear_matches_formula_and_normalize_fills_the_window() -> None:
    gen = torch.Generator().manual_seed(11)
    x = torch.rand(200, dtype=torch.float64, generator=gen)
    steps, th = 25, 0.2
    for normalize, tau in ((False, 7.0), (True, 7.0)):
        t = encode.latency_times(x, steps, tau=tau, threshold=th, normalize=normalize).numpy()
        xs = x.numpy()
        scale = (steps - 1) / (1 - th) if normalize else tau
        cont = np.minimum(scale * (1 - xs), steps - 1)
        expected = np.where(xs > th, _round_half_up(cont), np.inf)
        np.testing.assert_array_equal(t, expected)
    # normalized: x = 1 -> step 0, x just above threshold -> last step
    edge = torch.tensor([1.0, th + 1e-9, th], dtype=torch.float64)
    t_edge = encode.latency_times(edge, steps, threshold=th, normalize=True)
    assert t_edge.tolist() == [0.0, float(steps - 1), math.inf]


def test_latency_log_matches_rc_formula() -> None:
    gen = torch.Generator().manual_seed(12)
    x = torch.rand(300, dtype=torch.float64, generator=gen)
    steps, tau, th = 30, 4.0, 0.25
    t = encode.latency_times(x, steps, mode="log", tau=tau, threshold=th).numpy()
    xs = x.numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cont = tau * np.log(xs / (xs - th))
    expected = np.where(xs > th, _round_half_up(np.minimum(cont, steps - 1)), np.inf)
    np.testing.assert_array_equal(t, expected)
    # RC check independent of the formula: the membrane v(t) = x (1 - exp(-t / tau)) crosses
    # the threshold within half a step of the returned step (unless clipped at the window end).
    fin = np.isfinite(t) & (t < steps - 1)
    v_before = xs[fin] * (1 - np.exp(-(np.maximum(t[fin] - 0.5, 0.0)) / tau))
    v_after = xs[fin] * (1 - np.exp(-(t[fin] + 0.5) / tau))
    assert fin.sum() > 50
    assert np.all(v_before <= th + 1e-12) and np.all(v_after >= th - 1e-12)


def test_latency_log_normalize_maps_x_lo_to_the_last_step() -> None:
    steps, th = 20, 0.1
    x_lo = th + (1 - th) / steps
    tau_eff = (steps - 1) / math.log(x_lo / (x_lo - th))
    x = torch.tensor([1.0, 0.5, x_lo, x_lo - 0.01, th], dtype=torch.float64)
    t = encode.latency_times(x, steps, mode="log", tau=999.0, threshold=th, normalize=True)
    exp_1 = math.floor(tau_eff * math.log(1 / (1 - th)) + 0.5)
    exp_half = math.floor(tau_eff * math.log(0.5 / (0.5 - th)) + 0.5)
    assert t.tolist() == [float(exp_1), float(exp_half), 19.0, 19.0, math.inf]
    assert exp_1 < exp_half < 19
    xr = torch.rand(300, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    tr = encode.latency_times(xr, steps, mode="log", threshold=th, normalize=True).numpy()
    xs = xr.numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cont = np.minimum(tau_eff * np.log(xs / (xs - th)), steps - 1)
    np.testing.assert_array_equal(tr, np.where(xs > th, _round_half_up(cont), np.inf))


def test_latency_threshold_behaviour_silent_or_last_step() -> None:
    x = torch.tensor([0.0, 0.3, 0.31, 0.9])
    silent = encode.latency_times(x, 8, threshold=0.3, normalize=True)
    late = encode.latency_times(x, 8, threshold=0.3, normalize=True, silent_below_threshold=False)
    assert math.isinf(float(silent[0])) and math.isinf(float(silent[1]))
    assert late[:2].tolist() == [7.0, 7.0]
    assert torch.equal(silent[2:], late[2:])
    s = encode.latency(x, 8, threshold=0.3, normalize=True)
    assert s[:, :2].sum().item() == 0.0
    s_late = encode.latency(x, 8, threshold=0.3, normalize=True, silent_below_threshold=False)
    assert s_late[7, :2].tolist() == [1.0, 1.0]


def test_latency_spikes_once_at_the_returned_times_and_stronger_is_earlier() -> None:
    gen = torch.Generator().manual_seed(13)
    x = torch.rand(6, 7, dtype=torch.float64, generator=gen)
    th = 0.1
    for mode in MODES:
        t = encode.latency_times(x, 16, mode=mode, threshold=th, normalize=True)
        s = encode.latency(x, 16, mode=mode, threshold=th, normalize=True)
        assert s.shape == (16, 6, 7)
        counts = s.sum(dim=0)
        assert bool((counts <= 1).all())
        assert torch.equal(counts, torch.isfinite(t).to(counts.dtype))
        idx = torch.arange(16, dtype=s.dtype).reshape(16, 1, 1)
        fired = counts > 0
        assert torch.equal((idx * s).sum(dim=0)[fired], t[fired])
        order = torch.argsort(x.flatten(), descending=True)
        times = t.flatten()[order]
        assert bool((times[1:] >= times[:-1]).all())  # non-decreasing as x decreases


def test_latency_single_step_window() -> None:
    x = torch.tensor([1.0, 0.5, 0.0])
    s = encode.latency(x, 1, normalize=True)
    assert s.tolist() == [[1.0, 1.0, 0.0]]


# --------------------------------------------------------------------------------------------
# delta
# --------------------------------------------------------------------------------------------


def test_delta_ramp_and_step_exact_spike_positions() -> None:
    ramp = [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.4, 0.0, 0.0, 1.0]
    step = [0.0, 0.0, 0.0, 2.0, 2.0, 2.0, -1.0, -1.0, -1.0, -1.0]
    x = torch.tensor([ramp, step]).T.contiguous()  # [T=10, B=2]
    out = encode.delta(x, threshold=torch.tensor([0.5, 1.0]))
    assert out.shape == (10, 2, 2)
    # ramp (threshold 0.5): ON at 2 (0.5 - 0 reaches it exactly), 4, 9; OFF at 6 (1.0 -> 0.4)
    assert out[:, 0, 0].tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 0, 1]
    assert out[:, 0, 1].tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    # step (threshold 1): ON when it jumps to 2, OFF when it falls to -1
    assert out[:, 1, 0].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert out[:, 1, 1].tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]


def test_delta_slow_ramp_fires_every_third_step() -> None:
    x = (0.125 * torch.arange(13, dtype=torch.float64)).reshape(13, 1, 1)  # [T, B=1, C=1]
    out = encode.delta(x, 0.3)
    assert out.shape == (13, 1, 2, 1)
    # the reference moves only on a spike, so the drift accumulates: 0.375 >= 0.3 every 3 steps
    assert torch.nonzero(out[:, 0, 0, 0]).flatten().tolist() == [3, 6, 9, 12]
    assert float(out[:, 0, 1].sum()) == 0.0


def test_delta_without_off_spikes_is_the_on_channel() -> None:
    gen = torch.Generator().manual_seed(21)
    x = torch.cumsum(torch.randn(40, 3, 4, generator=gen), dim=0)
    full = encode.delta(x, 0.7)
    on_only = encode.delta(x, 0.7, off_spikes=False)
    assert on_only.shape == (40, 3, 1, 4)
    assert torch.equal(on_only, full[:, :, :1])
    assert float(full[:, :, 1].sum()) > 0 and float(full[:, :, 0].sum()) > 0
    assert float((full[:, :, 0] * full[:, :, 1]).sum()) == 0.0  # never ON and OFF together


# --------------------------------------------------------------------------------------------
# population
# --------------------------------------------------------------------------------------------


def test_population_centres_peaks_and_default_width() -> None:
    n, lo, hi = 5, -1.0, 3.0
    centres = torch.linspace(lo, hi, n, dtype=torch.float64)
    r = encode.population(centres, n, lo, hi)
    assert r.shape == (n, n)
    assert torch.allclose(torch.diagonal(r), torch.ones(n, dtype=torch.float64))
    assert torch.argmax(r, dim=1).tolist() == list(range(n))
    # default sigma: neighbouring fields cross at half maximum halfway between centres
    mid = (centres[:-1] + centres[1:]) / 2
    rm = encode.population(mid, n, lo, hi)
    for i in range(n - 1):
        assert abs(float(rm[i, i]) - 0.5) < 1e-12
        assert abs(float(rm[i, i + 1]) - 0.5) < 1e-12


def test_population_custom_sigma_shape_and_range() -> None:
    x = torch.tensor([[0.0, 0.3, 2.0], [-5.0, 0.5, 1.0]], dtype=torch.float64)
    r = encode.population(x, 4, 0.0, 1.5, sigma=0.2)
    assert r.shape == (2, 3, 4)
    assert bool(((r >= 0) & (r <= 1)).all())
    # centres 0, 0.5, 1, 1.5: x = 0.3 sits 0.2 = sigma from centre 0.5 -> exp(-1/2)
    assert abs(float(r[0, 1, 1]) - math.exp(-0.5)) < 1e-12
    assert abs(float(r[0, 1, 0]) - math.exp(-(0.3**2) / (2 * 0.04))) < 1e-12
    assert float(r[1, 0].max()) < 1e-100  # far outside the range: all fields nearly silent


def test_population_is_differentiable() -> None:
    x = torch.tensor([0.1, 0.45, 0.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: encode.population(v, 6, 0.0, 1.0), (x,))


def test_population_feeds_latency() -> None:
    r = encode.population(torch.tensor([0.5]), 5, 0.0, 1.0)
    s = encode.latency(r, 10, normalize=True)
    # the unit centred on 0.5 (index 2) responds with 1 and fires first, at step 0
    assert float(s[0, 0, 2]) == 1.0
    assert float(s[0].sum()) == 1.0


def test_public_module_reexports_the_functional_encoders() -> None:
    assert public_encode.rate is encode.rate
    assert public_encode.latency_times is encode.latency_times
    assert set(public_encode.__all__) == set(encode.__all__)


# --------------------------------------------------------------------------------------------
# bad inputs: every kind raises and names the argument
# --------------------------------------------------------------------------------------------

_X = torch.full((2, 3), 0.5)
_SIG = torch.zeros(5, 2)

BAD: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("rate x list", lambda: encode.rate([0.5], 3), TypeError, "x"),  # type: ignore[arg-type]
    ("rate x int", lambda: encode.rate(torch.ones(2, dtype=torch.int64), 3), TypeError, "x"),
    ("rate x rank0", lambda: encode.rate(torch.tensor(0.5), 3), ValueError, "x"),
    ("rate x > 1", lambda: encode.rate(torch.tensor([1.5]), 3), ValueError, "x"),
    ("rate x < 0", lambda: encode.rate(torch.tensor([-0.1]), 3), ValueError, "x"),
    ("rate x nan", lambda: encode.rate(torch.tensor([math.nan]), 3), ValueError, "x"),
    ("rate steps 0", lambda: encode.rate(_X, 0), ValueError, "steps"),
    (
        "rate steps float",
        lambda: encode.rate(_X, 3.0),  # type: ignore[arg-type]
        TypeError,
        "steps",
    ),
    ("rate gain < 0", lambda: encode.rate(_X, 3, gain=-1.0), ValueError, "gain"),
    ("rate gain inf", lambda: encode.rate(_X, 3, gain=math.inf), ValueError, "gain"),
    (
        "rate gain str",
        lambda: encode.rate(_X, 3, gain="1"),  # type: ignore[arg-type]
        TypeError,
        "gain",
    ),
    (
        "rate generator",
        lambda: encode.rate(_X, 3, generator=0),  # type: ignore[arg-type]
        TypeError,
        "generator",
    ),
    ("poisson < 0", lambda: encode.poisson(torch.tensor([-1.0]), 3, 1e-3), ValueError, "rates_hz"),
    (
        "poisson inf",
        lambda: encode.poisson(torch.tensor([math.inf]), 3, 1e-3),
        ValueError,
        "rates_hz",
    ),
    ("poisson dt 0", lambda: encode.poisson(_X, 3, 0.0), ValueError, "dt"),
    (
        "poisson dt str",
        lambda: encode.poisson(_X, 3, "1ms"),  # type: ignore[arg-type]
        TypeError,
        "dt",
    ),
    ("poisson steps", lambda: encode.poisson(_X, -2, 1e-3), ValueError, "steps"),
    (
        "latency mode",
        lambda: encode.latency(_X, 3, mode="exp"),  # type: ignore[arg-type]
        ValueError,
        "mode",
    ),
    (
        "latency mode type",
        lambda: encode.latency(_X, 3, mode=1),  # type: ignore[arg-type]
        TypeError,
        "mode",
    ),
    ("latency tau", lambda: encode.latency(_X, 3, tau=0.0), ValueError, "tau"),
    ("latency thr lin", lambda: encode.latency(_X, 3, threshold=1.0), ValueError, "threshold"),
    (
        "latency thr log",
        lambda: encode.latency_times(_X, 3, mode="log", threshold=0.0),
        ValueError,
        "threshold",
    ),
    (
        "latency normalize",
        lambda: encode.latency(_X, 3, normalize=1),  # type: ignore[arg-type]
        TypeError,
        "normalize",
    ),
    (
        "latency silent",
        lambda: encode.latency(_X, 3, silent_below_threshold=None),  # type: ignore[arg-type]
        TypeError,
        "silent_below_threshold",
    ),
    ("latency x", lambda: encode.latency_times(torch.tensor([2.0]), 3), ValueError, "x"),
    ("latency steps", lambda: encode.latency(_X, 0), ValueError, "steps"),
    ("delta rank", lambda: encode.delta(torch.zeros(5), 0.1), ValueError, "x"),
    ("delta nan", lambda: encode.delta(torch.full((3, 2), math.nan), 0.1), ValueError, "x"),
    ("delta thr 0", lambda: encode.delta(_SIG, 0.0), ValueError, "threshold"),
    (
        "delta thr tensor < 0",
        lambda: encode.delta(_SIG, torch.tensor([0.1, -0.1])),
        ValueError,
        "threshold",
    ),
    (
        "delta thr shape",
        lambda: encode.delta(_SIG, torch.tensor([0.1, 0.1, 0.1])),
        ValueError,
        "threshold",
    ),
    (
        "delta off",
        lambda: encode.delta(_SIG, 0.1, off_spikes="no"),  # type: ignore[arg-type]
        TypeError,
        "off_spikes",
    ),
    ("pop n", lambda: encode.population(_X, 1, 0.0, 1.0), ValueError, "n"),
    ("pop range", lambda: encode.population(_X, 3, 1.0, 1.0), ValueError, "x_min"),
    ("pop x_max nan", lambda: encode.population(_X, 3, 0.0, math.nan), ValueError, "x_max"),
    ("pop sigma", lambda: encode.population(_X, 3, 0.0, 1.0, sigma=-0.1), ValueError, "sigma"),
    (
        "pop x",
        lambda: encode.population(None, 3, 0.0, 1.0),  # type: ignore[arg-type]
        TypeError,
        "x",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_inputs_raise_naming_the_argument(
    case: tuple[str, Callable[[], Any], type[Exception], str],
) -> None:
    _, call, exc, name = case
    with pytest.raises(exc, match=rf"^{name} "):
        call()


@pytest.mark.gpu
def test_generator_on_the_wrong_device_type_is_rejected() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device to build a mismatched generator")
    gen = torch.Generator(device="cuda")
    with pytest.raises(ValueError, match="^generator "):
        encode.rate(_X, 3, generator=gen)
