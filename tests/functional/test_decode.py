"""Tests for the readouts in axonal.functional.decode."""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
import torch

from axonal import decode as public_decode
from axonal.functional import decode, encode
from axonal.functional.encode import LatencyMode
from axonal.functional.surrogate import FastSigmoid

MODES: tuple[LatencyMode, ...] = ("linear", "log")

# Hand-made trains, T = 5, B = 4:
#   neuron 0 fires at steps 2 and 4, neuron 1 never, neuron 2 at 0, 1, 2, neuron 3 at 4.
TRAIN = torch.tensor(
    [
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [1.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 1.0],
    ],
    dtype=torch.float64,
)


def test_spike_count_by_hand() -> None:
    assert decode.spike_count(TRAIN).tolist() == [2.0, 0.0, 3.0, 1.0]
    wide = TRAIN.reshape(5, 2, 2)
    assert decode.spike_count(wide).tolist() == [[2.0, 0.0], [3.0, 1.0]]


def test_rate_in_hz_by_hand() -> None:
    r = decode.rate(TRAIN, dt=1e-3)  # window 5 ms
    expected = [400.0, 0.0, 600.0, 200.0]
    assert torch.allclose(r, torch.tensor(expected, dtype=torch.float64))


def test_first_spike_time_exact_index_and_seconds() -> None:
    assert decode.first_spike_time(TRAIN).tolist() == [2.0, 5.0, 0.0, 4.0]
    secs = decode.first_spike_time(TRAIN, dt=2e-3)
    assert torch.allclose(secs, torch.tensor([4e-3, 10e-3, 0.0, 8e-3], dtype=torch.float64))


def test_first_spike_time_gradient_for_binary_spikes_is_exact() -> None:
    # For binary s: d t_first / d s_k = k - (index of the next spike after k, or T) for k up to
    # the first spike, and 0 after it.
    s = TRAIN.clone().requires_grad_(True)
    decode.first_spike_time(s).sum().backward()
    assert s.grad is not None
    expected = torch.tensor(
        [
            [-2.0, -5.0, 0.0 - 1.0, -4.0],
            [-1.0, -4.0, 0.0, -3.0],
            [2.0 - 4.0, -3.0, 0.0, -2.0],
            [0.0, -2.0, 0.0, -1.0],
            [0.0, -1.0, 0.0, 4.0 - 5.0],
        ],
        dtype=torch.float64,
    )
    assert torch.equal(s.grad, expected)


def test_first_spike_time_is_the_expected_time_for_fractional_spikes() -> None:
    # With independent firing probability p per step, E[t_first] (T if silent) is
    # sum_t t p (1 - p)^t + T (1 - p)^T.
    p, steps = 0.3, 4
    s = torch.full((steps, 1), p, dtype=torch.float64)
    expected = sum(t * p * (1 - p) ** t for t in range(steps)) + steps * (1 - p) ** steps
    assert abs(float(decode.first_spike_time(s)[0]) - expected) < 1e-12


def test_first_spike_time_gradient_matches_finite_difference() -> None:
    gen = torch.Generator().manual_seed(0)
    s = (0.1 + 0.8 * torch.rand(6, 2, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(decode.first_spike_time, (s,))
    assert torch.autograd.gradcheck(lambda v: decode.first_spike_time(v, dt=1e-3), (s,))


def test_first_spike_time_passes_surrogate_gradients_to_the_membrane() -> None:
    # Membrane crossing the threshold (0) at step 3 for neuron 0; neuron 1 never crosses.
    v = torch.tensor(
        [[-0.5, -0.5], [-0.3, -0.4], [-0.1, -0.3], [0.2, -0.2], [0.4, -0.1]],
        dtype=torch.float64,
        requires_grad=True,
    )
    spikes = FastSigmoid()(v)
    t = decode.first_spike_time(spikes)
    assert t.tolist() == [3.0, 5.0]
    t.sum().backward()
    assert v.grad is not None
    # raising the membrane before the first spike makes the neuron fire earlier
    assert bool((v.grad[:3, 0] < 0).all()) and bool((v.grad[:, 1] < 0).all())
    assert float(v.grad[4, 0]) == 0.0  # after the first spike: no influence


def test_first_spike_time_round_trips_latency_coding() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 8, generator=gen, dtype=torch.float64)
    steps = 12
    for mode in MODES:
        times = encode.latency_times(x, steps, mode=mode, threshold=0.2, normalize=True)
        spikes = encode.latency(x, steps, mode=mode, threshold=0.2, normalize=True)
        expected = torch.where(torch.isinf(times), torch.full_like(times, steps), times)
        assert torch.isinf(times).any() and torch.isfinite(times).any()
        assert torch.equal(decode.first_spike_time(spikes), expected)


def test_membrane_max_and_mean_by_hand() -> None:
    v = torch.tensor([[1.0, -2.0], [3.0, -1.0], [2.0, -4.0]], requires_grad=True)
    vmax = decode.membrane_max(v)
    vmean = decode.membrane_mean(v)
    assert vmax.tolist() == [3.0, -1.0]
    assert torch.allclose(vmean, torch.tensor([2.0, -7.0 / 3.0]))
    vmax.sum().backward()
    assert v.grad is not None
    assert v.grad.tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]


def test_public_module_reexports_the_functional_readouts() -> None:
    assert public_decode.first_spike_time is decode.first_spike_time
    assert set(public_decode.__all__) == set(decode.__all__)


BAD: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    (
        "count list",
        lambda: decode.spike_count([[1.0]]),  # type: ignore[arg-type]
        TypeError,
        "spikes",
    ),
    ("count rank1", lambda: decode.spike_count(torch.ones(4)), ValueError, "spikes"),
    (
        "count int",
        lambda: decode.spike_count(torch.ones(3, 2, dtype=torch.int64)),
        TypeError,
        "spikes",
    ),
    ("count empty T", lambda: decode.spike_count(torch.ones(0, 2)), ValueError, "spikes"),
    ("count nan", lambda: decode.spike_count(torch.full((2, 2), math.nan)), ValueError, "spikes"),
    ("first > 1", lambda: decode.first_spike_time(torch.full((3, 2), 2.0)), ValueError, "spikes"),
    ("first < 0", lambda: decode.first_spike_time(torch.full((3, 2), -0.5)), ValueError, "spikes"),
    ("first rank1", lambda: decode.first_spike_time(torch.ones(3)), ValueError, "spikes"),
    ("first dt 0", lambda: decode.first_spike_time(TRAIN, dt=0.0), ValueError, "dt"),
    (
        "first dt str",
        lambda: decode.first_spike_time(TRAIN, dt="1"),  # type: ignore[arg-type]
        TypeError,
        "dt",
    ),
    ("max rank1", lambda: decode.membrane_max(torch.ones(3)), ValueError, "v"),
    ("mean inf", lambda: decode.membrane_mean(torch.full((2, 1), math.inf)), ValueError, "v"),
    ("rate dt < 0", lambda: decode.rate(TRAIN, -1e-3), ValueError, "dt"),
    ("rate dt nan", lambda: decode.rate(TRAIN, math.nan), ValueError, "dt"),
    ("rate spikes", lambda: decode.rate(torch.ones(4), 1e-3), ValueError, "spikes"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_inputs_raise_naming_the_argument(
    case: tuple[str, Callable[[], Any], type[Exception], str],
) -> None:
    _, call, exc, name = case
    with pytest.raises(exc, match=rf"^{name} "):
        call()
