"""The simulator: exact spike timing through delays, inputs, continuation, seeding, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from axonal import plot
from axonal.functional.neurons import (
    AdExParams,
    IFParams,
    IzhikevichParams,
    LIFParams,
    ResetMode,
)
from axonal.functional.neurons.cuba_lif import synaptic_kernel
from axonal.functional.neurons.lif import lif_multi_step
from axonal.sim import (
    AllToAll,
    ArrayCurrent,
    Bernoulli,
    Conductance,
    ConstantCurrent,
    Delta,
    Exponential,
    FixedInDegree,
    FromArrays,
    Network,
    OneToOne,
    PoissonSource,
    Population,
    Projection,
    RateMonitor,
    SpikeGenerator,
    SpikeMonitor,
    StateMonitor,
    StepCurrent,
)

# Some neurons here are switched off with a threshold of 1e9 mV on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::axonal.errors.PlausibilityWarning")

DT = 1e-4
REF = Path(__file__).resolve().parents[1] / "data" / "reference"
FIRE = LIFParams(tau_mem=10e-3, v_th=1.0, v_reset=0.0, reset=ResetMode.ZERO)


def chain(delays: tuple[float, float, float]) -> tuple[Network, SpikeMonitor, SpikeMonitor]:
    net = Network(seed=0)
    gen = net.add(SpikeGenerator(1, [0], [1e-3]))
    pop = net.add(Population(FIRE, 3, name="chain"))
    net.add(Projection(gen, pop, FromArrays([0], [0]), weight=1e4, delay=delays[0],
                       synapse=Delta()))
    net.add(Projection(pop, pop, FromArrays([0, 1], [1, 2]), weight=1e4,
                       delay=torch.tensor(delays[1:]), synapse=Delta()))
    return net, net.add(SpikeMonitor(gen)), net.add(SpikeMonitor(pop))


def test_three_neuron_chain_spikes_at_the_expected_steps() -> None:
    net, src, mon = chain((3e-4, 5e-4, 2e-4))
    stats = net.run(4e-3, DT, progress=False)
    assert src.steps.tolist() == [10]
    # spike of step k with delay d acts on update k + d + 1
    assert mon.steps.tolist() == [14, 20, 23] and mon.ids.tolist() == [0, 1, 2]
    assert stats.events == 3 and stats.spikes["chain"] == 3
    assert np.allclose(mon.times, [1.4e-3, 2.0e-3, 2.3e-3])


@pytest.mark.parametrize("synapse", [Exponential(2e-3), Conductance(2e-3, 50.0)])
def test_chain_with_exponential_and_conductance_synapses(
        synapse: Exponential | Conductance) -> None:
    """A spike of step k moves the target's g after update k + d: it first acts on k + d + 1."""
    net = Network(seed=0, dtype=torch.float64)
    gen = net.add(SpikeGenerator(1, [0], [0.0]))
    pop = net.add(Population(LIFParams(tau_mem=10e-3, v_th=100.0), 1))
    net.add(Projection(gen, pop, OneToOne(), weight=0.5, delay=3e-4, synapse=synapse))
    st = net.add(StateMonitor(pop, ["v"]))
    net.run(1e-3, DT, progress=False)
    v = st.values("v")[:, 0]
    assert np.all(v[:4] == 0.0) and v[4] > 0.0  # steps 0..3 untouched, step 4 driven
    e_rev = getattr(synapse, "e_rev", None)
    if e_rev is not None:  # a conductance is held over the step
        expected = 0.5 * e_rev * (1 - math.exp(-DT / 10e-3))
    else:  # the exponential current is integrated exactly: r w K(dt, tau_syn, tau_mem)
        expected = 0.5 * float(synaptic_kernel(DT, 2e-3, 10e-3))
    assert v[4] == pytest.approx(expected, rel=1e-12)


