"""Potjans & Diesmann 2014 microcircuit: axonal vs NEST in the same run, each in a fresh process.

The axonal side (``axonal.sim.examples.build_microcircuit``) is the definition; the NEST
network is built from a parameter table that the axonal process writes (population sizes,
connection probabilities, K_ext, synapse counts per projection from the same formula and the
same rounding), so the NEST process never imports axonal or torch.

Both engines: LIF with exponential current synapses integrated exactly (NEST ``iaf_psc_exp``;
axonal's ``Exponential`` into a LIF membrane), fixed total number connectivity with multapses
and autapses, normal weights
(87.81 pA, 10 % sd, clipped at 0; inhibitory -4x; L4E -> L23E 2x), normal delays (1.5 / 0.75
ms, 50 % sd, rounded to dt and at least dt), independent Poisson background of K_ext x 8 Hz
per neuron at weight 87.81 pA and delay 0.1 ms, initial V normal(-58, 10) mV, 1 thread,
dt = 0.1 ms. Rates are counted from ``--skip`` (0.1 s) to the end of the run.

Usage::

    python benchmarks/microcircuit_nest.py compare --nest-python /tmp/b2venv/bin/python \\
        --duration 0.5 --out benchmarks/results/sim_microcircuit
    python benchmarks/microcircuit_nest.py axonal --duration 0.5 --scale 0.1
    python benchmarks/microcircuit_nest.py params --out table.json   # then, with NEST:
    python benchmarks/microcircuit_nest.py nest --params table.json --duration 0.5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

T0 = time.perf_counter()
TAU_SYN_MS = 0.5
W_MEAN_PA = 87.81  # examples.py: w_mean = 0.08781 nA


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def param_table(scale: float, dt: float) -> dict[str, Any]:
    """The microcircuit as ``build_microcircuit(scale)`` builds it (run in the axonal env)."""
    from axonal.sim import examples as ex

    sizes = [max(1, round(n * scale)) for n in ex.MICROCIRCUIT_SIZES]
    projections = []
    for t in range(8):
        for s in range(8):
            p = ex.MICROCIRCUIT_P[t][s]
            if p == 0.0:
                continue
            n_pre, n_post = ex.MICROCIRCUIT_SIZES[s], ex.MICROCIRCUIT_SIZES[t]
            k = math.log(1.0 - p) / math.log(1.0 - 1.0 / (n_pre * n_post))
            exc = s % 2 == 0
            mean = W_MEAN_PA * (1.0 if exc else -4.0) * (2.0 if (t, s) == (0, 2) else 1.0)
            projections.append({
                "pre": s, "post": t, "n": round(k * scale), "excitatory": exc,
                "w_mean_pa": mean, "w_sd_pa": abs(mean) * 0.1,
                "d_mean_ms": 1.5 if exc else 0.75, "d_sd_ms": 0.75 if exc else 0.375})
    return {"scale": scale, "dt_ms": dt * 1e3, "populations": list(ex.MICROCIRCUIT_POPULATIONS),
            "sizes": sizes, "k_ext": list(ex.MICROCIRCUIT_K_EXT), "bg_rate_hz": 8.0,
            "bg_delay_ms": ex.SHORT_DELAY * 1e3,
            "bg_weight_pa": W_MEAN_PA, "neuron": {
                "C_m": 250.0, "tau_m": 10.0, "E_L": -65.0, "V_reset": -65.0, "V_th": -50.0,
                "t_ref": 2.0, "tau_syn_ex": TAU_SYN_MS, "tau_syn_in": TAU_SYN_MS, "I_e": 0.0},
            "v0_mean_mv": -58.0, "v0_sd_mv": 10.0, "projections": projections}


def _rates(times_s: list[Any], sizes: list[int], skip: float, duration: float
           ) -> list[float]:
    import numpy as np

    return [float(np.count_nonzero(np.asarray(t) >= skip)) / (n * (duration - skip))
            for t, n in zip(times_s, sizes)]


def run_axonal(duration: float, dt: float, scale: float, seed: int, skip: float,
               table: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from axonal.sim.examples import build_microcircuit
    from axonal.sim.inputs import steps_for

    t_import = time.perf_counter()
    net, monitors = build_microcircuit(scale=scale, seed=seed)
    sizes = [m.source.n for m in monitors]
    if sizes != table["sizes"]:
        raise RuntimeError(f"population sizes differ from the table: {sizes}")
    net.run(dt, dt, progress=False)  # builds the network (first step)
    t_build = time.perf_counter()
    stats = net.run((steps_for(duration, dt) - 1) * dt, dt, progress=False)
    t_end = time.perf_counter()
    counts = [p.table.n_synapses for p in net.projections if p.table is not None]
    expected = [pr["n"] for pr in table["projections"]] + sizes  # recurrent, then background
    if counts != expected:
        raise RuntimeError(f"synapse counts differ from the table: {counts} vs {expected}")
    return {"engine": "axonal", "neurons": sum(sizes), "synapses": sum(counts[:-8]),
            "import_s": t_import - T0, "build_s": t_build - t_import, "loop_s": stats.seconds,
            "wall_s": t_end - T0, "events": stats.events, "peak_rss_bytes": _peak_rss_bytes(),
            "rates_hz": dict(zip(table["populations"],
                                 _rates([m.times for m in monitors], sizes, skip, duration)))}


def run_nest(table: dict[str, Any], duration: float, seed: int, skip: float) -> dict[str, Any]:
    import nest

    t_import = time.perf_counter()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": table["dt_ms"], "local_num_threads": 1,
                          "rng_seed": seed + 1, "print_time": False})
    dt_ms = table["dt_ms"]
    pops = [nest.Create("iaf_psc_exp", n, params=table["neuron"]) for n in table["sizes"]]
    for pop in pops:
        pop.V_m = nest.random.normal(mean=table["v0_mean_mv"], std=table["v0_sd_mv"])
    # NEST holds at most 2**27 - 2 connections per thread and synapse model: with 1 thread the
    # ~0.3 G recurrent synapses are spread over identical copies of static_synapse.
    loads: list[int] = []
    model_of = {}
    for i in sorted(range(len(table["projections"])), key=lambda i: -table["projections"][i]["n"]):
        n = table["projections"][i]["n"]
        slot = next((j for j, used in enumerate(loads) if used + n <= 120_000_000), len(loads))
        if slot == len(loads):
            loads.append(0)
            nest.CopyModel("static_synapse", f"mc_static_{slot}")
        loads[slot] += n
        model_of[i] = f"mc_static_{slot}"
    for i, pr in enumerate(table["projections"]):
        w = nest.random.normal(mean=pr["w_mean_pa"], std=pr["w_sd_pa"])
        w = nest.math.max(w, 0.0) if pr["excitatory"] else nest.math.min(w, 0.0)
        d = nest.math.max(nest.random.normal(mean=pr["d_mean_ms"], std=pr["d_sd_ms"]), dt_ms)
        nest.Connect(pops[pr["pre"]], pops[pr["post"]],
                     {"rule": "fixed_total_number", "N": pr["n"], "allow_autapses": True,
                      "allow_multapses": True},
                     {"synapse_model": model_of[i], "weight": w, "delay": d})
    for pop, k in zip(pops, table["k_ext"]):
        bg = nest.Create("poisson_generator", params={"rate": table["bg_rate_hz"] * k})
        nest.Connect(bg, pop, "all_to_all",
                     {"synapse_model": "static_synapse", "weight": table["bg_weight_pa"],
                      "delay": table["bg_delay_ms"]})
    recorders = [nest.Create("spike_recorder") for _ in pops]
    for pop, rec in zip(pops, recorders):
        nest.Connect(pop, rec)
    nest.Prepare()
    nest.Run(dt_ms)  # first step, as axonal's build step
    t_build = time.perf_counter()
    nest.Run(duration * 1e3 - dt_ms)
    t_end = time.perf_counter()
    nest.Cleanup()
    synapses = nest.GetKernelStatus("num_connections") - sum(table["sizes"]) * 2
    times = [rec.get("events")["times"] * 1e-3 for rec in recorders]
    return {"engine": "nest", "nest_version": nest.__version__, "synapse_models": len(loads), "neurons": sum(table["sizes"]),
            "synapses": int(synapses), "import_s": t_import - T0,
            "build_s": t_build - t_import, "loop_s": t_end - t_build, "wall_s": t_end - T0,
            "peak_rss_bytes": _peak_rss_bytes(),
            "rates_hz": dict(zip(table["populations"],
                                 _rates(times, table["sizes"], skip, duration)))}


def _launch(python: str, args: list[str]) -> dict[str, Any]:
    cmd = [python, os.path.abspath(__file__), *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t
    return result


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare(args: argparse.Namespace) -> int:
    table = param_table(args.scale, args.dt)
    common = ["--duration", str(args.duration), "--dt", str(args.dt), "--scale",
              str(args.scale), "--seed", str(args.seed), "--skip", str(args.skip)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "table.json")
        with open(path, "w") as f:
            json.dump(table, f)
        load_before = _load()
        runs = {"axonal": _launch(sys.executable, ["axonal", *common]),
                "nest": _launch(args.nest_python, ["nest", "--params", path, *common])}
        load_after = _load()
    a, n = runs["axonal"], runs["nest"]
    for r in runs.values():
        r["s_per_bio_s"] = r["loop_s"] / args.duration
        r["total_per_bio_s"] = (r["build_s"] + r["loop_s"]) / args.duration
    ratios = {"loop_per_bio_s": a["loop_s"] / n["loop_s"],
              "build": a["build_s"] / n["build_s"],
              "process_wall": a["process_wall_s"] / n["process_wall_s"],
              "rates": {p: (a["rates_hz"][p] / n["rates_hz"][p] if n["rates_hz"][p] else None)
                        for p in table["populations"]}}
    out = {"command": " ".join(sys.argv), "duration_s": args.duration, "dt_s": args.dt,
           "scale": args.scale, "seed": args.seed, "rate_window_s": [args.skip, args.duration],
           "load_before": load_before, "load_after": load_after, "runs": runs,
           "ratios_axonal_over_nest": ratios}
    lines = [f"command: python {' '.join(sys.argv)}",
             f"load average before: {load_before}, after: {load_after}",
             (f"microcircuit scale {args.scale}: {a['neurons']} neurons, axonal {a['synapses']} "
             f"/ NEST {n['synapses']} recurrent synapses, {args.duration} s at dt = {args.dt} s, "
             "1 thread"),
             (f"{'engine':8s} {'build s':>8s} {'loop s':>8s} {'s/bio s':>8s} {'proc s':>8s} "
             f"{'peak GB':>8s}")]
    for r in (a, n):
        lines.append(f"{r['engine']:8s} {r['build_s']:8.1f} {r['loop_s']:8.1f} "
                     f"{r['s_per_bio_s']:8.1f} {r['process_wall_s']:8.1f} "
                     f"{r['peak_rss_bytes'] / 1e9:8.2f}")
    lines.append(f"loop time per biological second, axonal / NEST: {ratios['loop_per_bio_s']:.3f}")
    lines.append(f"rates (Hz) over [{args.skip}, {args.duration}] s:")
    lines.append(f"{'pop':6s} {'axonal':>8s} {'NEST':>8s} {'ratio':>7s}")
    for p in table["populations"]:
        ratio = ratios["rates"][p]
        lines.append(f"{p:6s} {a['rates_hz'][p]:8.2f} {n['rates_hz'][p]:8.2f} "
                     f"{ratio if ratio is not None else float('nan'):7.3f}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out + ".json", "w") as f:
            json.dump(out, f, indent=1)
        with open(args.out + ".txt", "w") as f:
            f.write(text + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["compare", "axonal", "nest", "params"])
    parser.add_argument("--duration", type=float, default=0.5)
    parser.add_argument("--dt", type=float, default=1e-4)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", type=float, default=0.1, help="rates counted from here (s)")
    parser.add_argument("--params", help="parameter table (JSON) for the nest mode")
    parser.add_argument("--nest-python", default="/tmp/b2venv/bin/python")
    parser.add_argument("--out", help="compare: output prefix; params: JSON path")
    args = parser.parse_args()
    if not 0 <= args.skip < args.duration:
        raise ValueError(f"skip must be in [0, duration), got {args.skip}")
    if args.mode == "compare":
        return compare(args)
    if args.mode == "params":
        text = json.dumps(param_table(args.scale, args.dt), indent=1)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
        else:
            print(text)
        return 0
    if args.mode == "axonal":
        result = run_axonal(args.duration, args.dt, args.scale, args.seed, args.skip,
                            param_table(args.scale, args.dt))
    else:
        if not args.params:
            raise ValueError("nest mode needs --params")
        with open(args.params) as f:
            table = json.load(f)
        result = run_nest(table, args.duration, args.seed, args.skip)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
