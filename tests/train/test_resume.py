"""Crash-safe training: a run killed with SIGKILL mid-epoch resumes from its last checkpoint and
ends with the weights of a run that was never interrupted, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import axonal.train.loop as loop_module
from axonal.errors import FileFormatError, NonFiniteError
from axonal.functional import encode
from axonal.nn import LI, LIF, Sequential, SequentialResult
from axonal.train.checkpoint import load_checkpoint, save_checkpoint
from axonal.train.losses import membrane_cross_entropy
from axonal.train.loop import EpochLog, TrainConfig, fit, seed_everything

WORKER = Path(__file__).with_name("_fit_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _start(out: Path, *args: str) -> subprocess.Popen[bytes]:
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _finish(proc: subprocess.Popen[bytes], what: str) -> None:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{what} failed:\n{out.decode(errors='replace')}"


def _weights(out: Path) -> dict[str, Tensor]:
    state: dict[str, Tensor] = torch.load(out / "weights.pt", weights_only=True)
    return state


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path: Path) -> None:
    # build the fused kernels here first (if not cached) so that the workers do not all compile
    LIF(r=10.0)(torch.zeros(2, 1, 4))
    # the worker trains 3 epochs of 7 batches, a checkpoint every 4 batches; it stalls when
    # training batch 11 starts (epoch 1, batch 3): the last checkpoint is from after batch 8
    # (epoch 1, batch 1), so the resumed run redoes batches 9 and 10
    reference = _start(tmp_path / "reference", "plain")
    victim = _start(tmp_path / "victim", "checkpoint", "--stall-at", "11")
    state, stalled = tmp_path / "victim" / "state.pt", tmp_path / "victim" / "stalled"
    deadline = time.monotonic() + 300
    while not (stalled.exists() and state.exists()):
        assert victim.poll() is None, victim.communicate()[0].decode(errors="replace")
        assert time.monotonic() < deadline, "the worker never reached its stall point"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "victim" / "weights.pt").exists()

    position = load_checkpoint(state).extra["position"]  # type: ignore[index]
    assert (position["epoch"], position["batch"], position["steps"]) == (1, 1, 8)  # mid-epoch
    assert sorted(p.name for p in state.parent.iterdir()) == ["stalled", "state.pt"]  # no temp files

    resumed = subprocess.Popen(
        [sys.executable, str(WORKER), str(tmp_path / "victim"), "resume"],
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    _finish(resumed, "the resumed run")
    _finish(reference, "the reference run")
    got, want = _weights(tmp_path / "victim"), _weights(tmp_path / "reference")
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key
    history = json.loads((tmp_path / "victim" / "history.json").read_text())
    assert history == json.loads((tmp_path / "reference" / "history.json").read_text())
    assert len(history) == 3


# in-process: a crash (an exception) at several places, resumed from the file each time

STEPS = 8


def _toy() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(4)
    y = torch.randint(0, 2, (40,), generator=g)
    x = torch.rand(40, 6, generator=g) * 0.3
    x[y == 0, :3] += 0.6
    x[y == 1, 3:] += 0.6
    return x.clamp(0, 1), y


def _model() -> Sequential:
    seed_everything(1)
    return Sequential(nn.Linear(6, 12), LIF(r=10.0, learn=("tau_mem",), shape=(12,)), nn.Dropout(0.3), nn.Linear(12, 2), LI(r=5.0))


class Crash(Exception):
    pass


class Encoder:
    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at, self.batches = crash_at, 0

    def __call__(self, x: Tensor, gen: torch.Generator) -> Tensor:
        if torch.is_grad_enabled():
            self.batches += 1
            if self.batches == self.crash_at:
                raise Crash
        return encode.rate(x, STEPS, generator=gen)


def _loss(r: SequentialResult, y: Tensor) -> Tensor:
    return membrane_cross_entropy(r.out, y)


def _predict(r: SequentialResult) -> Tensor:
    return r.out.amax(0).argmax(1)


CONFIG = TrainConfig(epochs=3, batch_size=8, lr=1e-2, seed=5, progress=False)  # 5 batches per epoch


def _fit(model: Sequential, encoder: Encoder, **kwargs: Any) -> list[EpochLog]:
    data = _toy()
    return fit(model, data, encoder, _loss, _predict, CONFIG, test=data, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted() -> tuple[dict[str, Tensor], list[EpochLog]]:
    model = _model()
    history = _fit(model, Encoder())
    return model.state_dict(), history


@pytest.mark.parametrize(
    ("crash_at", "every"),
    [(5, 3), (6, 5), (11, 2), (14, 0)],
    # batch 6 is the first of epoch 1, so (6, 5) resumes from an epoch boundary; every=0
    # checkpoints at the end of each epoch only
)
def test_resume_after_a_crash_matches_the_uninterrupted_run(
    tmp_path: Path, uninterrupted: tuple[dict[str, Tensor], list[EpochLog]], crash_at: int, every: int
) -> None:
    path = tmp_path / "state.pt"
    with pytest.raises(Crash):
        _fit(_model(), Encoder(crash_at), checkpoint=path, checkpoint_every=every)
    model = _model()
    history = _fit(model, Encoder(), checkpoint=path, checkpoint_every=every, resume=path)
    want_state, want_history = uninterrupted
    for key, value in want_state.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert [h[:4] for h in history] == [h[:4] for h in want_history]
    # the run wrote its final state: resuming a finished run trains nothing and returns its history
    again = _model()
    assert [h[:4] for h in _fit(again, Encoder(crash_at=1), resume=path)] == [h[:4] for h in want_history]
    for key, value in want_state.items():
        assert torch.equal(again.state_dict()[key], value), key


def test_checkpoint_holds_the_training_state(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    _fit(_model(), Encoder(), checkpoint=path, checkpoint_every=4)
    ckpt = load_checkpoint(path)
    assert ckpt.config["kind"] == "axonal-fit-state"
    assert ckpt.config["train"] == {"epochs": 3, "batch_size": 8, "lr": 1e-2, "weight_decay": 0.0, "seed": 5}
    extra = ckpt.extra
    assert extra is not None
    assert set(extra) == {"position", "optimizer", "scheduler", "rng"}
    assert set(extra["rng"]) >= {"torch", "python", "numpy", "generator"}
    assert (extra["position"]["epoch"], extra["position"]["batch"], extra["position"]["steps"]) == (3, 0, 15)
    assert extra["scheduler"]["last_epoch"] == 3


def _write_state(tmp_path: Path) -> Path:
    path = tmp_path / "state.pt"
    with pytest.raises(Crash):
        _fit(_model(), Encoder(7), checkpoint=path, checkpoint_every=3)
    return path


def test_resume_refuses_another_run_or_a_damaged_state(tmp_path: Path) -> None:
    path = _write_state(tmp_path)
    data = _toy()
    other = TrainConfig(epochs=3, batch_size=4, lr=1e-2, seed=5, progress=False)
    with pytest.raises(ValueError, match=r"written by a run with train=.*'batch_size': 8.*this run has"):
        fit(_model(), data, Encoder(), _loss, _predict, other, resume=path)
    flipped = (data[0], 1 - data[1])
    with pytest.raises(ValueError, match="labels_sha256"):
        fit(_model(), flipped, Encoder(), _loss, _predict, CONFIG, resume=path)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        _fit(_model(), Encoder(), resume=tmp_path / "nope.pt")
    # a model checkpoint is not a training state
    model_ckpt = tmp_path / "model.pt"
    save_checkpoint(model_ckpt, _model(), {"task": "x"})
    with pytest.raises(FileFormatError, match="not a training checkpoint of fit"):
        _fit(_model(), Encoder(), resume=model_ckpt)
    # a different architecture
    wider = Sequential(nn.Linear(6, 13), LIF(r=10.0, learn=("tau_mem",), shape=(13,)), nn.Dropout(0.3), nn.Linear(13, 2), LI(r=5.0))
    with pytest.raises(ValueError, match="shape mismatches"):
        _fit(wider, Encoder(), resume=path)


def _rewrite(path: Path, edit: Any) -> Path:
    raw = torch.load(path, weights_only=True)
    edit(raw)
    out = path.with_name("edited.pt")
    torch.save(raw, out)
    return out


def test_resume_refuses_non_finite_optimizer_state_and_bad_positions(tmp_path: Path) -> None:
    path = _write_state(tmp_path)

    def nan_moment(raw: dict[str, Any]) -> None:
        pairs = raw["extra"]["optimizer"]["state"]["__axonal_dict__"]
        pairs[1][1]["exp_avg"][0] = float("nan")

    with pytest.raises(NonFiniteError, match=r"tensor optimizer\['state'\]\[1\]\['exp_avg'\] of the checkpoint holds NaN or inf \(1 NaN"):
        _fit(_model(), Encoder(), resume=_rewrite(path, nan_moment))

    def nan_weight(raw: dict[str, Any]) -> None:
        raw["state_dict"]["layers.3.weight"][0, 0] = float("inf")

    with pytest.raises(NonFiniteError, match=r"tensor 'layers.3.weight' of the checkpoint holds NaN or inf \(0 NaN and 1 inf of 24 values, shape \(2, 12\)\)"):
        _fit(_model(), Encoder(), resume=_rewrite(path, nan_weight))

    cases = {
        "batch": (lambda raw: raw["extra"]["position"].__setitem__("batch", 99), "lies outside 3 epochs of 5 batches"),
        "epoch": (lambda raw: raw["extra"]["position"].__setitem__("epoch", -1), "epoch is -1"),
        "order": (lambda raw: raw["extra"]["position"]["order"].__setitem__(0, 0) if raw["extra"]["position"]["order"][0] != 0
                  else raw["extra"]["position"]["order"].__setitem__(1, 0), "not a permutation"),
        "history": (lambda raw: raw["extra"]["position"]["history"].append([9, 0.0, 0.0, 0.0, 0.0]), "history"),
        "total": (lambda raw: raw["extra"]["position"].__setitem__("total", float("nan")), "not a finite float"),
        "rng": (lambda raw: raw["extra"]["rng"].__setitem__("generator", torch.zeros(3)), "generator state"),
        "python rng": (lambda raw: raw["extra"]["rng"]["python"].__setitem__("version", "x"), "Python random state"),
        "numpy rng": (lambda raw: raw["extra"]["rng"]["numpy"]["key"].__setitem__(0, -1), "numpy random state"),
        "tag": (lambda raw: raw["extra"]["optimizer"]["state"].__setitem__("__axonal_dict__", 3), "malformed"),
    }
    for name, (edit, message) in cases.items():
        with pytest.raises(FileFormatError, match=message):
            _fit(_model(), Encoder(), resume=_rewrite(path, edit))


def test_fit_checkpoint_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="checkpoint_every"):
        _fit(_model(), Encoder(), checkpoint=tmp_path / "s.pt", checkpoint_every=-1)
    with pytest.raises(FileNotFoundError, match="folder does not exist"):
        _fit(_model(), Encoder(), checkpoint=tmp_path / "no" / "s.pt")
    with pytest.raises(TypeError, match="resume must be a path"):
        _fit(_model(), Encoder(), resume=3)


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.pt"
    real = loop_module.save_checkpoint
    writes = 0

    def failing(*args: Any, **kwargs: Any) -> Path:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_module, "save_checkpoint", failing)
    with pytest.raises(OSError, match="disk full"):
        _fit(_model(), Encoder(), checkpoint=path, checkpoint_every=2)
    assert load_checkpoint(path).extra["position"]["steps"] == 2  # type: ignore[index]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]
