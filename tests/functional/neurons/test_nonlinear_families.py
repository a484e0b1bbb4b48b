"""Izhikevich and AdEx: validation, dt rules, conventions, nn layers and gradients."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from axonal.functional.neurons import (
    ADEX_FAMILY,
    IZHIKEVICH_FAMILY,
    AdExParams,
    AdExState,
    IzhikevichParams,
    IzhikevichState,
    adex_multi_step,
    adex_step,
    get_family,
    izhikevich_multi_step,
    izhikevich_paper_multi_step,
    izhikevich_step,
)
from axonal.functional.neurons.izhikevich import reset_to
from axonal.functional.surrogate import ArcTan, Sigmoid, Smoothed
from axonal.nn import AdEx, Izhikevich

DT = 1e-4


def test_families_are_registered() -> None:
    assert get_family("izhikevich") is IZHIKEVICH_FAMILY
    assert get_family("adex") is ADEX_FAMILY
    assert IZHIKEVICH_FAMILY.check_dt is not None and ADEX_FAMILY.check_dt is not None


# -------------------------------------------------------------------------- parameter checks


@pytest.mark.parametrize("name", ["c_mem", "g_leak", "tau_w", "delta_t"])
@pytest.mark.parametrize("value", [-1.0, 0.0])
def test_adex_rejects_non_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        AdExParams(**{name: value})


def test_adex_rejects_non_positive_tensor_entry() -> None:
    with pytest.raises(ValueError, match="tau_w"):
        AdExParams(tau_w=torch.tensor([0.1, -0.1]))


@pytest.mark.parametrize("v_reset", [-40.4, -30.0])
def test_adex_rejects_reset_at_or_above_peak(v_reset: float) -> None:
    with pytest.raises(ValueError, match="v_reset"):
        AdExParams(v_reset=v_reset, v_peak=-40.4)


@pytest.mark.parametrize(
    "name", ["c_mem", "g_leak", "v_leak", "v_th", "delta_t", "a", "tau_w", "b", "v_peak"]
)
def test_adex_rejects_nan(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        AdExParams(**{name: math.nan})


def test_adex_rejects_inf_tensor_and_wrong_types() -> None:
    with pytest.raises(ValueError, match="v_th"):
        AdExParams(v_th=torch.tensor([-50.0, math.inf]))
    with pytest.raises(TypeError, match="a"):
        AdExParams(a="4")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="surrogate"):
        AdExParams(surrogate="atan")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="detach_reset"):
        AdExParams(detach_reset=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a", "b", "c", "d", "v_peak", "v_init"])
def test_izhikevich_rejects_nan(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        IzhikevichParams(**{name: math.nan})


@pytest.mark.parametrize("c", [30.0, 40.0])
def test_izhikevich_rejects_reset_at_or_above_peak(c: float) -> None:
    with pytest.raises(ValueError, match="c must be below v_peak"):
        IzhikevichParams(c=c, v_peak=30.0)


def test_izhikevich_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="d"):
        IzhikevichParams(d=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a"):
        IzhikevichParams(a=torch.tensor([1, 2]))  # integer tensor
    with pytest.raises(TypeError, match="surrogate"):
        IzhikevichParams(surrogate=None)  # type: ignore[arg-type]


def test_izhikevich_accepts_negative_a_and_d() -> None:
    """Izhikevich (2004) uses a < 0 and d < 0 (inhibition-induced bursting)."""
    p = IzhikevichParams(a=-0.026, b=-1.0, c=-45.0, d=-2.0)
    assert p.a == -0.026


# --------------------------------------------------------------------------------- dt rules


def izh_input(t: int = 20, b: int = 3) -> torch.Tensor:
    return torch.full((t, b), 10.0)


def adex_input(t: int = 20, b: int = 3) -> torch.Tensor:
    return torch.full((t, b), 500.0)


@pytest.mark.parametrize("run", [izhikevich_multi_step, izhikevich_paper_multi_step])
def test_izhikevich_rejects_dt_above_1ms(run: Any) -> None:
    with pytest.raises(ValueError, match="dt"):
        run(izh_input(), None, IzhikevichParams(), 2e-3)
    run(izh_input(), None, IzhikevichParams(), 1e-3)  # the paper's step is allowed


def test_izhikevich_rejects_dt_where_u_overshoots() -> None:
    with pytest.raises(ValueError, match=r"dt.*\|a\|"):
        izhikevich_multi_step(izh_input(), None, IzhikevichParams(a=2.0), 0.5e-3)
    with pytest.raises(ValueError, match="dt"):
        izhikevich_multi_step(
            izh_input(), None, IzhikevichParams(a=torch.tensor([0.02, 5.0, 0.1])), 0.5e-3
        )
    izhikevich_multi_step(izh_input(), None, IzhikevichParams(a=1.5), 0.5e-3)


def test_adex_rejects_dt_at_or_above_membrane_time_constant() -> None:
    p = AdExParams(c_mem=200.0, g_leak=10.0, tau_w=0.3)  # C/gL = 20 ms
    with pytest.raises(ValueError, match=r"dt.*c_mem/g_leak"):
        adex_multi_step(adex_input(), None, p, 20e-3)
    with pytest.raises(ValueError, match="dt"):
        per_neuron = dataclasses.replace(p, c_mem=torch.tensor([200.0, 1.0]))  # 0.1 ms
        adex_multi_step(adex_input(b=2), None, per_neuron, 1e-3)


def test_adex_rejects_dt_at_or_above_tau_w() -> None:
    p = AdExParams(c_mem=281.0, g_leak=30.0, tau_w=5e-3)  # C/gL = 9.4 ms
    with pytest.raises(ValueError, match=r"dt.*tau_w"):
        adex_multi_step(adex_input(), None, p, 5e-3)
    with pytest.raises(ValueError, match="dt"):
        per_neuron = dataclasses.replace(p, tau_w=torch.tensor([0.1, 1e-3]))
        adex_multi_step(adex_input(b=2), None, per_neuron, 2e-3)


@pytest.mark.parametrize("dt", [-1e-4, 0.0, math.nan])
@pytest.mark.parametrize("run", [izhikevich_multi_step, adex_multi_step])
def test_multi_step_rejects_bad_dt(run: Any, dt: float) -> None:
    params = IzhikevichParams() if run is izhikevich_multi_step else AdExParams()
    with pytest.raises(ValueError, match="dt"):
        run(izh_input(), None, params, dt)
    with pytest.raises(TypeError, match="dt"):
        run(izh_input(), None, params, "0.1 ms")


def test_layers_reject_dt() -> None:
    with pytest.raises(ValueError, match="dt"):
        Izhikevich(dt=2e-3)
    with pytest.raises(ValueError, match="dt"):
        AdEx(dt=10e-3)  # default C/gL = 9.37 ms
    with pytest.raises(ValueError, match="dt"):
        AdEx(dt=1e-3, tau_w=1e-3)
    with pytest.raises(ValueError, match="dt"):
        Izhikevich(dt=-1.0)


def test_multi_step_rejects_bad_input_and_state() -> None:
    with pytest.raises(ValueError, match="x"):
        adex_multi_step(torch.full((5, 2), math.nan), None, AdExParams(), DT)
    bad = AdExState(v=torch.zeros(3), w=torch.zeros(3), refractory=torch.zeros(3))
    with pytest.raises(ValueError, match="state"):
        adex_multi_step(adex_input(b=2), bad, AdExParams(), DT)


# ------------------------------------------------------------------------------ conventions


def test_izhikevich_initial_state_and_threshold_is_inclusive() -> None:
    p = IzhikevichParams(b=0.25, v_init=-70.0)
    state = IZHIKEVICH_FAMILY.initial_state(torch.zeros(2), p)
    assert torch.equal(state.v, torch.full((2,), -70.0))
    assert torch.equal(state.u, torch.full((2,), -17.5))
    # v = 0, u = 140, I = 0: dv/dt = 0 exactly, so v' = 0 = v_peak, which is a spike (v >= v_peak)
    p = IzhikevichParams(v_peak=0.0, c=-65.0, d=8.0)
    f64 = torch.float64
    s = IzhikevichState(v=torch.zeros(1, dtype=f64), u=torch.full((1,), 140.0, dtype=f64))
    z, new = izhikevich_step(torch.zeros(1, dtype=f64), s, p, DT)
    assert z.item() == 1.0 and new.v.item() == -65.0
    assert new.u.item() == pytest.approx(140.0 + 0.1 * 0.02 * (0.2 * 0.0 - 140.0) + 8.0, abs=1e-12)


def test_adex_exact_reset_and_overflow_guard() -> None:
    """The reset is exact after an explosive upstroke, and a state far above v_peak neither
    overflows the exponential nor produces nan (the exponent is clamped)."""
    p = AdExParams()
    v = torch.tensor([1000.0, -41.0, -70.6])  # above v_peak, on the upstroke, at rest
    state = AdExState(v=v, w=torch.tensor([0.0, 10.0, 0.0]), refractory=torch.zeros(3))
    z, new = adex_step(torch.zeros(3), state, p, DT)
    assert z.tolist() == [1.0, 1.0, 0.0]
    assert new.v[0].item() == new.v[1].item() == torch.tensor(-70.6).item()
    assert torch.isfinite(new.w).all()
    assert new.w[0].item() == pytest.approx(0.1 / 144.0 * 4.0 * (1000.0 + 70.6) + 80.5, rel=1e-5)
    at_rest = -70.6 + 0.1 * 30.0 * 2.0 * math.exp(-10.1) / 281.0  # only the exponential term
    assert new.v[2].item() == pytest.approx(at_rest, abs=1e-6)
    big = torch.tensor([3.0e9], dtype=torch.float32)
    assert reset_to(big, torch.ones(1), -58.0, True).item() == -58.0  # a blend would give -64.0


def test_float_and_tensor_params_give_the_same_trajectory() -> None:
    """The reference tests run tensor parameters; plain floats take the same path."""
    xs = torch.full((3000, 1), 10.0, dtype=torch.float64)
    floats = IzhikevichParams(a=0.02, b=0.2, c=-55.0, d=4.0)
    tensors = IzhikevichParams(
        **{k: torch.tensor([getattr(floats, k)], dtype=torch.float64) for k in ("a", "b", "c", "d")}
    )
    r1 = izhikevich_multi_step(xs, None, floats, DT, record=True)
    r2 = izhikevich_multi_step(xs, None, tensors, DT, record=True)
    assert r1.trace is not None and r2.trace is not None
    ib = np.load(Path(__file__).resolve().parents[2] / "data/reference/izhikevich.npz")
    brian2 = ib["IB_spike_steps_brian2"]
    assert torch.nonzero(r1.out[:, 0]).flatten().tolist() == brian2[brian2 < 3000].tolist()
    assert torch.equal(r1.out, r2.out)
    torch.testing.assert_close(r1.trace.v, r2.trace.v, rtol=0, atol=1e-10)
    torch.testing.assert_close(r1.trace.u, r2.trace.u, rtol=0, atol=1e-10)


def test_adex_adaptation_lengthens_intervals() -> None:
    """The adapting set (Naud et al. 2008): inter-spike intervals grow, then settle."""
    p = AdExParams(c_mem=200.0, g_leak=12.0, v_leak=-70.0, v_th=-50.0, delta_t=2.0, a=2.0,
                   tau_w=0.3, b=60.0, v_reset=-58.0, v_peak=0.0)
    out = adex_multi_step(torch.full((3000, 1), 500.0), None, p, DT).out[:, 0]
    steps = torch.nonzero(out).flatten()
    isi = torch.diff(steps)
    assert len(steps) >= 5
    assert bool((isi[1:] >= isi[:-1]).all()) and isi[-1] > 2 * isi[0]


# ------------------------------------------------------------------------ layers, gradients


def test_layers_match_functional() -> None:
    xs = torch.full((500, 2, 3), 10.0)
    layer = Izhikevich(a=0.1, d=2.0, dt=DT)
    out, state = layer(xs)
    ref = izhikevich_multi_step(xs, None, IzhikevichParams(a=0.1, d=2.0), DT)
    assert torch.equal(out, ref.out) and torch.equal(state.v, ref.state.v)
    assert int(out.sum()) > 0
    xs = torch.full((500, 2, 3), 800.0)
    out, state = AdEx(dt=DT)(xs)
    ref2 = adex_multi_step(xs, None, AdExParams(), DT)
    assert torch.equal(out, ref2.out) and torch.equal(state.w, ref2.state.w)
    assert int(out.sum()) > 0


def test_learnable_adex_gradients_are_finite() -> None:
    layer = AdEx(dt=DT, learn=("a", "b", "tau_w"), shape=(3,), surrogate=ArcTan(slope=0.5))
    out, state = layer(torch.full((400, 2, 3), 1000.0))
    assert int(out.detach().sum()) >= 6  # first spike ~12 ms after onset, then adapting
    (out.sum() + state.w.sum() * 1e-3).backward()
    named = dict(layer.named_parameters())  # tau_w may be stored as a log-space "original"
    assert len(named) == 3 and {"a", "b"} <= set(named), sorted(named)
    for name, param in named.items():
        grad = param.grad
        assert grad is not None and grad.shape == (3,), name
        assert bool(torch.isfinite(grad).all()) and bool((grad != 0).any()), (name, grad)
    assert layer.tau_w.min() > 0


def test_learnable_izhikevich_gradients_are_finite() -> None:
    layer = Izhikevich(dt=DT, learn=("a", "b", "d"), surrogate=ArcTan(slope=0.2))
    out, state = layer(torch.full((1500, 2, 1), 10.0))
    assert int(out.detach().sum()) >= 4
    (out.sum() + state.u.sum()).backward()
    for name in ("a", "b", "d"):
        grad = getattr(layer, name).grad
        assert grad is not None and bool(torch.isfinite(grad)) and float(grad) != 0.0, name


def test_smoothed_adex_gradient_matches_finite_differences() -> None:
    """With a smooth forward pass the whole run (upstroke, clamp, blended reset) is an ordinary
    differentiable function of a, b and tau_w; autograd must agree with finite differences
    (``detach_reset=False``: a detached reset is a deliberate approximation)."""

    def simulate(a: torch.Tensor, b: torch.Tensor, tau_w: torch.Tensor) -> Any:
        # the adapting set (v_peak = 0 mV: the upstroke overshoots it and the sigmoid saturates)
        p = AdExParams(
            c_mem=200.0, g_leak=12.0, v_leak=-70.0, v_th=-50.0, delta_t=2.0, a=a, tau_w=tau_w,
            b=b, v_reset=-58.0, v_peak=0.0, surrogate=Smoothed(base=Sigmoid(slope=1.0)),
            detach_reset=False,
        )
        return adex_multi_step(torch.full((600, 1), 500.0, dtype=torch.float64), None, p, DT)

    def run(a: torch.Tensor, b: torch.Tensor, tau_w: torch.Tensor) -> torch.Tensor:
        r = simulate(a, b, tau_w)
        return torch.stack([r.out.sum(), r.state.v.sum(), r.state.w.sum()])

    args = tuple(
        torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, 60.0, 0.3)
    )
    assert int((simulate(*args).out > 0.5).sum()) == 3  # the smoothed neuron does fire
    assert torch.autograd.gradcheck(run, args, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_smoothed_izhikevich_gradient_matches_finite_differences() -> None:
    def simulate(a: torch.Tensor, b: torch.Tensor, d: torch.Tensor) -> Any:
        smooth = Smoothed(base=Sigmoid(slope=0.5))
        p = IzhikevichParams(a=a, b=b, d=d, surrogate=smooth, detach_reset=False)
        return izhikevich_multi_step(torch.full((400, 1), 10.0, dtype=torch.float64), None, p, DT)

    def run(a: torch.Tensor, b: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        r = simulate(a, b, d)
        return torch.stack([r.out.sum(), r.state.v.sum(), r.state.u.sum()])

    args = tuple(
        torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.02, 0.2, 8.0)
    )
    assert int((simulate(*args).out > 0.5).sum()) == 2  # two smoothed spikes in 40 ms
    # d/db is ~1e5 (b also sets u(0)) and strongly curved: a small eps is needed
    assert torch.autograd.gradcheck(run, args, eps=1e-8, atol=1e-3, rtol=2e-3)
