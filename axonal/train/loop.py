"""Backpropagation through time over a time-major spiking model.

The loop is deliberately small: it shuffles with its own seeded generator, encodes each batch
to spikes (``encode``), runs the model once over all steps, and minimises ``objective``; the
model, encoder, objective and predictor are plain callables, so the same loop trains rate-
and latency-coded networks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import Tensor
from tqdm import tqdm

from axonal.functional.validate import check_int
from axonal.nn.container import Sequential, SequentialResult

__all__ = ["TrainConfig", "EpochLog", "fit", "evaluate", "seed_everything"]

Encoder = Callable[[Tensor, torch.Generator], Tensor]
"""``encode(x [B, ...], generator) -> spikes [T, B, ...]``."""
Objective = Callable[[SequentialResult, Tensor], Tensor]
"""``objective(result, target [B]) -> scalar loss``."""
Predictor = Callable[[SequentialResult], Tensor]
"""``predict(result) -> class index [B]``."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`fit`.

    Args:
        epochs: passes over the training set.
        batch_size: samples per gradient step.
        lr: Adam learning rate (cosine-annealed to zero over ``epochs``).
        weight_decay: Adam weight decay.
        seed: seeds shuffling and spike encoding (model initialisation is seeded by the caller
            with :func:`seed_everything`).
        progress: show a progress bar.
    """

    epochs: int = 40
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 0.0
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a float, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
                raise ValueError(f"{name} must be finite and {'> 0' if name == 'lr' else '>= 0'}, got {value}")
        check_int("seed", self.seed, minimum=0)


class EpochLog(NamedTuple):
    """One row of the training history."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


def seed_everything(seed: int) -> None:
    """Seed torch's global generator and ask for deterministic kernels."""
    check_int("seed", seed, minimum=0)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _check_data(x: Tensor, y: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a pair of tensors (inputs, labels)")
    if y.dim() != 1 or y.dtype != torch.int64:
        raise ValueError(f"{name} labels must be int64 of shape [N], got {y.dtype} {tuple(y.shape)}")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"{name} inputs and labels must have the same non-zero length, got {x.shape[0]} and {y.shape[0]}"
        )


@torch.no_grad()
def evaluate(
    model: Sequential,
    data: tuple[Tensor, Tensor],
    encode: Encoder,
    predict: Predictor,
    generator: torch.Generator,
    batch_size: int = 256,
) -> float:
    """Accuracy of ``predict`` on ``data`` (fraction in [0, 1])."""
    x, y = data
    _check_data(x, y, "data")
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        result = model.run(encode(x[start : start + batch_size], generator))
        correct += int((predict(result) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / x.shape[0]


def fit(
    model: Sequential,
    train: tuple[Tensor, Tensor],
    encode: Encoder,
    objective: Objective,
    predict: Predictor,
    config: TrainConfig,
    test: tuple[Tensor, Tensor] | None = None,
) -> list[EpochLog]:
    """Train ``model`` with BPTT and Adam; return one :class:`EpochLog` per epoch.

    ``test`` (optional) is evaluated after every epoch with a generator seeded from
    ``config.seed`` so that the reported accuracy is reproducible.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an axonal.nn.Sequential, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    x, y = train
    _check_data(x, y, "train")
    if test is not None:
        _check_data(*test, "test")
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    history: list[EpochLog] = []
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not config.progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(x.shape[0], generator=gen)
        total, correct, seen = 0.0, 0, 0
        for i in range(0, x.shape[0], config.batch_size):
            idx = order[i : i + config.batch_size]
            result = model.run(encode(x[idx], gen))
            loss = objective(result, y[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * idx.numel()
            correct += int((predict(result) == y[idx]).sum())
            seen += idx.numel()
        sched.step()
        test_acc = math.nan
        if test is not None:
            test_gen = torch.Generator().manual_seed(config.seed + 1)
            test_acc = evaluate(model, test, encode, predict, test_gen)
        log = EpochLog(epoch, total / seen, correct / seen, test_acc, time.perf_counter() - start)
        history.append(log)
        bar.set_postfix(loss=f"{log.loss:.3f}", train=f"{log.train_accuracy:.3f}", test=f"{test_acc:.3f}")
    return history
