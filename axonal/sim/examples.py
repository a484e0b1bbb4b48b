"""Reference networks: Vogels & Abbott 2005 CUBA and COBA, Brunel 2000.

Each ``build_*`` returns ``(network, spike monitors)``; :func:`run_example` builds, runs and
summarises one of them (used by ``axonal simulate``). Recipes state weights and delays in
physical units and take no ``dt``: the ``dt`` of the run sets the resolution only (delays go
on its grid; exponential currents are integrated exactly at any ``dt``; membrane jumps become
one-step pulses when the tables are built: :meth:`Delta.pulse_current_factor
<axonal.sim.synapses.Delta.pulse_current_factor>`).

* CUBA (Vogels & Abbott 2005, as in Brian2's example): 3200 E + 800 I LIF neurons,
  ``tau_m = 20 ms``, ``E_L = -49 mV``, threshold -50 mV, reset -60 mV, 5 ms refractory,
  Bernoulli(0.02) connectivity, exponential current synapses (5 ms: +1.62 mV,
  10 ms: -9 mV), delay 0.1 ms, initial ``v`` uniform in [-60, -50] mV. With ``r = 1 MOhm`` the synaptic
  current in nA is the drive in mV.
* COBA (Brette et al. 2007 benchmark 1): same sizes, ``C = 200 pF``, ``g_L = 10 nS``
  (``tau_m = 20 ms``, ``r = 100 MOhm``), ``E_L = -60 mV``, conductance synapses 6 nS
  (``E_e = 0 mV``, 5 ms) and 67 nS (``E_i = -80 mV``, 10 ms), delay 0.1 ms.
* Brunel 2000 (model A, delta synapses): ``N_E = 4 N_I``, in-degrees ``C_E = 0.1 N_E``,
  ``C_I = C_E / 4`` (sources drawn with replacement), ``J = 0.1 mV``, ``g = 5``, ``eta = 2``, delay 1.5 ms, ``tau = 20 ms``,
  threshold 20 mV, reset 10 mV, 2 ms refractory, external Poisson drive of
  ``C_E eta nu_thr`` per neuron (delay 0.1 ms; asynchronous irregular regime).
* Potjans & Diesmann 2014 cortical microcircuit (:func:`build_microcircuit`), whose rates
  :func:`run_example` reports next to the published ones (:data:`MICROCIRCUIT_PUBLISHED_RATES`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from axonal.functional.neurons import LIFParams, ResetMode
from axonal.plot import spike_raster
from axonal.sim.connectivity import (
    Bernoulli,
    Connectivity,
    FixedInDegree,
    FixedTotalNumber,
    OneToOne,
)
from axonal.sim.draws import ClippedNormal
from axonal.sim.inputs import PoissonSource, steps_for
from axonal.sim.monitors import RateMonitor, SpikeMonitor
from axonal.sim.network import Network
from axonal.sim.populations import Population
from axonal.sim.projections import Projection
from axonal.sim.synapses import Conductance, Delta, Exponential, Synapse

__all__ = ["build_cuba", "build_cuba_indegree", "build_coba", "build_microcircuit", "build_brunel",
           "build_example", "run_example", "ExampleResult", "EXAMPLES", "published_rates"]

SHORT_DELAY = 0.1e-3
"""The delay (s) of the networks whose papers give none but a minimal one (one step of the
0.1 ms grid they were run on): CUBA, COBA, Brunel's external drive, the microcircuit's
background."""


def _uniform(low: float, high: float) -> Callable[[torch.Generator, int], Tensor]:
    def draw(generator: torch.Generator, n: int) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)

    return draw


def _normal(mean: float, std: float) -> Callable[[torch.Generator, int], Tensor]:
    def draw(generator: torch.Generator, n: int) -> Tensor:
        return mean + std * torch.randn(n, generator=generator, dtype=torch.float64)

    return draw


# CUBA's neurons (Vogels & Abbott 2005): with r = 1 MOhm the synaptic current in nA is mV.
CUBA_LIF = LIFParams(tau_mem=20e-3, v_leak=-49.0, v_th=-50.0, v_reset=-60.0, r=1.0,
                     t_ref=5e-3, reset=ResetMode.ZERO)


def _onto_both(net: Network, exc: Population, inh: Population,
               drive: Sequence[tuple[Population, Connectivity, float, Synapse]]
               ) -> list[SpikeMonitor]:
    """Each ``(pre, rule, weight, synapse)`` of ``drive`` onto E, then I (delay 0.1 ms), in
    order; returns the spike monitors of E and I."""
    for pre, rule, w, syn in drive:
        for post in (exc, inh):
            net.add(Projection(pre, post, rule, weight=w, delay=SHORT_DELAY, synapse=syn))
    return [net.add(SpikeMonitor(exc)), net.add(SpikeMonitor(inh))]


def build_cuba(n: int = 4000, p: float = 0.02, seed: int = 0,
               dtype: torch.dtype = torch.float32) -> tuple[Network, list[SpikeMonitor]]:
    """Vogels & Abbott 2005 CUBA (``n`` neurons, 80 % excitatory); delay 0.1 ms."""
    net = Network(seed=seed, dtype=dtype)
    n_e = int(round(0.8 * n))
    init = {"v": _uniform(-60.0, -50.0)}
    exc = net.add(Population(CUBA_LIF, n_e, name="E", init=dict(init)))
    inh = net.add(Population(CUBA_LIF, n - n_e, name="I", init=dict(init)))
    syn_e, syn_i = Exponential(5e-3, name="e"), Exponential(10e-3, name="i")
    return net, _onto_both(net, exc, inh, [(exc, Bernoulli(p), 60 * 0.27 / 10, syn_e),
                                           (inh, Bernoulli(p), -20 * 4.5 / 10, syn_i)])


def build_cuba_indegree(n: int = 4000, k_e: int = 80, k_i: int = 20, seed: int = 0,
                        dtype: torch.dtype = torch.float32
                        ) -> tuple[Network, list[SpikeMonitor]]:
    """The CUBA neurons and synapses with fixed in-degrees (``k_e`` from E, ``k_i`` from I per
    neuron) instead of Bernoulli: the scaling benchmark (``k_e + k_i`` synapses per neuron at
    any size). Weights are CUBA's scaled by ``64 / k_e`` so the drive matches CUBA's."""
    net = Network(seed=seed, dtype=dtype)
    n_e = int(round(0.8 * n))
    exc = net.add(Population(CUBA_LIF, n_e, name="E", init={"v": _uniform(-60.0, -50.0)}))
    inh = net.add(Population(CUBA_LIF, n - n_e, name="I", init={"v": _uniform(-60.0, -50.0)}))
    syn_e, syn_i = Exponential(5e-3, name="e"), Exponential(10e-3, name="i")
    scale = 64.0 / k_e
    return net, _onto_both(net, exc, inh, [
        (exc, FixedInDegree(k_e, multapses=True), 1.62 * scale, syn_e),
        (inh, FixedInDegree(k_i, multapses=True), -9.0 * scale, syn_i)])


def build_coba(n: int = 4000, p: float = 0.02, seed: int = 0,
               dtype: torch.dtype = torch.float32) -> tuple[Network, list[SpikeMonitor]]:
    """Vogels & Abbott 2005 / Brette et al. 2007 COBA; conductances in uS; delay 0.1 ms."""
    params = LIFParams(tau_mem=20e-3, v_leak=-60.0, v_th=-50.0, v_reset=-60.0, r=100.0,
                       t_ref=5e-3, reset=ResetMode.ZERO)
    net = Network(seed=seed, dtype=dtype)
    n_e = int(round(0.8 * n))
    pops = []
    for name, size in (("E", n_e), ("I", n - n_e)):
        init = {"v": _normal(-65.0, 5.0), "g_e": _normal(0.04, 0.015),
                "g_i": _normal(0.2, 0.12)}
        pops.append(net.add(Population(params, size, name=name, init=init)))
    exc, inh = pops
    syn_e = Conductance(5e-3, 0.0, name="e")
    syn_i = Conductance(10e-3, -80.0, name="i")
    return net, _onto_both(net, exc, inh, [(exc, Bernoulli(p), 0.006, syn_e),
                                           (inh, Bernoulli(p), 0.067, syn_i)])


def build_brunel(n_e: int = 10000, g: float = 5.0, eta: float = 2.0, j: float = 0.1,
                 delay: float = 1.5e-3, seed: int = 0,
                 dtype: torch.dtype = torch.float32) -> tuple[Network, list[SpikeMonitor]]:
    """Brunel 2000 model A with ``n_e`` excitatory and ``n_e / 4`` inhibitory neurons.

    Weights are membrane jumps (``J`` mV, ``-g J``): ``Delta(jump=True)`` delivers each as the
    one-step pulse of ``J / (r (1 - exp(-dt/tau)))`` nA that leaves the membrane ``J`` higher at
    the end of that step than without it.
    """
    tau = 20e-3
    params = LIFParams(tau_mem=tau, v_leak=0.0, v_th=20.0, v_reset=10.0, r=1.0, t_ref=2e-3,
                       reset=ResetMode.ZERO)
    n_i = n_e // 4
    c_e, c_i = max(1, n_e // 10), max(1, n_i // 10)
    net = Network(seed=seed, dtype=dtype)
    exc = net.add(Population(params, n_e, name="E", init={"v": _uniform(0.0, 20.0)}))
    inh = net.add(Population(params, n_i, name="I", init={"v": _uniform(0.0, 20.0)}))
    nu_thr = 20.0 / (j * c_e * tau)
    syn = Delta(name="d", jump=True)
    for post in (exc, inh):
        ext = net.add(PoissonSource(post.n, eta * nu_thr * c_e, name=f"ext_{post.name}"))
        net.add(Projection(ext, post, OneToOne(), weight=j, delay=SHORT_DELAY, synapse=syn))
        net.add(Projection(exc, post, FixedInDegree(c_e, multapses=True), weight=j,
                           delay=delay, synapse=syn))
        net.add(Projection(inh, post, FixedInDegree(c_i, multapses=True), weight=-g * j,
                           delay=delay, synapse=syn))
    monitors = [net.add(SpikeMonitor(exc)), net.add(SpikeMonitor(inh))]
    return net, monitors


MICROCIRCUIT_POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
MICROCIRCUIT_SIZES = (20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948)
# connection probabilities, rows: target, columns: source (Potjans & Diesmann 2014, Table 5)
MICROCIRCUIT_P = (
    (0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0),
    (0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0),
    (0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0),
    (0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0),
    (0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0),
    (0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0),
    (0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252),
    (0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443),
)
MICROCIRCUIT_K_EXT = (1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100)
# Published mean rates (Hz) of the full-scale model, by population (None: not reported).
# "Potjans & Diesmann 2014": the original NEST simulation, excitatory populations, as
# tabulated in Romaro et al. 2021 (Neural Computation 33(7), Table A.1, "NEST trial").
# "NetPyNE 2021": Romaro et al.'s full-scale reimplementation with Poisson background,
# 60 s of simulation (same table, 100 % row).
MICROCIRCUIT_PUBLISHED_RATES: dict[str, tuple[float | None, ...]] = {
    "Potjans & Diesmann 2014": (0.86, None, 4.45, None, 7.59, None, 1.09, None),
    "NetPyNE 2021": (0.90, 2.80, 4.39, 5.70, 6.80, 8.22, 1.14, 7.60),
}
# Rates are compared after the initial transient (initial v far from the stationary state).
MICROCIRCUIT_TRANSIENT = 0.1  # s


def build_microcircuit(scale: float = 1.0, seed: int = 0,
                       dtype: torch.dtype = torch.float32) -> tuple[Network, list[SpikeMonitor]]:
    """Potjans & Diesmann 2014 cortical microcircuit (77,169 neurons at ``scale = 1``).

    LIF neurons (``C = 250 pF``, ``tau_m = 10 ms``, ``E_L = V_reset = -65 mV``,
    ``V_th = -50 mV``, 2 ms refractory), exponential current synapses (0.5 ms) with normal
    weights (87.8 pA, 10 % sd; inhibitory -4x; L4E -> L23E 2x) and normal delays (E 1.5 ms,
    I 0.75 ms, 50 % sd, put on the grid and raised to at least ``dt``); the number of
    synapses per projection is ``log(1 - p) / log(1 - 1 / (N_pre N_post))`` with multapses
    (NEST's fixed total number), times ``scale`` so in-degrees stay those of the full model;
    Poisson background of ``K_ext x 8 Hz`` per neuron (delay 0.1 ms); initial ``v`` normal
    (-58, 10) mV.

    The weights are amplitudes of exact exponential currents, integrated exactly into the
    membrane as NEST's ``iaf_psc_exp`` does (:class:`~axonal.sim.synapses.Exponential`).
    """
    if not (isinstance(scale, (int, float)) and 0 < scale <= 1):
        raise ValueError(f"scale must be in (0, 1], got {scale!r}")
    tau_syn, w_mean = 0.5e-3, 0.08781  # s, nA
    params = LIFParams(tau_mem=10e-3, v_leak=-65.0, v_th=-50.0, v_reset=-65.0, r=40.0,
                       t_ref=2e-3, reset=ResetMode.ZERO)
    net = Network(seed=seed, dtype=dtype)
    syn = Exponential(tau_syn, name="s")
    pops = [net.add(Population(params, max(1, int(round(n * scale))), name=name,
                               init={"v": _normal(-58.0, 10.0)}))
            for name, n in zip(MICROCIRCUIT_POPULATIONS, MICROCIRCUIT_SIZES)]
    for t, post in enumerate(pops):
        for s_, pre in enumerate(pops):
            p = MICROCIRCUIT_P[t][s_]
            if p == 0.0:
                continue
            n_pre, n_post = MICROCIRCUIT_SIZES[s_], MICROCIRCUIT_SIZES[t]
            k = math.log(1.0 - p) / math.log(1.0 - 1.0 / (n_pre * n_post))
            excitatory = s_ % 2 == 0
            mean = w_mean * (1.0 if excitatory else -4.0) * (2.0 if (t, s_) == (0, 2) else 1.0)
            net.add(Projection(pre, post, FixedTotalNumber(int(round(k * scale))),
                               weight=ClippedNormal(mean, 0.1),
                               delay=ClippedNormal(1.5e-3 if excitatory else 0.75e-3, 0.5),
                               synapse=syn))
    for post, k_ext in zip(pops, MICROCIRCUIT_K_EXT):
        bg = net.add(PoissonSource(post.n, 8.0 * k_ext, name=f"bg_{post.name}"))
        net.add(Projection(bg, post, OneToOne(), weight=w_mean, delay=SHORT_DELAY,
                           synapse=syn))
    return net, [net.add(SpikeMonitor(pop)) for pop in pops]


EXAMPLES: dict[str, Callable[..., tuple[Network, list[SpikeMonitor]]]] = {
    "cuba": build_cuba,
    "coba": build_coba,
    "brunel": build_brunel,
    "cuba-indegree": build_cuba_indegree,
    "microcircuit": build_microcircuit,
}


@dataclass
class ExampleResult:
    """Summary of one example run (rates in Hz, times in s)."""

    name: str
    neurons: int
    synapses: int
    rates_hz: dict[str, float]
    cv_isi: dict[str, float]
    build_seconds: float
    loop_seconds: float
    events: int
    table_bytes: int
    files: list[Path] = field(default_factory=list)
    # published rates per source and population, and the window start used for rates_hz
    published_hz: dict[str, dict[str, float]] = field(default_factory=dict)
    rates_from: float = 0.0


def published_rates(name: str) -> dict[str, dict[str, float]]:
    """Published population rates (Hz) of example ``name``, by source; empty if none."""
    if name != "microcircuit":
        return {}
    return {source: {pop: hz for pop, hz in zip(MICROCIRCUIT_POPULATIONS, rates)
                     if hz is not None}
            for source, rates in MICROCIRCUIT_PUBLISHED_RATES.items()}


def build_example(name: str, seed: int = 0, scale: float = 1.0
                  ) -> tuple[Network, list[SpikeMonitor]]:
    """The network of example ``name`` at ``scale`` times its neuron count (not yet run: the
    ``dt`` of its first run sets the resolution)."""
    if name not in EXAMPLES:
        raise ValueError(f"name must be one of {sorted(EXAMPLES)}, got {name!r}")
    if not (isinstance(scale, (int, float)) and 0 < scale <= 1000):
        raise ValueError(f"scale must be in (0, 1000], got {scale!r}")
    if name == "brunel":
        return build_brunel(n_e=max(8, int(10000 * scale)), seed=seed)
    if name == "microcircuit":
        return build_microcircuit(scale=scale, seed=seed)
    return EXAMPLES[name](n=max(10, int(4000 * scale)), seed=seed)


def run_example(name: str, duration: float = 1.0, dt: float = 1e-4, seed: int = 0,
                out: str | Path | None = None, progress: bool = True,
                scale: float = 1.0) -> ExampleResult:
    """Build and run example ``name`` (``scale`` multiplies the neuron count) with step ``dt``.

    Raises :class:`~axonal.errors.ResourceLimitError` before anything is built when
    ``duration / dt`` exceeds :data:`~axonal.functional.validate.MAX_STEPS`.
    """
    from axonal.functional.validate import check_int, check_step_count

    if name not in EXAMPLES:
        raise ValueError(f"name must be one of {sorted(EXAMPLES)}, got {name!r}")
    check_int("seed", seed, minimum=0)
    check_step_count(duration, dt)
    total_steps = steps_for(duration, dt)
    t0 = time.perf_counter()
    net, monitors = build_example(name, seed=seed, scale=scale)
    rate_monitors = [net.add(RateMonitor(m.source)) for m in monitors]
    net.run(dt, dt, progress=False)  # builds the network (first step)
    build = time.perf_counter() - t0
    stats = net.run((total_steps - 1) * dt, dt, progress=progress) if total_steps > 1 else None
    loop = stats.seconds if stats else 0.0
    tables = [p.table for p in net.projections if p.table is not None]
    published = published_rates(name)
    # leave out the initial transient where published rates are to be compared, if it fits
    start = MICROCIRCUIT_TRANSIENT if published and duration > 2 * MICROCIRCUIT_TRANSIENT \
        else 0.0
    result = ExampleResult(
        name=name,
        neurons=sum(m.source.n for m in monitors),
        synapses=sum(t.n_synapses for t in tables),
        rates_hz={m.source.name: m.mean_rate(duration, start) for m in monitors},
        cv_isi={m.source.name: m.cv_isi() for m in monitors},
        build_seconds=build,
        loop_seconds=loop,
        events=stats.events if stats else 0,
        table_bytes=sum(t.nbytes for t in tables),
        published_hz=published,
        rates_from=start,
    )
    del rate_monitors
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        result.files.append(spike_raster(monitors, folder / f"{name}_raster.png", duration,
                                         title=f"{name}: {result.neurons} neurons"))
        result.files.append(net.save(folder / f"{name}_spikes.npz"))
    return result
