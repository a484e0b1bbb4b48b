"""The vectorised native LIF / ALIF loop: every code path (LIF or ALIF, uniform / per-neuron
parameters, with and without refractoriness, each reset mode, block and tail boundaries)
against the torch path, spike order and refractory periods (Brian2's count of refractory steps,
also for t_ref off the step grid; the build cache: tests/test_native_build.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from axonal.functional.neurons import ALIFParams, LIFParams, ResetMode
from axonal.functional.neurons.refractory import refractory_steps
from axonal.sim import (
    ConstantCurrent,
    Exponential,
    FixedInDegree,
    Network,
    Population,
    Projection,
    SpikeMonitor,
    native,
)

pytestmark = pytest.mark.skipif(not native.native_available(), reason="no C compiler here")
DT = 1e-4
N = 700  # one full block of 512 neurons, then a tail of 188 = 23 * 8 + 4
T_REF = {"lif": 2e-3, "alif": 2.37e-3}  # 20 steps; 23 (Brian2 truncates 23.7)


def variants(backend: str, long_delays: bool = False, family: str = "lif"
             ) -> tuple[Network, list[tuple[Population, SpikeMonitor]]]:
    """Twelve populations of ``family``: uniform or per-neuron parameters x refractory or not
    x the three reset modes, strongly driven (several spikes per step) and coupled to each
    other. Delays of one step (the native loop updates the neurons two steps per pass), or of
    4 to 9 steps per synapse and 5 steps (five steps per pass)."""
    net = Network(seed=11, backend=backend)
    pops = []
    for uniform in (True, False):
        for t_ref in (T_REF[family], 0.0):
            for reset in (ResetMode.SUBTRACT, ResetMode.ZERO, ResetMode.NONE):
                v_th = 1.0 if uniform else torch.linspace(0.8, 1.2, N)
                params: LIFParams | ALIFParams
                if family == "alif":
                    params = ALIFParams(tau_mem=10e-3, v_th=v_th, v_reset=0.1, t_ref=t_ref,
                                        reset=reset, tau_adapt=30e-3 if uniform else
                                        torch.linspace(10e-3, 50e-3, N),
                                        delta_th=0.05 if uniform else torch.linspace(0, 0.1, N))
                else:
                    params = LIFParams(tau_mem=10e-3, v_th=v_th, v_reset=0.1, t_ref=t_ref,
                                       reset=reset)
                pop = net.add(Population(
                    params, N, name=f"u{int(uniform)}r{int(t_ref > 0)}{reset.name}",
                    init={"v": lambda g, n: 1.2 * torch.rand(n, generator=g)}))
                # uniform: from reset to threshold in ~8 steps; per-neuron: from subthreshold
                # to firing as soon as the refractory period ends (~1.5 mV per step)
                drive = 12.0 if uniform else torch.linspace(0.5, 150.0, N)
                net.inject(pop, ConstantCurrent(drive))
                pops.append(pop)
    for i, post in enumerate(pops):
        pre = pops[(i + 5) % len(pops)]
        inh_delay = ((lambda g, n: (4 + torch.randint(0, 6, (n,), generator=g)) * DT)
                     if long_delays else 3 * DT)
        net.add(Projection(pre, post, FixedInDegree(8), weight=-0.02, delay=inh_delay,
                           synapse=Exponential(4e-3, "i")))
        net.add(Projection(post, post, FixedInDegree(4), weight=0.2,
                           delay=5 * DT if long_delays else DT,
                           synapse=Exponential(2e-3, "e")))
    return net, [(pop, net.add(SpikeMonitor(pop))) for pop in pops]


Pairs = list[tuple[Population, SpikeMonitor]]


@pytest.fixture(scope="module", params=[("lif", False), ("lif", True), ("alif", False)],
                ids=["delay1", "delay4to9", "alif"])
def native_run(request: pytest.FixtureRequest) -> tuple[Network, Pairs, tuple[str, bool]]:
    family, long_delays = request.param
    net, pairs = variants("native", long_delays, family)
    # 123 + 77 steps: passes of 2 (or 5) steps end mid-way; the continuation closes the
    # deferred channel update and starts again
    net.run(0.0123, DT, progress=False)
    net.run(0.0077, DT, progress=False)
    assert net.backend_used == "native"
    assert net._runner is not None and net._runner.t_block == (5 if long_delays else 2)
    return net, pairs, request.param


def test_every_loop_variant_equals_torch_path(
        native_run: tuple[Network, Pairs, tuple[str, bool]]) -> None:
    _, pn, (family, long_delays) = native_run
    ref, pt = variants("torch", long_delays, family)
    ref.run(0.02, DT, progress=False)
    assert ref.backend_used == "torch"
    for (pa, ma), (pb, mb) in zip(pn, pt):
        assert mb.ids.size > 3 * N, pa.name  # several spikes per neuron
        assert (mb.ids >= 512).any(), pa.name  # the tail block spikes too
        np.testing.assert_array_equal(ma.steps, mb.steps, err_msg=pa.name)
        np.testing.assert_array_equal(ma.ids, mb.ids, err_msg=pa.name)
        assert torch.equal(pa.state.v, pb.state.v), pa.name
        assert torch.equal(pa.state.refractory, pb.state.refractory), pa.name
        if family == "alif":
            assert torch.equal(pa.state.a, pb.state.a), pa.name
            assert float(pb.state.a.max()) > 0.1, pa.name  # the adaptation is at work
        for name in ("g_e", "g_i"):
            assert torch.equal(pa.variable(name), pb.variable(name)), (pa.name, name)


def test_spike_order_and_refractory_periods(
        native_run: tuple[Network, Pairs, tuple[str, bool]]) -> None:
    for pop, mon in native_run[1]:
        steps, ids = mon.steps, mon.ids
        # ascending ids within a step, steps in order, no neuron twice in a step
        key = steps.astype(np.int64) * N + ids
        assert (np.diff(key) > 0).all(), pop.name
        assert (np.bincount(steps)[steps] > 1).any(), pop.name  # several spikes per step
        order = np.lexsort((steps, ids))
        same = np.diff(ids[order]) == 0
        isi = np.diff(steps[order])[same]
        n_ref = refractory_steps(pop.params.t_ref, DT)
        if pop.params.t_ref > 0:
            # t_ref = 20 (LIF) or 23.7 (ALIF) steps: a neuron fires again 20 (23: Brian2
            # truncates) steps after a spike at the earliest, and the strongest drive of the
            # per-neuron populations makes it do so
            assert n_ref == (20 if native_run[2][0] == "lif" else 23)
            assert isi.min() >= n_ref, pop.name
            assert isi.min() == n_ref or not isinstance(pop.params.v_th, torch.Tensor), pop.name
        else:
            assert isi.min() < 20, pop.name
