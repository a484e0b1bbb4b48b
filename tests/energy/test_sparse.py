"""The event-driven linear path equals the dense one and falls back where it must."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from axonal.energy import count_ops
from axonal.nn import LI, LIF, Sequential, TimeDistributed
from axonal.nn.event import SpikeConv2d, SpikeLinear, sparsify, spike_linear


def make_spikes(shape: tuple[int, ...], rate: float, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < rate).to(dtype)


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.5, 1.0])
def test_spike_linear_equals_the_dense_product(rate: float) -> None:
    torch.manual_seed(0)
    lin = nn.Linear(50, 30)
    x = make_spikes((7, 3, 50), rate, seed=int(rate * 100))
    out = spike_linear(x, lin.weight.detach().t().contiguous(), lin.bias.detach())
    assert out is not None and out.shape == (7, 3, 30)
    torch.testing.assert_close(out, F.linear(x, lin.weight, lin.bias).detach(), rtol=1e-5, atol=1e-5)


def test_float64_matches_to_double_precision_and_signed_events_work() -> None:
    torch.manual_seed(1)
    w = torch.randn(20, 40, dtype=torch.float64)
    x = make_spikes((6, 40), 0.3, seed=2, dtype=torch.float64) - make_spikes((6, 40), 0.3, seed=3, dtype=torch.float64)
    x = x.clamp(-1, 1)
    assert bool((x == -1).any())
    out = spike_linear(x, w.t().contiguous(), None)
    assert out is not None
    torch.testing.assert_close(out, x @ w.t(), rtol=1e-12, atol=1e-12)


def test_non_spike_input_is_refused_and_the_layer_falls_back_to_dense() -> None:
    torch.manual_seed(0)
    layer = SpikeLinear(5, 3)
    x = torch.rand(4, 5)
    assert spike_linear(x, layer.weight_t(), None) is None
    with torch.no_grad():
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
    with pytest.raises(ValueError, match="weight_t"):
        spike_linear(x, torch.zeros(4, 3), None)


def test_gradients_take_the_dense_path_and_match_nn_linear() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(6, 4)
    sparse = SpikeLinear.from_linear(lin)
    assert sparse.weight is lin.weight
    x = make_spikes((5, 6), 0.4, seed=0)
    sparse(x).sum().backward()
    grad = lin.weight.grad.clone()  # type: ignore[union-attr]
    lin.weight.grad = None
    lin(x).sum().backward()
    torch.testing.assert_close(grad, lin.weight.grad)


def test_cached_transpose_follows_weight_updates() -> None:
    layer = SpikeLinear(4, 2)
    x = make_spikes((3, 4), 0.5, seed=4)
    with torch.no_grad():
        first = layer(x)
        layer.weight.mul_(2.0)
        second = layer(x)
        torch.testing.assert_close(second - layer.bias, 2.0 * (first - layer.bias))


def test_sparsify_keeps_outputs_and_state_dict() -> None:
    torch.manual_seed(0)
    model = Sequential(nn.Linear(30, 20), LIF(r=20.0, tau_mem=20e-3), nn.Linear(20, 5), LI())
    x = make_spikes((10, 2, 30), 0.2, seed=5)
    keys = list(model.state_dict())
    with torch.no_grad():
        dense = model(x)[0]
        sparsify(model)
        sparse = model(x)[0]
    assert all(isinstance(model.layers[i], SpikeLinear) for i in (0, 2))
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="model"):
        sparsify(nn.Linear(2, 2))


def test_counter_sees_the_sparse_path_as_the_same_synaptic_work() -> None:
    torch.manual_seed(0)
    model = Sequential(nn.Linear(12, 8), LIF(r=20.0, tau_mem=20e-3), nn.Linear(8, 3), LI())
    x = make_spikes((6, 2, 12), 0.3, seed=6)
    dense = count_ops(model, x)
    sparse = count_ops(sparsify(model), x)
    assert sparse.unknown == ()
    assert [(e.synops, e.dense_macs, e.spikes_in, e.inputs_in) for e in sparse.layers] == [
        (e.synops, e.dense_macs, e.spikes_in, e.inputs_in) for e in dense.layers
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": 1, "stride": 2},
        {"padding": 0, "stride": 1, "dilation": 2},
        {"padding": (1, 2), "stride": (2, 1), "bias": False},
    ],
)
def test_spike_conv_equals_the_dense_convolution(kwargs: dict[str, object]) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, **kwargs)  # type: ignore[arg-type]
    sparse = SpikeConv2d.from_conv(conv)
    assert sparse.weight is conv.weight
    x = make_spikes((4, 3, 9, 8), 0.3, seed=7)
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), conv(x), rtol=1e-5, atol=1e-5)
        assert sparse._event_path(x) is not None  # the event path really ran


def test_spike_conv_falls_back_to_dense_where_it_must() -> None:
    torch.manual_seed(0)
    grouped = SpikeConv2d.from_conv(nn.Conv2d(4, 4, 3, groups=2))
    x = make_spikes((2, 4, 6, 6), 0.3, seed=8)
    analog = torch.rand(2, 4, 6, 6)
    with torch.no_grad():
        assert grouped._event_path(x) is None
        plain = SpikeConv2d.from_conv(nn.Conv2d(4, 2, 3))
        assert plain._event_path(analog) is None
        torch.testing.assert_close(plain(analog), F.conv2d(analog, plain.weight, plain.bias))


def test_sparsify_converts_convolutions_and_the_counts_stay_the_same() -> None:
    torch.manual_seed(0)
    model = Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, padding=1, stride=2)), LIF(r=20.0, tau_mem=20e-3))
    x = make_spikes((3, 2, 2, 8, 8), 0.3, seed=9)
    with torch.no_grad():
        dense_out = model(x)[0]
    dense = count_ops(model, x)
    sparsify(model)
    assert isinstance(model.layers[0].module, SpikeConv2d)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], dense_out)
    sparse = count_ops(model, x)
    assert sparse.unknown == ()
    assert [(e.synops, e.dense_macs) for e in sparse.layers] == [(e.synops, e.dense_macs) for e in dense.layers]
