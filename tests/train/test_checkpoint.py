"""Tests for axonal.train.checkpoint: round trip, weights_only loading, bad files, bad configs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import axonal.train.checkpoint as ckpt_module
from axonal.errors import FileFormatError
from axonal.nn import LIF, Sequential
from axonal.train.checkpoint import Checkpoint, load_checkpoint, restore, save_checkpoint

CONFIG: dict[str, Any] = {
    "model": {"sizes": [6, 8, 3], "tau_mem": 0.01, "learn": ["tau_mem"]},
    "dt": 1e-3,
    "seed": 3,
    "surrogate": "fast_sigmoid",
    "detach_reset": True,
    "note": None,
}


def build(sizes: list[int], seed: int) -> Sequential:
    torch.manual_seed(seed)
    return Sequential(
        nn.Linear(sizes[0], sizes[1]),
        LIF(tau_mem=10e-3, learn=("tau_mem",), shape=(sizes[1],)),
        nn.Linear(sizes[1], sizes[2]),
        LIF(tau_mem=10e-3, learn=("tau_mem", "v_th")),
    )


def inputs() -> torch.Tensor:
    gen = torch.Generator().manual_seed(11)
    return 4.0 * torch.rand(25, 4, 6, generator=gen)


def set_value(layer: nn.Module, name: str, value: torch.Tensor) -> None:
    """Set a learnable neuron parameter, whether it is stored raw or through a parametrisation."""
    if parametrize.is_parametrized(layer, name):
        setattr(layer, name, value)  # stored through the parametrisation's right_inverse
    else:
        getattr(layer, name).copy_(value)


def trained_model() -> Sequential:
    model = build([6, 8, 3], seed=0)
    with torch.no_grad():  # stand-in for training: move weights and neuron parameters
        set_value(model.layers[1], "tau_mem", torch.linspace(4e-3, 20e-3, 8))
        set_value(model.layers[3], "tau_mem", torch.tensor(6e-3))
        set_value(model.layers[3], "v_th", torch.tensor(0.3))
        model.layers[0].weight.abs_()  # enough drive for both layers to spike
        model.layers[2].weight.abs_()
    return model


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = trained_model()
    path = tmp_path / "model.pt"
    extra = {"epoch": 7, "accuracy": 0.875, "history": [0.5, 0.25], "rng": torch.arange(4)}
    assert save_checkpoint(path, model, CONFIG, extra) == path
    x = inputs()
    with torch.no_grad():
        expected = model.run(x).outputs
    assert expected[-1].sum() > 0  # the comparison covers real spikes

    fresh = build(CONFIG["model"]["sizes"], seed=CONFIG["seed"] + 1)
    with torch.no_grad():
        assert not torch.equal(fresh.run(x).outputs[0], expected[0])
    loaded = load_checkpoint(path)
    assert isinstance(loaded, Checkpoint)
    assert loaded.config == CONFIG
    assert loaded.extra is not None
    assert {k: v for k, v in loaded.extra.items() if k != "rng"} == {
        "epoch": 7, "accuracy": 0.875, "history": [0.5, 0.25]
    }
    assert torch.equal(loaded.extra["rng"], torch.arange(4))
    assert any("layers.1" in k and "tau_mem" in k for k in loaded.state_dict)
    assert not torch.equal(fresh.layers[1].tau_mem, model.layers[1].tau_mem)
    assert restore(fresh, loaded) is fresh
    assert torch.equal(fresh.layers[1].tau_mem, model.layers[1].tau_mem)
    with torch.no_grad():
        got = fresh.run(x).outputs
    for a, b in zip(got, expected):
        assert torch.equal(a, b)


def test_extra_defaults_to_none_and_overwrite_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, nn.Linear(2, 2), {"a": 1})
    first = load_checkpoint(str(path))
    assert first.extra is None
    assert first.config == {"a": 1}
    save_checkpoint(path, nn.Linear(2, 2), {"a": 2})  # replaces the file
    assert load_checkpoint(path).config == {"a": 2}
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, nn.Linear(2, 2), {"run": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask

    def broken_save(obj: Any, handle: Any) -> None:
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, nn.Linear(2, 2), {"run": 2})
    monkeypatch.undo()
    assert load_checkpoint(path).config == {"run": 1}
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]


def test_file_contents_follow_the_format(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    model = nn.Linear(3, 2)
    save_checkpoint(path, model, {"k": "v"}, {"e": 1})
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "axonal-checkpoint"
    assert raw["version"] == 1
    assert sorted(raw["state_dict"]) == ["bias", "weight"]
    assert torch.equal(raw["state_dict"]["weight"], model.weight.detach())
    assert raw["config"] == {"k": "v"}
    assert raw["extra"] == {"e": 1}


def test_load_uses_weights_only_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, nn.Linear(2, 2), {})
    seen: dict[str, Any] = {}
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(ckpt_module.torch, "load", spy)
    load_checkpoint(path)
    assert seen["weights_only"] is True
    assert seen["map_location"] == "cpu"


class Payload:
    """A class weights_only loading refuses to build."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("code ran while loading",))