def test_population_matches_the_core_lif_with_injected_current() -> None:
    params = LIFParams(tau_mem=10e-3, v_th=1.0, t_ref=2e-3, reset=ResetMode.ZERO)
    drive = torch.linspace(0.5, 3.0, 8, dtype=torch.float64)
    net = Network(dtype=torch.float64)
    pop = net.add(Population(params, 8))
    net.inject(pop, ConstantCurrent(drive))
    st = net.add(StateMonitor(pop, ["v", "refractory"]))
    sp = net.add(SpikeMonitor(pop))
    net.run(0.05, DT, progress=False)
    ref = lif_multi_step(drive.expand(500, 8), None, params, DT, record=True)
    assert ref.trace is not None
    np.testing.assert_array_equal(st.values("v"), ref.trace.v.numpy())
    z = np.zeros((500, 8))
    z[sp.steps, sp.ids] = 1
    np.testing.assert_array_equal(z, ref.out.numpy())
    # refractoriness: after a spike the membrane sits at reset for round(t_ref/dt) samples
    k = int(sp.steps[sp.ids == 7][0])
    assert np.all(st.values("v")[k : k + 20, 7] == 0.0) and st.values("v")[k + 20, 7] != 0.0


def test_lif_population_matches_brian2_reference_traces() -> None:
    f = np.load(REF / "lif.npz")
    p = json.loads(str(f["params_json"]))
    params = LIFParams(tau_mem=p["tau_m"] * 1e-3, v_leak=p["E_L"], v_th=p["V_th"],
                       v_reset=p["V_reset"], r=p["tau_m"] / p["C_m"] * 1e3,
                       t_ref=p["t_ref"] * 1e-3, reset=ResetMode.ZERO)
    cases = ["const", "steps"]
    current = np.stack([f[f"{c}_I_pA"].astype(np.float64) / 1000.0 for c in cases], axis=1)
    net = Network(dtype=torch.float64)
    pop = net.add(Population(params, 2, init={"v": p["V0"]}))
    net.inject(pop, ArrayCurrent(torch.tensor(current)))
    st = net.add(StateMonitor(pop, ["v"]))
    sp = net.add(SpikeMonitor(pop))
    net.run(1.0, DT, progress=False)
    v = st.values("v")
    for i, case in enumerate(cases):
        np.testing.assert_array_equal(sp.steps[sp.ids == i], f[f"{case}_spike_steps_brian2"])
        assert np.abs(v[:, i] - f[f"{case}_v_mV_brian2"][1:]).max() <= 1e-9


def test_izhikevich_population_matches_brian2_reference_traces() -> None:
    f = np.load(REF / "izhikevich.npz")
    p = json.loads(str(f["params_json"]))
    names = ["RS", "IB", "CH"]
    col = {k: torch.tensor([p["sets"][s][k] for s in names], dtype=torch.float64)
           for k in "abcd"}
    params = IzhikevichParams(a=col["a"], b=col["b"], c=col["c"], d=col["d"],
                              v_peak=p["v_peak"], v_init=p["v0"])
    net = Network(dtype=torch.float64)
    pop = net.add(Population(params, 3))
    net.inject(pop, ConstantCurrent(p["I"]))
    st = net.add(StateMonitor(pop, ["v"], every=10))
    sp = net.add(SpikeMonitor(pop))
    net.run(1.0, DT, progress=False)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(sp.steps[sp.ids == i], f[f"{name}_spike_steps_brian2"])
        ref = f[f"{name}_v_brian2"][1::10]
        assert np.abs(st.values("v")[:, i] - ref).max() < 1e-4 * (1 + np.abs(ref).max())


def test_adex_population_matches_brian2_reference_traces() -> None:
    f = np.load(REF / "adex.npz")
    p = json.loads(str(f["params_json"]))
    names = ["tonic", "adapting", "bg2005_rs"]

    def col(key: str, scale: float = 1.0) -> torch.Tensor:
        return torch.tensor([p["sets"][s][key] * scale for s in names], dtype=torch.float64)

    params = AdExParams(c_mem=col("C"), g_leak=col("gL"), v_leak=col("EL"), v_th=col("VT"),
                        delta_t=col("DeltaT"), a=col("a"), tau_w=col("tauw", 1e-3), b=col("b"),
                        v_reset=col("Vr"), v_peak=col("Vpeak"))
    k = np.arange(10000)
    current = np.stack([np.where((k >= round(p["sets"][s]["I_on"] / 0.1))
                                 & (k < round(p["sets"][s]["I_off"] / 0.1)), p["sets"][s]["I"], 0.0)
                        for s in names], axis=1)
    net = Network(dtype=torch.float64)
    pop = net.add(Population(params, 3))
    net.inject(pop, ArrayCurrent(torch.tensor(current)))
    st = net.add(StateMonitor(pop, ["w"]))
    sp = net.add(SpikeMonitor(pop))
    net.run(1.0, DT, progress=False)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(sp.steps[sp.ids == i], f[f"{name}_spike_steps_brian2"])
        assert np.abs(st.values("w")[:, i] - f[f"{name}_w_pA_brian2"][1:]).max() <= 1e-3


