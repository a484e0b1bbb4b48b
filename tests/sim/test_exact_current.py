"""A LIF population with an exponential current channel is a CubaLIF neuron: the same spikes and
membrane in the functional step (``cuba_lif_step``), the ``axonal.nn`` layer and the simulator
(torch loop in float64, native loop in float32), with a refractory period."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from axonal.functional.neurons import (
    CubaLIFParams,
    CubaLIFState,
    LIFParams,
    ResetMode,
    cuba_lif_step,
)
from axonal.nn import CubaLIF
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
    native,
)

DT = 1e-4
STEPS = 2000
DELAY = 2  # steps
HELD = 0.2  # nA: a constant injected current (v_inf = -57 mV, below threshold)
NEURON = dict(tau_mem=12e-3, v_leak=-65.0, v_th=-50.0, v_reset=-60.0, r=40.0, t_ref=2.35e-3)
TAU_SYN = 3e-3


def inputs(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Spike steps of 40 input neurons (about 60 Hz each) and the weight (nA) of each."""
    rng = np.random.default_rng(seed)
    steps = np.sort(rng.integers(0, STEPS - DELAY - 1, size=STEPS * 7 // 3))
    weights = rng.uniform(-0.3, 0.9, size=40)
    return steps, weights


def arrivals() -> np.ndarray:
    """The current jump (nA) added at the end of each step: the input spikes of step k arrive
    at the end of step k + DELAY."""
    steps, weights = inputs()
    ids = np.arange(steps.size) % weights.size
    jump = np.zeros(STEPS)
    np.add.at(jump, steps + DELAY, weights[ids])
    return jump


def functional(reset: ResetMode) -> tuple[np.ndarray, np.ndarray]:
    """``cuba_lif_step`` with input ``HELD`` from ``i = HELD`` (so ``i - HELD`` is the
    simulator's ``g``); the arrivals jump ``i``. Returns spike steps and ``v`` after each step."""
    params = CubaLIFParams(tau_syn=TAU_SYN, reset=reset, **NEURON)
    jump = torch.from_numpy(arrivals())
    x = torch.full((1,), HELD, dtype=torch.float64)
    state = CubaLIFState(v=torch.full((1,), NEURON["v_leak"], dtype=torch.float64),
                         i=x.clone(), refractory=torch.zeros(1, dtype=torch.float64))
    spikes, v = [], []
    for k in range(STEPS):
        z, state = cuba_lif_step(x, state, params, DT)
        state = state._replace(i=state.i + jump[k])
        if float(z) > 0:
            spikes.append(k)
        v.append(float(state.v))
    return np.array(spikes), np.array(v)


def layer(reset: ResetMode) -> np.ndarray:
    """The ``CubaLIF`` layer run forward between arrivals (the state carried over, ``i``
    jumped); returns the spike steps."""
    net = CubaLIF(CubaLIFParams(tau_syn=TAU_SYN, reset=reset, **NEURON), dt=DT)
    jump = arrivals()
    cuts = [0, *(np.nonzero(jump)[0] + 1).tolist(), STEPS]
    x = torch.full((STEPS, 1, 1), HELD, dtype=torch.float64)
    state: Any = CubaLIFState(v=torch.full((1, 1), NEURON["v_leak"], dtype=torch.float64),
                              i=torch.full((1, 1), HELD, dtype=torch.float64),
                              refractory=torch.zeros(1, 1, dtype=torch.float64))
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if b <= a:
            continue
        z, state = net(x[a:b], state)
        out.append(z.reshape(-1))
        state = state._replace(i=state.i + float(jump[b - 1]))
    return np.nonzero(torch.cat(out).numpy())[0]


def simulator(reset: ResetMode, dtype: torch.dtype, backend: str
              ) -> tuple[Network, np.ndarray, np.ndarray | None]:
    """One LIF neuron, the constant current and the input spikes through an exponential
    channel (``tau = TAU_SYN``)."""
    steps, weights = inputs()
    net = Network(dtype=dtype, backend=backend)
    gen = net.add(SpikeGenerator(weights.size, np.arange(steps.size) % weights.size,
                                 torch.from_numpy(steps * DT)))
    pop = net.add(Population(LIFParams(reset=reset, **NEURON), 1))
    net.inject(pop, ConstantCurrent(HELD))
    net.add(Projection(gen, pop, FromArrays(torch.arange(weights.size), torch.zeros(
        weights.size, dtype=torch.int64)), weight=torch.from_numpy(weights), delay=DELAY * DT,
        synapse=Exponential(TAU_SYN, "s")))
    mon = net.add(SpikeMonitor(pop))
    st = net.add(StateMonitor(pop, ["v"])) if backend == "torch" else None
    net.run(STEPS * DT, DT, progress=False)
    return net, mon.steps, None if st is None else st.values("v")[:, 0]


@pytest.mark.parametrize("reset", [ResetMode.ZERO, ResetMode.SUBTRACT])
def test_lif_with_exponential_channel_is_cuba_lif(reset: ResetMode) -> None:
    spikes, v = functional(reset)
    assert spikes.size > 25  # many spikes, each followed by a refractory period
    assert (np.diff(spikes) < 30).any()  # some soon after the refractory period ends
    np.testing.assert_array_equal(layer(reset), spikes)
    net, sim_spikes, sim_v = simulator(reset, torch.float64, "torch")
    assert net.backend_used == "torch" and sim_v is not None
    np.testing.assert_array_equal(sim_spikes, spikes)
    np.testing.assert_allclose(sim_v, v, rtol=0, atol=1e-9)


@pytest.mark.skipif(not native.native_available(), reason="no C compiler here")
@pytest.mark.parametrize("reset", [ResetMode.ZERO, ResetMode.SUBTRACT])
def test_native_loop_gives_the_cuba_lif_spikes(reset: ResetMode) -> None:
    """The native loop (float32) fires on the same steps as the float64 CubaLIF neuron."""
    net, sim_spikes, _ = simulator(reset, torch.float32, "native")
    assert net.backend_used == "native"
    np.testing.assert_array_equal(sim_spikes, functional(reset)[0])
