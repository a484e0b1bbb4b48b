"""Synapse models: what a stated weight becomes on the grid of dt, and the draws of recipes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from axonal.functional.neurons import IzhikevichParams, LIFParams
from axonal.functional.plasticity import STDPParams
from axonal.sim import (
    ClippedNormal,
    Delta,
    Exponential,
    Network,
    OneToOne,
    Population,
    Projection,
    ProjectionLearner,
    SpikeGenerator,
    StateMonitor,
)

QUIET = LIFParams(tau_mem=10e-3, v_leak=0.0, v_th=1e9, v_reset=0.0, r=2.0)


def test_held_current_factor_is_the_exact_charge_ratio() -> None:
    syn = Exponential(0.5e-3, "s", exact_charge=True)
    for dt in (1e-4, 5e-5, 1e-5):
        decay = math.exp(-dt / syn.tau)
        # a held current w c decaying by `decay` per step carries w c dt / (1 - decay)
        assert syn.held_current_factor(dt) * dt / (1 - decay) == pytest.approx(syn.tau)
        assert syn.weight_factor(dt, QUIET) == syn.held_current_factor(dt)
        assert Exponential(0.5e-3).weight_factor(dt, QUIET) == 1.0
    assert syn.held_current_factor(1e-4) == pytest.approx(0.9063, abs=1e-4)
    assert syn.rescales_weights and not Exponential(0.5e-3).rescales_weights


@pytest.mark.parametrize("dt", [1e-4, 5e-5])
def test_exact_charge_synapse_carries_the_same_charge_at_any_dt(dt: float) -> None:
    net = Network(dtype=torch.float64, backend="torch")
    gen = net.add(SpikeGenerator(1, [0], [1e-3]))
    pop = net.add(Population(QUIET, 1))
    syn = Exponential(0.5e-3, "s", exact_charge=True)
    net.add(Projection(gen, pop, OneToOne(), weight=0.3, delay=2e-4, synapse=syn))
    g = net.add(StateMonitor(pop, ["g_s"]))
    net.run(20e-3, dt, progress=False)
    charge = float(g.values("g_s").sum()) * dt  # nA s
    assert charge == pytest.approx(0.3 * 0.5e-3, rel=1e-6)
    first = int(np.argmax(g.values("g_s")[:, 0] > 0))
    # spike at step k, delay d steps: g holds it after step k + d + 1 (sampled at its end)
    assert g.times[first] == pytest.approx(1e-3 + 2e-4 + 2 * dt)


@pytest.mark.parametrize("dt", [1e-4, 5e-5])
def test_delta_jump_moves_a_leaky_membrane_by_the_weight(dt: float) -> None:
    net = Network(dtype=torch.float64, backend="torch")
    gen = net.add(SpikeGenerator(1, [0], [1e-3]))
    pop = net.add(Population(QUIET, 1))
    net.add(Projection(gen, pop, OneToOne(), weight=0.7, delay=1e-4,
                       synapse=Delta("d", jump=True)))
    v = net.add(StateMonitor(pop, ["v"]))
    net.run(3e-3, dt, progress=False)
    trace = v.values("v")[:, 0]
    k = int(np.argmax(trace > 0))
    assert trace[k] == pytest.approx(0.7, rel=1e-9)  # the jump, exactly, at the end of a step
    assert v.times[k] == pytest.approx(1e-3 + 1e-4 + 2 * dt)
    assert Delta("d", jump=True).weight_factor(dt, QUIET) == pytest.approx(
        1 / (2.0 * (1 - math.exp(-dt / 10e-3))))


def test_delta_jump_needs_a_leaky_target() -> None:
    net = Network()
    gen = net.add(SpikeGenerator(1, [0], [0.0]))
    pop = net.add(Population(IzhikevichParams(), 1))
    net.add(Projection(gen, pop, OneToOne(), weight=1.0, synapse=Delta(jump=True)))
    with pytest.raises(ValueError, match="scalar tau_mem"):
        net.run(1e-3, 1e-4, progress=False)
    with pytest.raises(TypeError, match="jump must be a bool"):
        Delta(jump=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exact_charge must be a bool"):
        Exponential(exact_charge="yes")  # type: ignore[arg-type]


def test_plastic_projection_refuses_rescaled_weights() -> None:
    gen = SpikeGenerator(1, [0], [0.0])
    pop = Population(QUIET, 1)
    proj = Projection(gen, pop, OneToOne(), weight=0.5,
                      synapse=Exponential(1e-3, "x", exact_charge=True))
    with pytest.raises(ValueError, match="cannot learn"):
        ProjectionLearner(proj, STDPParams())


def test_clipped_normal_keeps_the_sign_and_scales_its_values() -> None:
    for mean in (0.5, -2.0):
        draw = ClippedNormal(mean, 1.5)
        x = draw(torch.Generator().manual_seed(0), 10000)
        assert x.dtype == torch.float32 and x.shape == (10000,)
        assert bool((x >= 0).all()) if mean > 0 else bool((x <= 0).all())
        assert bool((x == 0).any())  # sd 1.5 |mean|: many values clipped
        scaled = draw.scaled(0.9)
        assert scaled == ClippedNormal(mean * 0.9, 1.5)
        y = scaled(torch.Generator().manual_seed(0), 10000)
        torch.testing.assert_close(y, x * 0.9, rtol=1e-5, atol=1e-6)  # float32 draws
    with pytest.raises(ValueError, match="rel_sd"):
        ClippedNormal(1.0, -0.1)
