"""`axonal demo --resume`: a demo interrupted after an epoch continues from
``OUT/train_state.pt`` and ends with the weights of a run that was never interrupted."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import axonal.train.loop as loop
from axonal.cli import main
from axonal.tasks.digits import TRAIN_STATE, DemoConfig, run_demo

CONFIG = DemoConfig(epochs=3, hidden=16, steps=6)


class Interrupted(Exception):
    pass


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    saved = torch.load(folder / "model.pt", weights_only=True)
    return saved["state_dict"]  # type: ignore[no-any-return]


def test_interrupted_demo_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = run_demo(CONFIG, tmp_path / "whole", progress=False, threads=1)

    original = loop._save_state
    saves = []

    def save_then_die(*args: object, **kwargs: object) -> None:
        original(*args, **kwargs)  # type: ignore[arg-type]
        saves.append(1)
        if len(saves) == 1:  # the state after epoch 1 is on disk: the process "dies" here
            raise Interrupted

    monkeypatch.setattr(loop, "_save_state", save_then_die)
    with pytest.raises(Interrupted):
        run_demo(CONFIG, tmp_path / "cut", progress=False, threads=1)
    assert (tmp_path / "cut" / TRAIN_STATE).is_file() and not (tmp_path / "cut" / "model.pt").exists()

    later = []

    def count(*args: object, **kwargs: object) -> None:
        original(*args, **kwargs)  # type: ignore[arg-type]
        later.append(1)

    monkeypatch.setattr(loop, "_save_state", count)
    resumed = run_demo(CONFIG, tmp_path / "cut", progress=False, threads=1, resume=True)
    assert len(later) == CONFIG.epochs - 1  # epochs 2 and 3 only: it did not start over
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.test_accuracy == whole.test_accuracy
    assert [h.loss for h in resumed.history] == [h.loss for h in whole.history]


def test_resume_without_a_state_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--resume", "--epochs", "1", "--out", str(tmp_path / "empty"), "--no-progress"])
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.strip() and not line.startswith("axonal: compiling ")]
    assert code == 2
    assert len(err) == 1 and "nothing to resume" in err[0] and TRAIN_STATE in err[0], err