def test_pickled_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pt"
    torch.save(
        {"format": "axonal-checkpoint", "version": 1, "state_dict": {},
         "config": {"x": Payload()}, "extra": None},
        path,
    )
    # refused by the archive scan, before torch's weights_only unpickler would refuse it too
    with pytest.raises(FileFormatError, match=r"not an axonal checkpoint: its pickle names __builtin__.print"):
        load_checkpoint(path)
    assert "code ran" not in capsys.readouterr().out


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(path)
    with pytest.raises(IsADirectoryError, match="folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="folder does not exist"):
        save_checkpoint(tmp_path / "sub" / "m.pt", nn.Linear(1, 1), {})


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_corrupt_and_foreign_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 definitely not a torch archive" * 10)
    with pytest.raises(FileFormatError, match="expected a file written by axonal.train.save_checkpoint"):
        load_checkpoint(garbage)

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(FileFormatError, match="not an axonal checkpoint"):
        load_checkpoint(empty)

    good = tmp_path / "good.pt"
    save_checkpoint(good, nn.Linear(4, 4), {"a": 1})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FileFormatError, match="not an axonal checkpoint"):
        load_checkpoint(truncated)

    plain_pickle = tmp_path / "plain.pkl"
    plain_pickle.write_bytes(pickle.dumps({"format": "axonal-checkpoint"}))
    with pytest.raises(FileFormatError, match="not an axonal checkpoint"):
        load_checkpoint(plain_pickle)

    bare_state = tmp_path / "state.pt"
    torch.save(nn.Linear(2, 2).state_dict(), bare_state)
    with pytest.raises(FileFormatError, match="format field is None"):
        load_checkpoint(bare_state)

    a_list = tmp_path / "list.pt"
    torch.save([1, 2], a_list)
    with pytest.raises(FileFormatError, match="holds a list, not a dict"):
        load_checkpoint(a_list)

    newer = tmp_path / "newer.pt"
    torch.save({"format": "axonal-checkpoint", "version": 2}, newer)
    with pytest.raises(FileFormatError, match="version 2; this axonal reads version 1"):
        load_checkpoint(newer)

    partial = tmp_path / "partial.pt"
    torch.save({"format": "axonal-checkpoint", "version": 1, "state_dict": {}}, partial)
    with pytest.raises(FileFormatError, match=r"lacks the entries \['config', 'extra'\]"):
        load_checkpoint(partial)

    bad_state = tmp_path / "bad_state.pt"
    torch.save({"format": "axonal-checkpoint", "version": 1, "state_dict": {"w": 1},
                "config": {}, "extra": None}, bad_state)
    with pytest.raises(FileFormatError, match="state_dict is not a dict of str to tensor"):
        load_checkpoint(bad_state)


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"sizes": (1, 2)}, r"config\['sizes'\] has type builtins.tuple \(use a list\)"),
        (
            {"model": {"sizes": [1, np.int64(2)]}},
            r"config\['model'\]\['sizes'\]\[1\] has type numpy",
        ),
        (
            {"lr": np.float64(0.1)},
            r"config\['lr'\] has type numpy.float64 \(convert it with float\(\)\)",
        ),
        ({"w": torch.ones(2)}, r"config\['w'\] is a tensor"),
        ({"layers": [{"n": 1}, {2: 3}]}, r"config\['layers'\]\[1\] has a key 2 of type int"),
        ({"tags": {"a", "b"}}, r"config\['tags'\] has type builtins.set"),
        ({"path": Path("x")}, r"config\['path'\] has type pathlib"),
    ],
)
def test_non_json_config_is_rejected(tmp_path: Path, config: dict[str, Any], where: str) -> None:
    path = tmp_path / "m.pt"
    with pytest.raises(TypeError, match=where):
        save_checkpoint(path, nn.Linear(1, 1), config)
    assert not path.exists()


