"""Backpropagation through time over a time-major spiking model.

The loop is deliberately small: it shuffles with its own seeded generator, encodes each batch
to spikes (``encode``), runs the model once over all steps, and minimises ``objective``; the
model, encoder, objective and predictor are plain callables, so the same loop trains rate-
and latency-coded networks. It can write its whole state to a checkpoint every N batches and
resume from it at the exact batch (the weights at the end are those of an uninterrupted run),
and its result does not depend on the thread count (see :mod:`axonal.train.threads`).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor
from tqdm import tqdm

from axonal.errors import FileFormatError
from axonal.functional.validate import check_int
from axonal.nn.container import Sequential, SequentialResult
from axonal.train.checkpoint import PathLike, load_checkpoint, require_finite, restore, save_checkpoint
from axonal.train.state import from_plain, rng_states, set_rng_states, to_plain
from axonal.train.threads import thread_independent_blas

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
    """Seed torch's, numpy's (when installed) and Python's global generators and ask for
    deterministic kernels (:func:`fit` itself makes the result independent of the thread
    count)."""
    check_int("seed", seed, minimum=0)
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # numpy is optional for torch
        pass
    else:
        np.random.seed(seed % 2**32)
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
def _warm_up(model: Sequential, x: Tensor, encode: Encoder) -> None:
    """One forward pass over one encoded sample (eval mode, no grad), so that every compiled
    extension the model uses has run its first parallel loop, which resets MKL's thread count
    (see :meth:`axonal.train.threads.BlasPin.pin`), before MKL is pinned. Every random
    generator is put back: the pass leaves no trace in the run."""
    saved = rng_states(None)
    was_training = model.training
    model.eval()
    try:
        model.run(encode(x[:1], torch.Generator().manual_seed(0)))
    finally:
        model.train(was_training)
        set_rng_states(saved, None, where="the warm-up pass")


@torch.no_grad()
def evaluate(
    model: Sequential,
    data: tuple[Tensor, Tensor],
    encode: Encoder,
    predict: Predictor,
    generator: torch.Generator,
    batch_size: int = 256,
) -> float:
    """Accuracy of ``predict`` on ``data`` (fraction in [0, 1]); independent of the thread
    count, as :func:`fit` is."""
    x, y = data
    _check_data(x, y, "data")
    was_training = model.training
    model.eval()
    correct = 0
    with thread_independent_blas() as blas:
        _warm_up(model, x, encode)
        for start in range(0, x.shape[0], batch_size):
            blas.pin()
            result = model.run(encode(x[start : start + batch_size], generator))
            correct += int((predict(result) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / x.shape[0]


_STATE_KIND = "axonal-fit-state"


def _run_identity(config: TrainConfig, y: Tensor) -> dict[str, Any]:
    """What a checkpoint must agree on with the run that resumes from it."""
    labels = hashlib.sha256(y.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    return {
        "kind": _STATE_KIND,
        "train": {k: v for k, v in asdict(config).items() if k != "progress"},
        "samples": int(y.shape[0]),
        "labels_sha256": labels,
    }


class _Position(NamedTuple):
    epoch: int
    batch: int  # the next batch of ``epoch`` to run
    order: Tensor | None  # the epoch's permutation (None at an epoch boundary: not drawn yet)
    total: float
    correct: int
    seen: int
    history: list[EpochLog]
    elapsed: float
    steps: int


def _save_state(
    path: Path, model: Sequential, identity: dict[str, Any], opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator, pos: _Position,
) -> None:
    extra = {
        "position": {
            "epoch": pos.epoch, "batch": pos.batch, "order": pos.order, "total": pos.total,
            "correct": pos.correct, "seen": pos.seen, "elapsed": pos.elapsed, "steps": pos.steps,
            "history": [list(h) for h in pos.history],
        },
        "optimizer": to_plain(opt.state_dict(), "optimizer"),
        "scheduler": to_plain(sched.state_dict(), "scheduler"),
        "rng": rng_states(gen),
    }
    save_checkpoint(path, model, identity, extra)


def _bad(source: Path, why: str) -> FileFormatError:
    return FileFormatError(f"{str(source)!r} is not a training checkpoint of fit: {why}")


def _load_position(source: Path, raw: Any, config: TrainConfig, samples: int) -> _Position:
    if not isinstance(raw, dict):
        raise _bad(source, "it has no position")
    ints: dict[str, int] = {}
    for k in ("epoch", "batch", "correct", "seen", "steps"):
        v = raw.get(k)
        if type(v) is not int or v < 0:
            raise _bad(source, f"its position's {k} is {v!r:.40}, not a non-negative int")
        ints[k] = v
    floats: dict[str, float] = {}
    for k in ("total", "elapsed"):
        v = raw.get(k)
        if type(v) is not float or not math.isfinite(v):
            raise _bad(source, f"its running {k} is {v!r:.40}, not a finite float")
        floats[k] = v
    epoch, batch = ints["epoch"], ints["batch"]
    batches = -(-samples // config.batch_size)
    if epoch > config.epochs or batch >= batches or (epoch == config.epochs and batch != 0):
        raise _bad(source, f"its position (epoch {epoch}, batch {batch}) lies outside {config.epochs} "
                   f"epochs of {batches} batches")
    order = raw.get("order")
    if batch == 0:
        order = None
    elif (
        not isinstance(order, Tensor) or order.dtype != torch.int64 or tuple(order.shape) != (samples,)
        or not torch.equal(torch.sort(order).values, torch.arange(samples))
    ):
        raise _bad(source, f"its epoch order is not a permutation of the {samples} training samples")
    history_raw = raw.get("history")
    if type(history_raw) is not list or len(history_raw) != epoch:
        raise _bad(source, f"its history does not hold one row for each of its {epoch} finished epochs")
    history = []
    for i, row in enumerate(history_raw):
        types = (int, float, float, float, float)
        if type(row) is not list or len(row) != 5 or any(type(v) is not t for v, t in zip(row, types)) or row[0] != i:
            raise _bad(source, f"its history row {i} is malformed")
        history.append(EpochLog(*row))
    return _Position(epoch, batch, order, floats["total"], ints["correct"], ints["seen"], history,
                     floats["elapsed"], ints["steps"])


def _resume(
    path: PathLike, model: Sequential, identity: dict[str, Any], opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator, config: TrainConfig,
) -> _Position:
    source = Path(path)
    ckpt = load_checkpoint(source)  # weights checked here; optimizer state once decoded
    if ckpt.config.get("kind") != _STATE_KIND or ckpt.extra is None:
        raise _bad(source, f"its config kind is {ckpt.config.get('kind')!r} (a model checkpoint, not a training state?)")
    for key in ("train", "samples", "labels_sha256"):
        if ckpt.config.get(key) != identity[key]:
            raise ValueError(
                f"cannot resume from {str(source)!r}: it was written by a run with {key}="
                f"{ckpt.config.get(key)!r}, this run has {key}={identity[key]!r}"
            )
    extra = ckpt.extra
    pos = _load_position(source, extra.get("position"), config, identity["samples"])
    opt_state = from_plain(extra.get("optimizer"), "optimizer")
    sched_state = from_plain(extra.get("scheduler"), "scheduler")
    if not isinstance(opt_state, dict) or not isinstance(sched_state, dict):
        raise _bad(source, "its optimizer or scheduler state is not a dict")
    require_finite(opt_state, "optimizer", source)
    restore(model, ckpt)  # ValueError naming missing / unexpected / mis-shaped weights
    try:
        opt.load_state_dict(opt_state)
        sched.load_state_dict(sched_state)
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as err:
        raise _bad(source, f"its optimizer or scheduler state does not fit this model ({type(err).__name__}: {err})") from err
    set_rng_states(extra.get("rng"), gen, where=repr(str(source)))
    return pos


def fit(
    model: Sequential,
    train: tuple[Tensor, Tensor],
    encode: Encoder,
    objective: Objective,
    predict: Predictor,
    config: TrainConfig,
    test: tuple[Tensor, Tensor] | None = None,
    *,
    checkpoint: PathLike | None = None,
    checkpoint_every: int = 0,
    resume: PathLike | None = None,
    before_batch: Callable[[float], None] | None = None,
) -> list[EpochLog]:
    """Train ``model`` with BPTT and Adam; return one :class:`EpochLog` per epoch.

    ``test`` (optional) is evaluated after every epoch with a generator seeded from
    ``config.seed`` so that the reported accuracy is reproducible.

    The result depends only on the seeds, not on the thread count: matrix products run in
    MKL on one thread while torch's other parallel loops and the
    fused neuron kernels use every thread (:func:`axonal.train.threads.thread_independent_blas`).

    Crash safety: with ``checkpoint``, the whole training state (weights, Adam, the learning-
    rate schedule, the states of torch's, numpy's, Python's and the loop's own random
    generators, the epoch, the batch and the epoch's shuffled order, the running loss and
    accuracy, the history) is written atomically to that file every ``checkpoint_every``
    batches (0: at the end of every epoch) and when training ends. ``resume`` (the same path,
    typically) continues such a run at the batch after the last checkpoint: the weights at the
    end equal bit for bit those of a run that was never interrupted (``model`` must be built
    as before; ``train``, ``config`` and ``test`` must be the same).

    Args:
        checkpoint: file to write the training state to (its folder must exist).
        checkpoint_every: batches between checkpoints, counted over the whole run.
        resume: a training-state file written by ``fit(checkpoint=...)``.
        before_batch: called before every batch with the fraction of training done (batches
            already stepped / all batches of the run, in ``[0, 1)``): a schedule of the
            model's own (e.g. annealing :attr:`axonal.nn.DelayedLinear.sigma`, clamping its
            delays). A function of that fraction only, so a resumed run replays it exactly.

    Raises:
        FileNotFoundError: ``resume`` does not exist.
        FileFormatError: ``resume`` is corrupt, truncated or not a training state of ``fit``.
        NonFiniteError: ``resume`` holds a weight or optimizer tensor with NaN or inf (named).
        ValueError: ``resume`` was written by a run with other settings or data (named).
        FloatingPointError: the loss became NaN or inf.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an axonal.nn.Sequential, got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    x, y = train
    _check_data(x, y, "train")
    if test is not None:
        _check_data(*test, "test")
    check_int("checkpoint_every", checkpoint_every, minimum=0)
    target = None
    if checkpoint is not None:
        if not isinstance(checkpoint, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a path, got {type(checkpoint).__name__}")
        target = Path(checkpoint)
        if not target.parent.is_dir():
            raise FileNotFoundError(f"checkpoint's folder does not exist: {str(target.parent)!r}")
    if resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise TypeError(f"resume must be a path, got {type(resume).__name__}")
    if before_batch is not None and not callable(before_batch):
        raise TypeError(f"before_batch must be callable, got {type(before_batch).__name__}")
    with thread_independent_blas() as blas:
        _warm_up(model, x, encode)
        gen = torch.Generator().manual_seed(config.seed)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
        identity = _run_identity(config, y)
        if resume is not None:
            pos = _resume(resume, model, identity, opt, sched, gen, config)
        else:
            pos = _Position(0, 0, None, 0.0, 0, 0, [], 0.0, 0)
        history = list(pos.history)
        steps = pos.steps
        start = time.perf_counter() - pos.elapsed
        batch_size = config.batch_size
        batches = -(-x.shape[0] // batch_size)

        def save(epoch: int, batch: int, order: Tensor | None, total: float, correct: int, seen: int) -> None:
            assert target is not None
            here = _Position(epoch, batch, order, total, correct, seen, history, time.perf_counter() - start, steps)
            _save_state(target, model, identity, opt, sched, gen, here)

        bar = tqdm(range(pos.epoch, config.epochs), desc="train", unit="epoch", disable=not config.progress,
                   initial=pos.epoch, total=config.epochs)
        for epoch in bar:
            model.train()
            resumed = epoch == pos.epoch and pos.batch > 0
            if resumed:
                assert pos.order is not None
                order, first = pos.order, pos.batch
                total, correct, seen = pos.total, pos.correct, pos.seen
            else:
                order, first = torch.randperm(x.shape[0], generator=gen), 0
                total, correct, seen = 0.0, 0, 0
            due = False
            for b in range(first, batches):
                blas.pin()
                idx = order[b * batch_size : (b + 1) * batch_size]
                if before_batch is not None:
                    before_batch(steps / (config.epochs * batches))
                result = model.run(encode(x[idx], gen))
                loss = objective(result, y[idx])
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}, batch {b}")
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                total += float(loss.detach()) * idx.numel()
                correct += int((predict(result) == y[idx]).sum())
                seen += idx.numel()
                steps += 1
                if target is not None and checkpoint_every and steps % checkpoint_every == 0:
                    if b + 1 < batches:
                        save(epoch, b + 1, order, total, correct, seen)
                    else:  # the epoch's last batch: save once the epoch is closed, below
                        due = True
            sched.step()
            test_acc = math.nan
            if test is not None:
                test_gen = torch.Generator().manual_seed(config.seed + 1)
                test_acc = evaluate(model, test, encode, predict, test_gen)
            log = EpochLog(epoch, total / seen, correct / seen, test_acc, time.perf_counter() - start)
            history.append(log)
            bar.set_postfix(loss=f"{log.loss:.3f}", train=f"{log.train_accuracy:.3f}", test=f"{test_acc:.3f}")
            if target is not None and (due or not checkpoint_every or epoch + 1 == config.epochs):
                save(epoch + 1, 0, None, 0.0, 0, 0)
        return history