def test_step_and_array_currents() -> None:
    net = Network(dtype=torch.float64)
    pop = net.add(Population(IFParams(v_th=1e9), 2))
    net.inject(pop, StepCurrent([2e-4, 5e-4], [1.0, -2.0]))
    net.inject(pop, ArrayCurrent(torch.tensor([[0.5, 0.0], [0.0, 0.25]], dtype=torch.float64)))
    st = net.add(StateMonitor(pop, ["v"]))
    net.run(1e-3, DT, progress=False)
    dv = np.diff(np.concatenate([[[0.0, 0.0]], st.values("v")]), axis=0)
    # IF: v += r x dt / c per step, with defaults r = 1, so dv = x * dt / tau-free unit
    x = np.array([[0.5, 0.0], [0.0, 0.25], [1, 1], [1, 1], [1, 1]] + [[-2, -2]] * 5)
    np.testing.assert_allclose(dv / dv[2, 0], x, rtol=1e-9, atol=1e-12)


def test_poisson_source_rate_and_reproducibility() -> None:
    def run(seed: int) -> np.ndarray:
        net = Network(seed=seed)
        src = net.add(PoissonSource(200, 50.0))
        mon = net.add(SpikeMonitor(src))
        net.run(0.2, DT, progress=False)
        assert abs(mon.mean_rate(0.2) - 50.0) < 5 * math.sqrt(50.0 / (200 * 0.2))
        return mon.steps * 1000 + mon.ids

    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def recurrent(seed: int) -> tuple[Network, SpikeMonitor, StateMonitor, RateMonitor]:
    params = LIFParams(tau_mem=20e-3, v_leak=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=5e-3,
                       reset=ResetMode.ZERO)
    net = Network(seed=seed)
    pop = net.add(Population(params, 200, init={"v": lambda g, n: -60 + 10 * torch.rand(
        n, generator=g)}))
    ext = net.add(PoissonSource(200, 100.0))
    net.add(Projection(ext, pop, OneToOne(), weight=2.0, synapse=Exponential(5e-3, "x")))
    net.add(Projection(pop, pop, Bernoulli(0.1), weight=1.0,
                       delay=lambda g, n: 1e-4 + 1e-3 * torch.rand(n, generator=g),
                       synapse=Exponential(5e-3, "e")))
    net.add(Projection(pop, pop, FixedInDegree(10), weight=-4.0, delay=5e-4,
                       synapse=Exponential(10e-3, "i")))
    sp = net.add(SpikeMonitor(pop))
    st = net.add(StateMonitor(pop, ["v", "g_e"], indices=[0, 5, 7], every=3))
    rate = net.add(RateMonitor(pop))
    return net, sp, st, rate


def test_continuing_a_run_equals_one_long_run() -> None:
    net, sp, st, rate = recurrent(3)
    net.run(0.03, DT, progress=False)
    net.run(0.0201, DT, progress=False)
    net.run(0.0299, DT, progress=True)
    one, sp1, st1, rate1 = recurrent(3)
    one.run(0.08, DT, progress=False)
    assert sp.ids.size > 100  # the network is active
    np.testing.assert_array_equal(sp.steps, sp1.steps)
    np.testing.assert_array_equal(sp.ids, sp1.ids)
    np.testing.assert_array_equal(st.values("v"), st1.values("v"))
    np.testing.assert_array_equal(st.values("g_e"), st1.values("g_e"))
    np.testing.assert_array_equal(st.steps, np.arange(0, 800, 3))
    np.testing.assert_array_equal(rate.rate, rate1.rate)
    assert rate.rate.sum() * DT * 200 == pytest.approx(sp.ids.size)
    assert net.step == 800 and net.t == pytest.approx(0.08)
    other, sp2, _, _ = recurrent(4)
    other.run(0.08, DT, progress=False)
    assert not (sp2.ids.size == sp.ids.size and np.array_equal(sp2.ids, sp.ids))


