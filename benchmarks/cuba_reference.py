"""The CUBA reference network written for Brian2 and NEST (optional: ``pip install brian2``,
``pip install nest-simulator``); not part of the installed package.

Used by ``tests/sim/test_brian2_cuba.py`` (loaded by path) and by ``bench_sim.py`` (imported
as its sibling, so the Brian2/NEST environment does not need axonal) to compare axonal with
Brian2 and NEST on identical models. Brian2 and NEST are imported inside the functions only.

Correspondence with ``axonal.sim.examples.build_cuba``: the same equations
(``dv/dt = (ge + gi - (v - E_L)) / tau_m``, exact integration, ``v`` clamped while
refractory), the same parameters and a synaptic delay of 0.1 ms (Brian2 and axonal count a
delay the same way); the random connectivity and initial values differ (other generators).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["brian2_cuba", "nest_cuba"]


DELAY = 0.1e-3
"""Synaptic delay (s) of CUBA, as ``axonal.sim.examples.SHORT_DELAY``."""


def brian2_cuba(n: int = 4000, duration: float = 1.0, dt: float = 1e-4, seed: int = 0,
                target: str = "numpy", p: float = 0.02,
                standalone_dir: str | None = None,
                indegree: tuple[int, int] | None = None) -> dict[str, Any]:
    """Run Vogels & Abbott CUBA in Brian2; returns rates (Hz), ISI CVs and timings (s).

    ``target``: ``"numpy"``, ``"cython"`` (runtime) or ``"cpp_standalone"``.
    ``indegree=(k_e, k_i)``: fixed in-degrees (sources drawn with replacement, weights scaled
    by ``64 / k_e``) instead of Bernoulli(p), as ``axonal.sim.examples.build_cuba_indegree``.
    """
    t_start = time.perf_counter()
    import brian2 as b2

    t_import = time.perf_counter()
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", directory=standalone_dir, build_on_run=True)
    else:
        b2.prefs.codegen.target = target
    b2.start_scope()
    b2.defaultclock.dt = dt * b2.second
    b2.seed(seed)
    ms, mv = b2.ms, b2.mV
    n_e = int(round(0.8 * n))
    eqs = """
    dv/dt  = (ge + gi - (v - El)) / taum : volt (unless refractory)
    dge/dt = -ge / taue : volt
    dgi/dt = -gi / taui : volt
    """
    namespace = {"taum": 20 * ms, "taue": 5 * ms, "taui": 10 * ms, "Vt": -50 * mv,
                 "Vr": -60 * mv, "El": -49 * mv}
    group = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms,
                           method="exact", namespace=namespace)
    group.v = "Vr + rand() * (Vt - Vr)"
    scale = 64.0 / indegree[0] if indegree else 1.0
    we, wi = scale * (60 * 0.27 / 10) * mv, scale * (-20 * 4.5 / 10) * mv
    ce = b2.Synapses(group, group, on_pre="ge += we", delay=DELAY * b2.second,
                     namespace={"we": we})
    ci = b2.Synapses(group, group, on_pre="gi += wi", delay=DELAY * b2.second,
                     namespace={"wi": wi})
    if indegree is None:
        ce.connect("i < n_e", p=p, namespace={"n_e": n_e})
        ci.connect("i >= n_e", p=p, namespace={"n_e": n_e})
    else:
        rng = np.random.default_rng(seed)
        targets = np.arange(n)
        for syn, k, low, high in ((ce, indegree[0], 0, n_e), (ci, indegree[1], n_e, n)):
            syn.connect(i=rng.integers(low, high, size=(n, k)).ravel(),
                        j=np.repeat(targets, k))
    mon = b2.SpikeMonitor(group)
    t_build = time.perf_counter()
    net = b2.Network(group, ce, ci, mon)
    net.run(duration * b2.second, report=None)
    t_run = time.perf_counter()
    i = np.asarray(mon.i[:], dtype=np.int64)
    t = np.asarray(mon.t[:] / b2.second, dtype=np.float64)
    loop = float(t_run - t_build)
    n_ce, n_ci = int(len(ce)), int(len(ci))
    if target == "cpp_standalone":
        profile = getattr(b2.device, "_last_run_time", None)
        loop = float(profile) if profile is not None else loop
        b2.device.reinit()
        b2.device.activate()
    out: dict[str, Any] = {
        "rates_hz": {"E": float(np.sum(i < n_e) / (n_e * duration)),
                     "I": float(np.sum(i >= n_e) / ((n - n_e) * duration))},
        "cv_isi": {"E": _cv(i[i < n_e], t[i < n_e]), "I": _cv(i[i >= n_e], t[i >= n_e])},
        "import_s": t_import - t_start,
        "build_s": t_build - t_import,
        "run_s": t_run - t_build,
        "loop_s": loop,
        "synapses": n_ce + n_ci,
        "events": int(np.sum(i < n_e) * (n_ce / n_e) + np.sum(i >= n_e) * (n_ci / (n - n_e))),
    }
    return out


def nest_cuba(n: int = 4000, duration: float = 1.0, dt: float = 1e-4, seed: int = 0,
              threads: int = 1, p: float = 0.02,
              indegree: tuple[int, int] | None = None) -> dict[str, Any]:
    """Vogels & Abbott CUBA in NEST (``iaf_psc_exp``), the same model as :func:`brian2_cuba`.

    Brian2's ``ge`` (mV) is the current ``I = ge C_m / tau_m``: with ``C_m = 200 pF`` and
    ``tau_m = 20 ms`` the jumps are 16.2 pA and -90 pA. Delay 0.1 ms.
    """
    t_start = time.perf_counter()
    import nest

    t_import = time.perf_counter()
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": dt * 1e3, "rng_seed": seed + 1,
                          "local_num_threads": threads})
    n_e = int(round(0.8 * n))
    params = {"C_m": 200.0, "tau_m": 20.0, "E_L": -49.0, "V_th": -50.0, "V_reset": -60.0,
              "t_ref": 5.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "I_e": 0.0}
    pop = nest.Create("iaf_psc_exp", n, params=params)
    pop.V_m = nest.random.uniform(-60.0, -50.0)
    scale = 64.0 / indegree[0] if indegree else 1.0
    exc, inh = pop[:n_e], pop[n_e:]
    for src, w, k in ((exc, 16.2 * scale, indegree[0] if indegree else 0),
                      (inh, -90.0 * scale, indegree[1] if indegree else 0)):
        rule = ({"rule": "fixed_indegree", "indegree": k} if indegree
                else {"rule": "pairwise_bernoulli", "p": p})
        nest.Connect(src, pop, rule, {"synapse_model": "static_synapse", "weight": w,
                                      "delay": DELAY * 1e3})
    rec = nest.Create("spike_recorder")
    nest.Connect(pop, rec)
    t_build = time.perf_counter()
    nest.Simulate(duration * 1e3)
    t_run = time.perf_counter()
    ev = rec.get("events")
    i = np.asarray(ev["senders"], dtype=np.int64) - int(pop[0].global_id)
    t = np.asarray(ev["times"], dtype=np.float64) * 1e-3
    synapses = int(nest.GetKernelStatus("num_connections"))
    per_e = synapses and (nest.GetConnections(exc).get("weight").__len__() / n_e)
    per_i = synapses and (nest.GetConnections(inh).get("weight").__len__() / (n - n_e))
    return {
        "rates_hz": {"E": float(np.sum(i < n_e) / (n_e * duration)),
                     "I": float(np.sum(i >= n_e) / ((n - n_e) * duration))},
        "cv_isi": {"E": _cv(i[i < n_e], t[i < n_e]), "I": _cv(i[i >= n_e], t[i >= n_e])},
        "import_s": t_import - t_start, "build_s": t_build - t_import,
        "run_s": t_run - t_build, "loop_s": t_run - t_build, "synapses": synapses,
        "events": int(np.sum(i < n_e) * per_e + np.sum(i >= n_e) * per_i),
    }


def _cv(ids: np.ndarray, times: np.ndarray, min_intervals: int = 2) -> float:
    """Mean over neurons with at least ``min_intervals`` ISIs of the ISI CV (as axonal's)."""
    if ids.size < 2:
        return float("nan")
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    same = ids[1:] == ids[:-1]
    isi, owner = np.diff(times)[same], ids[1:][same]
    size = int(ids.max()) + 1
    count = np.bincount(owner, minlength=size)
    total = np.bincount(owner, weights=isi, minlength=size)
    total2 = np.bincount(owner, weights=isi * isi, minlength=size)
    ok = count >= min_intervals
    if not ok.any():
        return float("nan")
    mean = total[ok] / count[ok]
    return float(np.mean(np.sqrt(np.maximum(total2[ok] / count[ok] - mean**2, 0.0)) / mean))
