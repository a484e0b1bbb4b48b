"""One LIF neuron with an exponential current synapse against NEST's ``iaf_psc_exp`` (exact
integration of the same linear system): identical spikes, membranes within 1e-9 mV.

Mapping (as in the project's shared ``reference/README.md``): NEST stamps a spike of step ``k``
at ``(k + 1) dt``; a spike a ``spike_generator`` emits at ``t`` with delay ``dt`` jumps the
synaptic current at ``t + dt``, so axonal's generator spike of step ``k`` (which jumps ``g`` at
the end of step ``k + 1``) is NEST's spike at ``(k + 1) dt``; NEST clamps the membrane for one
more step after a spike, so its ``t_ref`` is axonal's minus ``dt``; NEST's multimeter sample at
``k dt`` is the state after step ``k - 1``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from axonal.functional.neurons import LIFParams, ResetMode
from axonal.sim import (
    ConstantCurrent,
    Exponential,
    FromArrays,
    Network,
    Population,
    Projection,
    SpikeGenerator,
    SpikeMonitor,
    StateMonitor,
)

DT_MS = 0.1
STEPS = 3000
TAU_M, C_M, E_L, V_TH, V_RESET, TAU_S, I_E = 12.0, 250.0, -65.0, -50.0, -60.0, 3.0, 300.0
# ms, pF, mV, mV, mV, ms, pA


def drive() -> tuple[np.ndarray, np.ndarray]:
    """600 input spikes (steps) with weights (pA) from -300 to 600."""
    rng = np.random.default_rng(0)
    steps = np.sort(rng.choice(np.arange(5, STEPS - 10), size=600, replace=False))
    return steps, rng.uniform(-300.0, 600.0, size=steps.size)


def nest_run(t_ref_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import nest

    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT_MS
    steps, weights = drive()
    neuron = nest.Create("iaf_psc_exp", params={
        "tau_m": TAU_M, "C_m": C_M, "E_L": E_L, "V_th": V_TH, "V_reset": V_RESET,
        "tau_syn_ex": TAU_S, "tau_syn_in": TAU_S, "I_e": I_E, "V_m": E_L,
        "t_ref": max(t_ref_ms - DT_MS, 0.0)})
    gen = nest.Create("spike_generator", params={
        "spike_times": np.round((steps + 1) * DT_MS, 1).tolist(),
        "spike_weights": weights.tolist()})
    nest.Connect(gen, neuron, syn_spec={"delay": DT_MS, "weight": 1.0})
    meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": DT_MS})
    nest.Connect(meter, neuron)
    recorder = nest.Create("spike_recorder")
    nest.Connect(neuron, recorder)
    nest.Simulate((STEPS + 1) * DT_MS)
    events = meter.get("events")
    return (np.asarray(recorder.get("events")["times"]), np.asarray(events["times"]),
            np.asarray(events["V_m"]))


def axonal_run(t_ref_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps, weights = drive()
    dt = DT_MS * 1e-3
    net = Network(dtype=torch.float64)
    gen = net.add(SpikeGenerator(steps.size, np.arange(steps.size), torch.from_numpy(steps * dt)))
    params = LIFParams(tau_mem=TAU_M * 1e-3, v_leak=E_L, v_th=V_TH, v_reset=V_RESET,
                       r=TAU_M / C_M * 1e3, t_ref=t_ref_ms * 1e-3, reset=ResetMode.ZERO)
    pop = net.add(Population(params, 1))
    net.inject(pop, ConstantCurrent(I_E / 1000.0))
    net.add(Projection(gen, pop, FromArrays(torch.arange(steps.size),
                                            torch.zeros(steps.size, dtype=torch.int64)),
                       weight=torch.from_numpy(weights / 1000.0), delay=dt,
                       synapse=Exponential(TAU_S * 1e-3, "s")))
    states = net.add(StateMonitor(pop, ["v"]))
    spikes = net.add(SpikeMonitor(pop))
    net.run(STEPS * dt, dt, progress=False)
    return (spikes.steps + 1) * DT_MS, states.times * 1e3, states.values("v")[:, 0]


@pytest.mark.parametrize("t_ref_ms", [0.0, 2.0])
def test_lif_with_exponential_synapse_matches_nest_iaf_psc_exp(t_ref_ms: float) -> None:
    pytest.importorskip("nest")
    nest_spikes, nest_t, nest_v = nest_run(t_ref_ms)
    spikes, t, v = axonal_run(t_ref_ms)
    assert spikes.size > 50
    np.testing.assert_allclose(spikes, nest_spikes, rtol=0, atol=1e-9)
    common, ours, theirs = np.intersect1d(np.round(t / DT_MS).astype(np.int64),
                                          np.round(nest_t / DT_MS).astype(np.int64),
                                          return_indices=True)
    assert common.size >= STEPS - 1
    np.testing.assert_allclose(v[ours], nest_v[theirs], rtol=0, atol=1e-9)
