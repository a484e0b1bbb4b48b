"""Plastic projections: the pure rules and the tensor learner give the same weights on the same
spike trains, Brian2's STDP curve, delays as Brian2's on_pre, R-STDP, bounds, disabled
plasticity and bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from axonal.functional import plasticity as P
from axonal.functional.neurons import LIFParams, ResetMode
from axonal.plasticity import STDPLearner
from axonal.sim import (
    Bernoulli,
    Conductance,
    Delta,
    Exponential,
    FromArrays,
    Network,
    OneToOne,
    PoissonSource,
    Population,
    Projection,
    ProjectionLearner,
    SpikeGenerator,
    SpikeMonitor,
    StateMonitor,
)

DT = 1e-4
F64 = torch.float64
FIRE = LIFParams(tau_mem=10e-3, v_th=1.0, v_reset=0.0, reset=ResetMode.ZERO)
PLASTIC = Exponential(5e-3, "plastic")
REF = Path(__file__).resolve().parents[1] / "data" / "reference" / "stdp.npz"
REF_PROJ = REF.with_name("stdp_projection.npz")

PAIR: dict[str, Any] = {"tau_plus": 20e-3, "tau_minus": 20e-3, "a_plus": 0.03, "a_minus": 0.035,
                        "w_min": 0.0, "w_max": 0.1}


def driven(pre_ids: list[int], pre_steps: list[int], post_ids: list[int], post_steps: list[int],
           n_pre: int, n_post: int, pre_list: list[int], post_list: list[int],
           weight: float | torch.Tensor, delay: float | torch.Tensor, params: Any,
           dtype: torch.dtype = F64, synapse: Any = PLASTIC, r: float = 1.0, **kw: Any,
           ) -> tuple[Network, ProjectionLearner, SpikeMonitor, SpikeMonitor]:
    """Generator ``pre`` -> plastic synapses -> ``post``; post neuron ``i`` is made to spike at
    ``post_steps`` by a strong delta synapse from a driver (driver step = post step - 2). A
    small input resistance ``r`` (MOhm) keeps large plastic weights from adding spikes."""
    net = Network(dtype=dtype)
    pre = net.add(SpikeGenerator(n_pre, pre_ids, [s * DT for s in pre_steps], name="pre"))
    drive = net.add(SpikeGenerator(n_post, post_ids, [(s - 2) * DT for s in post_steps],
                                   name="drive"))
    post = net.add(Population(replace(FIRE, r=r), n_post, name="post"))
    net.add(Projection(drive, post, OneToOne(), weight=1e4 / r, delay=DT, synapse=Delta()))
    proj = net.add(Projection(pre, post, FromArrays(pre_list, post_list), weight=weight,
                              delay=delay, synapse=synapse))
    learner = net.add(ProjectionLearner(proj, params, **kw))
    return net, learner, net.add(SpikeMonitor(pre)), net.add(SpikeMonitor(post))


def arrivals(learner: ProjectionLearner, pre: SpikeMonitor, steps: int) -> torch.Tensor:
    """``[steps, S]``: spikes arriving at each synapse (its pre neuron's spikes + its delay)."""
    pre_idx, _, delay = learner.synapses()
    out = torch.zeros(steps, pre_idx.numel(), dtype=F64)
    for k, i in zip(pre.steps.tolist(), pre.ids.tolist()):
        syn = (pre_idx == i).nonzero().squeeze(1)
        t = k + delay[syn]
        ok = t < steps
        out.index_put_((t[ok], syn[ok]), torch.ones(int(ok.sum()), dtype=F64), accumulate=True)
    return out


def post_train(post: SpikeMonitor, n_post: int, steps: int) -> torch.Tensor:
    out = torch.zeros(steps, n_post, dtype=F64)
    out[torch.as_tensor(post.steps), torch.as_tensor(post.ids)] = 1.0
    return out


def oracle(params: Any, learner: ProjectionLearner, arr: torch.Tensor, post: torch.Tensor,
           w0: torch.Tensor, lr: float = 1.0, marks: tuple[int, ...] = ()) -> list[torch.Tensor]:
    """The pure rule on a synapse list with one presynaptic trace per synapse (Brian2's
    per-synapse ``Apre``), weights clipped after every step; weights at the steps ``marks``."""
    _, post_idx, _ = learner.synapses()
    n_syn = post_idx.numel()
    contract = P.sparse_contraction(post_idx, torch.arange(n_syn))
    step: Callable[..., Any]
    if isinstance(params, P.TripletParams):
        state: Any = P.triplet_initial_state(arr[:1], post[:1])
        step = P.triplet_step
    else:
        state = P.stdp_initial_state(arr[:1], post[:1])
        step = P.stdp_step
    w, out = w0.clone(), []
    for t in range(arr.shape[0]):
        if t in marks:
            out.append(w.clone())
        dw, state = step(arr[t : t + 1], post[t : t + 1], state, params, DT, w, contract)
        w = P.clip_weights(w + lr * dw, params.w_min, params.w_max)
    return out + [w]


# --------------------------------------------------------------------------------------------
# (a) one synapse: the tensor learner on the same trains
# --------------------------------------------------------------------------------------------

PRE_STEPS = [20, 50, 52, 120, 121, 200, 240, 243, 300, 330, 331, 332]
POST_STEPS = [25, 53, 118, 150, 205, 246, 310, 333, 334, 380]


@pytest.mark.parametrize("mode", list(P.TraceMode))
@pytest.mark.parametrize("dependence", list(P.WeightDependence))
def test_one_synapse_equals_the_tensor_learner(mode: P.TraceMode,
                                               dependence: P.WeightDependence) -> None:
    params = P.STDPParams(mode=mode, dependence=dependence, **PAIR)
    d = 3
    net, learner, _, mpost = driven([0] * len(PRE_STEPS), PRE_STEPS, [0] * len(POST_STEPS),
                                       POST_STEPS, 1, 1, [0], [0], 0.08, d * DT, params)
    traj = []
    for _ in range(8):  # continued runs keep the traces
        net.run(5e-3, DT, progress=False)
        traj.append(float(learner.weight[0]))
    assert net.backend_used == "torch"
    assert mpost.steps.tolist() == POST_STEPS  # the plastic synapse adds no spikes
    # the tensor learner: nn.Linear(1, 1), pre spikes at their arrival (emission + delay)
    layer = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(0.08)
    ref = STDPLearner(layer, params, DT)
    pre = torch.zeros(400, 1, 1, dtype=F64)
    pre[[s + d for s in PRE_STEPS if s + d < 400]] = 1.0
    post = torch.zeros(400, 1, 1, dtype=F64)
    post[POST_STEPS] = 1.0
    state = ref.initial_state(pre[0], post[0])
    expected = []
    for t in range(400):
        dw, state = ref.step(pre[t], post[t], state)
        ref.apply(dw)
        if (t + 1) % 50 == 0:
            expected.append(float(layer.weight.detach()))
    assert traj == expected  # exactly
    assert len(set(traj)) > 3
    if dependence is P.WeightDependence.ADDITIVE:
        assert max(traj) == 0.1  # the potentiations are clipped at w_max


def test_projection_reproduces_brian2_stdp_curve() -> None:
    """Brian2's protocol (tests/data/reference): pair k is synapse k -> k, the pre spike
    arrives at 200 ms (emitted 1 step earlier, delay dt), the post spike at 200 ms + dt_k."""
    ref = np.load(REF)
    prm = json.loads(str(ref["params_json"]))
    delta = ref["delta_t_ms"]
    n = delta.size
    params = P.STDPParams(tau_plus=prm["taupre"] * 1e-3, tau_minus=prm["taupost"] * 1e-3,
                          a_plus=prm["Apre"], a_minus=-prm["Apost"], w_min=-1.0, w_max=1.0)
    t_pre = round(prm["t_pre"] / 0.1)
    post_steps = [t_pre + round(float(x) / 0.1) for x in delta]
    net, learner, _, mpost = driven(list(range(n)), [t_pre - 1] * n, list(range(n)), post_steps,
                                    n, n, list(range(n)), list(range(n)), 0.0, DT, params)
    net.run((max(post_steps) + 2) * DT, DT, progress=False)
    assert sorted(zip(mpost.ids.tolist(), mpost.steps.tolist())) == list(
        zip(range(n), post_steps))
    np.testing.assert_allclose(learner.weight.numpy(), ref["dw_brian2"], rtol=0, atol=1e-12)
    assert float(learner.weight[delta == 0][0]) == pytest.approx(0.01, abs=1e-15)


BRIAN2_RULES = {
    "pair_all_to_all": P.STDPParams(a_plus=0.01, a_minus=0.0105, w_min=-10.0, w_max=10.0),
    "pair_nearest": P.STDPParams(a_plus=0.01, a_minus=0.0105, w_min=-10.0, w_max=10.0,
                                 mode=P.TraceMode.NEAREST),
    "triplet_visual_all": replace(P.TRIPLET_VISUAL_CORTEX_ALL_TO_ALL, w_min=-10.0, w_max=10.0),
    "triplet_hippocampal_nearest": replace(P.TRIPLET_HIPPOCAMPAL_NEAREST, w_min=-10.0,
                                           w_max=10.0),
}


@pytest.mark.parametrize("rule", list(BRIAN2_RULES))
def test_per_synapse_delays_match_brian2_synapses(rule: str) -> None:
    """Brian2 (tests/data/reference/make_stdp_projection.py): generator -> generator synapses
    with event-driven traces and a delay per synapse on ``on_pre``; multapse 0 -> 1."""
    ref = np.load(REF_PROJ)
    steps = int(json.loads(str(ref["params_json"]))["steps"])
    syn_i = ref["syn_i"].tolist()
    net, learner, _, mpost = driven(
        ref["pre_ids"].tolist(), ref["pre_steps"].tolist(), ref["post_ids"].tolist(),
        ref["post_steps"].tolist(), 4, 3, syn_i, ref["syn_j"].tolist(),
        torch.tensor(ref["w0"]), torch.tensor(ref["syn_delay_steps"]) * DT, BRIAN2_RULES[rule],
        r=1e-4)
    net.run(steps * DT, DT, progress=False)
    np.testing.assert_array_equal(mpost.steps, ref["post_steps"])
    order = np.argsort(syn_i, kind="stable")  # CSR order
    expected = ref[f"w_{rule}"][order]
    assert np.abs(expected - ref["w0"][order]).min() > 1e-4
    np.testing.assert_allclose(learner.weight.numpy(), expected, rtol=0, atol=1e-12)


def test_delivery_reads_the_weight_at_arrival() -> None:
    """Brian2's on_pre ``g += w; w += depression``: the weight delivered at an arrival is the
    one potentiated by the post spike in between, before that arrival's own depression."""
    params = P.STDPParams(a_plus=0.02, a_minus=0.03, w_min=0.0, w_max=1.0)
    net, learner, _, _ = driven([0, 0], [10, 60], [0], [30], 1, 1, [0], [0], 0.5, 2 * DT,
                                params, synapse=Delta("plastic"))
    g = net.add(StateMonitor(net.sources[2], ["g_plastic"]))
    net.run(10e-3, DT, progress=False)
    w1 = 0.5 + 0.02 * math.exp(-18 * DT / 20e-3)  # arrival at 12, post at 30
    w2 = w1 - 0.03 * math.exp(-32 * DT / 20e-3)  # arrival at 62
    trace = g.values("g_plastic")[:, 0]  # the input of each update: arrivals of the step before
    assert trace[13] == 0.5 and trace[63] == pytest.approx(w1, rel=1e-14)
    assert np.count_nonzero(trace) == 2
    assert float(learner.weight[0]) == pytest.approx(w2, rel=1e-14)


# --------------------------------------------------------------------------------------------
# (b) several synapses, per-synapse delays, triplet and pair rules against the pure rule
# --------------------------------------------------------------------------------------------

PRE_LIST = [0, 0, 1, 1, 2, 2, 2, 0]
POST_LIST = [0, 1, 0, 1, 1, 0, 1, 1]  # synapse 7 repeats 0 -> 1 with another delay
DELAYS = torch.tensor([1, 4, 2, 2, 7, 3, 1, 6]) * DT


def random_trains(seed: int, n: int, steps: int, p: float) -> tuple[list[int], list[int]]:
    gen = torch.Generator().manual_seed(seed)
    z = (torch.rand(steps, n, generator=gen) < p).nonzero()
    return z[:, 1].tolist(), z[:, 0].tolist()


RULES = [
    P.TRIPLET_VISUAL_CORTEX_ALL_TO_ALL,
    P.TRIPLET_HIPPOCAMPAL_NEAREST,
    P.TripletParams(dependence=P.WeightDependence.MULTIPLICATIVE, a2_plus=5e-3),
    P.STDPParams(mode=P.TraceMode.NEAREST, dependence=P.WeightDependence.MULTIPLICATIVE,
                 a_plus=0.05, a_minus=0.05),
    P.STDPParams(a_plus=0.08, a_minus=0.09),
]


@pytest.mark.parametrize("params", RULES, ids=lambda p: f"{type(p).__name__}-{p.mode.value}-"
                                                        f"{p.dependence.value}")
def test_synapse_list_with_delays_equals_the_pure_rule(params: Any) -> None:
    steps = 1500
    pre_ids, pre_steps = random_trains(1, 3, steps, 0.02)
    post_ids, post_steps = random_trains(2, 2, steps - 2, 0.02)
    post_steps = [s + 2 for s in post_steps]
    w0 = torch.tensor([0.5, 0.2, 0.9, 0.4, 0.6, 0.1, 0.3, 0.7], dtype=F64)
    net, learner, mpre, mpost = driven(pre_ids, pre_steps, post_ids, post_steps, 3, 2,
                                       PRE_LIST, POST_LIST, w0, DELAYS, params)
    net.run(steps * DT / 2, DT, progress=False)
    half = learner.weight.clone()
    net.run(steps * DT / 2, DT, progress=False)
    order = torch.argsort(torch.tensor(PRE_LIST), stable=True)  # CSR order of the synapses
    arr = arrivals(learner, mpre, steps)
    assert int(arr.sum()) > 100 and len(mpost.steps) > 40
    mid, end = oracle(params, learner, arr, post_train(mpost, 2, steps), w0[order],
                      marks=(steps // 2,))
    torch.testing.assert_close(half, mid, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(learner.weight, end, rtol=1e-12, atol=1e-14)
    assert float((end - w0[order]).abs().min()) > 1e-4  # every synapse learned


# --------------------------------------------------------------------------------------------
# (c) R-STDP: eligibility and reward as the pure rule says
# --------------------------------------------------------------------------------------------


def test_rstdp_reward_turns_eligibility_into_weight_change() -> None:
    params = P.RSTDPParams(stdp=P.STDPParams(a_plus=0.05, a_minus=0.04, w_min=0.0, w_max=1.0),
                           tau_e=0.03, lr=0.5)
    steps = 600
    pre_ids, pre_steps = random_trains(3, 3, steps - 20, 0.03)  # all arrive before the end
    post_ids, post_steps = random_trains(4, 2, steps - 22, 0.03)
    post_steps = [s + 2 for s in post_steps]
    w0 = torch.full((8,), 0.5, dtype=F64)
    net, learner, mpre, mpost = driven(pre_ids, pre_steps, post_ids, post_steps, 3, 2,
                                       PRE_LIST, POST_LIST, w0, DELAYS, params, lr=0.8)
    net.run(steps * DT, DT, progress=False)
    assert torch.equal(learner.weight, w0)  # no reward, no change
    arr, post = arrivals(learner, mpre, steps), post_train(mpost, 2, steps)
    _, post_idx, _ = learner.synapses()
    state = P.rstdp_initial_state(arr[:1], post[:1], (8,))
    for t in range(steps):
        state = P.rstdp_step(arr[t : t + 1], post[t : t + 1], state, params, DT, w0,
                             lambda q, p: q[:, post_idx] * p)
    torch.testing.assert_close(learner.eligibility(), state.eligibility[0], rtol=1e-10,
                               atol=1e-15)
    assert float(state.eligibility.abs().min()) > 0
    assert not bool(torch.any(learner.reward(0.0)))
    assert torch.equal(learner.weight, w0)
    dw = learner.reward(-2.0)
    expected = P.reward_dw(state, -2.0, params)
    torch.testing.assert_close(dw, expected, rtol=1e-10, atol=1e-15)
    torch.testing.assert_close(learner.weight, (w0 + 0.8 * expected).clamp(0.0, 1.0),
                               rtol=1e-10, atol=1e-15)
    # the eligibility decays with tau_e while nothing happens
    e = learner.eligibility()
    net.run(10e-3, DT, progress=False)
    torch.testing.assert_close(learner.eligibility(), e * math.exp(-10e-3 / 0.03))


# --------------------------------------------------------------------------------------------
# (d) bounds and finiteness in a recurrent network with drawn weights and delays
# --------------------------------------------------------------------------------------------


def recurrent(params: Any | None, seed: int = 3, dtype: torch.dtype = torch.float32,
              backend: str = "auto", **kw: Any,
              ) -> tuple[Network, ProjectionLearner | None, Projection, SpikeMonitor]:
    net = Network(seed=seed, dtype=dtype, backend=backend)
    src = net.add(PoissonSource(20, 60.0, name="in"))
    pop = net.add(Population(FIRE, 30, name="E"))
    net.add(Projection(src, pop, Bernoulli(0.3), weight=0.8, delay=DT))
    proj = net.add(Projection(
        pop, pop, Bernoulli(0.2), synapse=PLASTIC,
        weight=lambda g, n: 0.5 * torch.rand(n, generator=g, dtype=torch.float64),
        delay=lambda g, n: (1 + torch.randint(0, 6, (n,), generator=g)) * DT))
    learner = None if params is None else net.add(ProjectionLearner(proj, params, **kw))
    return net, learner, proj, net.add(SpikeMonitor(pop))


@pytest.mark.parametrize("dependence", list(P.WeightDependence))
def test_weights_stay_bounded_and_finite(dependence: P.WeightDependence) -> None:
    params = P.STDPParams(a_plus=0.4, a_minus=0.45, w_min=0.0, w_max=0.5, dependence=dependence)
    net, learner, _, mon = recurrent(params, debug=True)
    assert learner is not None
    net.run(0.1, DT, progress=False)
    w = learner.weight
    assert w.dtype == torch.float32 and len(mon.steps) > 200
    assert bool(torch.isfinite(w).all()) and float(w.min()) >= 0.0 and float(w.max()) <= 0.5
    if dependence is P.WeightDependence.ADDITIVE:
        assert bool((w == 0.0).any()) and bool((w == 0.5).any())


def test_recurrent_plastic_network_equals_the_pure_rule_on_its_spikes() -> None:
    """Feedback (weights change the spikes), drawn delays, pre is post: the weights equal the
    pure rule run on the recorded spikes."""
    params = P.STDPParams(a_plus=0.02, a_minus=0.021, w_min=0.0, w_max=0.5)
    net, learner, _, mon = recurrent(params, dtype=F64)
    assert learner is not None
    net.run(DT, DT, progress=False)  # step 0: no arrivals, pre traces 0, so no change yet
    w0 = learner.weight.clone()
    net.run(0.06 - DT, DT, progress=False)
    steps = 600
    arr, post = arrivals(learner, mon, steps), post_train(mon, 30, steps)
    (end,) = oracle(params, learner, arr, post, w0)
    torch.testing.assert_close(learner.weight, end, rtol=1e-12, atol=1e-14)
    assert float((end - w0).abs().max()) > 1e-3


def test_poisson_counts_above_one_count_as_several_spikes() -> None:
    """A Poisson source can emit several spikes of one neuron in a step: each is delivered,
    and the rule sees the count (as the pure rule fed the count)."""
    params = P.STDPParams(a_plus=0.01, a_minus=0.012, w_min=0.0, w_max=1.0)
    net = Network(seed=5, dtype=F64)
    src = net.add(PoissonSource(5, 3000.0, name="in"))
    pop = net.add(Population(FIRE, 4, name="E"))
    proj = net.add(Projection(src, pop, Bernoulli(0.6), weight=0.3, synapse=PLASTIC,
                              delay=lambda g, n: (1 + torch.randint(0, 3, (n,), generator=g)) * DT))
    learner = net.add(ProjectionLearner(proj, params))
    mpre, mpost = net.add(SpikeMonitor(src)), net.add(SpikeMonitor(pop))
    net.run(DT, DT, progress=False)
    w0 = learner.weight.clone()
    net.run(0.03 - DT, DT, progress=False)
    arr = arrivals(learner, mpre, 300)
    assert float(arr.max()) >= 2 and len(mpost.steps) > 20
    (end,) = oracle(params, learner, arr, post_train(mpost, 4, 300), w0)
    torch.testing.assert_close(learner.weight, end, rtol=1e-12, atol=1e-14)


def test_debug_catches_a_non_finite_weight() -> None:
    net, learner, _, _ = recurrent(P.STDPParams(w_max=0.5), debug=True)
    assert learner is not None
    net.run(5e-3, DT, progress=False)
    learner.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        net.run(0.05, DT, progress=False)


def test_normalise_matches_the_pure_function() -> None:
    net, learner, _, _ = recurrent(P.STDPParams(w_max=0.5), dtype=F64)
    assert learner is not None
    net.run(5e-3, DT, progress=False)
    pre, post, _ = learner.synapses()
    dense = torch.zeros(30, 30, dtype=F64).index_put_((post, pre), learner.weight.clone(),
                                                     accumulate=True)
    learner.normalise(2.0)
    again = torch.zeros(30, 30, dtype=F64).index_put_((post, pre), learner.weight,
                                                     accumulate=True)
    torch.testing.assert_close(again, P.normalise_weights(dense, 2.0))


# --------------------------------------------------------------------------------------------
# (f) plasticity off: weights unchanged, spikes as without a learner
# --------------------------------------------------------------------------------------------


def test_disabled_plasticity_leaves_weights_and_spikes_unchanged() -> None:
    params = P.STDPParams(a_plus=0.05, a_minus=0.05, w_min=0.0, w_max=0.5)
    plain, _, proj, mon = recurrent(None, backend="torch")
    stats = plain.run(0.1, DT, progress=False)
    assert proj.table is not None
    w_plain = proj.table.weight.clone()
    runs = [recurrent(params, enabled=False), recurrent(params, lr=0.0), recurrent(params)]
    results = []
    for net, learner, _, m in runs:
        assert learner is not None
        s = net.run(0.1, DT, progress=False)
        results.append((s, learner.weight, m))
    assert len(mon.steps) > 200
    for s, w, m in results[:2]:
        np.testing.assert_array_equal(m.steps, mon.steps)
        np.testing.assert_array_equal(m.ids, mon.ids)
        assert s.events == stats.events and s.spikes == stats.spikes
        assert torch.equal(w, w_plain)
    assert not torch.equal(results[2][1], w_plain)  # the same network learns when enabled
    # switching it on later takes effect from the next step
    net, learner, _, _ = runs[0]
    assert learner is not None
    learner.enabled = True
    net.run(0.05, DT, progress=False)
    assert not torch.equal(learner.weight, w_plain)


# --------------------------------------------------------------------------------------------
# (e) bad input
# --------------------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors() -> None:
    net = Network()
    gen = net.add(SpikeGenerator(2, [0], [0.0]))
    pop = net.add(Population(FIRE, 2))
    proj = Projection(gen, pop, OneToOne(), weight=0.5)
    with pytest.raises(TypeError, match="projection must be a Projection"):
        ProjectionLearner(pop, P.STDPParams())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params must be STDPParams"):
        ProjectionLearner(proj, P.ThresholdParams())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr must be >= 0"):
        ProjectionLearner(proj, P.STDPParams(), lr=-1.0)
    with pytest.raises(ValueError, match="lr must be finite"):
        ProjectionLearner(proj, P.STDPParams(), lr=float("nan"))
    with pytest.raises(TypeError, match="enabled must be a bool"):
        ProjectionLearner(proj, P.STDPParams(), enabled=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weight of .* must lie in \[w_min, w_max\]"):
        ProjectionLearner(proj, P.STDPParams(w_max=0.4))
    cond = Projection(gen, pop, OneToOne(), weight=0.5, synapse=Conductance(5e-3, 0.0))
    with pytest.raises(ValueError, match="negative conductances"):
        ProjectionLearner(cond, P.STDPParams(w_min=-1.0))
    learner = ProjectionLearner(proj, P.STDPParams())
    with pytest.raises(ValueError, match="add projection .* before its learner"):
        net.add(learner)
    with pytest.raises(ValueError, match="run it first"):
        _ = learner.weight
    net.add(proj)
    net.add(learner)
    with pytest.raises(ValueError, match="already has a learner"):
        net.add(ProjectionLearner(proj, P.TripletParams()))
    net.run(1e-3, DT, progress=False)
    with pytest.raises(TypeError, match="need RSTDPParams"):
        learner.reward(1.0)
    with pytest.raises(ValueError, match="total must be > 0"):
        learner.normalise(0.0)


def test_native_backend_and_drawn_weights_out_of_bounds_are_refused() -> None:
    net = Network(backend="native")
    gen = net.add(SpikeGenerator(2, [0], [0.0]))
    pop = net.add(Population(FIRE, 2))
    proj = net.add(Projection(gen, pop, OneToOne(), weight=0.5))
    net.add(ProjectionLearner(proj, P.STDPParams()))
    with pytest.raises(ValueError, match="backend 'native' cannot run this network: plastic"):
        net.run(1e-3, DT, progress=False)
    net = Network()
    gen = net.add(SpikeGenerator(2, [0], [0.0]))
    pop = net.add(Population(FIRE, 2))
    proj = net.add(Projection(gen, pop, OneToOne(), weight=lambda g, n: torch.full((n,), 2.0)))
    net.add(ProjectionLearner(proj, P.STDPParams()))
    with pytest.raises(ValueError, match=r"must lie in \[w_min, w_max\] = \[0.0, 1.0\]"):
        net.run(1e-3, DT, progress=False)
    net = Network()
    gen = net.add(SpikeGenerator(2, [0], [0.0]))
    pop = net.add(Population(FIRE, 2))
    proj = net.add(Projection(gen, pop, OneToOne(), weight=0.5))
    rl = net.add(ProjectionLearner(proj, P.RSTDPParams()))
    net.run(1e-3, DT, progress=False)
    with pytest.raises(ValueError, match="value must be finite"):
        rl.reward(float("inf"))
