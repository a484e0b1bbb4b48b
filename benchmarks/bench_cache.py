"""The CPU buffer cache's effect on a training step: ``onb`` n=512 with the cache on and off.

Each setting runs in fresh worker processes, alternated (on, off, on, off, ...), 1 thread
(``torch.set_num_threads(1)``), once with ``OMP_NUM_THREADS=1`` in the environment (as
``bench_kernels.py`` runs its workers) and once without: glibc returns more memory to the
system without it, and the cache matters more there.
A worker times the floor (Linear alone) and the axonal step (Linear -> fused LIF) in turns,
``--rounds`` x ``--steps`` iterations each, and reports the median per-step time of both,
their ratio and the page faults per step. The parent prints the median over workers.

Usage::

    python benchmarks/bench_cache.py --workers 4
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _worker(rounds: int, steps: int) -> None:
    import torch

    from bench_kernels import make_step, NEURONS

    torch.set_num_threads(1)
    T, B, n = 500, 16, 512
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(T, B, n, generator=gen) < 0.1).float()
    layer = torch.nn.Linear(n, n)
    torch.nn.init.normal_(layer.weight, std=2.0 / math.sqrt(n))
    floor = make_step("onb512", x, [layer], None, None)
    ours = make_step("onb512", x, [layer], [NEURONS["axonal"]()], None)
    for f in (floor, ours):
        f()
        f()
    times: dict[str, list[float]] = {"floor": [], "axonal": []}
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        for name, f in (("floor", floor), ("axonal", ours)):
            start = time.perf_counter()
            for _ in range(steps):
                f()
            times[name].append((time.perf_counter() - start) / steps)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    fl, ax = statistics.median(times["floor"]), statistics.median(times["axonal"])
    print(f"{fl:.6f} {ax:.6f} {faults / (2 * rounds * steps):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=4, help="fresh processes per setting")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    if min(args.workers, args.rounds, args.steps) < 1:
        raise ValueError("--workers, --rounds and --steps must be >= 1")
    rows: dict[str, list[tuple[float, float, float]]] = {
        f"cache {state}, {omp}": [] for omp in ("OMP_NUM_THREADS=1", "no OMP env")
        for state in ("on", "off")}
    for _ in range(args.workers):
        for name in rows:
            env = {k: v for k, v in os.environ.items()
                   if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "AXONAL_CPU_CACHE_MB")}
            if "OMP_NUM_THREADS=1" in name:
                env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
            if name.startswith("cache off"):
                env["AXONAL_CPU_CACHE_MB"] = "0"
            out = subprocess.run([sys.executable, __file__, "--worker", str(args.rounds), str(args.steps)],
                                 env=env, capture_output=True, text=True, check=True).stdout.split()
            fl, ax, faults = (float(v) for v in out[-3:])
            rows[name].append((fl, ax, faults))
            print(f"  {name}: floor {fl * 1e3:.1f} ms, axonal {ax * 1e3:.1f} ms, ratio {ax / fl:.3f}, "
                  f"{faults:.0f} page faults per step", file=sys.stderr)
    print(f"onb n=512, 1 thread, load before: {os.getloadavg()[0]:.2f}; medians over {args.workers} workers")
    print("| setting | floor ms | axonal ms | axonal / floor (per worker) | page faults / step |")
    print("|---|---:|---:|---|---:|")
    for name, vals in rows.items():
        ratios = sorted(ax / fl for fl, ax, _ in vals)
        print(f"| {name} | {statistics.median(v[0] for v in vals) * 1e3:.1f} | "
              f"{statistics.median(v[1] for v in vals) * 1e3:.1f} | median {statistics.median(ratios):.3f} "
              f"({', '.join(f'{r:.2f}' for r in ratios)}) | {statistics.median(v[2] for v in vals):.0f} |")


if __name__ == "__main__":
    main()
