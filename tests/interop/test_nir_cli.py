"""`axonal export model.pt model.nir` and `axonal import model.nir`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

nir = pytest.importorskip("nir")

from axonal.cli import main  # noqa: E402
from axonal.interop import read_nir  # noqa: E402
from axonal.tasks.digits import DemoConfig, build_model  # noqa: E402
from axonal.train.checkpoint import save_checkpoint  # noqa: E402


def _checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    from dataclasses import asdict

    config = DemoConfig(hidden=12, epochs=1)
    torch.manual_seed(0)
    model = build_model(config)
    path = save_checkpoint(tmp_path / "model.pt", model, {"task": "digits", **asdict(config)})
    return path, model


def test_export_then_import_runs_the_digits_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, model = _checkpoint(tmp_path)
    out = tmp_path / "model.nir"
    # the demo's LIF uses the subtractive reset: refused unless kept in metadata
    assert main(["export", str(ckpt), str(out)]) == 2
    assert "ResetMode.SUBTRACT" in capsys.readouterr().err and not out.exists()
    assert main(["export", str(ckpt), str(out), "--keep-subtract-reset"]) == 0
    assert "1:LIF" in capsys.readouterr().out
    assert main(["import", str(out), "--dt", "1e-3", "--steps", "3"]) == 0
    text = capsys.readouterr().out
    assert "input [64] -> output [10]" in text and "LIF" in text and "LI" in text
    assert "imports as a Sequential of" in text
    net = read_nir(out, dt=1e-3)
    model.eval()
    x = (torch.rand(25, 4, 64, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with torch.no_grad():
        torch.testing.assert_close(net(x)[0], model(x)[0], atol=1e-4, rtol=1e-4)


def test_cli_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"\x00" * 64)
    assert main(["import", str(bad)]) == 2
    assert "bad.nir" in capsys.readouterr().err
    other = save_checkpoint(tmp_path / "other.pt", torch.nn.Linear(2, 2), {"task": "mnist"})
    assert main(["export", str(other), str(tmp_path / "x.nir")]) == 2
    assert "not from `axonal demo`" in capsys.readouterr().err