def test_event_count_is_spikes_times_fan_out() -> None:
    net = Network()
    src = net.add(PoissonSource(50, 200.0))
    pop = net.add(Population(FIRE, 30))
    proj = net.add(Projection(src, pop, Bernoulli(0.3), weight=0.0))
    mon = net.add(SpikeMonitor(src))
    stats = net.run(0.05, DT, progress=False)
    assert proj.table is not None
    fan_out = (proj.table.indptr[1:] - proj.table.indptr[:-1]).numpy()
    assert stats.events == int(fan_out[mon.ids].sum()) > 0


def test_save_and_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net, sp, st, rate = recurrent(0)
    net.run(0.02, DT, progress=False)
    path = net.save(tmp_path / "run.npz")
    data = np.load(path)
    np.testing.assert_array_equal(data[f"{sp.name}/ids"], sp.ids)
    np.testing.assert_array_equal(data[f"{st.name}/v"], st.values("v"))
    assert float(data["dt"]) == DT
    labels: list[tuple[str, list[tuple[str, str]]]] = []
    save = plot._save

    def spy(fig: Any, path: str | Path, title: str, dpi: int = 110) -> Path:
        labels.append((title, [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]))
        return save(fig, path, title, dpi)

    monkeypatch.setattr(plot, "_save", spy)
    png = plot.spike_raster([sp], tmp_path / "raster.png", 0.02)
    png2 = plot.state_traces(st, "v", tmp_path / "v.png")
    assert png.stat().st_size > 1000 and png2.stat().st_size > 1000
    (t1, axes1), (t2, axes2) = labels
    assert t1 == "spike raster" and axes1 == [("", "neuron (index)"), ("time (s)", "rate (Hz)")]
    assert t2 == f"v of {st.source.name}" and axes2 == [("time (s)", "v (mV)")]
    with pytest.raises(ValueError, match="pass unit="):
        plot.state_traces(_unknown_unit_monitor(), "w", tmp_path / "x.png")


def _unknown_unit_monitor() -> StateMonitor:
    net = Network()
    pop = net.add(Population(AdExParams(), 3))
    mon = net.add(StateMonitor(pop, ["w"]))
    net.run(5 * DT, DT, progress=False)
    return mon


def test_autapses_switch_in_a_network() -> None:
    net = Network()
    pop = net.add(Population(FIRE, 5))
    p1 = net.add(Projection(pop, pop, AllToAll(autapses=False), weight=1.0))
    net.run(DT, DT, progress=False)
    assert p1.table is not None
    pre, post, _, _ = p1.table.to_arrays()
    assert p1.table.n_synapses == 20 and not bool((pre == post).any())


# ------------------------------------------------------------------------------ bad input


def test_delays_must_be_multiples_of_dt_and_at_least_dt() -> None:
    for delay in (0.5e-4, 1.5e-4):
        net = Network()
        pop = net.add(Population(FIRE, 3))
        net.add(Projection(pop, pop, AllToAll(), weight=1.0, delay=delay))
        with pytest.raises(ValueError, match="delay must be a whole multiple of dt"):
            net.run(1e-3, DT, progress=False)
        assert pop.state is None  # refused before anything was allocated
    with pytest.raises(ValueError, match="delay must be > 0"):
        Projection(pop, pop, AllToAll(), weight=1.0, delay=0.0)
    net = Network()
    pop = net.add(Population(FIRE, 2))
    net.add(Projection(pop, pop, FromArrays([0, 1], [1, 0]), weight=1.0,
                       delay=torch.tensor([1e-4, 2.5e-4])))
    with pytest.raises(ValueError, match="whole multiples"):
        net.run(1e-3, DT, progress=False)


