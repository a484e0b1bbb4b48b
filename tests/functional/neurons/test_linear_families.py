"""IF, CubaLIF, ALIF and LI: analytic solutions, hand-written loops and boundary validation."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
import torch

from axonal.functional.neurons import (
    ALIFParams,
    CubaLIFParams,
    CubaLIFState,
    IFParams,
    LIParams,
    ResetMode,
    alif_multi_step,
    cuba_lif_multi_step,
    cuba_lif_step,
    if_multi_step,
    li_multi_step,
)
from axonal.functional.neurons.cuba_lif import synaptic_kernel
from axonal.functional.surrogate import ArcTan, Smoothed

F64 = torch.float64


# ----------------------------------------------------------------------------------- CubaLIF


def cuba_analytic(t: np.ndarray, x: float, tau_syn: float, tau_mem: float, r: float,
                  v_leak: float) -> tuple[np.ndarray, np.ndarray]:
    """Textbook solution from rest (v = v_leak, i = 0) for a step of current ``x`` at t = 0."""
    i = x * (1.0 - np.exp(-t / tau_syn))
    if tau_syn == tau_mem:
        shape = 1.0 - np.exp(-t / tau_mem) * (1.0 + t / tau_mem)
    else:
        shape = 1.0 - (tau_mem * np.exp(-t / tau_mem) - tau_syn * np.exp(-t / tau_syn)) / (
            tau_mem - tau_syn
        )
    return v_leak + r * x * shape, i


@pytest.mark.parametrize("tau_syn", [5e-3, 10e-3, 30e-3])
def test_cuba_lif_step_response_is_analytic(tau_syn: float) -> None:
    dt, tau_mem, r, v_leak, x = 1e-3, 10e-3, 2.0, -1.0, 1.5
    params = CubaLIFParams(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, v_th=100.0)
    xs = torch.full((80, 1, 1), x, dtype=F64)
    trace = cuba_lif_multi_step(xs, None, params, dt, record=True).trace
    assert trace is not None
    t = np.arange(1, 81) * dt
    v_ref, i_ref = cuba_analytic(t, x, tau_syn, tau_mem, r, v_leak)
    np.testing.assert_allclose(trace.v.view(-1).numpy(), v_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(trace.i.view(-1).numpy(), i_ref, rtol=0, atol=1e-12)


def rk4_reference(current: np.ndarray, dt: float, sub: int, tau_syn: float, tau_mem: float,
                  r: float, v_leak: float) -> np.ndarray:
    """Fine-step RK4 of the two ODEs, input held constant over each coarse step."""
    h = dt / sub
    v, i = v_leak, 0.0
    out = np.zeros(len(current))

    def f(v_: float, i_: float, x: float) -> tuple[float, float]:
        return ((v_leak - v_) + r * i_) / tau_mem, (x - i_) / tau_syn

    for k, x in enumerate(current):
        for _ in range(sub):
            k1 = f(v, i, x)
            k2 = f(v + 0.5 * h * k1[0], i + 0.5 * h * k1[1], x)
            k3 = f(v + 0.5 * h * k2[0], i + 0.5 * h * k2[1], x)
            k4 = f(v + h * k3[0], i + h * k3[1], x)
            v += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            i += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        out[k] = v
    return out


@pytest.mark.parametrize("tau_syn", [4e-3, 10e-3])
def test_cuba_lif_matches_fine_rk4_for_varying_input(tau_syn: float) -> None:
    rng = np.random.default_rng(5)
    current = rng.uniform(-1.0, 3.0, size=40)
    dt = 1e-3
    params = CubaLIFParams(tau_syn=tau_syn, tau_mem=10e-3, r=1.5, v_leak=0.2, v_th=100.0)
    xs = torch.tensor(current, dtype=F64).view(-1, 1, 1)
    trace = cuba_lif_multi_step(xs, None, params, dt, record=True).trace
    assert trace is not None
    ref = rk4_reference(current, dt, 50, tau_syn, 10e-3, 1.5, 0.2)
    np.testing.assert_allclose(trace.v.view(-1).numpy(), ref, rtol=0, atol=1e-9)


def test_cuba_lif_equal_and_nearly_equal_taus_are_continuous() -> None:
    dt = 1e-3
    exact = (dt / 10e-3) * math.exp(-dt / 10e-3)
    assert synaptic_kernel(dt, 10e-3, 10e-3) == pytest.approx(exact, rel=1e-15)
    for rel in (1e-12, 1e-8, 1e-4, 1e-2):
        near = synaptic_kernel(dt, 10e-3 * (1 + rel), 10e-3)
        assert isinstance(near, float)
        assert near == pytest.approx(exact, rel=2 * rel + 1e-14)
    # tensors: equal, nearly equal and clearly different entries in one call, both branches
    tau_syn = torch.tensor([10e-3, 10e-3 * (1 + 1e-9), 5e-3, 30e-3], dtype=F64)
    tau_mem = torch.tensor([10e-3, 10e-3, 10e-3, 10e-3], dtype=F64)
    kernel = synaptic_kernel(dt, tau_syn, tau_mem)
    assert isinstance(kernel, torch.Tensor)
    expected = [synaptic_kernel(dt, float(a), float(b)) for a, b in zip(tau_syn, tau_mem)]
    torch.testing.assert_close(kernel, torch.tensor(expected, dtype=F64), rtol=1e-14, atol=0)
    # mixing a float and a tensor time constant
    mixed = synaptic_kernel(dt, tau_syn, 10e-3)
    assert isinstance(mixed, torch.Tensor)
    torch.testing.assert_close(mixed, kernel, rtol=1e-15, atol=0)


def test_cuba_lif_gradients_finite_at_equal_taus() -> None:
    dt = 1e-3
    tau_syn = torch.tensor([10e-3, 10e-3 * (1 + 1e-7), 6e-3], dtype=F64, requires_grad=True)
    tau_mem = torch.tensor([10e-3, 10e-3, 10e-3], dtype=F64, requires_grad=True)
    xs = torch.rand(5, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(0)) * 3
    xs.requires_grad_(True)

    def run(xs_: torch.Tensor, ts: torch.Tensor, tm: torch.Tensor) -> tuple[torch.Tensor, ...]:
        params = CubaLIFParams(
            tau_syn=ts, tau_mem=tm, surrogate=Smoothed(base=ArcTan()), detach_reset=False
        )
        result = cuba_lif_multi_step(xs_, None, params, dt)
        return (result.out, *result.state)

    assert torch.autograd.gradcheck(run, (xs, tau_syn, tau_mem), eps=1e-9, atol=1e-6, rtol=1e-4)
    out = run(xs, tau_syn, tau_mem)
    out[1].sum().backward()
    assert tau_syn.grad is not None and bool(torch.isfinite(tau_syn.grad).all())
    assert tau_mem.grad is not None and bool(torch.isfinite(tau_mem.grad).all())
    assert float(tau_mem.grad.abs().min()) > 0


def test_cuba_lif_reset_acts_on_membrane_only() -> None:
    params = CubaLIFParams(tau_syn=5e-3, tau_mem=10e-3, v_th=1.0, v_reset=0.0,
                           reset=ResetMode.ZERO)
    state = CubaLIFState(v=torch.tensor([0.99], dtype=F64), i=torch.tensor([5.0], dtype=F64),
                         refractory=torch.zeros(1, dtype=F64))
    z, new = cuba_lif_step(torch.tensor([5.0], dtype=F64), state, params, 1e-3)
    assert float(z) == 1.0
    assert float(new.v) == 0.0
    assert float(new.i) == pytest.approx(5.0)  # i = x + (i - x) a_s with i == x


# --------------------------------------------------------------------------------------- ALIF


def alif_hand_loop(x: float, steps: int, p: ALIFParams, dt: float) -> tuple[list[int], list[float]]:
    assert isinstance(p.tau_mem, float) and isinstance(p.tau_adapt, float)
    assert isinstance(p.delta_th, float) and isinstance(p.v_th, float)
    assert isinstance(p.v_reset, float) and isinstance(p.v_leak, float)
    assert isinstance(p.r, float)
    am, aa = math.exp(-dt / p.tau_mem), math.exp(-dt / p.tau_adapt)
    v, a = p.v_leak, 0.0
    spikes: list[int] = []
    thresholds: list[float] = []
    for k in range(steps):
        v_inf = p.v_leak + p.r * x
        v = v_inf + (v - v_inf) * am
        a = a * aa
        if v > p.v_th + a:
            spikes.append(k)
            v -= p.v_th + a - p.v_reset  # subtract the effective threshold distance
            a += p.delta_th
        thresholds.append(p.v_th + a)
    return spikes, thresholds


def test_alif_adaptation_lengthens_intervals_and_matches_hand_loop() -> None:
    dt = 1e-3
    params = ALIFParams(tau_mem=10e-3, tau_adapt=100e-3, v_th=1.0, delta_th=0.3, v_leak=0.0)
    xs = torch.full((300, 1, 1), 2.0, dtype=F64)
    result = alif_multi_step(xs, None, params, dt, record=True)
    assert result.trace is not None
    steps = torch.nonzero(result.out.view(-1)).flatten().tolist()
    ref_steps, ref_thresholds = alif_hand_loop(2.0, 300, params, dt)
    assert steps == ref_steps
    np.testing.assert_allclose(
        (params.v_th + result.trace.a).view(-1).numpy(), ref_thresholds, rtol=0, atol=1e-12
    )
    isi = np.diff(steps)
    assert len(isi) >= 5
    assert isi[-1] > isi[0] + 2  # adapted: clearly slower than at the start
    assert np.all(np.diff(isi) >= 0)  # monotone while the adaptation builds up
    # without adaptation the intervals stay constant
    plain = alif_multi_step(xs, None, ALIFParams(tau_mem=10e-3, delta_th=0.0), dt).out
    plain_isi = np.diff(torch.nonzero(plain.view(-1)).flatten().numpy())
    assert plain_isi.max() - plain_isi.min() <= 1
    assert plain_isi.mean() < isi[-1]


def test_alif_adaptation_decays_between_spikes() -> None:
    params = ALIFParams(tau_adapt=50e-3, delta_th=0.5)
    xs = torch.zeros(100, 1, 1, dtype=F64)
    from axonal.functional.neurons import ALIFState

    state = ALIFState(v=torch.zeros(1, 1, dtype=F64), a=torch.ones(1, 1, dtype=F64),
                      refractory=torch.zeros(1, 1, dtype=F64))
    trace = alif_multi_step(xs, state, params, 1e-3, record=True).trace
    assert trace is not None
    expected = np.exp(-np.arange(1, 101) * 1e-3 / 50e-3)
    np.testing.assert_allclose(trace.a.view(-1).numpy(), expected, rtol=1e-12)


# ----------------------------------------------------------------------------------------- IF


@pytest.mark.parametrize("c,v_th,n", [(0.37, 1.0, 101), (0.13, 0.5, 250), (1.7, 2.3, 59)])
def test_if_spike_count_is_floor_of_total_input(c: float, v_th: float, n: int) -> None:
    params = IFParams(v_th=v_th, v_reset=0.0, reset=ResetMode.SUBTRACT)
    xs = torch.full((n, 1), c, dtype=F64)
    result = if_multi_step(xs, None, params, 1e-3)
    assert int(result.out.sum()) == math.floor(n * c / v_th)
    # the residual is the charge not yet spent: total input minus spikes times threshold
    assert float(result.state.v) == pytest.approx(n * c - result.out.sum().item() * v_th)


def test_if_tau_and_dt_scale_the_input() -> None:
    xs = torch.full((10, 1), 0.1, dtype=F64)
    params = IFParams(tau_mem=4e-3, r=2.0, v_th=100.0)
    v = if_multi_step(xs, None, params, 1e-3).state.v
    assert float(v) == pytest.approx(10 * (1e-3 / 4e-3) * 2.0 * 0.1)


def test_if_zero_and_none_reset() -> None:
    xs = torch.full((4, 1), 0.6, dtype=F64)
    zero = if_multi_step(xs, None, IFParams(reset=ResetMode.ZERO, v_reset=-0.5), 1e-3, True)
    assert zero.trace is not None
    # -0.5 -> 0.1 -> 0.7 -> 1.3 (spike, reset to -0.5) -> 0.1
    np.testing.assert_allclose(zero.trace.v.view(-1).numpy(), [0.1, 0.7, -0.5, 0.1], atol=1e-12)
    none = if_multi_step(xs, None, IFParams(reset=ResetMode.NONE), 1e-3, True)
    assert none.trace is not None
    assert none.out.view(-1).tolist() == [0.0, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(none.trace.v.view(-1).numpy(), [0.6, 1.2, 1.8, 2.4], atol=1e-12)


# ----------------------------------------------------------------------------------------- LI


def test_li_reaches_steady_state_and_outputs_membrane() -> None:
    params = LIParams(tau_mem=5e-3, v_leak=-2.0, r=3.0)
    x = torch.tensor([[0.0, 0.5, -1.0]], dtype=F64)
    xs = x.expand(400, 1, 3)
    result = li_multi_step(xs, None, params, 1e-3, record=True)
    assert result.trace is not None
    torch.testing.assert_close(result.out, result.trace.v)
    torch.testing.assert_close(result.out[-1], -2.0 + 3.0 * x, rtol=0, atol=1e-12)
    # first step: v_inf + (v_leak - v_inf) exp(-dt/tau)
    first = -2.0 + 3.0 * x * (1 - math.exp(-1e-3 / 5e-3))
    torch.testing.assert_close(result.out[0], first, rtol=0, atol=1e-12)


def test_li_learnable_tau_tensor_gets_gradient() -> None:
    tau = torch.tensor([5e-3, 20e-3], dtype=F64, requires_grad=True)
    xs = torch.ones(10, 1, 2, dtype=F64)
    out = li_multi_step(xs, None, LIParams(tau_mem=tau), 1e-3).out
    out.sum().backward()
    assert tau.grad is not None
    assert bool((tau.grad < 0).all())  # a slower membrane charges less in 10 ms


# --------------------------------------------------------------------------------- validation

PARAMS: dict[str, Callable[..., Any]] = {
    "if": IFParams,
    "cuba_lif": CubaLIFParams,
    "alif": ALIFParams,
    "li": LIParams,
}
TAUS = {
    "if": ["tau_mem"],
    "cuba_lif": ["tau_syn", "tau_mem"],
    "alif": ["tau_mem", "tau_adapt"],
    "li": ["tau_mem"],
}
SPIKING = ["if", "cuba_lif", "alif"]


@pytest.mark.parametrize("family", list(PARAMS))
def test_bad_time_constants_raise(family: str) -> None:
    make = PARAMS[family]
    for tau in TAUS[family]:
        for bad in (0.0, -1e-3):
            with pytest.raises(ValueError, match=tau):
                make(**{tau: bad})
        with pytest.raises(ValueError, match=tau):
            make(**{tau: torch.tensor([1e-3, -1e-3])})
        with pytest.raises(ValueError, match=tau):
            make(**{tau: float("inf")})
        with pytest.raises(TypeError, match=tau):
            make(**{tau: "10ms"})


@pytest.mark.parametrize("family", list(PARAMS))
def test_nan_parameters_raise(family: str) -> None:
    make = PARAMS[family]
    names = ["r"] + (["v_th", "v_reset"] if family in SPIKING else []) + (
        ["v_leak"] if family != "if" else []
    )
    for name in names:
        with pytest.raises(ValueError, match=name):
            make(**{name: float("nan")})
        with pytest.raises(ValueError, match=name):
            make(**{name: torch.tensor([0.0, float("nan")])})


@pytest.mark.parametrize("family", SPIKING)
def test_spiking_parameter_errors(family: str) -> None:
    make = PARAMS[family]
    with pytest.raises(ValueError, match="v_reset"):
        make(v_th=1.0, v_reset=1.0)
    with pytest.raises(ValueError, match="v_reset"):
        make(v_th=torch.tensor([1.0, 0.5]), v_reset=0.7)
    with pytest.raises(TypeError, match="reset"):
        make(reset="subtract")
    with pytest.raises(TypeError, match="surrogate"):
        make(surrogate="fast_sigmoid")
    with pytest.raises(TypeError, match="detach_reset"):
        make(detach_reset=1)


def test_alif_negative_delta_th_raises() -> None:
    with pytest.raises(ValueError, match="delta_th"):
        ALIFParams(delta_th=-0.1)
    with pytest.raises(ValueError, match="delta_th"):
        ALIFParams(delta_th=torch.tensor([0.1, -0.1]))


MULTI: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "if": (if_multi_step, IFParams),
    "cuba_lif": (cuba_lif_multi_step, CubaLIFParams),
    "alif": (alif_multi_step, ALIFParams),
    "li": (li_multi_step, LIParams),
}


@pytest.mark.parametrize("family", list(MULTI))
def test_bad_dt_raises(family: str) -> None:
    run, make = MULTI[family]
    xs = torch.ones(3, 2)
    for bad in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="dt"):
            run(xs, None, make(), bad)
    with pytest.raises(TypeError, match="dt"):
        run(xs, None, make(), "1e-3")
    with pytest.raises(TypeError, match="dt"):
        run(xs, None, make(), None)
