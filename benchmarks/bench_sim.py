"""Simulator benchmark: axonal vs Brian2 and NEST on CUBA, fixed in-degree scaling, memory per synapse.

Every configuration runs in a fresh process (``python bench_sim.py one <config> ...`` prints one
JSON line); ``compare`` launches them ``--repeats`` times and reports medians.

Usage::

    python benchmarks/bench_sim.py compare --brian2-python /path/to/python-with-brian2 \\
        --duration 1.0 --repeats 3 --out benchmarks/results/sim.json
    python benchmarks/bench_sim.py scaling --sizes 4000 40000 200000 --duration 1.0 \
        --brian2-python /path/to/python-with-brian2 --engines axonal brian2
    python benchmarks/bench_sim.py one cuba-axonal --duration 1.0

Brian2 needs numpy < 2.4; keep it (and nest-simulator) in its own environment and point ``--brian2-python`` at it
(the Brian2/NEST side is ``cuba_reference.py`` next to this file, which does not import axonal).
The whole-process wall time includes interpreter start, imports, build and run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

T0 = time.perf_counter()


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def one_axonal(name: str, n: int, duration: float, dt: float, seed: int,
               threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    from axonal.sim.examples import EXAMPLES

    t_import = time.perf_counter()
    builder = EXAMPLES[name]
    net, monitors = builder(n=n, seed=seed) if name != "brunel" else builder(
        n_e=int(n * 0.8), seed=seed)
    net.run(dt, dt, progress=False)  # builds
    t_build = time.perf_counter()
    stats = net.run(duration - dt, dt, progress=False)
    t_end = time.perf_counter()
    tables = [p.table for p in net.projections if p.table is not None]
    synapses = sum(t.n_synapses for t in tables)
    return {
        "config": f"{name}-axonal", "n": sum(m.source.n for m in monitors), "threads": threads,
        "import_s": t_import - T0, "build_s": t_build - t_import, "loop_s": stats.seconds,
        "wall_s": t_end - T0, "events": stats.events,
        "events_per_s": stats.events / stats.seconds,
        "rates_hz": {m.source.name: m.mean_rate(duration) for m in monitors},
        "cv_isi": {m.source.name: m.cv_isi() for m in monitors},
        "synapses": synapses, "table_bytes": sum(t.nbytes for t in tables),
        "table_bytes_per_synapse": sum(t.nbytes for t in tables) / max(synapses, 1),
        "peak_rss_bytes": _peak_rss_bytes(),
        "peak_rss_bytes_per_synapse": _peak_rss_bytes() / max(synapses, 1),
    }


def one_brian2(target: str, n: int, duration: float, dt: float, seed: int,
               indegree: bool = False) -> dict[str, Any]:
    from cuba_reference import brian2_cuba  # this folder is sys.path[0]: run as a script

    with tempfile.TemporaryDirectory() as folder:  # fresh cache for standalone
        out = brian2_cuba(n=n, duration=duration, dt=dt, seed=seed, target=target,
                          standalone_dir=os.path.join(folder, "standalone"),
                          indegree=(80, 20) if indegree else None)
    name = "cuba-indegree" if indegree else "cuba"
    out.update({"config": f"{name}-brian2-{target}", "n": n,
                "wall_s": time.perf_counter() - T0, "peak_rss_bytes": _peak_rss_bytes(),
                "events_per_s": out["events"] / out["loop_s"]})
    # Brian2 standalone runs the loop in a child process: ru_maxrss of children
    out["peak_rss_children_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return out


def one_nest(n: int, duration: float, dt: float, seed: int, threads: int,
             indegree: bool = False) -> dict[str, Any]:
    from cuba_reference import nest_cuba

    out = nest_cuba(n=n, duration=duration, dt=dt, seed=seed, threads=threads,
                    indegree=(80, 20) if indegree else None)
    name = "cuba-indegree" if indegree else "cuba"
    out.update({"config": f"{name}-nest", "n": n, "threads": threads,
                "wall_s": time.perf_counter() - T0, "peak_rss_bytes": _peak_rss_bytes(),
                "events_per_s": out["events"] / out["loop_s"]})
    return out


def launch(python: str, args: list[str]) -> dict[str, Any]:
    cmd = [python, os.path.abspath(__file__), "one", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[-1])
    for key in ("wall_s", "process_wall_s", "loop_s", "build_s", "import_s", "run_s",
                "events_per_s"):
        if key in runs[0]:
            out[key] = statistics.median(r[key] for r in runs)
    out["repeats"] = len(runs)
    return out


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("one")
    one.add_argument("config", help="cuba-axonal, coba-axonal, brunel-axonal, "
                     "cuba-indegree-axonal, cuba-brian2-<numpy|cython|cpp_standalone>")
    cmp_ = sub.add_parser("compare")
    scl = sub.add_parser("scaling")
    for p in (one, cmp_, scl):
        p.add_argument("--n", type=int, default=4000)
        p.add_argument("--duration", type=float, default=1.0)
        p.add_argument("--dt", type=float, default=1e-4)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--out", default=None, help="JSON file for the results")
    for p in (cmp_, scl):
        p.add_argument("--repeats", type=int, default=3)
    cmp_.add_argument("--brian2-python", default=None,
                      help="python with brian2 and nest-simulator (and axonal importable)")
    cmp_.add_argument("--brian2-targets", nargs="*", default=["cython", "cpp_standalone"])
    scl.add_argument("--sizes", type=int, nargs="*", default=[4000, 40000, 200000])
    scl.add_argument("--brian2-python", default=None)
    scl.add_argument("--engines", nargs="*", default=["axonal", "brian2", "nest"],
                     help="which simulators (brian2 and nest need --brian2-python)")
    args = parser.parse_args()

    common = ["--duration", str(args.duration), "--dt", str(args.dt), "--seed", str(args.seed)]
    if args.cmd == "one":
        if args.config.endswith("-axonal"):
            res = one_axonal(args.config[: -len("-axonal")], args.n, args.duration, args.dt,
                             args.seed, args.threads)
        elif args.config.startswith("cuba-brian2-"):
            res = one_brian2(args.config[len("cuba-brian2-"):], args.n, args.duration, args.dt,
                             args.seed)
        elif args.config in ("cuba-nest", "cuba-indegree-nest"):
            res = one_nest(args.n, args.duration, args.dt, args.seed, args.threads,
                           indegree=args.config == "cuba-indegree-nest")
        elif args.config.startswith("cuba-indegree-brian2-"):
            res = one_brian2(args.config[len("cuba-indegree-brian2-"):], args.n, args.duration,
                             args.dt, args.seed, indegree=True)
        else:
            parser.error(f"unknown config {args.config}")
        print(json.dumps(res))
        return 0

    results: dict[str, Any] = {"load_before": load_average(), "duration_s": args.duration,
                               "dt": args.dt, "threads": args.threads, "configs": []}
    jobs: list[tuple[str, list[str]]] = []
    if args.cmd == "compare":
        jobs.append((sys.executable, ["cuba-axonal", "--n", str(args.n), "--threads",
                                      str(args.threads), *common]))
        if args.brian2_python:
            jobs.append((args.brian2_python, ["cuba-nest", "--n", str(args.n), "--threads",
                                              str(args.threads), *common]))
            for target in args.brian2_targets:
                jobs.append((args.brian2_python, [f"cuba-brian2-{target}", "--n", str(args.n),
                                                  *common]))
    else:
        for size in args.sizes:
            if "axonal" in args.engines:
                jobs.append((sys.executable, ["cuba-indegree-axonal", "--n", str(size),
                                              "--threads", str(args.threads), *common]))
            if args.brian2_python and "nest" in args.engines:
                jobs.append((args.brian2_python, ["cuba-indegree-nest", "--n", str(size),
                                                  "--threads", str(args.threads), *common]))
            if args.brian2_python and "brian2" in args.engines:
                jobs.append((args.brian2_python, ["cuba-indegree-brian2-cpp_standalone", "--n",
                                                  str(size), *common]))
    for python, job in jobs:
        runs = [launch(python, job) for _ in range(args.repeats)]
        med = median_of(runs)
        results["configs"].append(med)
        print(f"{med['config']:<38} n={med['n']:<8} wall {med['process_wall_s']:7.2f} s  "
              f"loop {med.get('loop_s', float('nan')):7.2f} s  rates "
              f"{ {k: round(v, 2) for k, v in med['rates_hz'].items()} }  "
              f"cv { {k: round(v, 3) for k, v in med['cv_isi'].items()} }"
              + (f"  {med['events_per_s'] / 1e6:.1f} M ev/s" if "events_per_s" in med else "")
              + (f"  {med['peak_rss_bytes_per_synapse']:.1f} B/syn peak"
                 if "peak_rss_bytes_per_synapse" in med else ""), flush=True)
    results["load_after"] = load_average()
    print(f"load average before: {results['load_before']}, after: {results['load_after']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
