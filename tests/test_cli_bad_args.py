"""Every `axonal` subcommand refuses a user's bad argument with one line and exit status 2.

Each case is refused before any training, simulation or compilation starts: the fixture
replaces those entry points with functions that fail the test if they are ever reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import axonal.cli as cli
from axonal.cli import LIMITS, main

BAD_NUMBERS = ["0", "-1", "nan", "inf", "1e12", str(10**12)]
NOT_ZERO = ["-1", "nan", "-inf", "inf", "1e12", str(10**12)]  # options where 0 is valid


@pytest.fixture()
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Bad files of every kind, in a fresh working folder (the default --out folders land there)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    text = tmp_path / "notes.txt"
    text.write_text("this is not a model\n")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                    dtype=torch.uint8).numpy().tobytes())
    folder = tmp_path / "folder"
    folder.mkdir()
    idx = tmp_path / "idx"  # the four MNIST names, holding random bytes
    idx.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (idx / name).write_bytes(noise.read_bytes()[:1000])
    return {"text": text, "noise": noise, "folder": folder, "missing": tmp_path / "missing.pt",
            "idx": idx, "under_file": text / "sub"}


@pytest.fixture()
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write into."""
    if os.geteuid() == 0:  # root writes anywhere permissions allow; /proc/1 refuses it too
        assert not os.access("/proc/1", os.W_OK)
        yield Path("/proc/1")
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        yield locked
    finally:
        locked.chmod(0o755)


def reached(*args: object, **kwargs: object) -> None:
    pytest.fail("a bad argument was not refused before the work started")


@pytest.fixture(autouse=True)
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a case gets as far as training or simulating (compiling: see the cache test)."""
    import axonal.sim.examples
    import axonal.tasks.digits
    import axonal.tasks.speech
    import axonal.tasks.stdp_mnist

    monkeypatch.setattr(axonal.tasks.digits, "run_demo", reached)
    monkeypatch.setattr(axonal.tasks.speech, "run_speech", reached)
    monkeypatch.setattr(axonal.tasks.stdp_mnist, "run_stdp_mnist", reached)
    monkeypatch.setattr(axonal.sim.examples, "run_example", reached)


def _error_lines(err: str) -> list[str]:
    """The non-empty stderr lines, without the one-line notice of a first kernel build
    (``axonal: compiling ...``), which a cold kernel cache prints before any error."""
    return [line for line in err.splitlines()
            if line.strip() and not line.startswith("axonal: compiling ")]


def _refused(argv: list[str], names: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``axonal argv``; assert exit 2 and one stderr line that names ``names``."""
    code = main(argv)
    captured = capsys.readouterr()
    lines = _error_lines(captured.err)
    assert code == 2, (argv, captured.err)
    assert len(lines) == 1, (argv, captured.err)
    assert "Traceback" not in captured.err
    assert names in lines[0], (argv, lines[0])
    prog = f"axonal train {argv[1]}" if argv[0] == "train" else f"axonal {argv[0]}"
    assert lines[0].startswith(f"{prog}: error: argument"), lines[0]
    return lines[0]


def _range_stated(line: str) -> None:
    assert "must be" in line and ("in [" in line or "in (" in line or "> 0" in line), line


