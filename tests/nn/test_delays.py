"""DelayedLinear: gradients against finite differences, the frozen layer against an explicit
shift-and-sum, the state contract, a task that only the right delays solve, bad inputs."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

from axonal.errors import NonFiniteError
from axonal.functional.neurons import ResetMode
from axonal.nn import LIF, DelayedLinear, Sequential
from axonal.nn.delays import interpolation_kernel

DT = 1e-3
MODES = ("synapse", "channel")
KERNELS = ("gaussian", "linear")


def _layer(mode: str, kernel: str = "gaussian", n_in: int = 3, n_out: int = 4, max_delay: int = 5,
           seed: int = 0, **kw: Any) -> DelayedLinear:
    torch.manual_seed(seed)
    return DelayedLinear(n_in, n_out, max_delay, DT, mode=mode, kernel=kernel, delay_init="uniform", **kw)  # type: ignore[arg-type]


def _off_integers(d: Tensor, max_delay: int) -> Tensor:
    """Delays at least 0.15 steps from every whole step (the linear kernel's kinks)."""
    frac = 0.15 + 0.7 * torch.rand_like(d)
    return torch.clamp(torch.floor(d), max=max_delay - 1) + frac


# --------------------------------------------------------------------------- (a) gradients


@pytest.mark.parametrize("mode,kernel", list(itertools.product(MODES, KERNELS)))
def test_gradients_match_finite_differences(mode: str, kernel: str) -> None:
    layer = _layer(mode, kernel, n_in=2, n_out=3, max_delay=3, sigma=0.8 if kernel == "gaussian" else None).double()
    with torch.no_grad():
        layer.delay.copy_(_off_integers(layer.delay, layer.max_delay))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    state = torch.randn(3, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    names = ("weight", "delay", "bias")
    params = tuple(getattr(layer, n).detach().clone().requires_grad_(True) for n in names)

    def f(w: Tensor, d: Tensor, b: Tensor, xs: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        out: tuple[Tensor, Tensor] = functional_call(layer, dict(zip(names, (w, d, b))), (xs, s))
        return out

    assert torch.autograd.gradcheck(f, (*params, x, state), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_delay_gradient_is_not_zero_at_zero() -> None:
    """Delays start at 0 (the lower clamp): the gradient still reaches them, both kernels."""
    for kernel in KERNELS:
        layer = DelayedLinear(2, 1, 3, DT, kernel=kernel).double()  # type: ignore[arg-type]
        x = torch.zeros(6, 1, 2, dtype=torch.float64)
        x[1, 0, 0] = 1.0
        with torch.no_grad():
            layer.weight.fill_(1.0)
        y, _ = layer(x)
        (-y[2].sum()).backward()  # wants channel 0 one step later
        assert layer.delay.grad is not None and float(layer.delay.grad[0, 0]) < 0


def test_interpolation_kernels_are_normalised() -> None:
    d = torch.tensor([0.0, 0.3, 1.0, 2.5, 4.0])
    for kernel, sigma in (("linear", 1.0), ("gaussian", 0.4), ("gaussian", 3.0)):
        h = interpolation_kernel(d, 5, kernel, sigma)  # type: ignore[arg-type]
        torch.testing.assert_close(h.sum(-1), torch.ones(5))
        assert bool((h >= 0).all())
    lin = interpolation_kernel(d, 5, "linear")
    torch.testing.assert_close(lin[1], torch.tensor([0.7, 0.3, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(lin[3], torch.tensor([0.0, 0.0, 0.5, 0.5, 0.0]))
    assert lin[4].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]
    # a narrow Gaussian is one tap at a whole number of steps
    torch.testing.assert_close(interpolation_kernel(torch.tensor([2.0]), 5, "gaussian", 0.05)[0],
                               torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]))


@pytest.mark.parametrize("mode,kernel", list(itertools.product(MODES, KERNELS)))
def test_forward_is_the_causal_convolution_of_its_kernel(mode: str, kernel: str) -> None:
    layer = _layer(mode, kernel).double()
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    y, _ = layer(x)
    k = layer.kernel_weights().detach()  # [out, in, D]
    ref = torch.zeros(9, 2, 4, dtype=torch.float64) + layer.bias.detach()  # type: ignore[union-attr]
    for t in range(9):
        for tap in range(min(t + 1, layer.taps)):
            ref[t] += x[t - tap] @ k[:, :, tap].T
    torch.testing.assert_close(y, ref)


# --------------------------------------------------------------------------- (b) frozen layer


def _shift_and_sum(layer: DelayedLinear, x: Tensor, history: Tensor) -> Tensor:
    """``y[t, b, o] = bias[o] + sum_i w[o, i] x[t - s[o, i], b, i]``, term by term."""
    s = layer.integer_delays()
    if layer.mode == "channel":
        s = s.expand(layer.out_features, layer.in_features)
    full = torch.cat([history, x])  # history: the max_delay inputs before x
    n = history.shape[0]
    w = layer.weight.detach()
    y = torch.zeros(x.shape[0], x.shape[1], layer.out_features, dtype=x.dtype)
    for t in range(x.shape[0]):
        for o in range(layer.out_features):
            acc = torch.zeros(x.shape[1], dtype=x.dtype)
            if layer.bias is not None:
                acc = acc + layer.bias.detach()[o]
            for i in range(layer.in_features):
                acc = acc + w[o, i] * full[n + t - int(s[o, i]), :, i]
            y[t, :, o] = acc
    return y


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bias", [True, False])
def test_frozen_forward_equals_shift_and_sum_exactly(mode: str, bias: bool) -> None:
    # weights on a 1/8 grid and small integer inputs: every sum is exact in float32, so any
    # order of summation gives the same bits and equality tests the indexing alone
    layer = _layer(mode, n_in=4, n_out=5, max_delay=6, bias=bias).freeze()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        layer.weight.copy_(torch.randint(-16, 17, layer.weight.shape, generator=gen) / 8.0)
        if layer.bias is not None:
            layer.bias.copy_(torch.randint(-8, 9, layer.bias.shape, generator=gen) / 8.0)
    x = torch.randint(0, 3, (11, 3, 4), generator=gen).float()
    y, state = layer(x)
    assert torch.equal(y, _shift_and_sum(layer, x, torch.zeros(6, 3, 4)))
    assert torch.equal(state, x[-6:])
    x2 = torch.randint(0, 3, (4, 3, 4), generator=gen).float()  # continues from the state
    y2, _ = layer(x2, state)
    assert torch.equal(y2, _shift_and_sum(layer, x2, state))
    assert len(set(layer.integer_delays().reshape(-1).tolist())) > 2  # several distinct delays


@pytest.mark.parametrize("mode", MODES)
def test_freeze_rounds_and_matches_the_kernel_at_whole_steps(mode: str) -> None:
    layer = _layer(mode).double()
    with torch.no_grad():
        layer.delay.copy_(_off_integers(layer.delay, layer.max_delay))
    raw = layer.delay.detach().clone()
    frozen = layer.rounded()
    assert not layer.frozen and torch.equal(layer.delay.detach(), raw)  # rounded() copies
    assert frozen.frozen and not frozen.delay.requires_grad and frozen.weight.requires_grad
    assert torch.equal(frozen.delay.detach(), torch.round(raw))
    torch.testing.assert_close(frozen.delays_s, torch.round(raw) * DT)
    x = torch.randn(10, 2, 3, dtype=torch.float64)
    # at whole-step delays the linear kernel and a narrow Gaussian are the frozen layer
    for kernel, sigma in (("linear", None), ("gaussian", 0.02)):
        twin = DelayedLinear(3, 4, 5, DT, mode=mode, kernel=kernel, sigma=sigma).double()  # type: ignore[arg-type]
        twin.load_state_dict({k: v for k, v in frozen.state_dict().items() if k != "_extra_state"}, strict=False)
        torch.testing.assert_close(twin(x)[0], frozen(x)[0])
    # the frozen flag travels with the state dict
    other = _layer(mode).double()
    other.load_state_dict(frozen.state_dict())
    assert other.frozen and torch.equal(other(x)[0], frozen(x)[0])
    assert not frozen.unfreeze().frozen and frozen.delay.requires_grad


def test_clamp_keeps_delays_in_range() -> None:
    layer = DelayedLinear(2, 2, 4, DT)
    with torch.no_grad():
        layer.delay.copy_(torch.tensor([[-1.5, 2.0], [4.7, 3.0]]))
    x = torch.randn(6, 1, 2)
    before, _ = layer(x)  # the forward already uses the clamped delays
    assert layer.clamp_() is layer
    assert layer.delay.detach().tolist() == [[0.0, 2.0], [4.0, 3.0]]
    torch.testing.assert_close(layer(x)[0], before)
    torch.testing.assert_close(layer.delays_s, torch.tensor([[0.0, 2e-3], [4e-3, 3e-3]]))


# --------------------------------------------------------------------------- state contract


@pytest.mark.parametrize("mode,frozen", list(itertools.product(MODES, [False, True])))
def test_chunks_and_steps_equal_one_run(mode: str, frozen: bool) -> None:
    layer = _layer(mode).double()
    if frozen:
        layer.freeze()
    x = torch.randn(12, 2, 3, dtype=torch.float64)
    y, state = layer(x)
    assert state.shape == (5, 2, 3) and torch.equal(layer.initial_state(x[0]), torch.zeros(5, 2, 3, dtype=torch.float64))
    for k in (1, 3, 8):  # chunks shorter and longer than the delay line
        y1, s1 = layer(x[:k])
        y2, s2 = layer(x[k:], s1)
        torch.testing.assert_close(torch.cat([y1, y2]), y, rtol=1e-12, atol=1e-12)
        assert torch.equal(s2, state)
    s = layer.initial_state(x[0])
    steps = []
    for t in range(12):
        yt, s = layer.step(x[t], s)
        steps.append(yt)
    torch.testing.assert_close(torch.stack(steps), y, rtol=1e-12, atol=1e-12)
    assert torch.equal(s, state)


def test_zero_max_delay_is_a_linear_layer() -> None:
    layer = DelayedLinear(3, 2, 0, DT)
    x = torch.randn(5, 2, 3)
    y, state = layer(x)
    assert state.shape == (0, 2, 3)
    torch.testing.assert_close(y, torch.nn.functional.linear(x, layer.weight, layer.bias))
    torch.testing.assert_close(layer.rounded()(x)[0], y)


def test_runs_inside_sequential_step_by_step() -> None:
    torch.manual_seed(0)
    net = Sequential(_layer("synapse"), LIF(tau_mem=5e-3, v_th=0.2, dt=DT)).double()
    x = 5.0 * (torch.rand(15, 2, 3, dtype=torch.float64) < 0.4).double()
    y, _ = net(x)
    s = net.initial_state(x[0])
    outs = []
    for t in range(15):
        yt, s = net.step(x[t], s)
        outs.append(yt)
    assert torch.equal(torch.stack(outs), y) and y.sum() > 0


# --------------------------------------------------------------------------- (c) a task only delays solve

OFFSET = 4  # steps between the two input spikes of the target class
MAX_DELAY = 6


def _coincidence_data() -> tuple[Tensor, Tensor]:
    """Channel 0 spikes at t0, channel 1 at t0 + offset; target 1 for offset = OFFSET,
    0 for offsets 0 and 2 * OFFSET (one sample per t0 in 0..5 and offset)."""
    xs, ys = [], []
    for offset, label in ((OFFSET, 1.0), (0, 0.0), (2 * OFFSET, 0.0)):
        for t0 in range(6):
            x = torch.zeros(5 + 2 * OFFSET + MAX_DELAY + 2, 2)
            x[t0, 0] = 1.0
            x[t0 + offset, 1] = 1.0
            xs.append(x)
            ys.append(label)
    return torch.stack(xs, 1), torch.tensor(ys)


def _coincidence_neuron() -> LIF:
    # a 1 ms membrane at 1 ms steps forgets an input within a few steps: with the weights near
    # 1.2 one input spike reaches 0.76 of the threshold, two coincident ones 1.5
    return LIF(tau_mem=1e-3, v_th=1.0, reset=ResetMode.ZERO, dt=DT)


def _train(train_delays: bool, epochs: int = 20) -> tuple[float, DelayedLinear]:
    torch.manual_seed(0)
    layer = DelayedLinear(2, 1, MAX_DELAY, DT, bias=False)  # gaussian kernel, sigma 3 steps
    with torch.no_grad():
        layer.weight.fill_(1.2)
    net = Sequential(layer, _coincidence_neuron())
    groups: list[dict[str, Any]] = [{"params": [layer.weight], "lr": 0.01}]
    if train_delays:
        groups.append({"params": [layer.delay], "lr": 0.3})
    else:
        layer.delay.requires_grad_(False)
    opt = torch.optim.Adam(groups)
    x, y = _coincidence_data()
    for _ in range(epochs):
        out, _ = net(x)
        loss = ((out.sum((0, 2)) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        layer.clamp_()
        layer.sigma = max(0.3, 0.9 * layer.sigma)  # anneal toward one tap
    layer.freeze()
    with torch.no_grad():
        out, _ = net(x)
    return float(((out.sum((0, 2)) > 0).float() == y).float().mean()), layer


def test_only_trained_delays_solve_the_coincidence_task() -> None:
    acc, layer = _train(train_delays=True)
    assert acc == 1.0
    d = layer.integer_delays()[0]
    assert int(d[0] - d[1]) >= OFFSET - 1  # channel 0 is held back toward channel 1
    acc0, fixed = _train(train_delays=False)
    assert fixed.integer_delays().abs().sum() == 0
    # with both delays 0 the neuron's peak is monotone in the offset (w1 + w0 a^offset), so no
    # threshold fires for offset 4 only: at most 2 of the 3 offset groups are right, which is
    # also what "never fire" scores
    assert acc0 <= 2 / 3 + 1e-6


def test_no_weights_solve_the_task_without_delays() -> None:
    """The bound holds for every weight pair, not just those training found: a grid of 625
    pairs over [-3, 3]^2 (the threshold is 1; scaling the weights covers other thresholds)."""
    x, y = _coincidence_data()
    grid = torch.linspace(-3.0, 3.0, 25)
    w = torch.cartesian_prod(grid, grid)  # [G, 2]
    drive = torch.einsum("tbi,gi->tbg", x, w)  # delays 0: a plain projection
    with torch.no_grad():
        spikes, _ = _coincidence_neuron()(drive)
    acc = ((spikes.sum(0) > 0).float() == y[:, None]).float().mean(0)
    assert float(acc.max()) == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- (d) bad inputs


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"max_delay": -1}, ValueError, r"max_delay must be >= 0 steps, got -1"),
        ({"max_delay": 2.5}, TypeError, r"max_delay must be an int, got float"),
        ({"in_features": 0}, ValueError, r"in_features must be >= 1, got 0"),
        ({"dt": 0.0}, ValueError, r"dt must be finite and > 0 s"),
        ({"mode": "neuron"}, ValueError, r"mode must be 'synapse' or 'channel', got 'neuron'"),
        ({"kernel": "box"}, ValueError, r"kernel must be 'linear' or 'gaussian', got 'box'"),
        ({"kernel": "linear", "sigma": 1.0}, ValueError, r"sigma is the width of the Gaussian kernel"),
        ({"sigma": 0.0}, ValueError, r"sigma must be finite and > 0 steps, got 0.0"),
        ({"sigma": float("nan")}, ValueError, r"sigma must be finite and > 0 steps, got nan"),
        ({"delay_init": "random"}, ValueError, r"delay_init must be 'zero' or 'uniform'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], err: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"in_features": 3, "out_features": 2, "max_delay": 4, "dt": DT} | kwargs
    with pytest.raises(err, match=match):
        DelayedLinear(**args)


def test_bad_inputs() -> None:
    layer = DelayedLinear(3, 2, 4, DT)
    x = torch.zeros(5, 2, 3)
    with pytest.raises(ValueError, match=r"x must have shape \[T, B, 3\], got \(5, 2, 4\)"):
        layer(torch.zeros(5, 2, 4))
    with pytest.raises(ValueError, match=r"x must have shape \[T, B, 3\], got \(5, 3\)"):
        layer(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"x must have shape \[B, 3\], got \(2, 2\)"):
        layer.step(torch.zeros(2, 2))
    bad = x.clone()
    bad[2, 1, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"x contains inf or nan"):
        layer(bad)
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the layer's parameters are torch.float32"):
        layer(x.double())
    with pytest.raises(ValueError, match=r"DelayedLinear state must be a tensor of shape \(4, 2, 3\)"):
        layer(x, torch.zeros(3, 2, 3))
    state = torch.zeros(4, 2, 3)
    state[0, 0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"state of DelayedLinear contains inf"):
        layer(x, state)
    with pytest.raises(ValueError, match=r"sigma must be finite and > 0 steps"):
        layer.sigma = -1.0
    assert isinstance(NonFiniteError("x"), ValueError)


def test_frozen_flag_and_sigma_survive_an_axonal_checkpoint(tmp_path: Path) -> None:
    from axonal.train.checkpoint import load_checkpoint, restore, save_checkpoint

    torch.manual_seed(3)
    layer = DelayedLinear(3, 2, max_delay=4, dt=1e-3, delay_init="uniform")
    layer.sigma = 0.75
    layer.freeze()
    path = save_checkpoint(tmp_path / "m.pt", layer, {"task": "test"}, {})
    twin = DelayedLinear(3, 2, max_delay=4, dt=1e-3)
    restore(twin, load_checkpoint(path))
    assert twin.frozen and twin.sigma == 0.75 and not twin.delay.requires_grad
    x = torch.rand(6, 2, 3)
    assert torch.equal(twin(x)[0], layer(x)[0])
    with pytest.raises(ValueError, match="extra state"):
        twin.set_extra_state({"frozen": True, "sigma": 1.0})
