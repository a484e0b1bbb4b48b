"""Dense vs event-driven (axonal.nn.event) inference of a 784-1000-10 spiking network, 1 thread.

Network: Linear(784, 1000) -> LIF -> Linear(1000, 10) -> LI readout, T steps, one sample at a
time (batch 1). Inputs are Bernoulli spike trains at a fixed rate per input per step. Paths:

* network dense: the ``Sequential`` as built (``nn.Linear`` products, the LIF's fastest
  available backend, the LI's reference loop): what a user runs without ``axonal.nn.event``;
* network sparse: :class:`axonal.nn.event.EventNetwork` over a copy of it (one compiled call per
  sample: event-driven currents for both linear layers, LIF and LI updates in the same call);
* sparsified layers: ``sparsify`` on a copy (the linear layers event-driven, the neuron layers
  as in the dense network), to show what the layers alone give inside the ``Sequential``;
* layer 1 alone (``nn.Linear`` vs ``SpikeLinear``) on the whole ``[T, 1, 784]`` sequence (one
  call: the dense path is one matrix-matrix product) and step by step on ``[1, 784]``
  (streaming / closed-loop inference: the dense path is T matrix-vector products).

For each rate, ``--repeats`` rounds run the paths in turn (the order flips every round); in
each round a path infers ``--samples`` different inputs, and the time per sample is that
round's total / samples (``--clock cpu``, the default: the thread's CPU time, which excludes
the time other processes hold the core; ``--clock wall``: elapsed). Reported: the median over
rounds. The outputs of every network path are checked equal to the dense one before timing.

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
from axonal.nn.event import EventNetwork, sparsify

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


def crossover(rows: list[tuple[float, float, dict[str, float]]], key: str, level: float = 1.0) -> str:
    """Input rate where the sparse path's speed-up falls to ``level`` (1: both take equal time;
    linear interpolation of the speed-up between measured rates)."""
    points = [(rate, med[f"dense{key}"] / med[f"sparse{key}"]) for rate, _, med in rows]
    if points[0][1] < level:
        return f"below {points[0][0]:.0%} (the speed-up is under {level:g}x at every rate measured)"
    for (r0, s0), (r1, s1) in zip(points, points[1:]):
        if s0 >= level > s1:
            return f"about {r0 + (s0 - level) / (s0 - s1) * (r1 - r0):.0%}"
    return f"above {points[-1][0]:.0%} (the speed-up is at least {level:g}x at every rate measured)"


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
    sparse = EventNetwork(copy.deepcopy(dense))
    layers = sparsify(copy.deepcopy(dense))
    load_before = os.getloadavg()
    gen = torch.Generator().manual_seed(1)
    rows = []
    for rate in RATES:
        inputs = [(torch.rand(args.steps, 1, 784, generator=gen) < rate).float() for _ in range(args.samples)]
        with torch.no_grad():
            for x in inputs[:3]:  # equal outputs (and warm-up)
                assert sparse._event_forward(x, None) is not None, "the compiled event path did not run"
                torch.testing.assert_close(sparse(x)[0], dense(x)[0], rtol=1e-4, atol=1e-4)
                torch.testing.assert_close(layers(x)[0], dense(x)[0], rtol=1e-4, atol=1e-4)
            hidden_rate = float(torch.stack([dense.run(x).outputs[1].mean() for x in inputs]).mean())
            keys = ("dense", "sparse", "layers", "dense L1", "sparse L1", "dense step", "sparse step")
            times: dict[str, list[float]] = {k: [] for k in keys}
            nets: dict[str, Callable[[Tensor], object]] = {"dense": dense, "sparse": sparse, "layers": layers}
            first = {"dense": dense.layers[0], "sparse": layers.layers[0]}
            for r in range(args.repeats):
                order = ("dense", "sparse", "layers") if r % 2 == 0 else ("layers", "sparse", "dense")
                for name in order:
                    times[name].append(round_time(nets[name], inputs, args.clock))
                    if name in first:
                        layer = first[name]
                        times[f"{name} L1"].append(round_time(layer, inputs, args.clock))
                        times[f"{name} step"].append(
                            round_time(lambda x, f=layer: [f(xt) for xt in x], inputs, args.clock)
                        )
        med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
        rows.append((rate, hidden_rate, med))
        print(
            f"rate {rate:4.0%}: network dense {med['dense']:8.1f} us  sparse {med['sparse']:8.1f} us  "
            f"x{med['dense'] / med['sparse']:.2f} | sparsified layers x{med['dense'] / med['layers']:.2f} | layer 1 dense {med['dense L1']:7.1f} us  "
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
        "| sparsified layers | speed-up "
        "| layer 1 dense | layer 1 sparse | speed-up | layer 1 step by step: dense | sparse | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rate, hidden_rate, med in rows:
        lines.append(
            f"| {rate:.0%} | {hidden_rate:.3f} | {med['dense']:.0f} | {med['sparse']:.0f} "
            f"| {med['dense'] / med['sparse']:.2f}x | {med['layers']:.0f} | {med['dense'] / med['layers']:.2f}x "
            f"| {med['dense L1']:.0f} | {med['sparse L1']:.0f} "
            f"| {med['dense L1'] / med['sparse L1']:.2f}x | {med['dense step']:.0f} | {med['sparse step']:.0f} "
            f"| {med['dense step'] / med['sparse step']:.2f}x |"
        )
    for label, key in (("network", ""), ("layer 1", " L1"), ("layer 1 step by step", " step")):
        lines.append("")
        lines.append(f"crossover ({label}): {crossover(rows, key)}")
    lines.append("")
    lines.append(f"network speed-up at least 3x up to: {crossover(rows, '', 3.0)}")
    lines.append("")
    lines.append(
        "network sparse against the dense first layer alone (torch's product: what any dense "
        "network of this shape pays at least): "
        + ", ".join(f"{rate:.0%}: {med['dense L1'] / med['sparse']:.2f}x" for rate, _, med in rows)
    )
    table = "\n".join(lines)
    print()
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