def test_extra_allows_tensors_but_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, nn.Linear(1, 1), {}, {"state": {"w": [torch.zeros(2)]}})
    loaded = load_checkpoint(path).extra
    assert loaded is not None
    assert torch.equal(loaded["state"]["w"][0], torch.zeros(2))
    with pytest.raises(TypeError, match=r"extra\['opt'\]\['state'\] has a key 0"):
        save_checkpoint(path, nn.Linear(1, 1), {}, {"opt": {"state": {0: 1}}})
    with pytest.raises(TypeError, match=r"extra\['fn'\] has type"):
        save_checkpoint(path, nn.Linear(1, 1), {}, {"fn": len})


def test_save_argument_types(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    with pytest.raises(TypeError, match="config must be a dict"):
        save_checkpoint(path, nn.Linear(1, 1), [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="extra must be a dict or None"):
        save_checkpoint(path, nn.Linear(1, 1), {}, [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        save_checkpoint(path, {"w": torch.ones(1)}, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        save_checkpoint(3, nn.Linear(1, 1), {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        load_checkpoint(None)  # type: ignore[arg-type]


def test_restore_reports_mismatches_and_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, trained_model(), CONFIG)
    loaded = load_checkpoint(path)

    wider = build([6, 9, 3], seed=5)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    expected = r"shape mismatches: \['layers.0.bias: model \(9,\) vs checkpoint \(8,\)'"
    with pytest.raises(ValueError, match=expected):
        restore(wider, loaded)
    assert all(torch.equal(before[k], v) for k, v in wider.state_dict().items())

    shorter = Sequential(nn.Linear(6, 8), LIF(tau_mem=10e-3, learn=("tau_mem",), shape=(8,)))
    expected = r"unexpected keys \(in the checkpoint, not in the model\): \['layers.2.bias'"
    with pytest.raises(ValueError, match=expected):
        restore(shorter, loaded)

    more = build([6, 8, 3], seed=0)
    more.layers[1].register_buffer("scale", torch.ones(1))
    expected = r"missing keys \(in the model, not in the checkpoint\): \['layers.1.scale'\]"
    with pytest.raises(ValueError, match=expected):
        restore(more, loaded)

    with pytest.raises(TypeError, match="checkpoint must be a Checkpoint or a state_dict"):
        restore(more, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="checkpoint entry 'w' must be a tensor"):
        restore(nn.Linear(1, 1), {"w": 1.0})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        restore("model", loaded)  # type: ignore[type-var]


def test_restore_accepts_a_plain_state_dict() -> None:
    src, dst = nn.Linear(3, 2), nn.Linear(3, 2)
    restore(dst, src.state_dict())
    assert torch.equal(dst.weight, src.weight)
