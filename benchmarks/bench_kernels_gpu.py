"""GPU companion of ``bench_kernels.py``: axonal's Triton kernels against SpikingJelly's
fastest available CUDA implementation, same workloads and matched dynamics, one process.

Workloads (``bench_kernels.WORKLOADS`` plus ``onb16384``: [T=500, B=16, 16384] ->
Linear(16384, 16384) -> LIF, the Open Neuromorphic benchmark at its GPU size), each in two
forms: the whole step (Linear + neuron, forward + backward, sum of spikes as loss) and the
neuron layer alone on a fixed input (forward + backward), which is where the libraries
differ. ``floor`` is the Linear alone. Method: one warm-up per library, then ``--reps``
interleaved rounds (A B C A B C ...), each timed with CUDA events around one step after a
synchronisation; medians with min-max, and the peak of ``torch.cuda.max_memory_allocated``
over the step. SpikingJelly picks its CUDA implementation itself (native CUDA when built
from source, else Triton, else torch); the chosen one is printed. Matmuls run in plain fp32
(TF32 off, PyTorch's default).

Usage::

    python benchmarks/bench_kernels_gpu.py --out benchmarks/results/kernels_gpu.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_kernels import WORKLOADS, _neuron_axonal, _neuron_spikingjelly, make_step  # noqa: E402

GPU_WORKLOADS = {"onb16384": {"T": 500, "B": 16, "sizes": [16384, 16384]}, **WORKLOADS}


def _time(fn: Callable[[], Any]) -> float:
    if not torch.cuda.is_available():  # --device cpu smoke run
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3


def _peak(fn: Callable[[], Any]) -> float:
    if not torch.cuda.is_available():
        fn()
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def measure(workload: str, reps: int, libs: list[str], device: str) -> list[str]:
    spec = GPU_WORKLOADS[workload]
    T, B, sizes = spec["T"], spec["B"], spec["sizes"]
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    x = (torch.rand(T, B, sizes[0], generator=gen, device=dev) < 0.1).float()
    layers = [torch.nn.Linear(a, b).to(dev) for a, b in zip(sizes[:-1], sizes[1:])]
    for layer in layers:
        torch.nn.init.normal_(layer.weight, std=2.0 / math.sqrt(layer.in_features))
    labels = torch.randint(0, sizes[-1], (B,), generator=gen, device=dev)
    with torch.no_grad():
        h0 = layers[0](x)
    h0.requires_grad_(True)
    makers = {"axonal": _neuron_axonal("auto"), "spikingjelly": _neuron_spikingjelly}

    def whole(neurons: list[Any] | None) -> Callable[[], None]:
        return make_step(workload, x, layers, neurons, labels)

    def neuron_only(neuron: Any) -> Callable[[], None]:
        def step() -> None:
            h0.grad = None
            neuron(h0).sum().backward()
        return step

    steps: dict[str, Callable[[], None]] = {"floor": whole(None)}
    for lib in libs:
        steps[lib] = whole([makers[lib]() for _ in layers])
        steps[f"{lib} (neuron only)"] = neuron_only(makers[lib]())
    peaks = {name: _peak(fn) for name, fn in steps.items()}  # also the warm-up (compiles)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(reps):
        for name, fn in steps.items():
            times[name].append(_time(fn))
    f_med = statistics.median(times["floor"])
    lines = [
        f"## {workload} (T={T}, B={B}, sizes={sizes})", "",
        "| library | median ms | min-max ms | x floor | peak extra GPU memory MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = f"{med / f_med:.2f}" if "neuron only" not in name else "-"
        lines.append(f"| {name} | {1e3 * med:.2f} | {1e3 * min(ts):.2f}-{1e3 * max(ts):.2f} | {ratio} | {peaks[name]:.0f} |")
    if "axonal" in libs and "spikingjelly" in libs:
        for suffix in ("", " (neuron only)"):
            a = statistics.median(times["axonal" + suffix])
            s = statistics.median(times["spikingjelly" + suffix])
            lines.append("")
            lines.append(f"axonal vs spikingjelly{suffix or ' (whole step)'}: {s / a:.2f}x faster")
    lines.append("")
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=["onb16384", "onb2048", "long"], choices=list(GPU_WORKLOADS))
    parser.add_argument("--libs", nargs="+", default=["axonal", "spikingjelly"], choices=["axonal", "spikingjelly"])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--device", default="cuda", help="cuda; cpu only for a smoke run of the script")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "kernels_gpu.md")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_kernels_gpu.py needs a CUDA device (or --device cpu for a smoke run)")
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    header = [
        "# Fused-kernel benchmark (GPU)", "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `python benchmarks/bench_kernels_gpu.py` "
        f"on {device_name} (torch {torch.__version__}). Forward + backward per step; median of "
        f"{args.reps} interleaved repetitions (min-max, CUDA events); peak GPU memory allocated during one step "
        "beyond what was allocated before it.", "",
    ]
    if "spikingjelly" in args.libs:
        from spikingjelly.activation_based.functional.neuron import neuron_implementation

        choice = neuron_implementation("lif", torch.device(args.device))
        header += [f"SpikingJelly LIF implementation on this device: {choice}", ""]
    print("\n".join(header), flush=True)
    body: list[str] = []
    for workload in args.workloads:
        body += measure(workload, args.reps, args.libs, args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + body))


if __name__ == "__main__":
    main()
