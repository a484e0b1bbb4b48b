"""Cost of plastic projections in the simulator (torch loop): static vs pair STDP, pair STDP with
per-synapse delays, triplet STDP and R-STDP on the same recurrent network.

Network: ``--n`` LIF neurons driven by ``n / 4`` Poisson inputs (Bernoulli 5 %), recurrent
Bernoulli(``--p``) excitatory projection (the plastic one), float32, dt = 0.1 ms. Each
configuration is built afresh (same seed, so the same connectivity), run ``--repeats`` times
for ``--duration`` biological seconds; the loop time (``RunStats.seconds``) is reported as the
median, with the load average before and after.

Usage::

    python benchmarks/bench_plastic.py --n 4000 --p 0.02 --duration 0.2 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from typing import Any

import torch

from axonal.functional.neurons import LIFParams, ResetMode
from axonal.functional.plasticity import RSTDPParams, STDPParams, TripletParams
from axonal.sim import (
    Bernoulli,
    Exponential,
    Network,
    PoissonSource,
    Population,
    Projection,
    ProjectionLearner,
)

DT = 1e-4
CONFIGS: dict[str, Any] = {
    "static": None,
    "pair": STDPParams(a_plus=1e-3, a_minus=1.05e-3, w_max=1.0),
    "pair, delays 1-20 steps": STDPParams(a_plus=1e-3, a_minus=1.05e-3, w_max=1.0),
    "triplet": TripletParams(w_max=1.0),
    "r-stdp": RSTDPParams(stdp=STDPParams(w_max=1.0)),
}


def build(name: str, n: int, p: float, seed: int) -> tuple[Network, int]:
    net = Network(seed=seed, backend="torch")
    inp = net.add(PoissonSource(n // 4, 10.0, name="in"))
    lif = LIFParams(tau_mem=20e-3, v_th=1.0, v_reset=0.0, t_ref=2e-3, reset=ResetMode.ZERO)
    exc = net.add(Population(lif, n, name="E"))
    net.add(Projection(inp, exc, Bernoulli(0.05), weight=0.4, delay=DT,
                       synapse=Exponential(5e-3, "in")))
    delay: Any = DT
    if "delays" in name:
        delay = lambda g, m: (1 + torch.randint(0, 20, (m,), generator=g)) * DT
    proj = net.add(Projection(exc, exc, Bernoulli(p), synapse=Exponential(5e-3, "rec"),
                              weight=lambda g, m: 0.05 * torch.rand(m, generator=g), delay=delay))
    if CONFIGS[name] is not None:
        net.add(ProjectionLearner(proj, CONFIGS[name]))
    return net, proj.expected_synapses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--p", type=float, default=0.02)
    ap.add_argument("--duration", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    load0 = os.getloadavg()[0]
    for name in args.configs:
        times, rates = [], []
        synapses = 0
        for _ in range(args.repeats):
            net, synapses = build(name, args.n, args.p, seed=0)
            stats = net.run(args.duration, DT, progress=False)
            times.append(stats.seconds)
            rates.append(stats.spikes["E"] / args.n / args.duration)
        row = {"config": name, "loop_s": statistics.median(times), "all_s": times,
               "rate_hz": statistics.median(rates), "synapses": synapses}
        results.append(row)
        print(f"{name:26s} loop {row['loop_s']:.3f} s (runs {', '.join(f'{t:.3f}' for t in times)})"
              f"  E rate {row['rate_hz']:.1f} Hz  plastic synapses ~{synapses}", flush=True)
    load1 = os.getloadavg()[0]
    base = results[0]["loop_s"] if results and results[0]["config"] == "static" else None
    if base:
        for row in results[1:]:
            print(f"{row['config']:26s} {row['loop_s'] / base:.2f}x static")
    print(f"load average {load0:.2f} -> {load1:.2f}, threads {args.threads}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "load": [load0, load1], "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