def test_mismatched_arrays_and_types() -> None:
    pop = Population(FIRE, 3)
    with pytest.raises(ValueError, match="one value per synapse"):
        Projection(pop, pop, FromArrays([0, 1], [1, 2]), weight=torch.ones(3))
    with pytest.raises(ValueError, match="needs FromArrays"):
        Projection(pop, pop, AllToAll(), weight=torch.ones(9))
    with pytest.raises(TypeError, match="weight"):
        Projection(pop, pop, AllToAll(), weight="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="post must be a Population"):
        Projection(pop, PoissonSource(3, 1.0), AllToAll(), weight=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k=4"):
        Projection(pop, pop, FixedInDegree(4), weight=1.0)
    with pytest.raises(TypeError, match="params"):
        Population(object(), 3)
    with pytest.raises(ValueError, match="init"):
        Population(FIRE, 3, init={"w": 1.0})
    with pytest.raises(ValueError, match="same length"):
        SpikeGenerator(2, [0, 1], [0.1])
    with pytest.raises(ValueError, match="rate"):
        PoissonSource(2, -1.0)
    net = Network()
    pop2 = net.add(Population(FIRE, 3))
    with pytest.raises(ValueError, match="amplitude"):
        net.inject(pop2, ConstantCurrent(torch.ones(4)))
    with pytest.raises(ValueError, match="add"):
        net.add(Projection(pop, pop2, AllToAll(), weight=1.0))


def test_run_arguments() -> None:
    net = Network()
    net.add(Population(FIRE, 2))
    with pytest.raises(ValueError, match="duration"):
        net.run(1.5e-4, DT, progress=False)
    with pytest.raises(ValueError, match="dt"):
        net.run(1e-3, 0.0, progress=False)
    net.run(1e-3, DT, progress=False)
    with pytest.raises(ValueError, match="dt must stay"):
        net.run(1e-3, 2 * DT, progress=False)
    with pytest.raises(ValueError, match="already run"):
        net.add(Population(FIRE, 2))


def test_memory_estimate_refuses_too_large_networks() -> None:
    net = Network(memory_limit=10_000_000)
    pop = net.add(Population(FIRE, 100_000))
    net.add(Projection(pop, pop, FixedInDegree(100), weight=1.0))
    with pytest.raises(ValueError, match=r"needs about .* GiB \(\d+ bytes\)"):
        net.run(1e-3, DT, progress=False)
    assert pop.state is None
    assert net.estimate_memory() > 100_000 * 100 * 4


def test_mean_rate_leaves_out_a_transient() -> None:
    net = Network()
    # neuron 0 fires at 1, 2, 5 and 8 ms; neuron 1 at 3 ms: 5 spikes, 2 of them at t >= 5 ms
    gen = net.add(SpikeGenerator(2, [0, 0, 1, 0, 0], [1e-3, 2e-3, 3e-3, 5e-3, 8e-3]))
    mon = net.add(SpikeMonitor(gen))
    net.run(10e-3, DT, progress=False)
    assert mon.mean_rate(10e-3) == pytest.approx(5 / (2 * 10e-3))
    assert mon.mean_rate(10e-3, start=5e-3) == pytest.approx(2 / (2 * 5e-3))
    with pytest.raises(ValueError, match="start must be in"):
        mon.mean_rate(10e-3, start=10e-3)


def _count_check_dt(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace every module's reference to ``axonal.functional.validate.check_dt`` by a counting one."""
    import sys

    from axonal.functional import validate as _validate

    original = _validate.check_dt
    calls: list[float] = []

    def counting(dt: Any) -> float:
        calls.append(dt)
        return original(dt)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("axonal") and \
                getattr(module, "check_dt", None) is original:
            monkeypatch.setattr(module, "check_dt", counting)
    return calls


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_dt_is_validated_once_per_run_not_per_step(monkeypatch: pytest.MonkeyPatch,
                                                    backend: str) -> None:
    net = Network(backend=backend)
    src = net.add(PoissonSource(20, 500.0))
    pop = net.add(Population(FIRE, 10))
    for syn in (Exponential(5e-3, "e"), Conductance(3e-3, 5.0, "c"), Delta("d")):
        net.add(Projection(src, pop, Bernoulli(0.5), weight=0.2, synapse=syn))
    mon = net.add(StateMonitor(pop, ["v"])) if backend == "torch" else net.add(SpikeMonitor(pop))
    calls = _count_check_dt(monkeypatch)
    net.run(10 * DT, DT, progress=False)
    assert calls == [DT]  # 3 channels x 10 steps before: 30 calls
    net.run(100 * DT, DT, progress=False)
    assert calls == [DT, DT]
    assert net.backend_used == backend and mon.name
    with pytest.raises(ValueError, match="dt must be finite"):
        net.run(DT, -DT, progress=False)


def test_family_limits_on_dt_are_checked_at_the_run_boundary() -> None:
    net = Network()
    net.add(Population(AdExParams(), 3))
    with pytest.raises(ValueError, match="tau_w|membrane time constant"):
        net.run(0.4, 0.2, progress=False)  # AdEx's forward Euler needs dt < tau_w
    assert net.dt is None and net.step == 0  # nothing was built or stepped
