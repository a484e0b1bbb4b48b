"""The compiled spike-indexed accumulation (axonal/kernels/sparse_cpu.cpp) and EventNetwork."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from axonal.errors import NonFiniteError
from axonal.functional import surrogate as sg
from axonal.functional.neurons import ResetMode
from axonal.nn import IF, LI, LIF, Sequential
from axonal.nn.event import EventNetwork, SpikeLinear, sparse_kernel, spike_linear

EXT = sparse_kernel()
needs_kernel = pytest.mark.skipif(EXT is None, reason="the sparse C++ extension cannot be built here")


def spikes(shape: tuple[int, ...], rate: float, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < rate).to(dtype)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rate", [0.0, 0.03, 0.3, 1.0])
def test_kernel_equals_f_linear(dtype: torch.dtype, bias: bool, rate: float) -> None:
    torch.manual_seed(0)
    k, m = 37, 21  # K not a multiple of the vector width: the scan's scalar tail runs too
    w = torch.randn(m, k, dtype=dtype)
    b = torch.randn(m, dtype=dtype) if bias else None
    x = spikes((9, k), rate, seed=1, dtype=dtype)
    out, ok = EXT.spike_linear(x, w.t().contiguous(), b)  # type: ignore[union-attr]
    assert ok
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out, F.linear(x, w, b), rtol=tol, atol=tol)
    # the public function takes the same path and keeps the leading shape
    public = spike_linear(x.reshape(3, 3, k), w.t().contiguous(), b)
    assert public is not None
    torch.testing.assert_close(public.reshape(9, m), out, rtol=0, atol=0)


@needs_kernel
def test_kernel_signed_events_empty_and_all_zero_rows() -> None:
    torch.manual_seed(2)
    w = torch.randn(12, 40, dtype=torch.float64)
    b = torch.randn(12, dtype=torch.float64)
    x = spikes((6, 40), 0.4, seed=3, dtype=torch.float64) - spikes((6, 40), 0.4, seed=4, dtype=torch.float64)
    x[2] = 0.0  # a row without events gives the bias alone
    assert bool((x == -1).any()) and bool((x == 1).any())
    out, ok = EXT.spike_linear(x, w.t().contiguous(), b)  # type: ignore[union-attr]
    assert ok
    torch.testing.assert_close(out, F.linear(x, w, b), rtol=1e-12, atol=1e-12)
    assert torch.equal(out[2], b)
    empty, ok = EXT.spike_linear(torch.zeros(0, 40, dtype=torch.float64), w.t().contiguous(), b)  # type: ignore[union-attr]
    assert ok and empty.shape == (0, 12)
    zeros = spike_linear(torch.zeros(4, 40, dtype=torch.float64), w.t().contiguous(), None)
    assert zeros is not None and torch.equal(zeros, torch.zeros(4, 12, dtype=torch.float64))


@needs_kernel
@pytest.mark.parametrize("bad", [0.5, 2.0, float("nan"), float("inf"), -3.0])
def test_non_spike_values_are_refused_and_the_layer_falls_back(bad: float) -> None:
    torch.manual_seed(0)
    layer = SpikeLinear(30, 4)
    x = spikes((5, 30), 0.3, seed=5)
    x[3, 17] = bad
    _, ok = EXT.spike_linear(x, layer.weight_t(), layer.bias.detach())  # type: ignore[union-attr]
    assert not ok
    assert spike_linear(x, layer.weight_t(), layer.bias.detach()) is None
    with torch.no_grad():
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias), equal_nan=True)


@needs_kernel
def test_kernel_rejects_mismatched_operands() -> None:
    w = torch.randn(8, 3)
    with pytest.raises(RuntimeError, match="weight_t"):
        EXT.spike_linear(torch.zeros(2, 5), w, None)  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="dtype"):
        EXT.spike_linear(torch.zeros(2, 8, dtype=torch.float64), w, None)  # type: ignore[union-attr]


def make_net(reset: ResetMode = ResetMode.SUBTRACT, bias: bool = True, seed: int = 0) -> Sequential:
    torch.manual_seed(seed)
    return Sequential(
        nn.Linear(40, 30, bias=bias),
        LIF(tau_mem=20e-3, r=20.0, reset=reset, v_reset=-0.2 if reset is ResetMode.ZERO else 0.0),
        nn.Linear(30, 6, bias=bias),
        LI(tau_mem=10e-3, r=2.0, v_leak=0.1),
    ).eval()


@needs_kernel
@pytest.mark.parametrize("reset", list(ResetMode))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_event_network_equals_the_model(reset: ResetMode, dtype: torch.dtype) -> None:
    model = make_net(reset).to(dtype)
    event = EventNetwork(make_net(reset).to(dtype))
    x = spikes((15, 3, 40), 0.3, seed=6, dtype=dtype)
    with torch.no_grad():
        want, want_state = model(x)
        got, got_state = event(x)
        hidden = model.run(x).outputs[1]
        assert event._event_forward(x, None) is not None  # the compiled path ran
    assert float(hidden.mean()) > 0.02  # the hidden layer really spikes
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    assert got_state[0] is None and got_state[2] is None
    for i in (1, 3):
        assert type(got_state[i]) is type(want_state[i])
        for a, b in zip(got_state[i], want_state[i]):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@needs_kernel
def test_event_network_neuron_updates_are_the_reference_bit_for_bit() -> None:
    # weights on a 1/8 grid: every current is an exact sum, so any difference would come from
    # the neuron equations (LIF with per-neuron thresholds, then LI)
    torch.manual_seed(3)
    model = Sequential(
        nn.Linear(24, 16, bias=False), LIF(tau_mem=15e-3, r=4.0, v_th=torch.linspace(0.5, 1.5, 16), backend="reference"),
        nn.Linear(16, 5), LI(tau_mem=7e-3, backend="reference"),
    ).eval()
    with torch.no_grad():
        for layer in (model.layers[0], model.layers[2]):
            layer.weight.copy_(torch.randint(-8, 9, layer.weight.shape) / 8.0)
        model.layers[2].bias.copy_(torch.randint(-4, 5, (5,)) / 8.0)
    x = spikes((30, 2, 24), 0.25, seed=7)
    with torch.no_grad():
        want, want_state = model(x)
        event = EventNetwork(model)
        assert event._event_forward(x, None) is not None
        got, got_state = event(x)
    assert bool((model.run(x).outputs[1] == 1).any())
    assert torch.equal(got, want)
    assert torch.equal(got_state[1].v, want_state[1].v) and torch.equal(got_state[3].v, want_state[3].v)


def _grid_net(t_ref: float, reset: ResetMode, dtype: torch.dtype, seed: int) -> Sequential:
    """Linear -> LIF (refractory) -> Linear -> LIF (refractory) -> Linear -> LI, weights on a
    1/8 grid: every current is an exact sum, so the comparison is bit for bit."""
    torch.manual_seed(seed)
    lif = dict(r=6.0, t_ref=t_ref, reset=reset, backend="reference")
    model = Sequential(
        nn.Linear(24, 16, bias=False), LIF(tau_mem=15e-3, v_th=torch.linspace(0.5, 1.5, 16), **lif),
        nn.Linear(16, 12), LIF(tau_mem=8e-3, v_reset=-0.25 if reset is ResetMode.ZERO else 0.0, **lif),
        nn.Linear(12, 5), LI(tau_mem=7e-3, backend="reference"),
    ).eval().to(dtype)
    with torch.no_grad():
        for layer in model.layers[0::2]:
            layer.weight.copy_(torch.randint(-8, 9, layer.weight.shape) / 8.0)
            if layer.bias is not None:
                layer.bias.copy_(torch.randint(0, 5, layer.bias.shape) / 8.0)
    return model


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
def test_event_network_refractory_period_is_the_reference_bit_for_bit(
    reset: ResetMode, dtype: torch.dtype
) -> None:
    """LIF populations with t_ref > 0 (2.5 steps, off the grid: Brian2 rounds down) run
    event-driven with the spikes, membranes and countdowns of the dense reference, from rest
    and from a state with neurons part-way through their refractory period."""
    model = _grid_net(2.5e-3, reset, dtype, seed=4)
    event = EventNetwork(_grid_net(2.5e-3, reset, dtype, seed=4))
    x = spikes((40, 3, 24), 0.3, seed=12, dtype=dtype)
    with torch.no_grad():
        assert event._event_forward(x, None) is not None  # the compiled path runs
        want, want_state = model(x[:25])
        got, got_state = event(x[:25])
        hidden = model.run(x[:25]).outputs[1]
        assert float(hidden.mean()) > 0.05
        assert torch.equal(got, want)
        for i in (1, 3):
            assert torch.equal(got_state[i].v, want_state[i].v)
            assert torch.equal(got_state[i].refractory, want_state[i].refractory)
        assert float(want_state[1].refractory.max()) > 0  # it ends part-way through a period
        want2, want_state2 = model(x[25:], want_state)
        got2, got_state2 = event(x[25:], got_state)
    assert torch.equal(got2, want2)
    for i in (1, 3):
        assert torch.equal(got_state2[i].v, want_state2[i].v)
        assert torch.equal(got_state2[i].refractory, want_state2[i].refractory)


@needs_kernel
def test_event_network_refuses_a_nonfinite_state() -> None:
    event = EventNetwork(_grid_net(2e-3, ResetMode.SUBTRACT, torch.float32, seed=5))
    x = spikes((6, 2, 24), 0.3, seed=13)
    with torch.no_grad():
        _, state = event(x)
        for i, field in ((1, "v"), (1, "refractory"), (3, "refractory"), (5, "v")):
            value = getattr(state[i], field).clone()
            value[1, 2] = float("nan")
            bad = list(state)
            bad[i] = state[i]._replace(**{field: value})
            owner = "LI" if i == 5 else "LIF"
            with pytest.raises(NonFiniteError,
                               match=rf"^state\[{i}\]\.{field} of {owner} contains NaN at 1 of"):
                event(x, tuple(bad))


@needs_kernel
def test_event_network_continues_from_a_state_and_takes_batch() -> None:
    event = EventNetwork(make_net(bias=False))
    x = spikes((20, 4, 40), 0.3, seed=8)
    with torch.no_grad():
        whole, whole_state = event(x)
        first, state = event(x[:12])
        second, end_state = event(x[12:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(end_state[1].v, whole_state[1].v, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="state"), torch.no_grad():
        event(x, (None, state[1]._replace(v=torch.zeros(3, 30)), None, state[3]))


@needs_kernel
def test_event_network_falls_back_where_it_must() -> None:
    model = make_net()
    event = EventNetwork(make_net())
    analog = torch.rand(10, 2, 40)
    with torch.no_grad():
        assert event._event_forward(analog, None) is None
        torch.testing.assert_close(event(analog)[0], model(analog)[0])
        bad = spikes((10, 2, 40), 0.3, seed=9)
        bad[4, 1, 5] = float("nan")
        with pytest.raises(ValueError, match="inf or nan"):
            event(bad)  # the model's own validation runs and names the problem
    x = spikes((10, 2, 40), 0.3, seed=10)
    out, _ = event(x)  # gradients enabled and parameters require them: the model's path
    out.sum().backward()
    assert event.model.layers[0].weight.grad is not None
    smoothed = EventNetwork(
        Sequential(nn.Linear(40, 8), LIF(r=20.0, surrogate=sg.Smoothed(sg.FastSigmoid()))).eval()
    )
    with torch.no_grad():  # a surrogate whose forward pass is not the step: the model's path
        assert smoothed._event_forward(x, None) is None
        assert smoothed(x)[0].shape == (10, 2, 8)


def test_event_network_rejects_models_it_cannot_run() -> None:
    with pytest.raises(TypeError, match="model"):
        EventNetwork(nn.Sequential(nn.Linear(3, 3)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="even"):
        EventNetwork(Sequential(nn.Linear(3, 3), LIF(), nn.Linear(3, 2)))
    with pytest.raises(TypeError, match="layer 1"):
        EventNetwork(Sequential(nn.Linear(3, 3), IF()))
    class MyLinear(nn.Linear):
        pass

    with pytest.raises(TypeError, match="layer 0"):
        EventNetwork(Sequential(MyLinear(3, 3), LIF()))
    with pytest.raises(TypeError, match="layer 2"):
        EventNetwork(Sequential(nn.Linear(3, 3), LIF(), LIF(), LI()))
    with pytest.raises(ValueError, match="layer 1"):
        EventNetwork(Sequential(nn.Linear(3, 3), LI(), nn.Linear(3, 2), LIF()))


def test_without_kernels_the_torch_paths_run(tmp_path: object) -> None:
    script = textwrap.dedent(
        """
        import torch, torch.nn.functional as F
        from torch import nn
        from axonal.nn import LI, LIF, Sequential
        from axonal.nn.event import EventNetwork, sparse_kernel, spike_linear
        assert sparse_kernel() is None
        torch.manual_seed(0)
        w, b = torch.randn(7, 20), torch.randn(7)
        x = (torch.rand(5, 20) < 0.3).float()
        torch.testing.assert_close(spike_linear(x, w.t().contiguous(), b), F.linear(x, w, b))
        net = Sequential(nn.Linear(20, 9), LIF(r=20.0, tau_mem=20e-3), nn.Linear(9, 3), LI()).eval()
        xs = (torch.rand(6, 2, 20) < 0.3).float()
        with torch.no_grad():
            want = net(xs)[0]
            event = EventNetwork(net)
            assert event._event_forward(xs, None) is None
            torch.testing.assert_close(event(xs)[0], want)
        print("torch paths ok")
        """
    )
    env = dict(os.environ, AXONAL_NO_KERNELS="1")
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch paths ok" in done.stdout
