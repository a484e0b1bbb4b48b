"""Resonate-and-fire family (Izhikevich 2001) against references computed here in float64:
the closed-form free oscillation, a fine-step RK4 of ``dz/dt = (b + i omega) z + r I``, and
the matrix exponential of the augmented linear system."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from axonal.functional.neurons import RF_FAMILY, RFParams, RFState, get_family, rf_multi_step, rf_step
from axonal.functional.surrogate import FastSigmoid, Smoothed
from axonal.nn import ResonateAndFire

DT = 1e-3
F64 = torch.float64


def rk4_reference(p: RFParams, x0: complex, inputs: np.ndarray, dt: float, sub: int = 200) -> np.ndarray:
    """``z`` after every step, RK4 with ``sub`` substeps per step (input held over the step)."""
    lam = complex(float(p.b), float(p.omega))
    r = float(p.r)
    z = x0
    h = dt / sub
    out = []
    for current in inputs:
        f = lambda zz: lam * zz + r * current  # noqa: E731
        for _ in range(sub):
            k1 = f(z)
            k2 = f(z + 0.5 * h * k1)
            k3 = f(z + 0.5 * h * k2)
            k4 = f(z + h * k3)
            z = z + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(z)
    return np.array(out)


def run(p: RFParams, xs: torch.Tensor, state: RFState | None = None, dt: float = DT):  # type: ignore[no-untyped-def]
    return rf_multi_step(xs, state, p, dt, record=True)


def test_registered_with_declared_facets() -> None:
    assert get_family("rf") is RF_FAMILY
    assert RF_FAMILY.nir is None  # NIR has no resonate-and-fire node
    assert RF_FAMILY.fused is None
    assert RF_FAMILY.positive == ("omega",)
    assert RF_FAMILY.method == "exact"


def test_free_oscillation_has_frequency_omega_over_2pi_and_decay_b() -> None:
    b, f = -7.0, 12.5
    p = RFParams(b=b, omega=2 * math.pi * f, a_th=100.0, v_reset=0.0)
    steps = 400
    state = RFState(x=torch.full((1,), 0.8, dtype=F64), v=torch.zeros(1, dtype=F64))
    trace = run(p, torch.zeros(steps, 1, dtype=F64), state).trace
    t = torch.arange(1, steps + 1, dtype=F64) * DT
    want_x = 0.8 * torch.exp(b * t) * torch.cos(2 * math.pi * f * t)
    want_y = 0.8 * torch.exp(b * t) * torch.sin(2 * math.pi * f * t)
    torch.testing.assert_close(trace.x[:, 0], want_x, rtol=0, atol=1e-12)
    torch.testing.assert_close(trace.v[:, 0], want_y, rtol=0, atol=1e-12)
    # measured on the trace itself: upward zero crossings of y give the period
    y = trace.v[:, 0].numpy()
    ups = np.nonzero((y[:-1] <= 0) & (y[1:] > 0))[0]
    crossings = ups + y[ups] / (y[ups] - y[ups + 1])  # linear interpolation, in steps
    period = float(np.mean(np.diff(crossings))) * DT
    assert period == pytest.approx(1 / f, rel=1e-3)
    # and |z| decays as exp(b t)
    mag = torch.hypot(trace.x[:, 0], trace.v[:, 0])
    rate = math.log(float(mag[-1] / mag[99])) / (float(t[-1] - t[99]))
    assert rate == pytest.approx(b, rel=1e-9)


# a threshold of 1e6 mV switches spiking off; the plausibility check rightly warns about it
@pytest.mark.filterwarnings("ignore::axonal.errors.PlausibilityWarning")
def test_driven_subthreshold_trajectory_equals_rk4() -> None:
    p = RFParams(b=-15.0, omega=2 * math.pi * 20.0, a_th=1e6, r=3.0)
    gen = torch.Generator().manual_seed(0)
    inputs = 50.0 * torch.rand(120, generator=gen, dtype=F64) - 10.0
    trace = run(p, inputs.reshape(-1, 1)).trace
    want = rk4_reference(p, 0j, inputs.numpy(), DT)
    np.testing.assert_allclose(trace.x[:, 0].numpy(), want.real, rtol=0, atol=1e-9)
    np.testing.assert_allclose(trace.v[:, 0].numpy(), want.imag, rtol=0, atol=1e-9)
    assert float(trace.v.abs().max()) > 0.1  # it really moves


# a threshold of 1e6 mV switches spiking off; the plausibility check rightly warns about it
@pytest.mark.filterwarnings("ignore::axonal.errors.PlausibilityWarning")
def test_one_step_equals_matrix_exponential_of_augmented_system() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    b, w, r, current = -30.0, 2 * math.pi * 35.0, 2.0, 7.0
    p = RFParams(b=b, omega=w, a_th=1e6, r=r)
    # d/dt [x, y, 1] = M [x, y, 1]
    m = np.array([[b, -w, r * current], [w, b, 0.0], [0.0, 0.0, 0.0]])
    z0 = np.array([0.3, -0.2, 1.0])
    want = linalg.expm(m * DT) @ z0
    state = RFState(x=torch.tensor([0.3], dtype=F64), v=torch.tensor([-0.2], dtype=F64))
    _, new = rf_step(torch.tensor([current], dtype=F64), state, p, DT)
    np.testing.assert_allclose([float(new.x), float(new.v)], want[:2], rtol=0, atol=1e-13)


# a threshold of 1e6 mV switches spiking off; the plausibility check rightly warns about it
@pytest.mark.filterwarnings("ignore::axonal.errors.PlausibilityWarning")
def test_fires_when_y_crosses_threshold_and_resets_to_the_fixed_point() -> None:
    p = RFParams(b=-5.0, omega=2 * math.pi * 10.0, a_th=1.0, x_reset=0.1, v_reset=-0.2)
    xs = torch.full((300, 2), 100.0, dtype=F64)
    xs[:, 1] = 10.0  # too weak to fire
    result = run(p, xs)
    spikes = result.out[:, 0]
    assert int(spikes.sum()) >= 2 and int(result.out[:, 1].sum()) == 0
    # where it fired, the state is the reset point; everywhere before, y stayed <= a_th
    fired = spikes.nonzero().flatten()
    assert torch.equal(result.trace.x[fired, 0], torch.full((len(fired),), 0.1, dtype=F64))
    assert torch.equal(result.trace.v[fired, 0], torch.full((len(fired),), -0.2, dtype=F64))
    # the pre-reset y of a spike step exceeds a_th (recomputed from the previous state)
    t = int(fired[0])
    prev = RFState(x=result.trace.x[t - 1], v=result.trace.v[t - 1])
    _, free = rf_step(xs[t], prev, dataclasses.replace(p, a_th=1e6), DT)
    assert float(free.v[0]) > 1.0
    assert float(result.trace.v[:t, 0].max()) <= 1.0


def test_resonance_pulses_at_the_period_fire_at_half_the_period_do_not() -> None:
    f = 25.0
    p = RFParams(b=-10.0, omega=2 * math.pi * f, a_th=1.0)
    dt = 1e-4
    period_steps = round(1 / f / dt)
    xs = torch.zeros(8 * period_steps, 2, dtype=F64)
    amp = 0.5 / dt  # each pulse moves x by 0.5: alone y peaks near 0.45 < a_th
    xs[::period_steps, 0] = amp
    xs[:: period_steps // 2, 1] = amp
    out = rf_multi_step(xs, None, p, dt).out
    assert int(out[:, 0].sum()) >= 1
    assert int(out[:, 1].sum()) == 0
    single = torch.zeros(period_steps, 1, dtype=F64)
    single[0, 0] = amp
    assert int(rf_multi_step(single, None, p, dt).out.sum()) == 0


@pytest.mark.parametrize(
    "changes, error, match",
    [
        ({"b": 0.0}, ValueError, "b must be < 0 1/s"),
        ({"b": torch.tensor([-1.0, 2.0])}, ValueError, "b must be < 0"),
        ({"omega": -1.0}, ValueError, "omega must be > 0 rad/s"),
        ({"a_th": math.nan}, ValueError, "a_th must be finite"),
        ({"v_reset": 2.0}, ValueError, "v_reset must be below a_th"),
        ({"surrogate": "fast_sigmoid"}, TypeError, "surrogate must be a Surrogate"),
        ({"detach_reset": 1}, TypeError, "detach_reset must be a bool"),
        ({"r": "1"}, TypeError, "r must be a float or a tensor"),
    ],
)
def test_parameters_checked_by_declared_rules(changes: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        RFParams(**changes)  # type: ignore[arg-type]


def test_dt_must_resolve_the_oscillation() -> None:
    p = RFParams(omega=2 * math.pi * 100.0)
    with pytest.raises(ValueError, match="omega \\* dt < pi"):
        rf_multi_step(torch.zeros(3, 1), None, p, 6e-3)
    rf_multi_step(torch.zeros(3, 1), None, p, 4e-3)


def test_gradcheck_float64_smoothed_surrogate() -> None:
    base = RFParams(surrogate=Smoothed(base=FastSigmoid(slope=2.0)), detach_reset=False)
    gen = torch.Generator().manual_seed(1)
    xs = (300.0 * torch.rand(30, 2, 2, generator=gen, dtype=F64)).requires_grad_(True)
    b = torch.tensor([-10.0, -14.0], dtype=F64, requires_grad=True)
    omega = torch.tensor([60.0, 75.0], dtype=F64, requires_grad=True)
    a_th = torch.tensor([1.0, 0.8], dtype=F64, requires_grad=True)

    def f(xs_: torch.Tensor, b_: torch.Tensor, w_: torch.Tensor, th: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = dataclasses.replace(base, b=b_, omega=w_, a_th=th)
        result = rf_multi_step(xs_, None, p, DT)
        return (result.out, *result.state)

    with torch.no_grad():  # the same input fires with the Heaviside forward: spikes are crossed
        hard = dataclasses.replace(base, surrogate=FastSigmoid(), b=b, omega=omega, a_th=a_th)
        assert float(rf_multi_step(xs, None, hard, DT).out.sum()) >= 2
    assert torch.autograd.gradcheck(f, (xs, b, omega, a_th), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_layer_learns_frequency_and_damping() -> None:
    layer = ResonateAndFire(omega=2 * math.pi * 10.0, learn=("omega", "b"), shape=(3,))
    x = 80.0 * torch.rand(50, 4, 3)
    out, state = layer(x)
    assert out.shape == x.shape and set(state._fields) == {"x", "v"}
    (out.sum() + state.v.sum()).backward()
    assert layer.parametrizations.omega.original.grad is not None  # omega in log space
    assert layer.b.grad is not None and bool(torch.isfinite(layer.b.grad).all())
    with pytest.raises(ValueError, match="b must be < 0"):
        ResonateAndFire(b=1.0)


def test_runs_in_the_simulator_like_the_reference() -> None:
    from axonal.sim import ConstantCurrent, Network, Population, SpikeMonitor

    p = RFParams(b=-5.0, omega=2 * math.pi * 10.0, a_th=1.0)
    drive = torch.tensor([0.0, 40.0, 80.0, 120.0])
    net = Network(seed=0, dtype=F64)
    pop = net.add(Population(p, 4))
    net.inject(pop, ConstantCurrent(drive))
    mon = net.add(SpikeMonitor(pop))
    net.run(0.3, DT, progress=False)
    ref = rf_multi_step(drive.to(F64).expand(300, 4).contiguous(), None, p, DT).out
    steps, ids = ref.nonzero(as_tuple=True)
    assert len(steps) > 3
    assert sorted(zip(mon.steps.tolist(), mon.ids.tolist())) == sorted(
        zip(steps.tolist(), ids.tolist())
    )
