"""Sweep the Triton kernels' launch shape (neurons per program, unroll factor, warps) on the
LIF layer alone, forward + backward, against SpikingJelly's LIF on the same input (CUDA).

Usage:  python benchmarks/sweep_triton.py   (prints one line per configuration)
"""

from __future__ import annotations

import math
import statistics

import torch

from axonal.functional.surrogate import FastSigmoid
from axonal.kernels import _triton
from axonal.nn import LIF

BETA, DT, SLOPE = 0.9, 1e-3, 25.0


def _time(fn: object, reps: int = 9) -> float:
    times = []
    for _ in range(reps + 1):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()  # type: ignore[operator]
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times[1:])


def main() -> None:
    layer = LIF(tau_mem=-DT / math.log(BETA), r=1 / (1 - BETA), v_th=1.0,
                surrogate=FastSigmoid(SLOPE), detach_reset=True, dt=DT, backend="triton")
    from spikingjelly.activation_based import functional, neuron, surrogate

    node = neuron.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_threshold=1.0, v_reset=None,
                          surrogate_function=surrogate.SuperSpike(alpha=SLOPE), detach_reset=True,
                          step_mode="m")
    for T, B, n in ((500, 16, 16384), (2000, 16, 128), (500, 16, 2048)):
        h = (torch.randn(T, B, n, device="cuda") * 0.6).requires_grad_()

        def sj() -> None:
            functional.reset_net(node)
            h.grad = None
            node(h).sum().backward()

        def ax() -> None:
            h.grad = None
            layer(h)[0].sum().backward()

        ref = _time(sj)
        for block in (128, 256, 512):
            for unroll in (1, 4):
                for warps in (1, 2, 4):
                    if block // (32 * warps) < 1:
                        continue
                    _triton._BLOCK, _triton._UNROLL, _triton._NUM_WARPS = block, unroll, warps
                    t = _time(ax)
                    print(f"T={T} N={B * n} block={block} unroll={unroll} warps={warps}: "
                          f"{t:.3f} ms, spikingjelly {ref:.3f} ms, ratio {ref / t:.2f}", flush=True)


if __name__ == "__main__":
    main()
