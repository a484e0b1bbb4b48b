"""Tests for axonal.train.regularise: rates, penalty values, zero gradient in band, validation."""

from __future__ import annotations

import pytest
import torch

from axonal.train.regularise import (
    firing_rate,
    lower_rate_penalty,
    rate_penalty,
    upper_rate_penalty,
)


def layer_spikes() -> torch.Tensor:
    """[T=4, B=2, N=3] with per-neuron rates (0.5, 0.25, 0.0) spikes per step."""
    s = torch.zeros(4, 2, 3)
    s[:2, :, 0] = 1.0  # 4 of 8 samples
    s[0, :, 1] = 1.0  # 2 of 8
    return s


def test_firing_rate_is_mean_over_time_and_batch() -> None:
    assert firing_rate(layer_spikes()).tolist() == [0.5, 0.25, 0.0]
    conv = torch.zeros(5, 2, 2, 3, 3)
    conv[:, :, 1, 2, 0] = 1.0
    conv[0, 0, 0, 0, 0] = 1.0
    rate = firing_rate(conv)
    assert rate.shape == (2, 3, 3)
    assert rate[1, 2, 0].item() == 1.0
    assert rate[0, 0, 0].item() == pytest.approx(0.1)
    assert rate.sum().item() == pytest.approx(1.1)


def test_rate_penalty_values() -> None:
    s = layer_spikes()
    # deviations from 0.25: (0.25, 0, -0.25)
    assert rate_penalty(s, 0.25).item() == pytest.approx(2 * 0.0625 / 3)
    assert rate_penalty(s, 0.25, kind="l1").item() == pytest.approx(0.5 / 3)
    # a per-neuron target tensor: deviations (0, 0.25, -0.5)
    target = torch.tensor([0.5, 0.0, 0.5])
    assert rate_penalty(s, target).item() == pytest.approx((0.0625 + 0.25) / 3)


def test_rate_penalty_gradient() -> None:
    s = layer_spikes().requires_grad_(True)
    rate_penalty(s, 0.25).backward()
    # d/ds of mean_n (rate_n - 0.25)^2 = 2 (rate_n - 0.25) / N / (T B)
    expected = torch.tensor([0.25, 0.0, -0.25]) * 2 / 3 / 8
    assert s.grad is not None
    assert torch.allclose(s.grad, expected.expand(4, 2, 3))


def test_upper_and_lower_values() -> None:
    s = layer_spikes()  # rates (0.5, 0.25, 0)
    assert upper_rate_penalty(s, 0.3).item() == pytest.approx(0.2**2 / 3)
    assert upper_rate_penalty(s, 0.3, kind="l1").item() == pytest.approx(0.2 / 3)
    assert lower_rate_penalty(s, 0.3).item() == pytest.approx((0.05**2 + 0.3**2) / 3)
    assert lower_rate_penalty(s, 0.3, kind="l1").item() == pytest.approx(0.35 / 3)
    # per-neuron bounds
    assert upper_rate_penalty(s, torch.tensor([0.5, 0.0, 0.0])).item() == pytest.approx(
        0.25**2 / 3
    )


def test_upper_gradient_only_on_neurons_above_max() -> None:
    s = layer_spikes().requires_grad_(True)
    upper_rate_penalty(s, 0.3).backward()
    assert s.grad is not None
    assert torch.allclose(s.grad[..., 0], torch.full((4, 2), 2 * 0.2 / 3 / 8))
    assert torch.count_nonzero(s.grad[..., 1:]) == 0


def test_lower_gradient_revives_silent_neurons() -> None:
    s = layer_spikes().requires_grad_(True)
    lower_rate_penalty(s, 0.3).backward()
    assert s.grad is not None
    assert torch.count_nonzero(s.grad[..., 0]) == 0
    assert torch.allclose(s.grad[..., 1], torch.full((4, 2), -2 * 0.05 / 3 / 8))
    assert torch.allclose(s.grad[..., 2], torch.full((4, 2), -2 * 0.3 / 3 / 8))


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_zero_value_and_gradient_inside_band(kind: str) -> None:
    s = layer_spikes().requires_grad_(True)  # rates 0.5, 0.25, 0 all inside [0, 0.5]
    loss = upper_rate_penalty(s, 0.5, kind) + lower_rate_penalty(s, 0.0, kind)
    loss.backward()
    assert loss.item() == 0.0
    assert s.grad is not None
    assert torch.count_nonzero(s.grad) == 0
    s2 = torch.full((3, 2, 4), 0.5, requires_grad=True)  # graded spikes, rate 0.5
    loss = upper_rate_penalty(s2, 0.6, kind) + lower_rate_penalty(s2, 0.4, kind)
    loss.backward()
    assert loss.item() == 0.0
    assert s2.grad is not None
    assert torch.count_nonzero(s2.grad) == 0


def test_one_gradient_step_moves_rates_towards_target() -> None:
    s = torch.full((10, 4, 5), 0.9, requires_grad=True)
    before = rate_penalty(s, 0.1)
    before.backward()
    with torch.no_grad():
        assert s.grad is not None
        s -= 10.0 * s.grad
    after = rate_penalty(s, 0.1)
    assert after.item() < before.item()
    assert firing_rate(s).mean().item() < 0.9


@pytest.mark.parametrize("fn", [rate_penalty, upper_rate_penalty, lower_rate_penalty])
def test_validation(fn) -> None:  # type: ignore[no-untyped-def]
    name = {rate_penalty: "target_rate", upper_rate_penalty: "max_rate",
            lower_rate_penalty: "min_rate"}[fn]
    s = layer_spikes()
    with pytest.raises(TypeError, match="spikes must be a torch.Tensor"):
        fn(s.numpy(), 0.1)
    with pytest.raises(ValueError, match="spikes must be time-major with rank >= 3"):
        fn(torch.zeros(4, 2), 0.1)
    with pytest.raises(TypeError, match="spikes must be a floating"):
        fn(s.long(), 0.1)
    with pytest.raises(ValueError, match="spikes must have at least one sample"):
        fn(torch.zeros(4, 0, 3), 0.1)
    with pytest.raises(ValueError, match=rf"{name} must lie in \[0, 1\]"):
        fn(s, 1.5)
    with pytest.raises(ValueError, match=rf"{name} must lie in \[0, 1\]"):
        fn(s, -0.1)
    with pytest.raises(TypeError, match=f"{name} must be a float"):
        fn(s, True)
    with pytest.raises(TypeError, match=f"{name} must be a float or a floating tensor"):
        fn(s, torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match=f"{name} has shape"):
        fn(s, torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match=rf"{name} must lie in \[0, 1\]"):
        fn(s, torch.tensor([0.1, 0.2, 2.0]))
    with pytest.raises(ValueError, match="kind must be one of"):
        fn(s, 0.1, kind="l3")
    with pytest.raises(TypeError, match="kind must be a str"):
        fn(s, 0.1, kind=2)
