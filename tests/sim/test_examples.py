"""Reference networks at small scale, and the ``axonal simulate`` command."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from axonal.cli import main
from axonal.sim.examples import build_brunel, run_example


@pytest.mark.parametrize("name", ["cuba", "coba", "cuba-indegree"])
def test_small_examples_are_active_and_irregular(name: str) -> None:
    r = run_example(name, duration=0.1, seed=0, progress=False, scale=0.25)
    assert r.neurons == 1000 and r.synapses > 0
    for pop, hz in r.rates_hz.items():
        assert 0.5 < hz < 200.0, (pop, hz)
    assert r.events > 0 and r.table_bytes < 5 * r.synapses + 8 * 2 * 4 * 1001


def test_brunel_structure_and_activity() -> None:
    net, mons = build_brunel(n_e=400, seed=0)
    net.run(0.1, 1e-4, progress=False)
    recurrent = [p for p in net.projections if p.pre in (mons[0].source, mons[1].source)]
    for p in recurrent:
        assert p.table is not None
        _, post, _, delay = p.table.to_arrays()
        k = 40 if p.pre is mons[0].source else 10
        assert np.all(np.bincount(post.numpy(), minlength=p.post.n) == k)
        assert np.all(delay.numpy() == 15)
    rate = mons[0].mean_rate(0.1)
    assert 1.0 < rate < 300.0 and math.isfinite(rate)


def test_cli_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "cuba", "--duration", "0.02", "--scale", "0.1", "--out",
                 str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "400 neurons" in out and "mean rate" in out and "loop" in out
    assert (tmp_path / "cuba_raster.png").stat().st_size > 1000
    data = np.load(tmp_path / "cuba_spikes.npz")
    assert "spikes_E/ids" in data.files


def test_cli_simulate_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "cuba", "--duration", "0.00015", "--no-progress"]) == 2
    assert "duration" in capsys.readouterr().err
    assert main(["simulate", "coba", "--scale", "-1", "--no-progress"]) == 2
    assert "scale" in capsys.readouterr().err


def test_microcircuit_structure_at_small_scale() -> None:
    from axonal.sim.examples import MICROCIRCUIT_SIZES, build_microcircuit

    net, mons = build_microcircuit(scale=0.002, seed=0)
    assert [m.source.n for m in mons] == [int(round(n * 0.002)) for n in MICROCIRCUIT_SIZES]
    net.run(0.005, 1e-4, progress=False)
    recurrent = [p for p in net.projections if p.pre in [m.source for m in mons]]
    assert len(recurrent) == 55  # 64 pairs minus the nine with p = 0
    l4e_l23e = next(p for p in recurrent if p.pre.name == "L4E" and p.post.name == "L23E")
    l23e_l23e = next(p for p in recurrent if p.pre.name == "L23E" and p.post.name == "L23E")
    l23i_l23e = next(p for p in recurrent if p.pre.name == "L23I" and p.post.name == "L23E")
    w = {}
    for name, p in (("l4e", l4e_l23e), ("l23e", l23e_l23e), ("l23i", l23i_l23e)):
        assert p.table is not None
        _, _, weight, delay = p.table.to_arrays()
        w[name] = float(weight.mean())
        assert int(delay.min()) >= 1
    assert w["l4e"] == pytest.approx(2 * w["l23e"], rel=0.05)
    assert w["l23i"] == pytest.approx(-4 * w["l23e"], rel=0.05)
    assert sum(m.ids.size for m in mons) > 0


def test_published_microcircuit_rates_cover_every_population() -> None:
    from axonal.sim.examples import MICROCIRCUIT_POPULATIONS, published_rates

    refs = published_rates("microcircuit")
    assert set(refs) == {"Potjans & Diesmann 2014", "NetPyNE 2021"}
    assert list(refs["NetPyNE 2021"]) == list(MICROCIRCUIT_POPULATIONS)
    assert list(refs["Potjans & Diesmann 2014"]) == ["L23E", "L4E", "L5E", "L6E"]
    for rates in refs.values():  # L2/3 E lowest, and every inhibitory above its layer's E
        assert min(rates.values()) == rates["L23E"]
        for layer in ("L23", "L4", "L5", "L6"):
            if layer + "I" in rates:
                assert rates[layer + "I"] > rates[layer + "E"]
    assert published_rates("cuba") == {}


def test_cli_simulate_microcircuit_prints_published_rates(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["simulate", "microcircuit", "--duration", "0.3", "--scale", "0.004", "--out",
                 str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "rates over [0.1, 0.3] s" in out
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if "mean rate" in line}
    assert set(lines) == {"L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"}
    assert "Potjans & Diesmann 2014 0.86 Hz" in lines["L23E"] and "NetPyNE 2021 0.90" in lines["L23E"]
    assert "Potjans & Diesmann" not in lines["L23I"] and "NetPyNE 2021 2.80" in lines["L23I"]
    assert "published rates are for the full-scale model" in out


@pytest.mark.parametrize("name", ["cuba", "coba", "cuba-indegree", "brunel", "microcircuit"])
def test_recipes_state_the_same_network_at_any_dt(name: str) -> None:
    """``dt`` changes the resolution, not the network: the same synapses, the same stated
    weights and delays; the tables hold the delays in steps of that dt (the same seconds, or
    within the grid for drawn delays) and the weights times their synapse model's factor."""
    import inspect

    from axonal.sim.examples import EXAMPLES, build_example

    assert "dt" not in inspect.signature(EXAMPLES[name]).parameters
    scale = {"brunel": 0.01, "microcircuit": 0.002}.get(name, 0.05)
    nets = {}
    for dt in (1e-4, 5e-5):
        net, _ = build_example(name, seed=2, scale=scale)
        net.run(2e-4, dt, progress=False)
        nets[dt] = net
    coarse, fine = nets[1e-4].projections, nets[5e-5].projections
    assert len(coarse) == len(fine) > 0
    for pc, pf in zip(coarse, fine):
        assert pc.synapse == pf.synapse
        assert pc.weight == pf.weight and pc.delay == pf.delay  # floats or ClippedNormal records
        assert pc.table is not None and pf.table is not None
        pre_c, post_c, w_c, d_c = pc.table.to_arrays()
        pre_f, post_f, w_f, d_f = pf.table.to_arrays()
        assert torch.equal(pre_c, pre_f) and torch.equal(post_c, post_f)
        factor_c = pc.synapse.weight_factor(1e-4, pc.post.params)
        factor_f = pf.synapse.weight_factor(5e-5, pf.post.params)
        torch.testing.assert_close(w_c.double() / factor_c, w_f.double() / factor_f,
                                   rtol=1e-6, atol=0.0)
        seconds_c, seconds_f = d_c.double() * 1e-4, d_f.double() * 5e-5
        if isinstance(pc.delay, float):
            torch.testing.assert_close(seconds_c, seconds_f, rtol=1e-9, atol=0.0)
            assert int(d_f[0]) == 2 * int(d_c[0])
        else:  # drawn delays: each rounded to its own grid (and raised to one step)
            assert float((seconds_c - seconds_f).abs().max()) <= 0.75e-4 + 1e-12
            assert bool((d_f % 2 == 1).any())  # the finer grid is used
    if name == "brunel":  # the jump of a J = 0.1 mV synapse is 0.1 mV at both dt
        lif = coarse[1].post.params
        for dt, proj in ((1e-4, coarse[1]), (5e-5, fine[1])):
            assert proj.table is not None
            w = float(proj.table.weight)
            assert w * lif.r * (1 - math.exp(-dt / lif.tau_mem)) == pytest.approx(0.1, rel=1e-6)
    if name == "microcircuit":  # amplitudes of exact exponential currents, stored as stated
        for proj in coarse:
            assert proj.synapse.weight_factor(1e-4, proj.post.params) == 1.0
