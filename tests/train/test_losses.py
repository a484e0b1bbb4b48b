"""Tests for axonal.train.losses: exact values, gradients, prediction ties, validation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from axonal.functional.decode import first_spike_time
from axonal.functional.neurons.lif import LIFParams, lif_multi_step
from axonal.functional.surrogate import FastSigmoid
from axonal.train.losses import (
    count_cross_entropy,
    count_mse,
    first_spike_cross_entropy,
    first_spike_predict,
    membrane_cross_entropy,
)


def spikes_at(times: list[list[int | None]], steps: int) -> torch.Tensor:
    """Binary spikes [T, B, C] with one spike per neuron at the given step (None: silent)."""
    out = torch.zeros(steps, len(times), len(times[0]))
    for b, row in enumerate(times):
        for c, t in enumerate(row):
            if t is not None:
                out[t, b, c] = 1.0
    return out


# --------------------------------------------------------------------------- count losses


def test_count_cross_entropy_equals_torch_cross_entropy_on_counts() -> None:
    gen = torch.Generator().manual_seed(0)
    spikes = (torch.rand(7, 5, 4, generator=gen) < 0.4).float()
    target = torch.tensor([0, 3, 1, 1, 2])
    counts = spikes.sum(0)
    for scale in (1.0, 0.25):
        expected = F.cross_entropy(scale * counts, target)
        assert torch.allclose(count_cross_entropy(spikes, target, scale=scale), expected)


def test_count_cross_entropy_hand_value() -> None:
    # counts (2, 0), correct class 0: CE = log(1 + exp(-2))
    spikes = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 0.0]]])
    loss = count_cross_entropy(spikes, torch.tensor([0]))
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)
    # scale 0.5 halves the logit gap
    loss = count_cross_entropy(spikes, torch.tensor([1]), scale=0.5)
    assert loss.item() == pytest.approx(math.log1p(math.exp(1.0)), rel=1e-6)


def test_count_mse_hand_values() -> None:
    # T = 5: target counts 4 (on_rate 0.8) for the correct class and 1 (off_rate 0.2) otherwise.
    spikes = torch.zeros(5, 2, 3)
    spikes[:4, 0, 0] = 1.0  # sample 0: counts (4, 1, 0), target 0 -> errors (0, 0, -1)
    spikes[0, 0, 1] = 1.0
    spikes[:, 1, 2] = 1.0  # sample 1: counts (0, 0, 5), target 1 -> errors (-1, -4, 4)
    loss = count_mse(spikes, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx((0 + 0 + 1 + 1 + 16 + 16) / 6, rel=1e-6)
    # other rates: on 1.0 -> 5, off 0.0 -> 0; errors (-1, 1, 0) and (0, -5, 5)
    loss = count_mse(spikes, torch.tensor([0, 1]), on_rate=1.0, off_rate=0.0)
    assert loss.item() == pytest.approx((1 + 1 + 0 + 0 + 25 + 25) / 6, rel=1e-6)


def test_count_mse_gradient_points_to_target() -> None:
    spikes = torch.zeros(5, 1, 2, requires_grad=True)
    count_mse(spikes, torch.tensor([1])).backward()
    assert spikes.grad is not None
    # d/ds (1/2) * sum (count - target)^2 = (count - target): (0 - 1) and (0 - 4), times 2/2
    assert torch.allclose(spikes.grad[:, 0, 0], torch.full((5,), -1.0))
    assert torch.allclose(spikes.grad[:, 0, 1], torch.full((5,), -4.0))


# --------------------------------------------------------------------------- membrane loss


def test_membrane_cross_entropy_max_and_mean_differ_as_computed() -> None:
    # class 0: v = (4, 0) over time -> max 4, mean 2; class 1: (3, 3) -> max 3, mean 3
    v = torch.tensor([[[4.0, 3.0]], [[0.0, 3.0]]])
    target = torch.tensor([0])
    assert membrane_cross_entropy(v, target, "max").item() == pytest.approx(
        math.log1p(math.exp(-1.0)), rel=1e-6
    )
    assert membrane_cross_entropy(v, target, reduce="mean").item() == pytest.approx(
        math.log1p(math.exp(1.0)), rel=1e-6
    )


def test_membrane_cross_entropy_max_gradient_goes_to_the_peak() -> None:
    v = torch.tensor([[[4.0, 3.0]], [[0.0, 2.0]]], requires_grad=True)
    membrane_cross_entropy(v, torch.tensor([0])).backward()
    p0 = 1.0 / (1.0 + math.exp(-1.0))
    expected = torch.tensor([[[p0 - 1.0, 1.0 - p0]], [[0.0, 0.0]]])
    assert v.grad is not None
    assert torch.allclose(v.grad, expected, atol=1e-6)


# --------------------------------------------------------------------------- first-spike loss


def test_first_spike_cross_entropy_hand_value() -> None:
    # correct fires at step 1, other at step 3; tau 2 -> logits (-0.5, -1.5)
    spikes = spikes_at([[1, 3]], steps=5)
    loss = first_spike_cross_entropy(spikes, torch.tensor([0]), tau=2.0)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-6)
    # a silent neuron counts as firing at T = 5: logits (-0.5, -2.5)
    spikes = spikes_at([[1, None]], steps=5)
    loss = first_spike_cross_entropy(spikes, torch.tensor([0]), tau=2.0)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)


def test_first_spike_cross_entropy_prefers_earlier_correct_neuron() -> None:
    target = torch.tensor([0])
    losses = [
        first_spike_cross_entropy(spikes_at([[t, 4]], steps=8), target).item()
        for t in (0, 2, 4, 6)
    ]
    assert losses == sorted(losses)
    assert losses[0] < losses[1] < losses[2] < losses[3]
    assert losses[2] == pytest.approx(math.log(2.0), rel=1e-6)  # a tie is chance level


def test_first_spike_cross_entropy_gradient_on_silent_outputs() -> None:
    # both silent, T = 4: p = (1/2, 1/2); dL/dt0 = 0.5 / tau, dL/dt1 = -0.5 / tau;
    # d t_first / d s_j = j - T for a silent neuron.
    tau = 2.0
    spikes = torch.zeros(4, 1, 2, requires_grad=True)
    first_spike_cross_entropy(spikes, torch.tensor([0]), tau=tau).backward()
    assert spikes.grad is not None
    ramp = torch.tensor([-4.0, -3.0, -2.0, -1.0])
    assert torch.allclose(spikes.grad[:, 0, 0], 0.5 / tau * ramp)
    assert torch.allclose(spikes.grad[:, 0, 1], -0.5 / tau * ramp)


def test_first_spike_gradient_step_moves_the_correct_spike_earlier() -> None:
    # Two LIF outputs driven by a learnable constant current: class 0 (correct) fires at
    # step 10, class 1 at step 6. One SGD step must make the correct neuron fire earlier,
    # the wrong one not earlier, and lower the loss.
    steps, dt = 20, 1e-3
    params = LIFParams(tau_mem=10e-3, surrogate=FastSigmoid())
    drive = torch.tensor([1.5, 2.0], requires_grad=True)
    target = torch.tensor([0])

    def outputs() -> torch.Tensor:
        return lif_multi_step(drive.expand(steps, 1, 2), None, params, dt).out

    spikes = outputs()
    before = first_spike_time(spikes.detach())[0]
    assert before.tolist() == [10.0, 6.0]
    loss = first_spike_cross_entropy(spikes, target, tau=2.0)
    loss.backward()
    assert drive.grad is not None
    assert drive.grad[0] < 0 < drive.grad[1]
    with torch.no_grad():
        drive -= 0.1 * drive.grad
        spikes = outputs()
        after = first_spike_time(spikes)[0]
        new_loss = first_spike_cross_entropy(spikes, target, tau=2.0)
    assert after[0] < before[0]
    assert after[1] >= before[1]
    assert new_loss < loss.detach()


def test_silence_term_value_and_gradient() -> None:
    # sample 0: correct (class 1) silent; sample 1: correct (class 0) fired at step 2.
    steps, weight = 4, 2.0
    base = spikes_at([[0, None], [2, 1]], steps=steps)
    target = torch.tensor([1, 0])

    def grad_and_loss(w: float) -> tuple[torch.Tensor, float]:
        s = base.clone().requires_grad_(True)
        loss = first_spike_cross_entropy(s, target, tau=1.0, silence_weight=w)
        loss.backward()
        assert s.grad is not None
        return s.grad, loss.item()

    g0, l0 = grad_and_loss(0.0)
    g1, l1 = grad_and_loss(weight)
    # value: one of two samples has a silent correct neuron -> + weight * 1 / 2
    assert l1 - l0 == pytest.approx(weight / 2, rel=1e-6)
    diff = g1 - g0
    expected = torch.zeros_like(diff)
    expected[:, 0, 1] = -weight / 2  # every step of the silent correct neuron, batch mean
    assert torch.allclose(diff, expected)


def test_silence_term_is_zero_when_correct_neuron_fires() -> None:
    spikes = spikes_at([[3, 1]], steps=6)
    target = torch.tensor([0])
    a = first_spike_cross_entropy(spikes, target, silence_weight=0.0)
    b = first_spike_cross_entropy(spikes, target, silence_weight=5.0)
    assert a.item() == b.item()


# --------------------------------------------------------------------------- prediction


def test_first_spike_predict_earliest_and_ties() -> None:
    spikes = spikes_at(
        [
            [4, 2, 3],  # earliest: class 1
            [3, 1, 1],  # tie 1/2: lowest index -> 1
            [None, None, None],  # all silent: lowest index -> 0
            [None, 5, None],  # only class 1 fires
        ],
        steps=6,
    )
    assert first_spike_predict(spikes).tolist() == [1, 1, 0, 1]


def test_first_spike_predict_breaks_ties_with_membrane() -> None:
    spikes = spikes_at([[4, 2, 3], [3, 1, 1], [None, None, None], [2, 2, 2]], steps=6)
    v = torch.zeros(6, 4, 3)
    v[0, 0] = torch.tensor([9.0, 0.0, 0.0])  # not a tie: class 1 still wins on time
    v[0, 1] = torch.tensor([9.0, 0.5, 0.7])  # tie 1/2: class 2 has the larger max
    v[3, 2] = torch.tensor([0.1, 0.3, 0.2])  # silent: class 1 has the larger max
    v[0, 3] = torch.tensor([0.4, 0.4, 0.1])  # tie in time and in max (0/1): lowest index
    pred = first_spike_predict(spikes, v)
    assert pred.dtype == torch.long
    assert pred.tolist() == [1, 2, 1, 0]


# --------------------------------------------------------------------------- validation


GOOD = torch.zeros(4, 2, 3)
TARGET = torch.tensor([0, 2])


@pytest.mark.parametrize(
    "fn",
    [
        count_cross_entropy,
        count_mse,
        membrane_cross_entropy,
        first_spike_cross_entropy,
    ],
)
def test_loss_validation(fn) -> None:  # type: ignore[no-untyped-def]
    name = "v" if fn is membrane_cross_entropy else "spikes"
    with pytest.raises(TypeError, match=name):
        fn(GOOD.numpy(), TARGET)
    with pytest.raises(ValueError, match=f"{name} must be time-major with rank >= 3"):
        fn(torch.zeros(4, 2), TARGET)
    with pytest.raises(ValueError, match=rf"{name} must have shape \[T, B, C\]"):
        fn(torch.zeros(4, 2, 3, 1), TARGET)
    with pytest.raises(TypeError, match=f"{name} must be a floating"):
        fn(GOOD.long(), TARGET)
    with pytest.raises(ValueError, match=f"{name} contains inf or nan"):
        fn(torch.full((4, 2, 3), math.nan), TARGET)
    with pytest.raises(ValueError, match="at least one sample"):
        fn(torch.zeros(4, 2, 0), TARGET)
    with pytest.raises(TypeError, match="target must be a tensor"):
        fn(GOOD, [0, 2])
    with pytest.raises(TypeError, match="target must hold integer"):
        fn(GOOD, TARGET.float())
    with pytest.raises(TypeError, match="target must hold integer"):
        fn(GOOD, torch.tensor([True, False]))
    with pytest.raises(ValueError, match=r"target must have shape \[B\] = \(2,\)"):
        fn(GOOD, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 3\)"):
        fn(GOOD, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="from -1 to 0"):
        fn(GOOD, torch.tensor([-1, 0]))


def test_int32_targets_are_accepted() -> None:
    spikes = spikes_at([[0, 1], [1, 0]], steps=3)
    a = count_cross_entropy(spikes, torch.tensor([0, 1], dtype=torch.int32))
    b = count_cross_entropy(spikes, torch.tensor([0, 1]))
    assert a.item() == b.item()


def test_hyperparameter_validation() -> None:
    with pytest.raises(ValueError, match="scale must lie in"):
        count_cross_entropy(GOOD, TARGET, scale=0.0)
    with pytest.raises(TypeError, match="scale must be a float"):
        count_cross_entropy(GOOD, TARGET, scale="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_rate must lie in"):
        count_mse(GOOD, TARGET, on_rate=1.5)
    with pytest.raises(ValueError, match="off_rate must lie in"):
        count_mse(GOOD, TARGET, off_rate=-0.1)
    with pytest.raises(TypeError, match="on_rate must be a float"):
        count_mse(GOOD, TARGET, on_rate=True)
    with pytest.raises(ValueError, match="reduce must be one of"):
        membrane_cross_entropy(GOOD, TARGET, reduce="min")
    with pytest.raises(TypeError, match="reduce must be a str"):
        membrane_cross_entropy(GOOD, TARGET, reduce=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tau must lie in"):
        first_spike_cross_entropy(GOOD, TARGET, tau=0.0)
    with pytest.raises(ValueError, match="tau must lie in"):
        first_spike_cross_entropy(GOOD, TARGET, tau=math.inf)
    with pytest.raises(ValueError, match="silence_weight must lie in"):
        first_spike_cross_entropy(GOOD, TARGET, silence_weight=-1.0)
    with pytest.raises(ValueError, match="spikes must lie in"):
        first_spike_cross_entropy(GOOD + 2.0, TARGET)


def test_predict_validation() -> None:
    with pytest.raises(ValueError, match=r"spikes must have shape \[T, B, C\]"):
        first_spike_predict(torch.zeros(4, 2, 3, 1))
    with pytest.raises(ValueError, match="v must have the shape of spikes"):
        first_spike_predict(GOOD, torch.zeros(4, 2, 2))
    with pytest.raises(TypeError, match="v must be a floating"):
        first_spike_predict(GOOD, torch.zeros(4, 2, 3, dtype=torch.long))
