"""A small training run in its own process, for tests/train/test_resume.py.

    python _fit_worker.py OUT_DIR MODE [--stall-at N]

MODE ``plain``: train without checkpoints; ``checkpoint``: write ``OUT_DIR/state.pt`` every 4
batches; ``resume``: continue from ``OUT_DIR/state.pt``. With ``--stall-at N`` the worker
writes ``OUT_DIR/stalled`` when training batch N (1-based, over the whole run) starts and then
sleeps until it is killed. At the end it writes ``OUT_DIR/weights.pt`` (the state_dict) and
``OUT_DIR/history.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from axonal.functional import encode
from axonal.nn import LI, LIF, Sequential, SequentialResult
from axonal.train.losses import membrane_cross_entropy
from axonal.train.loop import TrainConfig, fit, seed_everything

STEPS = 10
CHECKPOINT_EVERY = 4
CONFIG = TrainConfig(epochs=3, batch_size=8, lr=1e-2, seed=2, progress=False)  # 7 batches per epoch


def data() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 2, (52,), generator=g)
    x = torch.rand(52, 8, generator=g) * 0.3
    x[y == 0, :4] += 0.6
    x[y == 1, 4:] += 0.6
    return x.clamp(0, 1), y


def model() -> Sequential:
    seed_everything(0)
    return Sequential(
        nn.Linear(8, 16), LIF(r=10.0, learn=("tau_mem",), shape=(16,)), nn.Dropout(0.2), nn.Linear(16, 2), LI(r=5.0)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("mode", choices=["plain", "checkpoint", "resume"])
    parser.add_argument("--stall-at", type=int)
    args = parser.parse_args()
    batches = 0

    def encoder(x: Tensor, gen: torch.Generator) -> Tensor:
        nonlocal batches
        if torch.is_grad_enabled():  # a training batch (evaluation runs without grad)
            batches += 1
            if batches == args.stall_at:
                (args.out / "stalled").write_text(str(batches))
                while True:  # wait here, mid-epoch, for SIGKILL
                    time.sleep(1)
        # numpy's and Python's generators take part, so that their states must be restored too
        noise = float(np.random.rand()) * 1e-3 + random.random() * 1e-3
        return encode.rate((x + noise).clamp(0, 1), STEPS, generator=gen)

    def loss(r: SequentialResult, y: Tensor) -> Tensor:
        return membrane_cross_entropy(r.out, y)

    def predict(r: SequentialResult) -> Tensor:
        return r.out.amax(0).argmax(1)

    x, y = data()
    net = model()
    state = args.out / "state.pt"
    kwargs: dict[str, object] = {}
    if args.mode != "plain":
        kwargs = {"checkpoint": state, "checkpoint_every": CHECKPOINT_EVERY}
    if args.mode == "resume":
        kwargs["resume"] = state
    history = fit(net, (x, y), encoder, loss, predict, CONFIG, test=(x, y), **kwargs)  # type: ignore[arg-type]
    torch.save(net.state_dict(), args.out / "weights.pt")
    (args.out / "history.json").write_text(json.dumps([list(h)[:4] for h in history]))


if __name__ == "__main__":
    main()
