"""The BPTT loop: learns a separable toy task, is deterministic for a seed, rejects bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from axonal.functional import encode
from axonal.nn import LI, LIF, Sequential, SequentialResult
from axonal.train.losses import membrane_cross_entropy
from axonal.train.loop import EpochLog, TrainConfig, evaluate, fit, seed_everything

STEPS = 10


def _toy() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 2, (96,), generator=g)
    x = torch.rand(96, 8, generator=g) * 0.3
    x[y == 0, :4] += 0.6  # class 0 lights the first half, class 1 the second
    x[y == 1, 4:] += 0.6
    return x.clamp(0, 1), y


def _model() -> Sequential:
    return Sequential(nn.Linear(8, 16), LIF(r=10.0, learn=("tau_mem",), shape=(16,)), nn.Linear(16, 2), LI(r=5.0))


def _encode(x: Tensor, gen: torch.Generator) -> Tensor:
    return encode.rate(x, STEPS, generator=gen)


def _loss(r: SequentialResult, y: Tensor) -> Tensor:
    return membrane_cross_entropy(r.out, y)


def _predict(r: SequentialResult) -> Tensor:
    return r.out.amax(0).argmax(1)


def _train(seed: int) -> tuple[list[EpochLog], Sequential]:
    seed_everything(seed)
    model = _model()
    x, y = _toy()
    cfg = TrainConfig(epochs=6, batch_size=16, lr=1e-2, seed=seed, progress=False)
    return fit(model, (x, y), _encode, _loss, _predict, cfg, test=(x, y)), model


def test_fit_learns_and_logs_every_epoch() -> None:
    history, model = _train(0)
    assert [h.epoch for h in history] == list(range(6))
    assert history[-1].loss < history[0].loss
    assert history[-1].test_accuracy >= 0.9
    assert all(h.seconds > 0 for h in history)
    x, y = _toy()
    acc = evaluate(model, (x, y), _encode, _predict, torch.Generator().manual_seed(1))
    assert acc >= 0.9


def test_fit_is_deterministic_for_a_seed() -> None:
    h1, m1 = _train(5)
    h2, m2 = _train(5)
    assert [h.loss for h in h1] == [h.loss for h in h2]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    h3, _ = _train(6)
    assert [h.loss for h in h1] != [h.loss for h in h3]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(TypeError, match="batch_size"):
        TrainConfig(batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0.0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=math.nan)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1.0)


def test_fit_rejects_bad_data_and_model() -> None:
    x, y = _toy()
    cfg = TrainConfig(epochs=1, progress=False)
    with pytest.raises(ValueError, match="same non-zero length"):
        fit(_model(), (x, y[:-1]), _encode, _loss, _predict, cfg)
    with pytest.raises(ValueError, match="int64"):
        fit(_model(), (x, y.float()), _encode, _loss, _predict, cfg)
    with pytest.raises(TypeError, match="Sequential"):
        fit(nn.Linear(8, 2), (x, y), _encode, _loss, _predict, cfg)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TrainConfig"):
        fit(_model(), (x, y), _encode, _loss, _predict, {"epochs": 1})  # type: ignore[arg-type]


def test_fit_stops_on_non_finite_loss() -> None:
    x, y = _toy()

    def bad_loss(r: SequentialResult, target: Tensor) -> Tensor:
        return r.out.sum() * math.inf

    with pytest.raises(FloatingPointError, match="epoch 0"):
        fit(_model(), (x, y), _encode, bad_loss, _predict, TrainConfig(epochs=1, progress=False))
