"""The digits demo end to end: a short run for the plumbing, the full run for the 97% bar."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from axonal.tasks.digits import DemoConfig, build_model, run_demo
from axonal.train.checkpoint import load_checkpoint, restore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("coding", ["rate", "latency"])
def test_short_demo_runs_and_writes_figures(tmp_path: Path, coding: str) -> None:
    config = DemoConfig(coding=coding, epochs=3, hidden=64, steps=16)  # type: ignore[arg-type]
    report = run_demo(config, tmp_path, progress=False)
    assert report.test_accuracy > 0.5  # ten classes: chance is 0.1
    assert len(report.history) == 3
    assert "input" in report.rates_hz and any(k.startswith("1:") for k in report.rates_hz)
    assert all(hz >= 0 for hz in report.rates_hz.values())
    for name in ("raster.png", "membrane.png", "training.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt.config["coding"] == coding
    assert ckpt.extra is not None and ckpt.extra["test_accuracy"] == report.test_accuracy
    model = restore(build_model(config), ckpt)
    x = torch.rand(config.steps, 2, 64)
    with torch.no_grad():
        assert model(x)[0].shape == (config.steps, 2, 10)


def test_demo_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="coding"):
        DemoConfig(coding="phase")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps"):
        DemoConfig(steps=1)
    with pytest.raises(TypeError, match="hidden"):
        DemoConfig(hidden=1.5)  # type: ignore[arg-type]


@pytest.mark.slow
def test_full_demo_reaches_97_percent(tmp_path: Path) -> None:
    """The acceptance bar of `axonal demo` (default settings, fixed split, seed 0)."""
    report = run_demo(DemoConfig(), tmp_path, progress=False)
    assert report.test_accuracy >= 0.97
