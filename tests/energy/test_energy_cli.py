"""`axonal energy` (train a short model or load a checkpoint) and the demo's energy line."""

from __future__ import annotations

from pathlib import Path

import pytest

from axonal.cli import main
from axonal.tasks.digits import DemoConfig, load_demo_model, run_demo


def test_energy_command_trains_or_loads_and_prints_table_and_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trained = tmp_path / "trained"
    assert main(["energy", "--epochs", "1", "--samples", "20", "--out", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "training a short demo model first (1 epochs" in out
    assert "counted on 20 test images" in out
    assert "layers.0" in out and "SNN/ANN" in out and "loihi" in out and "Horowitz" in out
    assert (trained / "energy.png").read_bytes()[:4] == b"\x89PNG"

    loaded = tmp_path / "loaded"
    assert main(["energy", "--checkpoint", str(trained / "model.pt"), "--samples", "10", "--out", str(loaded)]) == 0
    out = capsys.readouterr().out
    assert "digits model from" in out and "counted on 10 test images" in out
    assert (loaded / "energy.png").exists()


def test_demo_report_carries_energy_counts(tmp_path: Path) -> None:
    report = run_demo(DemoConfig(epochs=1, steps=6, hidden=16), tmp_path, progress=False)
    counts = report.energy
    assert counts is not None and counts.batch == 450 and counts.steps == 6
    assert counts.layer("layers.0").synops > 0 and counts.layer("layers.1").neuron_updates == 450 * 6 * 16
    model, config = load_demo_model(tmp_path / "model.pt")
    assert config.hidden == 16 and config.steps == 6


def test_energy_command_rejects_a_foreign_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from axonal.train.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "other.pt", torch.nn.Linear(2, 2), {"task": "mnist"})
    assert main(["energy", "--checkpoint", str(path), "--out", str(tmp_path)]) == 2
    assert "not a digits demo model" in capsys.readouterr().err
    assert main(["energy", "--epochs", "1", "--samples", "0", "--out", str(tmp_path)]) == 2
    assert "samples" in capsys.readouterr().err


def test_demo_command_prints_the_energy_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--epochs", "1", "--steps", "6", "--hidden", "16", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "energy per inference, SNN/ANN estimate:" in out and "(loihi vs cmos45-int8)" in out
