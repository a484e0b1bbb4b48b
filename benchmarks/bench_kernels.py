"""Fused-kernel benchmark: axonal (reference loop and fused kernel) vs snnTorch, Norse and
SpikingJelly on the same workloads, forward + backward, on CPU.

Workloads (time-major input of random 0/1 spikes, p = 0.1):

* ``onb512`` / ``onb2048``: [T=500, B=16, n] -> Linear(n, n) -> LIF, loss = sum of spikes
  (the Open Neuromorphic benchmark);
* ``long``: the same with T = 2000, n = 128 (neuron-bound);
* ``shd``: [T=100, B=32, 700] -> Linear(700, 256) -> LIF -> Linear(256, 20) -> LIF,
  cross-entropy on the summed output spikes;
* ``floor`` (implicit, one per workload): the same Linear layers alone with the same loss.

Matched dynamics: ``v = beta v + x`` with beta = 0.9, threshold 1, soft (subtract) reset,
fast-sigmoid (SuperSpike) surrogate of slope 25, reset detached where the library allows it.
Norse's Euler LIF scales the input by (1 - beta); its threshold and slope are scaled to match.

Method: every (library, workload, threads) configuration lives in its own fresh worker
process (so its RSS high-water mark is its own); the parent drives the workers of one
workload in interleaved rounds (A B C A B C ...), one timed repetition per worker per round,
after one untimed warm-up each. A repetition is the mean of k back-to-back iterations, k chosen
per worker from one timed iteration after the warm-up so that a repetition lasts about
``--rep-seconds`` (0.5 s; k = 1 for anything slower): on a shared machine a single 80 ms
iteration is at the mercy of a neighbour's burst, a 0.5 s window much less so. Reported:
median, min and max over the repetitions of the per-iteration time, k, the ratio to the floor,
peak RSS and its increase over the floor process. Every worker seeds torch (same weights in
every library) and flushes denormal floats to zero (see ``_worker``).

Usage::

    python benchmarks/bench_kernels.py                     # everything, 5 reps, 1 and 2 threads
    python benchmarks/bench_kernels.py --reps 7 --threads 1 --workloads long shd
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

BETA = 0.9
SLOPE = 25.0
DT = 1e-3
WORKLOADS: dict[str, dict[str, Any]] = {
    "onb512": {"T": 500, "B": 16, "sizes": [512, 512]},
    "onb2048": {"T": 500, "B": 16, "sizes": [2048, 2048]},
    "long": {"T": 2000, "B": 16, "sizes": [128, 128]},
    "shd": {"T": 100, "B": 32, "sizes": [700, 256, 20]},
}
LIBS = ["floor", "axonal", "axonal-reference", "snntorch", "norse", "spikingjelly"]


# ------------------------------------------------------------------------------ neurons
def _neuron_axonal(backend: str) -> Callable[[], Any]:
    def make() -> Any:
        from axonal.functional.surrogate import FastSigmoid
        from axonal.nn import LIF

        tau = -DT / math.log(BETA)
        layer = LIF(tau_mem=tau, r=1.0 / (1.0 - BETA), v_th=1.0, surrogate=FastSigmoid(SLOPE),
                    detach_reset=True, dt=DT, backend=backend)
        return lambda x: layer(x)[0]

    return make


def _neuron_snntorch() -> Any:
    import snntorch as snn
    from snntorch import surrogate

    lif = snn.Leaky(beta=BETA, threshold=1.0, spike_grad=surrogate.fast_sigmoid(slope=SLOPE),
                    reset_mechanism="subtract")

    def run(x: Any) -> Any:
        import torch

        mem = lif.init_leaky()
        spikes = []
        for t in range(x.shape[0]):
            spk, mem = lif(x[t], mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return run


def _neuron_norse() -> Any:
    import torch
    from norse.torch import LIFBoxCell, LIFBoxParameters
    from norse.torch.functional.reset import reset_subtract

    k = 1.0 - BETA  # Euler: v <- v + k (x - v) = beta v + k x; scale threshold and slope by k
    params = LIFBoxParameters(tau_mem_inv=torch.tensor(k / DT), v_th=torch.tensor(k),
                              v_reset=torch.tensor(0.0), method="super",
                              alpha=torch.tensor(SLOPE / k), reset_method=reset_subtract)
    cell = LIFBoxCell(params, dt=DT)

    def run(x: Any) -> Any:
        state = None
        spikes = []
        for t in range(x.shape[0]):
            z, state = cell(x[t], state)
            spikes.append(z)
        return torch.stack(spikes)

    return run


def _neuron_spikingjelly() -> Any:
    from spikingjelly.activation_based import functional, neuron, surrogate

    node = neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=1.0,
                          v_reset=None, surrogate_function=surrogate.SuperSpike(alpha=SLOPE),
                          detach_reset=True, step_mode="m")

    def run(x: Any) -> Any:
        functional.reset_net(node)
        return node(x)

    return run


NEURONS: dict[str, Callable[[], Any]] = {
    "axonal": _neuron_axonal("auto"),
    "axonal-reference": _neuron_axonal("reference"),
    "snntorch": _neuron_snntorch,
    "norse": _neuron_norse,
    "spikingjelly": _neuron_spikingjelly,
}


# ------------------------------------------------------------------------------- worker
def make_step(workload: str, x: Any, layers: list[Any], neurons: list[Any] | None,
              labels: Any) -> Callable[[], None]:
    """One training step of ``workload`` (forward + backward; gradients reset first); no
    neurons: the floor."""
    import torch

    params = [p for layer in layers for p in layer.parameters()]

    def step() -> None:
        for p in params:
            p.grad = None
        h = x
        for k, layer in enumerate(layers):
            h = layer(h)
            if neurons is not None:
                h = neurons[k](h)
        loss = torch.nn.functional.cross_entropy(h.sum(0), labels) if workload == "shd" else h.sum()
        loss.backward()

    return step


def _worker(lib: str, workload: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    # Denormal floats flush to zero in every worker: the floor's cross-entropy on unbounded
    # sums (shd) produces gradients below 1e-38, whose GEMMs then ran 1.6x slower (30.6 vs
    # 19.0 and 45.9 vs 27.9 ms in two runs of benchmarks/profile_step.py), a cost no spiking library pays and no physical
    # floor should include.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)  # the same Linear weights in every library's worker
    spec = WORKLOADS[workload]
    T, B, sizes = spec["T"], spec["B"], spec["sizes"]
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(T, B, sizes[0], generator=gen) < 0.1).float()
    layers = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:  # scale so that the hidden layers fire a few percent of the time
        torch.nn.init.normal_(layer.weight, std=2.0 / math.sqrt(layer.in_features))
    neurons = [NEURONS[lib]() for _ in layers] if lib != "floor" else None
    labels = torch.randint(0, sizes[-1], (B,), generator=gen)
    train_step = make_step(workload, x, layers, neurons, labels)

    def step() -> float:
        start = time.perf_counter()
        train_step()
        return time.perf_counter() - start

    step()  # warm-up (and, for axonal, loads the compiled kernel)
    print(f"ready {step():.6f}", flush=True)  # one timed iteration: the parent picks k from it
    for line in sys.stdin:
        words = line.split()
        if words and words[0] == "run":
            k = int(words[1])
            print(f"time {sum(step() for _ in range(k)) / k:.6f}", flush=True)
        else:
            break
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"rss {rss_kb}", flush=True)


# ------------------------------------------------------------------------------- parent
class Worker:
    def __init__(self, lib: str, workload: str, threads: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.lib = lib
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", lib, workload, str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )
        self.times: list[float] = []
        self.iters = 1  # iterations per repetition
        self.rss_mb = float("nan")
        self.error: str | None = None

    def _read(self, prefix: str) -> str | None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        self.error = f"worker exited with {self.proc.wait()}"
        return None

    def ready(self, rep_seconds: float) -> bool:
        value = self._read("ready")
        if value is None:
            return False
        self.iters = max(1, min(100, round(rep_seconds / max(float(value), 1e-6))))
        return True

    def run_once(self) -> None:
        if self.error:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"run {self.iters}\n")
        self.proc.stdin.flush()
        value = self._read("time ")
        if value is not None:
            self.times.append(float(value))

    def finish(self) -> None:
        if not self.error:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            value = self._read("rss ")
            if value is not None:
                self.rss_mb = float(value) / 1024.0
        self.proc.wait()


def _measure(workload: str, threads: int, libs: list[str], reps: int,
             rep_seconds: float) -> list[dict[str, Any]]:
    workers = [Worker(lib, workload, threads) for lib in libs]
    for w in workers:  # warm-ups run one after the other (never two workers at once)
        if not w.ready(rep_seconds):
            print(f"  {w.lib}: failed to start ({w.error})", file=sys.stderr)
    for _ in range(reps):
        for w in workers:  # interleaved: A B C A B C ...
            w.run_once()
    rows = []
    for w in workers:
        w.finish()
        rows.append({"lib": w.lib, "times": w.times, "iters": w.iters, "rss": w.rss_mb,
                     "error": w.error})
        if w.times:
            print(f"  {workload} t={threads} {w.lib:17s} median {1e3 * statistics.median(w.times):9.1f} ms"
                  f"  rss {w.rss_mb:7.1f} MB", file=sys.stderr)
    return rows


def _table(results: dict[tuple[str, int], list[dict[str, Any]]], reps: int, load: str,
           rep_seconds: float) -> str:
    lines = [
        "# Fused-kernel benchmark (CPU)",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
        f"`python benchmarks/bench_kernels.py` ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; load average before the run: {load}). "
        f"Forward + backward per iteration; median of {reps} interleaved repetitions "
        f"(min-max), each the mean of k iterations (k: about {rep_seconds:g} s per repetition); "
        "peak RSS of a fresh process per row and its increase over the floor process. "
        "Every worker uses the same seeded weights and flushes denormal floats to zero.",
        "",
    ]
    for (workload, threads), rows in results.items():
        spec = WORKLOADS[workload]
        lines += [
            f"## {workload} (T={spec['T']}, B={spec['B']}, sizes={spec['sizes']}), {threads} thread(s)",
            "",
            "| library | median ms | min-max ms | k | x floor | peak RSS MB | RSS over floor MB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        floor = next((r for r in rows if r["lib"] == "floor" and r["times"]), None)
        f_med = statistics.median(floor["times"]) if floor else float("nan")
        f_rss = floor["rss"] if floor else float("nan")
        for r in rows:
            if not r["times"]:
                lines.append(f"| {r['lib']} | failed: {r['error']} | | | | | |")
                continue
            med = statistics.median(r["times"])
            lines.append(
                f"| {r['lib']} | {1e3 * med:.1f} | {1e3 * min(r['times']):.1f}-{1e3 * max(r['times']):.1f}"
                f" | {r['iters']} | {med / f_med:.2f} | {r['rss']:.0f} | {r['rss'] - f_rss:.0f} |"
            )
        others = [r for r in rows if r["lib"] in ("snntorch", "norse", "spikingjelly") and r["times"]]
        ours = next((r for r in rows if r["lib"] == "axonal" and r["times"]), None)
        if ours and others:
            best = min(others, key=lambda r: statistics.median(r["times"]))
            lean = min(others, key=lambda r: r["rss"])
            speed = statistics.median(best["times"]) / statistics.median(ours["times"])
            mem = (ours["rss"] - f_rss) / max(lean["rss"] - f_rss, 1e-9)
            lines += [
                "",
                f"axonal vs fastest other ({best['lib']}): {speed:.2f}x faster; axonal / floor: "
                f"{statistics.median(ours['times']) / f_med:.2f}; axonal RSS increase / smallest "
                f"other increase ({lean['lib']}): {mem:.2f}",
            ]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, metavar=("LIB", "WORKLOAD", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--libs", nargs="+", default=LIBS, choices=LIBS)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rep-seconds", type=float, default=0.5,
                        help="target length of one repetition (k iterations, k >= 1)")
    parser.add_argument("--no-reference-on", nargs="*", default=["onb2048"], metavar="WORKLOAD",
                        help="workloads where axonal-reference is skipped (default: onb2048, "
                             "about a minute per repetition)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "kernels.md")
    args = parser.parse_args()
    if args.worker:
        lib, workload, threads = args.worker
        _worker(lib, workload, int(threads))
        return
    if args.reps < 1:
        raise ValueError(f"--reps must be >= 1, got {args.reps}")
    if args.rep_seconds <= 0:
        raise ValueError(f"--rep-seconds must be > 0, got {args.rep_seconds}")
    libs = ["floor"] + [lib for lib in args.libs if lib != "floor"]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for threads in args.threads:
        for workload in args.workloads:
            chosen = [lib for lib in libs
                      if not (lib == "axonal-reference" and workload in args.no_reference_on)]
            results[(workload, threads)] = _measure(workload, threads, chosen, args.reps,
                                                    args.rep_seconds)
    text = _table(results, args.reps, load, args.rep_seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
