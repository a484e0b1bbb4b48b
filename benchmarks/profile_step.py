"""Where the time of a training step goes, 1 thread (the figures quoted in docs/kernels.md).

* ``onb`` n=512: the step split at its seams (Linear forward, LIF forward, loss, LIF backward,
  Linear backward; the LIF backward ends when the gradient reaches the Linear output), for the
  floor and for axonal; and the LIF ops timed alone on the same input.
* ``shd`` floor with and without flushing denormal floats, and how many of the logits'
  gradients are denormal (the reason ``bench_kernels.py`` flushes them in every worker).

Medians over ``--reps`` rounds of ``--steps`` iterations. Usage::

    python benchmarks/profile_step.py
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_kernels import NEURONS, make_step  # noqa: E402


def _median_ms(f: Callable[[], object], reps: int, steps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(steps):
            f()
        times.append((time.perf_counter() - start) / steps)
    return 1e3 * statistics.median(times)


def onb_breakdown(reps: int, steps: int) -> None:
    T, B, n = 500, 16, 512
    torch.manual_seed(0)
    x = (torch.rand(T, B, n) < 0.1).float()
    layer = torch.nn.Linear(n, n)
    torch.nn.init.normal_(layer.weight, std=2.0 / math.sqrt(n))
    neuron = NEURONS["axonal"]()

    def split(with_neuron: bool) -> list[float]:
        layer.zero_grad(set_to_none=True)
        marks = [time.perf_counter()]
        h = layer(x)
        marks.append(time.perf_counter())
        s = h
        if with_neuron:
            s = neuron(h)
            marks.append(time.perf_counter())
            h.register_hook(lambda g: marks.append(time.perf_counter()))
        loss = s.sum()
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        return [1e3 * (b - a) for a, b in zip(marks, marks[1:])]

    for name, with_neuron, parts in (
        ("floor", False, ["linear fwd", "loss", "backward (incl. broadcast copy)"]),
        ("axonal", True, ["linear fwd", "LIF fwd", "loss", "LIF bwd", "linear bwd"]),
    ):
        for _ in range(3):
            split(with_neuron)
        rows = [split(with_neuron) for _ in range(reps * steps)]
        medians = [statistics.median(c) for c in zip(*rows)]
        total = statistics.median(sum(r) for r in rows)
        print(f"onb512 {name:6s} step {total:6.1f} ms: "
              + ", ".join(f"{p} {m:.1f}" for p, m in zip(parts, medians)))

    from axonal.kernels import ops

    h = layer(x).detach().reshape(T, -1)
    N = h.shape[1]
    full = lambda v: torch.full((N,), v)  # noqa: E731
    beta = 0.9
    coeffs = (full(beta), full(1.0), full(0.0), full(1.0 / (1.0 - beta)), full(0.0))
    fwd = lambda: ops.lif_forward(h, full(0.0), *coeffs, 0, True, 0, 25.0, ops.SEG)  # noqa: E731
    out = fwd()
    ones = torch.ones(1, N).expand(T, N)
    bwd = lambda: ops.lif_backward(ones, full(0.0), h, out[3], out[2], *coeffs,  # noqa: E731
                                   0, True, 0, 25.0, ops.SEG)
    print(f"onb512 LIF ops alone: forward {_median_ms(fwd, reps, steps):.1f} ms, "
          f"backward {_median_ms(bwd, reps, steps):.1f} ms")


def shd_denormals(reps: int, steps: int) -> None:
    T, B, sizes = 100, 32, [700, 256, 20]
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        torch.manual_seed(0)
        x = (torch.rand(T, B, sizes[0]) < 0.1).float()
        layers = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        for layer in layers:
            torch.nn.init.normal_(layer.weight, std=2.0 / math.sqrt(layer.in_features))
        labels = torch.randint(0, sizes[-1], (B,))
        floor = make_step("shd", x, layers, None, labels)
        floor()
        h = x
        for layer in layers:
            h = layer(h)
        logits = h.sum(0).detach().requires_grad_()
        (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, labels), logits)
        tiny = int(((grad.abs() < torch.finfo(torch.float32).tiny) & (grad != 0)).sum())
        print(f"shd floor, flush denormals {flush!s:5s}: {_median_ms(floor, reps, steps):.1f} ms; "
              f"{tiny} of {grad.numel()} logit gradients denormal")
    torch.set_flush_denormal(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    if min(args.reps, args.steps) < 1:
        raise ValueError("--reps and --steps must be >= 1")
    torch.set_num_threads(1)
    onb_breakdown(args.reps, args.steps)
    shd_denormals(args.reps, args.steps)


if __name__ == "__main__":
    main()
