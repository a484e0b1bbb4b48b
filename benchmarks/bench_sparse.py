"""Dense vs event-driven (axonal.sparse) inference of a 784-1000-10 spiking network, 1 thread.

Network: Linear(784, 1000) -> LIF -> Linear(1000, 10) -> LI readout, T steps, one sample at a
time (batch 1). Inputs are Bernoulli spike trains at a fixed rate per input per step. For each
rate, ``--repeats`` rounds alternate the two paths (dense, sparse, dense, sparse, ...; the
order flips every round); in each round a path infers ``--samples`` different inputs, and the
time per sample is that round's total / samples (``--clock cpu``, the default: the thread's
CPU time, which excludes the time other processes hold the core; ``--clock wall``: elapsed). Reported: the median over rounds, for the
whole network, for the first layer alone on the whole ``[T, 1, 784]`` sequence (one call: the
dense path is one matrix-matrix product), and for the first layer called step by step on
``[1, 784]`` (streaming / closed-loop inference: the dense path is T matrix-vector products). Both
paths share the same neuron layers (the LIF's fastest available backend) and the outputs are
checked equal before timing.

Usage:  python benchmarks/bench_sparse.py [--steps 25] [--samples 20] [--repeats 7] [--out FILE]
Measure on a quiet machine: the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from axonal.nn import LI, LIF, Sequential
from axonal.sparse import sparsify

RATES = (0.01, 0.05, 0.10, 0.25, 0.50)


def build(seed: int = 0) -> Sequential:
    torch.manual_seed(seed)
    return Sequential(
        nn.Linear(784, 1000),
        LIF(tau_mem=20e-3, r=20.0),
        nn.Linear(1000, 10),
        LI(tau_mem=20e-3),
    ).eval()


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def round_time(fn: Callable[[Tensor], object], inputs: list[Tensor], clock: str) -> float:
    tick = CLOCKS[clock]
    start = tick()
    for x in inputs:
        fn(x)
    return (tick() - start) / len(inputs)


def crossover(rows: list[tuple[float, float, dict[str, float]]], key: str) -> str:
    """Input rate where sparse and dense take equal time (linear interpolation of the speed-up)."""
    points = [(rate, med[f"dense{key}"] / med[f"sparse{key}"]) for rate, _, med in rows]
    if points[0][1] < 1:
        return f"below {points[0][0]:.0%} (the sparse path is slower at every rate measured)"
    for (r0, s0), (r1, s1) in zip(points, points[1:]):
        if s0 >= 1 > s1:
            return f"about {r0 + (s0 - 1) / (s0 - s1) * (r1 - r0):.0%}"
    return f"above {points[-1][0]:.0%} (the sparse path is faster at every rate measured)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the markdown table here too")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="cpu: this thread's CPU time (robust when other processes share the cores); wall: elapsed time",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    dense = build()
    sparse = sparsify(copy.deepcopy(dense))
    load_before = os.getloadavg()
    gen = torch.Generator().manual_seed(1)
    rows = []
    for rate in RATES:
        inputs = [(torch.rand(args.steps, 1, 784, generator=gen) < rate).float() for _ in range(args.samples)]
        with torch.no_grad():
            for x in inputs[:3]:  # equal outputs (and warm-up)
                torch.testing.assert_close(sparse(x)[0], dense(x)[0], rtol=1e-4, atol=1e-4)
            hidden_rate = float(torch.stack([dense.run(x).outputs[1].mean() for x in inputs]).mean())
            times: dict[str, list[float]] = {k: [] for k in ("dense", "sparse", "dense L1", "sparse L1", "dense step", "sparse step")}
            nets = {"dense": dense, "sparse": sparse}
            for r in range(args.repeats):
                order = ("dense", "sparse") if r % 2 == 0 else ("sparse", "dense")
                for name in order:
                    times[name].append(round_time(nets[name], inputs, args.clock))
                    layer = nets[name].layers[0]
                    times[f"{name} L1"].append(round_time(layer, inputs, args.clock))
                    times[f"{name} step"].append(round_time(lambda x, f=layer: [f(xt) for xt in x], inputs, args.clock))
        med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
        rows.append((rate, hidden_rate, med))
        print(
            f"rate {rate:4.0%}: network dense {med['dense']:8.1f} us  sparse {med['sparse']:8.1f} us  "
            f"x{med['dense'] / med['sparse']:.2f} | layer 1 dense {med['dense L1']:7.1f} us  "
            f"sparse {med['sparse L1']:7.1f} us  x{med['dense L1'] / med['sparse L1']:.2f} | step by step "
            f"x{med['dense step'] / med['sparse step']:.2f}",
            flush=True,
        )
    load_after = os.getloadavg()
    lines = [
        f"784-1000-10, T={args.steps}, batch 1, 1 thread, {args.clock} time, {args.samples} samples x "
        f"{args.repeats} interleaved rounds (medians); load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"torch {torch.__version__}",
        "",
        "| input rate | hidden rate | network dense (us/sample) | network sparse | speed-up "
        "| layer 1 dense | layer 1 sparse | speed-up | layer 1 step by step: dense | sparse | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rate, hidden_rate, med in rows:
        lines.append(
            f"| {rate:.0%} | {hidden_rate:.3f} | {med['dense']:.0f} | {med['sparse']:.0f} "
            f"| {med['dense'] / med['sparse']:.2f}x | {med['dense L1']:.0f} | {med['sparse L1']:.0f} "
            f"| {med['dense L1'] / med['sparse L1']:.2f}x | {med['dense step']:.0f} | {med['sparse step']:.0f} "
            f"| {med['dense step'] / med['sparse step']:.2f}x |"
        )
    for label, key in (("network", ""), ("layer 1", " L1"), ("layer 1 step by step", " step")):
        lines.append("")
        lines.append(f"crossover ({label}): {crossover(rows, key)}")
    table = "\n".join(lines)
    print()
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