NUMERIC = [  # (argv before the option, option, bad values)
    (["demo"], "--epochs", BAD_NUMBERS),
    (["demo"], "--steps", BAD_NUMBERS),
    (["demo"], "--hidden", BAD_NUMBERS),
    (["demo"], "--seed", NOT_ZERO),
    (["demo"], "--threads", NOT_ZERO),
    (["energy"], "--samples", BAD_NUMBERS),
    (["energy"], "--epochs", BAD_NUMBERS),
    (["simulate", "cuba"], "--duration", BAD_NUMBERS[:4]),  # 1e12 s: the step bound, below
    (["simulate", "cuba"], "--dt", BAD_NUMBERS),
    (["simulate", "cuba"], "--scale", BAD_NUMBERS),
    (["simulate", "cuba"], "--seed", NOT_ZERO),
    (["simulate", "cuba"], "--threads", NOT_ZERO),
    (["train", "stdp-mnist"], "--neurons", BAD_NUMBERS),
    (["train", "stdp-mnist"], "--batch", BAD_NUMBERS),
    (["train", "stdp-mnist"], "--subset", BAD_NUMBERS),
    (["train", "stdp-mnist"], "--epochs", NOT_ZERO),
    (["train", "stdp-mnist"], "--seed", NOT_ZERO),
    (["train", "stdp-mnist"], "--threads", NOT_ZERO),
    (["train", "speech"], "--epochs", BAD_NUMBERS),
    (["train", "speech"], "--hidden", BAD_NUMBERS),
    (["train", "speech"], "--max-delay", BAD_NUMBERS),
    (["train", "speech"], "--seed", NOT_ZERO),
    (["train", "speech"], "--threads", NOT_ZERO),
    (["import", "GRAPH"], "--dt", BAD_NUMBERS),
    (["import", "GRAPH"], "--steps", BAD_NUMBERS),
]


@pytest.mark.parametrize(("head", "option", "values"), NUMERIC,
                         ids=[f"{' '.join(h)} {o}" for h, o, _ in NUMERIC])
