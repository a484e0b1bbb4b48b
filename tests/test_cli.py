from __future__ import annotations

from pathlib import Path

import pytest

from axonal.cli import build_parser, main


def test_demo_command_prints_accuracy_rates_and_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--epochs", "2", "--steps", "12", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "test accuracy:" in out and "mean firing rate per layer" in out and "time:" in out
    assert (tmp_path / "raster.png").exists() and (tmp_path / "training.png").exists()


def test_bad_arguments_exit_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "axonal demo: error: argument --steps: must be an integer in [2, 10000], got '1'\n"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--coding", "phase"])
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
