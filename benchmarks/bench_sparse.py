"""Dense vs event-driven (axonal.sparse) inference of a 784-1000-10 spiking network, 1 thread.

Network: Linear(784, 1000) -> LIF -> Linear(1000, 10) -> LI readout, T steps, one sample at a
time (batch 1). Inputs are Bernoulli spike trains at a fixed rate per input per step. For each
rate, ``--repeats`` rounds alternate the two paths (dense, sparse, dense, sparse, ...; the
order flips every round); in each round a path infers ``--samples`` different inputs, and the
time per sample is that round's total / samples. Reported: the median over rounds, for the
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


def round_time(fn: Callable[[Tensor], object], inputs: list[Tensor]) -> float:
    start = time.perf_counter()
    for x in inputs:
        fn(x)
    return (time.perf_counter() - start) / len(inputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the markdown table here too")
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
                    times[name].append(round_time(nets[name], inputs))
                    layer = nets[name].layers[0]
                    times[f"{name} L1"].append(round_time(layer, inputs))
                    times[f"{name} step"].append(round_time(lambda x, f=layer: [f(xt) for xt in x], inputs))
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
        f"784-1000-10, T={args.steps}, batch 1, 1 thread, {args.samples} samples x {args.repeats} interleaved "
        f"rounds (medians); load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
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
    table = "\n".join(lines)
    print()
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
