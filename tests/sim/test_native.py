"""The native (C) loop against the torch path: identical spikes and states, same semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from axonal.functional.neurons import LIFParams, ResetMode
from axonal.sim import (
    Bernoulli,
    Conductance,
    ConstantCurrent,
    Delta,
    Exponential,
    FixedInDegree,
    Network,
    OneToOne,
    PoissonSource,
    Population,
    Projection,
    RateMonitor,
    SpikeGenerator,
    SpikeMonitor,
    StateMonitor,
)
from axonal.sim.native import native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="no C compiler here")
DT = 1e-4


def mixed(backend: str, poisson: bool = False) -> tuple[Network, list[SpikeMonitor], RateMonitor]:
    """Every feature of the native path: two LIF populations (zero / subtract reset, with and
    without refractoriness), constant currents, generator input, current, conductance and
    delta synapses, random weights and delays."""
    net = Network(seed=5, backend=backend)
    a = net.add(Population(LIFParams(tau_mem=20e-3, v_leak=-49.0, v_th=-50.0, v_reset=-60.0,
                                     t_ref=2e-3, reset=ResetMode.ZERO), 300, name="A",
                           init={"v": lambda g, n: -60 + 10 * torch.rand(n, generator=g)}))
    b = net.add(Population(LIFParams(tau_mem=torch.linspace(5e-3, 20e-3, 100), v_th=1.0,
                                     r=50.0, reset=ResetMode.SUBTRACT), 100, name="B"))
    net.inject(b, ConstantCurrent(torch.linspace(0.0, 0.08, 100)))
    net.inject(a, ConstantCurrent(-0.5))
    gen = net.add(SpikeGenerator(20, torch.arange(200) % 20, torch.arange(200) * 2e-4 + 1e-4))
    net.add(Projection(gen, b, Bernoulli(0.3), weight=0.05, delay=2e-4, synapse=Delta()))
    net.add(Projection(a, a, Bernoulli(0.05), weight=lambda g, n: 1.5 * torch.rand(n, generator=g),
                       delay=lambda g, n: 1e-4 + 2e-3 * torch.rand(n, generator=g),
                       synapse=Exponential(5e-3, "e")))
    net.add(Projection(a, a, FixedInDegree(10), weight=-6.0, delay=8e-4,
                       synapse=Exponential(10e-3, "i")))
    net.add(Projection(b, a, FixedInDegree(5), weight=0.01, delay=1e-4,
                       synapse=Conductance(3e-3, 0.0, "c")))
    net.add(Projection(a, b, Bernoulli(0.1), weight=0.02, delay=3e-4,
                       synapse=Conductance(5e-3, -80.0, "c")))
    if poisson:
        src = net.add(PoissonSource(300, 3000.0))
        net.add(Projection(src, a, OneToOne(), weight=0.3, synapse=Exponential(5e-3, "e")))
    mons = [net.add(SpikeMonitor(a)), net.add(SpikeMonitor(b, indices=range(0, 100, 3)))]
    return net, mons, net.add(RateMonitor(b))


def test_native_equals_torch_path() -> None:
    nat, mn, rn = mixed("native")
    ref, mt, rt = mixed("torch")
    nat.run(0.05, DT, progress=False)
    ref.run(0.05, DT, progress=False)
    assert nat.backend_used == "native" and ref.backend_used == "torch"
    for a, b in zip(mn, mt):
        assert b.ids.size > 20
        np.testing.assert_array_equal(a.steps, b.steps)
        np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(rn.rate, rt.rate)
    for pa, pb in zip(nat.sources[:2], ref.sources[:2]):
        assert isinstance(pa, Population) and isinstance(pb, Population)
        assert torch.equal(pa.state.v, pb.state.v)
        assert torch.equal(pa.state.refractory, pb.state.refractory)
        for name in ("g_e", "g_i", "g_c"):
            try:
                assert torch.equal(pa.variable(name), pb.variable(name)), name
            except ValueError:
                pass


def test_native_continuation_and_seed_with_poisson() -> None:
    one, m1, r1 = mixed("native", poisson=True)
    one.run(0.04, DT, progress=False)
    two, m2, r2 = mixed("native", poisson=True)
    two.run(0.0123, DT, progress=False)
    two.run(0.0277, DT, progress=True)
    assert m1[0].ids.size > 50
    np.testing.assert_array_equal(m1[0].steps, m2[0].steps)
    np.testing.assert_array_equal(m1[0].ids, m2[0].ids)
    np.testing.assert_array_equal(r1.rate, r2.rate)
    three, m3, _ = mixed("native", poisson=True)
    three.seed = 6
    three.generator.manual_seed(6)
    three.run(0.04, DT, progress=False)
    assert not np.array_equal(m3[0].ids, m1[0].ids)


def test_backend_choice_and_fallback() -> None:
    with pytest.raises(ValueError, match="backend must be"):
        Network(backend="cuda")
    net = Network(backend="native")
    pop = net.add(Population(LIFParams(), 3))
    net.add(StateMonitor(pop, ["v"]))
    with pytest.raises(ValueError, match="StateMonitor needs the torch backend"):
        net.run(1e-3, DT, progress=False)
    auto = Network()
    pop = auto.add(Population(LIFParams(), 3))
    auto.add(StateMonitor(pop, ["v"]))
    auto.run(1e-3, DT, progress=False)
    assert auto.backend_used == "torch"
    f64 = Network(dtype=torch.float64)
    f64.add(Population(LIFParams(), 3))
    f64.run(1e-3, DT, progress=False)
    assert f64.backend_used == "torch"
