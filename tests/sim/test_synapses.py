"""Synapse models: what a stated weight becomes on the grid of dt, and the draws of recipes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from axonal.errors import PlausibilityWarning
from axonal.functional.neurons import ALIFParams, IFParams, IzhikevichParams, LIFParams
from axonal.functional.neurons.cuba_lif import synaptic_kernel
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

# Some neurons here are switched off with a threshold of 1e9 mV on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::axonal.errors.PlausibilityWarning")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PlausibilityWarning)
    QUIET = LIFParams(tau_mem=10e-3, v_leak=0.0, v_th=1e9, v_reset=0.0, r=2.0)


def test_input_factors_of_an_exponential_channel() -> None:
    """Weights are stored as stated; the factor on g in the held input is the exact one for a
    leaky membrane (K / (1 - a_m)) and the step average elsewhere."""
    syn = Exponential(0.5e-3, "s")
    for dt in (1e-4, 5e-5, 1e-5):
        decay = math.exp(-dt / syn.tau)
        # the step average of w exp(-t/tau) over [0, dt] is w tau (1 - decay) / dt
        assert syn.held_current_factor(dt) * dt == pytest.approx(syn.tau * (1 - decay))
        assert syn.weight_factor(dt, QUIET) == 1.0 and not syn.rescales_weights
        a_m = math.exp(-dt / QUIET.tau_mem)
        kernel = float(synaptic_kernel(dt, syn.tau, QUIET.tau_mem))
        assert syn.input_factor(dt, "lif", QUIET) == pytest.approx(kernel / (1 - a_m), rel=1e-14)
        assert syn.input_factor(dt, "alif", ALIFParams()) == pytest.approx(
            float(synaptic_kernel(dt, syn.tau, 10e-3)) / -math.expm1(-dt / 10e-3), rel=1e-14)
        for family, params in (("if", IFParams()), ("izhikevich", IzhikevichParams())):
            assert syn.input_factor(dt, family, params) == syn.held_current_factor(dt)
    assert syn.held_current_factor(1e-4) == pytest.approx(0.9063, abs=1e-4)
    per_neuron = LIFParams(tau_mem=torch.tensor([5e-3, 20e-3]))
    f = syn.input_factor(1e-4, "lif", per_neuron)
    assert isinstance(f, torch.Tensor) and f.dtype == torch.float64 and f.shape == (2,)
    assert float(f[0]) == pytest.approx(syn.input_factor(1e-4, "lif", LIFParams(tau_mem=5e-3)))


@pytest.mark.parametrize("dt", [1e-4, 5e-5])
def test_exponential_current_is_integrated_exactly_at_any_dt(dt: float) -> None:
    """One spike into a LIF and an IF neuron: the membranes follow the closed-form response
    to the exact exponential current w exp(-t/tau_s) at every sample, at any dt (NEST's
    iaf_psc_exp; the charge is w tau_s)."""
    w, tau_s, r = 0.3, 0.5e-3, QUIET.r
    tau_m = float(QUIET.tau_mem)
    net = Network(dtype=torch.float64, backend="torch")
    gen = net.add(SpikeGenerator(1, [0], [1e-3]))
    lif = net.add(Population(QUIET, 1, name="lif"))
    perfect = net.add(Population(IFParams(tau_mem=4e-3, v_th=1e9, v_reset=0.0, r=r), 1,
                                 name="if"))
    for post in (lif, perfect):
        net.add(Projection(gen, post, OneToOne(), weight=w, delay=2e-4,
                           synapse=Exponential(tau_s, "s")))
    mons = [net.add(StateMonitor(pop, ["v", "g_s"])) for pop in (lif, perfect)]
    net.run(6e-3, dt, progress=False)
    g = mons[0].values("g_s")[:, 0]
    # spike at step k, delay d steps: added to g at the end of step k + d, t0 = (k + d + 1) dt;
    # a StateMonitor sample at time (m + 1) dt holds v after step m and g at its start
    t0 = 1e-3 + 2e-4 + dt
    assert mons[0].times[int(np.argmax(g > 0))] == pytest.approx(t0 + dt)
    t = mons[0].times - t0
    after = t >= -1e-12
    t_g = t - dt
    np.testing.assert_allclose(g[t_g > -1e-12], w * np.exp(-t_g[t_g > -1e-12] / tau_s),
                               rtol=1e-12)
    exact_lif = r * w * tau_s / (tau_s - tau_m) * (np.exp(-t / tau_s) - np.exp(-t / tau_m))
    np.testing.assert_allclose(mons[0].values("v")[:, 0], np.where(after, exact_lif, 0.0),
                               rtol=1e-10, atol=1e-15)
    exact_if = r * w * tau_s * (1 - np.exp(-t / tau_s)) / 4e-3
    np.testing.assert_allclose(mons[1].values("v")[:, 0], np.where(after, exact_if, 0.0),
                               rtol=1e-10, atol=1e-15)
    # the charge that reached the perfect integrator is w tau_s (nA s), up to the tail
    assert float(mons[1].values("v")[-1, 0]) * 4e-3 / r == pytest.approx(
        w * tau_s * (1 - math.exp(-t[-1] / tau_s)), rel=1e-10)


def test_exact_charge_is_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="exact_charge=True. is deprecated"):
        syn = Exponential(0.5e-3, "s", exact_charge=True)
    assert syn == Exponential(0.5e-3, "s") and hash(syn) == hash(Exponential(0.5e-3, "s"))
    with pytest.raises(ValueError, match="no longer available"):
        Exponential(0.5e-3, "s", exact_charge=False)


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
    proj = Projection(gen, pop, OneToOne(), weight=0.5, synapse=Delta("x", jump=True))
    with pytest.raises(ValueError, match="cannot learn"):
        ProjectionLearner(proj, STDPParams())
    # exponential weights are stored as stated: they can learn
    ProjectionLearner(Projection(gen, pop, OneToOne(), weight=0.5,
                                 synapse=Exponential(1e-3, "x")), STDPParams())


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
