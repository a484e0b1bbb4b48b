"""Pure plasticity rules: reference STDP curve, trace modes, weight dependence, triplet
frequency dependence, R-STDP eligibility, bounds, normalisation, thresholds, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from axonal.functional import plasticity as P

REF = Path(__file__).resolve().parents[1] / "data" / "reference" / "stdp.npz"
F64 = torch.float64


def _pair_curve(dtype: torch.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The Brian2 protocol: pair k has a pre spike at 200 ms and a post spike at 200 + dt_k ms
    (dt = 0.1 ms grid); pair k is synapse k -> k, a synapse list as a projection would hold."""
    ref = np.load(REF)
    prm = json.loads(str(ref["params_json"]))
    delta = ref["delta_t_ms"]
    n, dt = delta.size, 1e-4
    params = P.STDPParams(
        tau_plus=prm["taupre"] * 1e-3, tau_minus=prm["taupost"] * 1e-3,
        a_plus=prm["Apre"], a_minus=-prm["Apost"], w_min=-1.0, w_max=1.0,
    )
    pre_step = int(round(prm["t_pre"] / 0.1))
    post_step = torch.as_tensor(np.round((prm["t_pre"] + delta) / 0.1).astype(np.int64))
    state = P.stdp_initial_state(torch.zeros(1, n, dtype=dtype), torch.zeros(1, n, dtype=dtype))
    synapses = P.sparse_contraction(torch.arange(n), torch.arange(n))
    total = torch.zeros(n, dtype=dtype)
    for k in range(int(post_step.min()) - 10, int(post_step.max()) + 1):  # traces are 0 before
        pre = torch.full((1, n), float(k == pre_step), dtype=dtype)
        post = (post_step == k).to(dtype)[None]
        dw, state = P.stdp_step(pre, post, state, params, dt, contract=synapses)
        total += dw
    return delta, total.numpy()


def test_pair_stdp_matches_brian2_curve_float64() -> None:
    delta, dw = _pair_curve(F64)
    ref = np.load(REF)["dw_brian2"]
    np.testing.assert_allclose(dw, ref, rtol=0, atol=1e-12)
    # Delta t = 0: Brian2's on_pre runs before on_post, so the pair potentiates by +A+
    assert dw[delta == 0][0] == pytest.approx(0.01, abs=1e-15)
    # NEST's curve agrees away from 0 (NEST gives 0 at Delta t = 0)
    nest = np.load(REF)["dw_nest"]
    np.testing.assert_allclose(dw[delta != 0], nest[delta != 0], rtol=0, atol=1e-12)


def test_pair_stdp_matches_brian2_curve_float32() -> None:
    # clock-driven decay multiplies the trace 1,000 times in 100 ms: in float32 the rounding
    # accumulates to ~1e-8 absolute (6e-6 relative), above the reference README's 1e-8
    _, dw = _pair_curve(torch.float32)
    np.testing.assert_allclose(dw, np.load(REF)["dw_brian2"], rtol=0, atol=3e-8)


