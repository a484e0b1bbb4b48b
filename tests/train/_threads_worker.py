"""Train a few batches of a small digits classifier through ``fit`` in a fresh process with a
given thread count and save the weights (tests/train/test_threads.py).

    python _threads_worker.py THREADS OUT_FILE

A fresh process matters: there the fused kernels' first parallel loop runs inside ``fit``.
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor, nn

from axonal.data.digits import load_digits_split
from axonal.functional import encode
from axonal.nn import LI, LIF, Sequential, SequentialResult
from axonal.train.losses import membrane_cross_entropy
from axonal.train.loop import TrainConfig, evaluate, fit, seed_everything

SAMPLES, STEPS, HIDDEN, BATCH = 64, 8, 16, 32


def main() -> None:
    threads, out = int(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(threads)
    data = load_digits_split()
    seed_everything(0)
    model = Sequential(
        nn.Linear(64, HIDDEN),
        LIF(tau_mem=10e-3, r=10.0, learn=("tau_mem",), shape=(HIDDEN,)),
        nn.Linear(HIDDEN, 10),
        LI(tau_mem=20e-3, r=5.0),
    )

    def enc(v: Tensor, gen: torch.Generator) -> Tensor:
        return encode.rate(v, STEPS, generator=gen)

    def loss(r: SequentialResult, target: Tensor) -> Tensor:
        return membrane_cross_entropy(r.out, target, reduce="mean")

    def predict(r: SequentialResult) -> Tensor:
        return r.out.amax(0).argmax(1)

    config = TrainConfig(epochs=2, batch_size=BATCH, lr=5e-3, seed=0, progress=False)
    fit(model, (data.x_train[:SAMPLES], data.y_train[:SAMPLES]), enc, loss, predict, config)
    acc = evaluate(model, (data.x_test, data.y_test), enc, predict, torch.Generator().manual_seed(1))
    torch.save({"state": model.state_dict(), "accuracy": torch.tensor(acc)}, out)


if __name__ == "__main__":
    main()
