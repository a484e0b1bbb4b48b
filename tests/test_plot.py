from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from axonal import plot
from axonal.train.loop import EpochLog


def test_figures_are_written(tmp_path: Path) -> None:
    s = (torch.rand(30, 12) < 0.2).float()
    v = torch.randn(30, 3)
    hist = [EpochLog(i, 1.0 / (i + 1), 0.5 + 0.1 * i, 0.4 + 0.1 * i, float(i)) for i in range(4)]
    paths = [
        plot.raster([("a", s), ("b", s[:, :5].numpy())], tmp_path / "r.png", dt=1e-3),
        plot.traces([("v", v, 1.0), ("w", v[:, :1], None)], tmp_path / "t.png", dt=1e-3),
        plot.training_curve(hist, tmp_path / "c.png"),
    ]
    for p in paths:
        assert p.read_bytes()[:4] == b"\x89PNG"


def test_bad_shapes_and_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="spikes of 'a' must be \\[T, N\\]"):
        plot.raster([("a", np.zeros((3, 2, 2)))], tmp_path / "x.png", dt=1e-3)
    with pytest.raises(ValueError, match="groups"):
        plot.raster([], tmp_path / "x.png", dt=1e-3)
    with pytest.raises(ValueError, match="history"):
        plot.training_curve([], tmp_path / "x.png")
