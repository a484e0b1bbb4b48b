"""LIF against an independent plain-Python loop of the closed-form solution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from axonal.functional.neurons import LIFParams, LIFState, ResetMode, lif_multi_step, lif_step


def reference_lif(
    current: np.ndarray,
    *,
    tau: float,
    r: float,
    v_leak: float,
    v_th: float,
    v_reset: float,
    t_ref: float,
    dt: float,
    reset: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact exponential LIF, one neuron, written without axonal.

    After a spike at step k the next ``n_ref - 1`` updates are skipped
    (``n_ref = round(t_ref / dt)``), so the recorded membrane is ``v_reset`` at steps
    ``k .. k + n_ref - 1``; integration resumes at step ``k + n_ref``.
    """
    decay = math.exp(-dt / tau)
    n_ref = round(t_ref / dt)
    v = v_leak
    hold = 0
    spikes = np.zeros(len(current))
    trace = np.zeros(len(current))
    for k, x in enumerate(current):
        if hold > 0:
            hold -= 1
        else:
            v_inf = v_leak + r * float(x)
            v = v_inf + (v - v_inf) * decay
            if v > v_th:
                spikes[k] = 1.0
                v = v - (v_th - v_reset) if reset == "subtract" else v_reset
                hold = max(n_ref - 1, 0)
        trace[k] = v
    return spikes, trace


def run_axonal(current: np.ndarray, params: LIFParams, dt: float) -> tuple[np.ndarray, np.ndarray]:
    xs = torch.tensor(current, dtype=torch.float64).view(-1, 1, 1)
    result = lif_multi_step(xs, None, params, dt, record=True)
    assert result.trace is not None
    return result.out.view(-1).numpy(), result.trace.v.view(-1).numpy()


@pytest.mark.parametrize("reset", [ResetMode.SUBTRACT, ResetMode.ZERO])
@pytest.mark.parametrize("t_ref", [0.0, 3e-3])
def test_lif_matches_closed_form_loop(reset: ResetMode, t_ref: float) -> None:
    rng = np.random.default_rng(0)
    current = rng.uniform(0.0, 5.0, size=400)
    dt = 1e-3
    params = LIFParams(
        tau_mem=20e-3, v_leak=-0.5, v_th=1.0, v_reset=-0.2, r=1.2, t_ref=t_ref, reset=reset
    )
    spikes, trace = run_axonal(current, params, dt)
    ref_spikes, ref_trace = reference_lif(
        current,
        tau=20e-3,
        r=1.2,
        v_leak=-0.5,
        v_th=1.0,
        v_reset=-0.2,
        t_ref=t_ref,
        dt=dt,
        reset=reset.value,
    )
    assert ref_spikes.sum() > 20
    np.testing.assert_array_equal(spikes, ref_spikes)
    np.testing.assert_allclose(trace, ref_trace, rtol=0, atol=1e-12)


def test_refractory_holds_membrane_at_reset_for_t_ref() -> None:
    dt, t_ref = 1e-4, 2e-3
    n_ref = round(t_ref / dt)
    params = LIFParams(
        tau_mem=10e-3, v_leak=-65.0, v_th=-50.0, v_reset=-65.0, r=40.0, t_ref=t_ref,
        reset=ResetMode.ZERO,
    )
    spikes, trace = run_axonal(np.full(1000, 0.5), params, dt)
    spike_steps = np.flatnonzero(spikes)
    assert len(spike_steps) >= 3
    for k in spike_steps:
        if k + n_ref >= len(trace):
            break
        # state after steps k .. k+n_ref-1 (time samples k+1 .. k+n_ref) is exactly v_reset
        np.testing.assert_array_equal(trace[k : k + n_ref], -65.0)
        assert trace[k + n_ref] > -65.0
    # the interval between spikes is the refractory period plus the charging time
    charge_steps = math.ceil(10e-3 * math.log(20.0 / 5.0) / dt)
    assert np.all(np.diff(spike_steps) == n_ref - 1 + charge_steps)


def test_lif_spike_count_matches_reference_simulator() -> None:
    """500 pA into tau 10 ms, C 250 pF (R = 40 MOhm), E_L = V_reset = -65 mV, V_th = -50 mV,
    t_ref = 2 ms, dt = 0.1 ms, 1 s: a reference simulator emits 63 spikes."""
    dt = 1e-4
    params = LIFParams(
        tau_mem=10e-3, v_leak=-65.0, v_th=-50.0, v_reset=-65.0, r=40.0, t_ref=2e-3,
        reset=ResetMode.ZERO,
    )
    current = np.full(10_000, 0.5)
    spikes, _ = run_axonal(current, params, dt)
    assert int(spikes.sum()) == 63
    ref_spikes, _ = reference_lif(
        current, tau=10e-3, r=40.0, v_leak=-65.0, v_th=-50.0, v_reset=-65.0, t_ref=2e-3,
        dt=dt, reset="zero",
    )
    np.testing.assert_array_equal(spikes, ref_spikes)
    # float32 (the training dtype) gives the same count
    xs = torch.full((10_000, 1, 1), 0.5)
    assert int(lif_multi_step(xs, None, params, dt).out.sum()) == 63


def test_lif_subthreshold_is_the_analytic_exponential() -> None:
    dt = 1e-3
    params = LIFParams(tau_mem=10e-3, v_leak=0.0, v_th=100.0, r=2.0)
    xs = torch.full((50, 1, 1), 1.5, dtype=torch.float64)
    trace = lif_multi_step(xs, None, params, dt, record=True).trace
    assert trace is not None
    t = torch.arange(1, 51, dtype=torch.float64) * dt
    expected = 3.0 * (1.0 - torch.exp(-t / 10e-3))
    torch.testing.assert_close(trace.v.view(-1), expected, rtol=0, atol=1e-12)


def test_lif_step_threshold_is_strict() -> None:
    params = LIFParams(tau_mem=10e-3, v_leak=0.0, v_th=1.0)
    # v = x = v_th: v_inf equals v, so the membrane stays exactly at threshold: no spike
    v = torch.tensor([1.0, 1.0 + 1e-9], dtype=torch.float64)
    state = LIFState(v=v, refractory=torch.zeros(2, dtype=torch.float64))
    z, new = lif_step(torch.ones(2, dtype=torch.float64), state, params, 1e-3)
    assert z.tolist() == [0.0, 1.0]
    assert float(new.v[0]) == 1.0