def test_trace_modes_all_to_all_and_nearest() -> None:
    # pre spikes at steps 0 and 5, post at step 10 (dt = 1 ms, tau = 20 ms)
    for mode, expected in (
        (P.TraceMode.ALL_TO_ALL, math.exp(-10 / 20) + math.exp(-5 / 20)),
        (P.TraceMode.NEAREST, math.exp(-5 / 20)),
    ):
        params = P.STDPParams(a_plus=1.0, a_minus=0.0, mode=mode)
        state = P.stdp_initial_state(torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
        total = torch.zeros(1, 1, dtype=F64)
        for k in range(11):
            pre = torch.tensor([[float(k in (0, 5))]], dtype=F64)
            post = torch.tensor([[float(k == 10)]], dtype=F64)
            dw, state = P.stdp_step(pre, post, state, params, 1e-3)
            total += dw
        assert float(total) == pytest.approx(expected, rel=1e-12)


def test_trace_decay_is_exact_in_dt() -> None:
    spikes = torch.zeros(41, 1, 1, dtype=F64)
    spikes[0] = 1.0
    coarse = torch.zeros(1, 1, dtype=F64)
    for k in range(21):
        coarse = P.trace_step(coarse, spikes[k], math.exp(-1e-3 / 0.02), P.TraceMode.ALL_TO_ALL)
    fine = torch.zeros(1, 1, dtype=F64)
    for k in range(41):
        fine = P.trace_step(fine, spikes[k], math.exp(-0.5e-3 / 0.02), P.TraceMode.ALL_TO_ALL)
    assert float(coarse) == pytest.approx(math.exp(-20e-3 / 0.02), rel=1e-13)
    assert float(fine) == pytest.approx(float(coarse), rel=1e-13)


def test_multiplicative_dependence_is_soft_bounded() -> None:
    params = P.STDPParams(a_plus=0.1, a_minus=0.1, dependence=P.WeightDependence.MULTIPLICATIVE)
    pre = torch.ones(1, 3, dtype=F64)
    post = torch.ones(1, 2, dtype=F64)
    weight = torch.tensor([[0.0, 0.5, 1.0], [0.2, 0.7, 0.9]], dtype=F64)
    state = P.STDPState(torch.zeros(1, 3, dtype=F64), torch.ones(1, 2, dtype=F64))
    dw, _ = P.stdp_step(pre, post, state, params, 1e-3, weight)
    decay = math.exp(-1e-3 / 0.02)
    expected = 0.1 * (1.0 - weight) * 1.0 - 0.1 * weight * decay
    torch.testing.assert_close(dw, expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="weight is required"):
        P.stdp_step(pre, post, state, params, 1e-3)


def test_multi_step_equals_sum_of_steps() -> None:
    gen = torch.Generator().manual_seed(0)
    pre = (torch.rand(30, 4, 6, generator=gen) < 0.2).to(F64)
    post = (torch.rand(30, 4, 3, generator=gen) < 0.1).to(F64)
    weight = torch.rand(3, 6, generator=gen, dtype=F64)
    for mode in P.TraceMode:
        for dep in P.WeightDependence:
            params = P.STDPParams(mode=mode, dependence=dep)
            state = P.stdp_initial_state(pre[0], post[0])
            total = torch.zeros(3, 6, dtype=F64)
            s = state
            for t in range(30):
                dw, s = P.stdp_step(pre[t], post[t], s, params, 1e-3, weight)
                total += dw
            dw_all, s_all = P.stdp_multi_step(pre, post, state, params, 1e-3, weight)
            torch.testing.assert_close(dw_all, total, rtol=1e-12, atol=1e-15)
            torch.testing.assert_close(s_all.pre, s.pre)
            torch.testing.assert_close(s_all.post, s.post)


def test_sparse_contraction_matches_dense() -> None:
    gen = torch.Generator().manual_seed(1)
    post, pre = torch.rand(5, 4, generator=gen), torch.rand(5, 7, generator=gen)
    post_index = torch.tensor([0, 3, 3, 1, 2])
    pre_index = torch.tensor([6, 0, 2, 2, 5])
    sparse = P.sparse_contraction(post_index, pre_index)(post, pre)
    dense = P.outer(post, pre)
    torch.testing.assert_close(sparse, dense[post_index, pre_index])
    with pytest.raises(ValueError, match="post_index"):
        P.sparse_contraction(post_index, pre_index[:3])


def _pairing(params: P.TripletParams, freqs: list[float], delta_ms: int, pairs: int = 15) -> torch.Tensor:
    """Pairing protocol: `pairs` pre-post pairs (post delta_ms after pre) at each frequency;
    one synapse per frequency, run together on a 1 ms grid. Traces decay exactly, so the rule
    is only called at steps where some spike occurs, with dt = the gap since the last call
    (the same result as calling it at every step)."""
    n = len(freqs)
    period = torch.tensor([int(round(1000 / f)) for f in freqs])

    def fires(k: int) -> torch.Tensor:
        k = k - 100
        return ((k >= 0) & (k % period == 0) & (k // period < pairs)).to(F64)[None]

    events = sorted({100 + j * int(p) + d for p in period for j in range(pairs) for d in (0, delta_ms)})
    state = P.triplet_initial_state(torch.zeros(1, n, dtype=F64), torch.zeros(1, n, dtype=F64))
    total = torch.zeros(n, n, dtype=F64)
    last = 0
    for k in events:
        dw, state = P.triplet_step(fires(k), fires(k - delta_ms), state, params, (k - last) * 1e-3)
        total += dw
        last = k
    return total.diagonal()


def test_event_driven_calls_equal_stepping() -> None:
    """Calling a rule only at spike steps with dt = the gap equals stepping every 1 ms."""
    params = P.TRIPLET_VISUAL_CORTEX_ALL_TO_ALL
    pre_steps, post_steps = {3, 40, 41}, {10, 35, 90}
    st = P.triplet_initial_state(torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
    ev = st
    dense = torch.zeros(1, 1, dtype=F64)
    sparse = torch.zeros(1, 1, dtype=F64)
    last = -1
    for k in range(100):
        pre = torch.tensor([[float(k in pre_steps)]], dtype=F64)
        post = torch.tensor([[float(k in post_steps)]], dtype=F64)
        dw, st = P.triplet_step(pre, post, st, params, 1e-3)
        dense += dw
        if k in pre_steps | post_steps:
            dw, ev = P.triplet_step(pre, post, ev, params, (k - last) * 1e-3)
            sparse += dw
            last = k
    torch.testing.assert_close(sparse, dense, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize(
    "params", [P.TRIPLET_VISUAL_CORTEX_ALL_TO_ALL, P.TRIPLET_VISUAL_CORTEX_NEAREST], ids=["all_to_all", "nearest"]
)
def test_triplet_pairing_frequency_dependence(params: P.TripletParams) -> None:
    """Sjostrom et al. 2001 protocol, as fitted by Pfister & Gerstner 2006: potentiation of
    pre-post pairs (+10 ms) grows with frequency; post-pre pairs (-10 ms) depress at low
    frequency and potentiate at 50 Hz."""
    freqs = [1.0, 10.0, 20.0, 40.0, 50.0]
    ltp = _pairing(params, freqs, 10)
    assert bool((ltp[1:] > ltp[:-1]).all()), ltp
    assert float(ltp[-1]) > 0.05
    ltd = _pairing(params, freqs, -10)
    assert float(ltd[0]) < 0 < float(ltd[-1])


def test_triplet_reduces_to_pair_rule() -> None:
    """With the triplet amplitudes at zero, the triplet rule is the pair rule."""
    trip = P.TripletParams(tau_plus=0.02, tau_minus=0.03, a2_plus=0.01, a3_plus=0.0, a2_minus=0.02, a3_minus=0.0)
    pair = P.STDPParams(tau_plus=0.02, tau_minus=0.03, a_plus=0.01, a_minus=0.02)
    gen = torch.Generator().manual_seed(2)
    pre = (torch.rand(40, 2, 5, generator=gen) < 0.2).to(F64)
    post = (torch.rand(40, 2, 4, generator=gen) < 0.2).to(F64)
    st, sp = P.triplet_initial_state(pre[0], post[0]), P.stdp_initial_state(pre[0], post[0])
    for t in range(40):
        a, st = P.triplet_step(pre[t], post[t], st, trip, 1e-3)
        b, sp = P.stdp_step(pre[t], post[t], sp, pair, 1e-3)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_published_triplet_sets() -> None:
    assert P.TRIPLET_HIPPOCAMPAL_ALL_TO_ALL.tau_x == pytest.approx(0.946)
    assert P.TRIPLET_HIPPOCAMPAL_NEAREST.mode is P.TraceMode.NEAREST
    assert P.TRIPLET_VISUAL_CORTEX_ALL_TO_ALL.tau_plus == pytest.approx(16.8e-3)


def test_rstdp_eligibility_and_reward() -> None:
    params = P.RSTDPParams(P.STDPParams(a_plus=1.0, a_minus=0.0), tau_e=0.1, lr=0.5)
    pre = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=F64)
    post = torch.tensor([[1.0], [0.0]], dtype=F64)
    state = P.rstdp_initial_state(pre, post, (1, 2))
    state = P.rstdp_step(pre, post, state, params, 1e-3)
    torch.testing.assert_close(state.eligibility, torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]], dtype=F64))
    zero = torch.zeros(2, 2, dtype=F64)
    state = P.rstdp_step(zero, zero[:, :1], state, params, 1e-3)
    assert float(state.eligibility[0, 0, 0]) == pytest.approx(math.exp(-0.01), rel=1e-12)
    dw = P.reward_dw(state, torch.tensor([2.0, -1.0], dtype=F64), params)
    assert float(dw[0, 0]) == pytest.approx(0.5 * 2.0 * math.exp(-0.01), rel=1e-12)
    assert float(P.reward_dw(state, 0.0, params).abs().sum()) == 0.0
    with pytest.raises(ValueError, match="reward"):
        P.reward_dw(state, torch.ones(3), params)


def test_bounds_normalisation_and_threshold() -> None:
    w = torch.tensor([[-0.5, 0.5, 2.0], [1.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(P.clip_weights(w, 0.0, 1.0)[0], torch.tensor([0.0, 0.5, 1.0]))
    n = P.normalise_weights(P.clip_weights(w, 0.0, 1.0), 78.0)
    torch.testing.assert_close(n.sum(1), torch.tensor([78.0, 78.0, 0.0]))
    torch.testing.assert_close(n[1], torch.tensor([26.0, 26.0, 26.0]))
    th = P.ThresholdParams(theta_plus=0.05, tau_theta=0.1)
    theta = P.adaptive_threshold_step(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]), th, 1e-3)
    torch.testing.assert_close(theta, torch.tensor([math.exp(-0.01) + 0.05, math.exp(-0.01)]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tau_plus": -0.02}, "tau_plus"),
        ({"tau_minus": 0.0}, "tau_minus"),
        ({"a_plus": -0.1}, "a_plus"),
        ({"w_min": 1.0, "w_max": 0.5}, "w_min must be below w_max"),
        ({"a_minus": float("nan")}, "a_minus"),
    ],
)
def test_stdp_params_rejected(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        P.STDPParams(**kwargs)  # type: ignore[arg-type]


def test_other_params_rejected() -> None:
    with pytest.raises(TypeError, match="mode"):
        P.STDPParams(mode="nearest")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tau_plus"):
        P.STDPParams(tau_plus="20ms")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tau_y"):
        P.TripletParams(tau_y=-1.0)
    with pytest.raises(ValueError, match="w_min"):
        P.TripletParams(w_min=2.0, w_max=1.0)
    with pytest.raises(ValueError, match="tau_e"):
        P.RSTDPParams(tau_e=-0.1)
    with pytest.raises(ValueError, match="tau_theta"):
        P.ThresholdParams(tau_theta=-1.0)
    with pytest.raises(ValueError, match="w_min"):
        P.clip_weights(torch.zeros(2), 1.0, 0.0)
    with pytest.raises(ValueError, match="total"):
        P.normalise_weights(torch.ones(2, 2), -1.0)


def test_step_inputs_rejected() -> None:
    params = P.STDPParams()
    state = P.stdp_initial_state(torch.zeros(1, 3), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="post_spikes"):
        P.stdp_step(torch.zeros(1, 3), torch.zeros(1, 4), state, params, 1e-3)
    with pytest.raises(TypeError, match="pre_spikes"):
        P.stdp_step([0.0], torch.zeros(1, 2), state, params, 1e-3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dt"):
        P.stdp_step(torch.zeros(1, 3), torch.zeros(1, 2), state, params, -1e-3)


def test_nan_weights_detected() -> None:
    P.check_weights_finite("w", torch.ones(2))
    with pytest.raises(ValueError, match="w became non-finite"):
        P.check_weights_finite("w", torch.tensor([1.0, float("nan")]))
