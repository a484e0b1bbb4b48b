"""Spike codes for time-major features and their decoders: send-on-delta within one threshold
(random signals, hypothesis), threshold crossing bands, the LIF hair cell's f-I curve inverted
on piecewise-constant inputs, and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from axonal.audio import (
    decode_delta,
    decode_lif_rate,
    decode_threshold_crossing,
    lif_hair_cell,
    send_on_delta,
    threshold_crossing,
)
from axonal.errors import NonFiniteError
from axonal.functional.encode import delta


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    steps=st.integers(1, 40),
    threshold=st.floats(0.01, 3.0),
    scale=st.floats(0.0, 20.0),
    x0=st.floats(-5.0, 5.0),
)
def test_send_on_delta_decodes_within_one_threshold(
    seed: int, steps: int, threshold: float, scale: float, x0: float
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(steps, 3, 4, generator=g, dtype=torch.float64).cumsum(0)
    s = send_on_delta(x, threshold, x0=x0)
    assert s.shape == (steps, 3, 2, 4)
    assert torch.equal(s, s.round()) and bool((s >= 0).all())
    assert not bool(((s[:, :, 0] > 0) & (s[:, :, 1] > 0)).any())  # ON or OFF, not both
    err = (decode_delta(s, threshold, x0) - x).abs()
    assert float(err.max()) < threshold * (1 + 1e-9)


def test_send_on_delta_counts_jumps_and_keeps_the_reference() -> None:
    x = torch.tensor([0.0, 0.35, 2.1, 2.0, -1.0]).reshape(5, 1, 1)
    s = send_on_delta(x, 0.5)
    assert s[:, 0, 0, 0].tolist() == [0, 0, 4, 0, 0]  # ref 0 -> 2.0 at step 2 (count 4)
    assert s[:, 0, 1, 0].tolist() == [0, 0, 0, 0, 6]  # ref 2.0 -> -1.0 at step 4
    # functional.encode.delta resets its reference to x on each event instead (one spike):
    # summing its events as +-threshold drifts, this code does not.
    ramp = torch.linspace(0, 10, 41).reshape(41, 1, 1)
    old = delta(ramp, 0.4)
    drift = (0.4 * (old[:, :, 0] - old[:, :, 1]).cumsum(0) - ramp).abs().max()
    new = (decode_delta(send_on_delta(ramp, 0.4), 0.4) - ramp).abs().max()
    assert float(drift) > 1.0 and float(new) < 0.4
    silent = send_on_delta(x + 3.0, 0.5, x0=x[0] + 3.0)
    assert float(silent[0].sum()) == 0.0


def test_send_on_delta_clipping_and_per_channel_thresholds() -> None:
    x = torch.tensor([0.0, 3.0, 3.0, 3.0, 3.0]).reshape(5, 1, 1)
    s = send_on_delta(x, 1.0, max_count=1)
    assert s[:, 0, 0, 0].tolist() == [0, 1, 1, 1, 0]  # catches up one event per step
    th = torch.tensor([0.1, 1.0, 5.0])
    x = torch.randn(50, 2, 3).cumsum(0)
    err = (decode_delta(send_on_delta(x, th), th) - x).abs()
    assert bool((err < th * (1 + 1e-5)).all())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 40), n_levels=st.integers(1, 6))
def test_threshold_crossing_band_holds_the_signal(seed: int, steps: int, n_levels: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, 2, 3, generator=g, dtype=torch.float64).cumsum(0)
    levels = torch.sort(4 * torch.randn(n_levels, generator=g, dtype=torch.float64)).values
    if n_levels > 1 and bool((levels.diff() <= 0).any()):
        return
    s = threshold_crossing(x, levels)
    assert s.shape == (steps, 2, 2, n_levels, 3)
    band = decode_threshold_crossing(s, levels)
    assert bool(((band.lower <= x) & (x < band.upper)).all())
    assert torch.equal(band.n_below, (x.unsqueeze(2) >= levels[:, None]).sum(2))


def test_threshold_crossing_events_and_per_channel_levels() -> None:
    x = torch.tensor([0.5, 1.5, 2.5, 0.2, 0.2]).reshape(5, 1, 1)
    s = threshold_crossing(x, [0.0, 1.0, 2.0])
    up, down = s[:, 0, 0, :, 0], s[:, 0, 1, :, 0]
    assert up.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    assert down.tolist() == [[0, 0, 0]] * 3 + [[0, 1, 1], [0, 0, 0]]
    levels = torch.tensor([[0.0, -1.0], [1.0, 0.0], [2.0, 1.0]])  # [L=3, C=2]
    x = torch.randn(30, 4, 2).cumsum(0)
    band = decode_threshold_crossing(threshold_crossing(x, levels), levels)
    assert bool(((band.lower <= x) & (x < band.upper)).all())


def _steps_to_fire(current: float, v_th: float, tau: float, dt: float) -> int:
    """Samples a LIF reset to 0 needs to exceed v_th: the first m with I (1 - a^m) > v_th."""
    return math.floor(tau / dt * math.log(current / (current - v_th))) + 1


def test_lif_hair_cell_period_is_the_discrete_f_i_curve() -> None:
    dt, tau = 1e-4, 10e-3
    for t_ref, current in ((0.0, 1.7), (2e-3, 3.0), (2.55e-3, 8.0)):
        s = lif_hair_cell(torch.full((2000, 1, 1), current), dt, tau, 1.0, t_ref)
        times = torch.nonzero(s[:, 0, 0]).flatten()
        held = max(int((t_ref + 1e-3 * dt) / dt), 1)  # Brian2's refractory samples
        assert set(times.diff().tolist()) == {held - 1 + _steps_to_fire(current, 1.0, tau, dt)}


@pytest.mark.parametrize("t_ref", [0.0, 2e-3])
def test_lif_hair_cell_decodes_piecewise_constant_inputs(t_ref: float) -> None:
    levels = torch.tensor([1.3, 2.0, 3.0, 5.0, 8.0, 1.6, 12.0])
    x = torch.stack([levels, levels.flip(0)], 1).reshape(7, 2, 1).repeat_interleave(4, 0)
    x = x.expand(28, 2, 3) * torch.tensor([1.0, 1.0, 2.0])  # channel 2: twice the input
    dt, sub = 0.01, 100  # 10 ms frames, LIF at 0.1 ms; 4 frames per level
    s = lif_hair_cell(x, dt, tau=10e-3, threshold=1.0, t_ref=t_ref, substeps=sub)
    assert s.shape == (2800, 2, 3) and set(s.unique().tolist()) <= {0.0, 1.0}
    d = decode_lif_rate(s, dt / sub, 4 * sub, tau=10e-3, threshold=1.0, t_ref=t_ref)
    assert d.shape == (7, 2, 3)
    # the period is known to the step: the resolution is (I / v_th - 1) dt / (2 tau) of I
    want = x[::4]
    assert bool(((d - want).abs() <= want * ((want - 1) * 1e-4 / 2e-2 * 1.1 + 2e-3)).all())
    assert float(((d - want).abs() / want).max()) > 1e-3  # (a real estimate, not a copy)
    quiet = decode_lif_rate(lif_hair_cell(torch.full((400, 1, 2), 0.9), 1e-4), 1e-4, 400)
    assert float(quiet.abs().max()) == 0.0  # below rheobase: no spikes, decodes to 0


def test_lif_hair_cell_staggered_thresholds_and_gain() -> None:
    x = torch.tensor([2.0, 6.0]).repeat_interleave(400).reshape(800, 1, 1).expand(800, 3, 2)
    th = [1.0, 3.0, 10.0]
    s = lif_hair_cell(x, 1e-4, threshold=th, gain=1.5)
    assert s.shape == (800, 3, 3, 2)
    counts = s.sum(0)[0, :, 0]
    assert counts[0] > counts[1] > 0 and counts[2] == 0  # 1.5 * 6 = 9 nA < 10 mV / 1 MOhm
    d = decode_lif_rate(s, 1e-4, 400, threshold=th, gain=1.5)
    assert d.shape == (2, 3, 3, 2)
    assert torch.allclose(d[1, :, :2], torch.full((3, 2, 2), 6.0), rtol=0.03)
    assert torch.allclose(d[0, :, 0], torch.full((3, 2), 2.0), rtol=0.03)
    assert float(d[0, :, 1].abs().max()) == 0.0 and float(d[:, :, 2].abs().max()) == 0.0


def test_lif_hair_cell_passes_surrogate_gradients() -> None:
    x = torch.full((50, 2, 3), 2.0, requires_grad=True)
    lif_hair_cell(x, 1e-3).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


def test_refusals() -> None:
    x = torch.randn(10, 2, 3)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        send_on_delta(x, 0.0)
    with pytest.raises(ValueError, match="broadcastable"):
        send_on_delta(x, torch.ones(4))
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        send_on_delta(torch.randn(10), 0.1)
    with pytest.raises(NonFiniteError, match="NaN"):
        send_on_delta(torch.tensor([[0.0], [float("nan")]]), 0.1)
    with pytest.raises(ValueError, match="max_count"):
        send_on_delta(x, 0.1, max_count=0)
    with pytest.raises(ValueError, match=r"\[T, B, 2, \.\.\.\]"):
        decode_delta(torch.zeros(10, 2, 3, 4), 0.1)
    with pytest.raises(ValueError, match="increase strictly"):
        threshold_crossing(x, [0.0, 0.0])
    with pytest.raises(ValueError, match="broadcastable"):
        threshold_crossing(x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="levels"):
        decode_threshold_crossing(threshold_crossing(x, [0.0, 1.0]), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        lif_hair_cell(x, 1e-3)
    with pytest.raises(ValueError, match="threshold must be > 0 mV"):
        lif_hair_cell(x.abs(), 1e-3, threshold=[1.0, -1.0])
    with pytest.raises(ValueError, match="dt"):
        lif_hair_cell(x.abs(), 0.0)
    with pytest.raises(ValueError, match="multiple of window"):
        decode_lif_rate(torch.zeros(10, 2, 3), 1e-3, 4)
    with pytest.raises(ValueError, match="thresholds"):
        decode_lif_rate(torch.zeros(10, 2, 3), 1e-3, 5, threshold=[1.0, 2.0])
