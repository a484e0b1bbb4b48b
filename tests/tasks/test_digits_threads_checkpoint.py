"""The digits recipe: same accuracy for 1 and 2 threads, the thread default, and checkpoint
configs checked against the weights in the file before the model is built."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

import axonal.tasks.digits as digits
import axonal.train.threads as threads
from axonal.errors import FileFormatError, NonFiniteError
from axonal.tasks.digits import DemoConfig, build_model, load_demo_model, model_shapes, run_demo
from axonal.train.checkpoint import save_checkpoint

SMALL = DemoConfig(epochs=1, hidden=16, steps=5)


@pytest.fixture(autouse=True)
def keep_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before, chosen = torch.get_num_threads(), threads._chosen
    threads._chosen = None
    yield
    torch.set_num_threads(before)
    threads._chosen = chosen


def _run(tmp_path: Path, config: DemoConfig, n_threads: int | None, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    seen: list[int] = []
    real_fit = digits.fit

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(digits, "fit", spy)
    monkeypatch.setattr(digits, "_write_figures", lambda *args: [])  # figures are tested elsewhere
    out = tmp_path / f"t{n_threads}"
    out = out if not out.exists() else tmp_path / f"t{n_threads}2"
    report = run_demo(config, out, progress=False, threads=n_threads)
    return report, seen[0]


def test_demo_default_thread_and_same_result_with_2_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(2)
    one, used_one = _run(tmp_path, SMALL, None, monkeypatch)  # the recipe's default
    assert used_one == threads.DEFAULT_THREADS == 1
    assert torch.get_num_threads() == 2  # put back afterwards
    threads.set_threads(2)  # what `axonal demo --threads 2` does: the recipe keeps it
    two, used_two = _run(tmp_path, SMALL, None, monkeypatch)
    assert used_two == 2
    assert one.test_accuracy == two.test_accuracy
    assert [h[:4] for h in one.history] == [h[:4] for h in two.history]
    assert one.rates_hz == two.rates_hz
    a, _ = load_demo_model(tmp_path / "tNone" / "model.pt")
    b, _ = load_demo_model(tmp_path / "tNone2" / "model.pt")
    for key, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[key], value), key


@pytest.mark.parametrize("coding", ["rate", "latency"])
def test_model_shapes_match_build_model(coding: str) -> None:
    config = DemoConfig(coding=coding, hidden=7)  # type: ignore[arg-type]
    assert model_shapes(config) == {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}


def test_config_sizes_are_checked_against_the_weights_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = DemoConfig(hidden=8)
    path = tmp_path / "model.pt"
    # within DemoConfig's range, but not what the weights in the file were built with
    save_checkpoint(path, build_model(config), {"task": "digits", **asdict(replace(config, hidden=60_000))})

    def no_build(config: DemoConfig) -> Any:
        raise AssertionError("build_model ran before the sizes were checked")

    monkeypatch.setattr(digits, "build_model", no_build)
    with pytest.raises(FileFormatError, match=r"hidden=60000\) does not match the weights it holds "
                       r"\(layers.0.bias: config implies \(60000,\), file holds \(8,\)"):
        load_demo_model(path)

    # a latency config next to rate weights (one tensor too many)
    save_checkpoint(path, build_model(config), {"task": "digits", **asdict(replace(config, coding="latency"))})
    with pytest.raises(FileFormatError, match=r"layers.1.parametrizations.tau_mem.original: config implies None"):
        load_demo_model(path)


def test_non_finite_demo_weights_are_named(tmp_path: Path) -> None:
    config = DemoConfig(hidden=8)
    model = build_model(config)
    with torch.no_grad():
        model.layers[3].bias[2] = float("nan")
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, {"task": "digits", **asdict(config)})
    with pytest.raises(NonFiniteError, match=r"tensor 'layers.3.bias' of the checkpoint holds NaN or inf \(1 NaN and 0 inf of 10 values"):
        load_demo_model(path)