def test_bad_numbers_are_refused_with_the_range(
        head: list[str], option: str, values: list[str], files: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    head = [str(files["text"]) if h == "GRAPH" else h for h in head]  # exists: --dt/--steps fail first
    for value in values:
        line = _refused([*head, f"{option}={value}"], f"argument {option}:", capsys)
        _range_stated(line)
        assert repr(value) in line


def test_bounds_the_run_length_before_running(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    line = _refused(["simulate", "cuba", "--duration", "1e12"], "--duration", capsys)
    assert "at most 1e+10" in line and "steps" in line
    line = _refused(["simulate", "brunel", "--duration", "1", "--dt", "1e-11"], "--duration", capsys)
    assert "at most 1e+10" in line
    line = _refused(["simulate", "cuba", "--duration", "0.00015"], "--duration", capsys)
    assert "multiple of --dt" in line
    line = _refused(["simulate", "brunel", "--dt", "1e-3", "--duration", "0.01"], "argument --dt:", capsys)
    assert "delay must be a whole multiple of dt" in line


def test_sizes_are_held_to_this_machines_memory(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    line = _refused(["demo", "--steps", "10000", "--hidden", "65536"], "--steps, --hidden", capsys)
    assert "GiB" in line and "fits" in line
    line = _refused(["simulate", "cuba", "--scale", "1000"], "--scale", capsys)
    assert "GiB" in line and "at most about" in line
    _refused(["simulate", "microcircuit", "--scale", "2"], "(0, 1]", capsys)
    monkeypatch.setattr(cli, "_available_memory", lambda: 2**30)  # 1 GiB, on any machine
    line = _refused(["train", "stdp-mnist", "--neurons", "10000", "--batch", "1024"], "--neurons, --batch",
                    capsys)
    assert "1 GiB are available" in line
    assert not (Path.cwd() / "axonal-stdp-mnist").exists()


def test_bad_output_folders(files: dict[str, Path], unwritable: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    import axonal.native_build

    monkeypatch.setattr(axonal.native_build, "build", reached)
    heads = [["demo"], ["energy"], ["simulate", "coba"], ["train", "stdp-mnist"], ["train", "speech"]]
    for head in heads:
        for target, why in ((files["text"], "is a file"), (files["under_file"], "is a file"),
                            (unwritable / "out", "not writable")):
            line = _refused([*head, "--out", str(target)], "argument --out:", capsys)
            assert why in line
    for target, why in ((files["text"], "is a file"), (unwritable / "cache", "not writable")):
        _refused(["build-kernels", "--cache", str(target)], why, capsys)


def test_bad_checkpoints(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from axonal.train.checkpoint import save_checkpoint

    foreign = save_checkpoint(files["folder"] / "foreign.pt", torch.nn.Linear(2, 2), {"task": "mnist"})
    huge = save_checkpoint(files["folder"] / "huge.pt", torch.nn.Linear(2, 2), {"task": "digits", "hidden": 10**12})
    from dataclasses import asdict

    from axonal.tasks.digits import DemoConfig, build_model

    model = build_model(DemoConfig(hidden=4))
    with torch.no_grad():
        model.layers[0].weight[1, 2] = float("nan")
    poisoned = save_checkpoint(files["folder"] / "nan.pt", model, {"task": "digits", **asdict(DemoConfig(hidden=4))})
    cases = [(files["missing"], "no such file"), (files["folder"], "is a folder"),
             (files["text"], "not an axonal checkpoint"), (files["noise"], "not an axonal checkpoint"),
             (foreign, "not a digits demo model"), (huge, "hidden must be in [1, 65536]"),
             (poisoned, "tensor 'layers.0.weight' of the checkpoint holds NaN")]
    for path, why in cases:
        line = _refused(["energy", "--checkpoint", str(path)], "argument --checkpoint:", capsys)
        assert why in line
    pytest.importorskip("nir")
    cases[4] = (foreign, "not from `axonal demo`")
    for path, why in cases:
        line = _refused(["export", str(path), str(files["folder"] / "x.nir")], "argument checkpoint:", capsys)
        assert why in line
    assert not (files["folder"] / "x.nir").exists()


def test_bad_nir_graphs_and_outputs(files: dict[str, Path], unwritable: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("nir")
    from dataclasses import asdict

    from axonal.interop import write_nir
    from axonal.tasks.digits import DemoConfig, build_model
    from axonal.train.checkpoint import save_checkpoint

    model = build_model(DemoConfig(hidden=4))
    ckpt = save_checkpoint(files["folder"] / "model.pt", model, {"task": "digits", **asdict(DemoConfig(hidden=4))})
    cases = [(files["missing"], "no such file"), (files["folder"], "is a folder"),
             (files["text"], "not a readable NIR file"), (files["noise"], "not a readable NIR file"),
             (ckpt, "not a readable NIR file")]  # a checkpoint is the wrong kind of file
    for path, why in cases:
        assert why in _refused(["import", str(path)], "argument graph:", capsys)
    for target, why in ((files["folder"], "is a folder"), (files["folder"] / "no" / "x.nir", "does not exist"),
                        (files["under_file"], "is a file"), (unwritable / "x.nir", "permission denied")):
        assert why in _refused(["export", str(ckpt), str(target)], "argument output:", capsys)
    graph = write_nir(files["folder"] / "model.nir", model, (64,), keep_subtract_reset=True)
    assert graph.nodes
    monkeypatch.setattr(cli, "_available_memory", lambda: 2**20)
    assert "steps fit" in _refused(["import", str(files["folder"] / "model.nir"), "--steps", "1000000"],
                                   "argument --steps:", capsys)


def test_bad_idx_folders(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for path, why in ((files["missing"], "no such folder"), (files["text"], "is a file"),
                      (files["folder"], "no train-images"), (files["idx"], str(files["idx"]))):
        assert why in _refused(["train", "stdp-mnist", "--idx", str(path)], "argument --idx:", capsys)


def test_bad_speech_arguments(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from axonal.audio import write_wav

    recordings = files["folder"] / "fsdd" / "recordings"
    recordings.mkdir(parents=True)
    for name in ("3_ada_0.wav", "3_bo_7.wav"):
        write_wav(recordings / name, torch.zeros(800), 8000)
    fsdd = recordings.parent
    for option, value, why in (("--split", "nope", "invalid choice: 'nope'"), ("--delays", "sometimes", "invalid choice"),
                               ("--input", "spikes", "invalid choice")):
        assert why in _refused(["train", "speech", option, value], f"argument {option}:", capsys)
    line = _refused(["train", "speech", "--speaker", "ada", "--data", str(fsdd)], "argument arguments:", capsys)
    assert "split='loso'" in line
    for path, why in ((files["missing"], "no such folder"), (files["text"], "is a file"),
                      (files["folder"], "holds no recordings"), (files["idx"], "holds no recordings")):
        assert why in _refused(["train", "speech", "--data", str(path)], "argument --data:", capsys)
    (recordings / "seven.wav").write_bytes(b"RIFF")
    line = _refused(["train", "speech", "--data", str(fsdd)], "argument --data:", capsys)
    assert "seven.wav'" in line and "{digit}_{speaker}_{take}.wav" in line
    (recordings / "seven.wav").unlink()
    line = _refused(["train", "speech", "--data", str(fsdd), "--split", "loso", "--speaker", "zoe"],
                    "argument --speaker:", capsys)
    assert "['ada', 'bo']" in line and "'zoe'" in line
    assert not (Path.cwd() / "axonal-speech").exists() or not any((Path.cwd() / "axonal-speech").iterdir())


def test_bad_choices_and_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, prog in ((["demo", "--coding", "phase"], "axonal demo"), (["simulate", "hodgkin"], "axonal simulate"),
                       (["import"], "axonal import"), (["demo", "--bogus", "1"], "axonal"), ([], "axonal"),
                       (["train"], "axonal train")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"{prog}: error: ") and "usage" not in err, err


def test_limits_are_the_recipe_configs_limits() -> None:
    from axonal.tasks.digits import DemoConfig
    from axonal.tasks.speech import SpeechConfig
    from axonal.tasks.stdp_mnist import StdpMnistConfig

    pairs: list[tuple[Any, str, str]] = [(DemoConfig, f, f"demo.{f}") for f in ("epochs", "steps", "hidden")]
    pairs += [(StdpMnistConfig, f, f"stdp.{f}") for f in ("neurons", "epochs", "batch")]
    pairs += [(SpeechConfig, f, f"speech.{f}") for f in ("epochs", "hidden", "max_delay")]
    pairs += [(DemoConfig, "seed", "seed"), (StdpMnistConfig, "seed", "seed"), (SpeechConfig, "seed", "seed")]
    for config, field, key in pairs:
        lo, hi = LIMITS[key]
        config(**{field: lo})
        config(**{field: hi})
        for bad in (lo - 1, hi + 1):
            with pytest.raises(ValueError, match=field):
                config(**{field: bad})


def test_interrupt_is_one_line_and_130(monkeypatch: pytest.MonkeyPatch, files: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import axonal.tasks.digits

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(axonal.tasks.digits, "run_demo", interrupted)
    assert main(["demo", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err == "axonal demo: interrupted\n"


def test_bugs_keep_their_traceback(monkeypatch: pytest.MonkeyPatch, files: dict[str, Path]) -> None:
    """Only refusals of user input become one line; anything else propagates."""
    import axonal.tasks.digits

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    def not_axonal(*args: object, **kwargs: object) -> None:
        raise ValueError("raised outside axonal")  # not one of axonal's boundary checks

    monkeypatch.setattr(axonal.tasks.digits, "run_demo", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["demo", "--no-progress"])
    monkeypatch.setattr(axonal.tasks.digits, "run_demo", not_axonal)
    with pytest.raises(ValueError, match="raised outside axonal"):
        main(["demo", "--no-progress"])
    # code that axonal's files would hold: a TypeError of a failed call is a bug, one of a
    # raise statement a refusal
    where = str(Path(cli.__file__).resolve().parent / "tasks" / "digits.py")
    space: dict[str, object] = {}
    exec(compile("def failed_call(*a, **k):\n    len(1)\n"
                 "def check(*a, **k):\n    raise TypeError('hidden must be an int, got str')\n",
                 where, "exec"), space)
    monkeypatch.setattr(axonal.tasks.digits, "run_demo", space["failed_call"])
    with pytest.raises(TypeError, match="has no len"):
        main(["demo", "--no-progress"])
    monkeypatch.setattr(axonal.tasks.digits, "run_demo", space["check"])
    assert main(["demo", "--no-progress"]) == 2


@pytest.mark.parametrize("argv", [
    ["simulate", "cuba", "--duration", "1e12"],
    ["export", "NOISE", "out.nir"],
    ["demo", "--hidden", "nan"],
])
def test_the_terminal_never_sees_a_traceback(argv: list[str], files: dict[str, Path]) -> None:
    argv = [str(files["noise"]) if a == "NOISE" else a for a in argv]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "axonal.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = _error_lines(done.stderr)
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith(f"axonal {argv[0]}: error: argument "), lines[0]
    assert done.stdout == ""
