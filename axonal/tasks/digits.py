"""``axonal demo``: a spiking classifier for scikit-learn's 8x8 digits.

Two codings of the same task:

* ``rate``: each pixel (scaled to [0, 1]) is a Bernoulli spike train with that probability per
  step; 64 -> Linear -> LIF (learnable per-neuron tau) -> dropout -> Linear -> LI readout; the
  class is the readout with the largest membrane maximum (loss: cross-entropy on it).
* ``latency``: each pixel spikes once, brighter pixels earlier (linear time to first spike,
  dark pixels silent); 64 -> Linear -> LIF -> dropout -> Linear -> LIF; the class is the output
  neuron that fires first (loss: cross-entropy on negative first-spike times).

Data: the fixed split of :func:`axonal.data.load_digits_split` (1,347 train / 450 test).

Threads: one intra-op thread by default (see :func:`run_demo`); the accuracy is the same for
any thread count (:mod:`axonal.train.threads`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from axonal.functional.validate import check_dt, check_int, check_positive
from axonal.data.digits import load_digits_split
from axonal.functional import encode
from axonal.functional.surrogate import ArcTan
from axonal.nn import LI, LIF, Sequential, SequentialResult
from axonal.energy import OpCounts, count_ops
from axonal.errors import FileFormatError
from axonal.train.checkpoint import load_checkpoint, restore, save_checkpoint
from axonal.train.threads import recipe_threads, thread_independent_blas
from axonal.train.loop import (
    Encoder,
    EpochLog,
    Objective,
    Predictor,
    TrainConfig,
    evaluate,
    fit,
    seed_everything,
)
from axonal.train.losses import (
    first_spike_cross_entropy,
    first_spike_predict,
    membrane_cross_entropy,
)

__all__ = ["DemoConfig", "DemoReport", "build_model", "count_demo_ops", "load_demo_model", "model_shapes", "run_demo"]

Coding = Literal["rate", "latency"]


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the digits demo (defaults reach >= 97% test accuracy with rate coding).

    Units: dt in seconds; time constants in seconds.
    """

    coding: Coding = "rate"
    steps: int = 25
    hidden: int = 256
    epochs: int = 80
    dropout: float = 0.3
    batch_size: int = 64
    lr: float = 5e-3
    seed: int = 0
    dt: float = 1e-3

    def __post_init__(self) -> None:
        if self.coding not in ("rate", "latency"):
            raise ValueError(f"coding must be 'rate' or 'latency', got {self.coding!r}")
        # the ranges `axonal demo` states (a checkpoint's config is held to them before the
        # model is built, so a crafted file cannot ask for a giant allocation)
        for name, low, high in (("epochs", 1, 10_000), ("steps", 2, 10_000), ("hidden", 1, 65_536),
                                ("batch_size", 1, 4_096), ("seed", 0, 2**32 - 1)):
            if check_int(name, getattr(self, name), minimum=low) > high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {getattr(self, name)}")
        check_dt(self.dt)
        check_positive("lr", self.lr, unit="")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, float) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1), got {self.dropout!r}")

    def train_config(self, progress: bool) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=self.seed, progress=progress
        )


class DemoReport(NamedTuple):
    """What :func:`run_demo` measured and wrote."""

    config: DemoConfig
    test_accuracy: float
    rates_hz: dict[str, float]
    seconds: float
    history: list[EpochLog]
    files: list[Path]
    energy: OpCounts | None = None  # operation counts on the encoded test set (axonal.energy)


def build_model(config: DemoConfig) -> Sequential:
    """The network for ``config.coding`` (see the module docstring)."""
    surrogate = ArcTan(2.0)
    if config.coding == "rate":
        hidden = LIF(
            tau_mem=10e-3, r=1.0, surrogate=surrogate, dt=config.dt, learn=("tau_mem",), shape=(config.hidden,)
        )
        readout: nn.Module = LI(tau_mem=20e-3, r=5.0, dt=config.dt)
    else:
        # a single input spike must be able to move the membrane: r = tau / dt makes each
        # step's input act like snnTorch's "v = beta v + x"
        hidden = LIF(tau_mem=20e-3, r=20.0, surrogate=surrogate, dt=config.dt)
        readout = LIF(tau_mem=20e-3, r=20.0, surrogate=surrogate, dt=config.dt)
    return Sequential(
        nn.Linear(64, config.hidden),
        hidden,
        nn.Dropout(config.dropout),  # on hidden spikes, training only
        nn.Linear(config.hidden, 10),
        readout,
    )


def make_encoder(config: DemoConfig) -> Encoder:
    """``encode(x [B, 64], generator) -> spikes [steps, B, 64]`` for ``config.coding``."""
    steps = config.steps

    def rate(x: Tensor, gen: torch.Generator) -> Tensor:
        return encode.rate(x, steps, generator=gen)

    def latency(x: Tensor, gen: torch.Generator) -> Tensor:
        # t = (steps // 2) * (1 - x): every input spike lands in the first half of the window,
        # which leaves the network the second half to answer; dark pixels stay silent
        return encode.latency(x, steps, mode="linear", tau=float(steps // 2), threshold=0.05)

    return rate if config.coding == "rate" else latency


def make_objective(config: DemoConfig) -> tuple[Objective, Predictor]:
    """Loss and class prediction for ``config.coding``."""
    if config.coding == "rate":

        def loss(result: SequentialResult, target: Tensor) -> Tensor:
            return membrane_cross_entropy(result.out, target, reduce="max")

        def predict(result: SequentialResult) -> Tensor:
            return result.out.amax(dim=0).argmax(dim=1)

        return loss, predict

    def ttfs_loss(result: SequentialResult, target: Tensor) -> Tensor:
        return first_spike_cross_entropy(result.out, target, tau=2.0, silence_weight=0.1)

    def ttfs_predict(result: SequentialResult) -> Tensor:
        return first_spike_predict(result.out)

    return ttfs_loss, ttfs_predict


def layer_rates(model: Sequential, result: SequentialResult, inputs: Tensor, dt: float) -> dict[str, float]:
    """Mean firing rate in Hz of the input spikes and of every spiking layer's output."""
    rates = {"input": float(inputs.mean()) / dt}
    for i, layer in model.neuron_layers():
        if layer.family.name != "li":  # the leaky-integrator readout emits membrane, not spikes
            rates[f"{i}:{layer.family.name}"] = float(result.outputs[i].mean()) / dt
    return rates


def _write_figures(
    model: Sequential, config: DemoConfig, sample: Tensor, history: list[EpochLog], out_dir: Path
) -> list[Path]:
    from axonal import plot

    gen = torch.Generator().manual_seed(config.seed + 2)
    spikes_in = make_encoder(config)(sample.unsqueeze(0), gen)
    with torch.no_grad():
        result = model.run(spikes_in, record=True)
    (i_hid, hidden), (i_out, readout) = model.neuron_layers()[0], model.neuron_layers()[-1]
    hidden_v = result.traces[i_hid].v[:, 0, :8]
    out_v = result.traces[i_out].v[:, 0, :]
    hidden_th = float(getattr(hidden.params(), "v_th"))
    readout_th = None if config.coding == "rate" else float(getattr(readout.params(), "v_th"))
    groups: list[tuple[str, Tensor]] = [("input", spikes_in[:, 0]), ("hidden", result.outputs[i_hid][:, 0])]
    if config.coding == "latency":
        groups.append(("output", result.outputs[i_out][:, 0]))
    return [
        plot.raster(groups, out_dir / "raster.png", config.dt, title=f"digits, {config.coding} coding: one test image"),
        plot.traces(
            [("hidden (8 neurons)", hidden_v, hidden_th), ("readout (10 classes)", out_v, readout_th)],
            out_dir / "membrane.png",
            config.dt,
            title="membrane potential",
        ),
        plot.training_curve(history, out_dir / "training.png", title=f"digits, {config.coding} coding"),
    ]


TRAIN_STATE = "train_state.pt"
"""The file in a demo's output folder that holds its whole training state (``fit``'s
checkpoint, written atomically at the end of every epoch) for ``resume``."""


def run_demo(
    config: DemoConfig, out_dir: str | Path, progress: bool = True, threads: int | None = None,
    resume: bool = False,
) -> DemoReport:
    """Train and evaluate the digits classifier; write figures and a checkpoint to ``out_dir``.

    The result (accuracy, rates, weights) depends on ``config`` (its seed included) only, not
    on the thread count. The training state is written to ``out_dir/train_state.pt`` at the
    end of every epoch; with ``resume`` a killed run continues from it and ends with the same
    weights as a run that was never interrupted.

    Args:
        resume: continue from ``out_dir/train_state.pt`` (``FileNotFoundError`` when absent;
            the config must be the one of the run that wrote it).
        threads: torch intra-op threads while the demo runs (torch's count is put back after).
            ``None``: the count chosen with :func:`axonal.train.threads.set_threads` (what
            ``axonal demo --threads`` does), else 1 (:data:`~axonal.train.threads.DEFAULT_THREADS`:
            the demo's products are small, and more threads only slowed it down on a busy
            machine), or ``OMP_NUM_THREADS`` when set; ``0``: the idle CPUs
            (:func:`~axonal.train.threads.auto_threads`).
    """
    # the products after training (rates, figures, operation counts) on one MKL thread too
    with recipe_threads(threads), thread_independent_blas():
        return _run_demo(config, out_dir, progress, resume)


def _run_demo(config: DemoConfig, out_dir: str | Path, progress: bool, resume: bool) -> DemoReport:
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_file = out / TRAIN_STATE
    if resume and not state_file.is_file():
        raise FileNotFoundError(f"nothing to resume: {str(state_file)!r} does not exist")
    seed_everything(config.seed)
    data = load_digits_split()
    model = build_model(config)
    encoder = make_encoder(config)
    loss, predict = make_objective(config)
    history = fit(
        model,
        (data.x_train, data.y_train),
        encoder,
        loss,
        predict,
        config.train_config(progress),
        test=(data.x_test, data.y_test),
        checkpoint=state_file,
        resume=state_file if resume else None,
    )
    test_gen = torch.Generator().manual_seed(config.seed + 1)
    accuracy = evaluate(model, (data.x_test, data.y_test), encoder, predict, test_gen)
    model.eval()  # rates and energy of the trained network, dropout off
    with torch.no_grad():
        spikes_in = encoder(data.x_test, torch.Generator().manual_seed(config.seed + 1))
        rates = layer_rates(model, model.run(spikes_in), spikes_in, config.dt)
    files = _write_figures(model, config, data.x_test[0], history, out)
    files.append(state_file)
    files.append(
        save_checkpoint(
            out / "model.pt", model, {"task": "digits", **asdict(config)}, {"test_accuracy": accuracy}
        )
    )
    energy = count_ops(model, spikes_in)  # the same encoded test set as count_demo_ops(model, config)
    return DemoReport(config, accuracy, rates, time.perf_counter() - start, history, files, energy)


def model_shapes(config: DemoConfig) -> dict[str, tuple[int, ...]]:
    """The ``state_dict`` shapes :func:`build_model` gives for ``config``, computed without
    building it (so that a checkpoint's sizes can be checked before anything is allocated)."""
    shapes: dict[str, tuple[int, ...]] = {
        "layers.0.weight": (config.hidden, 64),
        "layers.0.bias": (config.hidden,),
        "layers.3.weight": (10, config.hidden),
        "layers.3.bias": (10,),
    }
    if config.coding == "rate":  # the hidden LIF learns its per-neuron tau_mem
        shapes["layers.1.parametrizations.tau_mem.original"] = (config.hidden,)
    return shapes


def load_demo_model(path: str | Path) -> tuple[Sequential, DemoConfig]:
    """The model and config of a checkpoint written by :func:`run_demo`.

    The sizes in the checkpoint's config are checked against the weights actually in the file
    before the model is built, so a config asking for 10^12 hidden neurons next to 256-neuron
    weights is refused without allocating anything.

    Raises:
        FileFormatError: the file is not a valid checkpoint, or its config and weights disagree.
        NonFiniteError: a weight holds NaN or inf (the message names it).
        ValueError: the checkpoint is not from the digits demo, or its config is invalid.
    """
    checkpoint = load_checkpoint(path)
    if checkpoint.config.get("task") != "digits":
        raise ValueError(
            f"checkpoint {str(path)!r} is not a digits demo model (task={checkpoint.config.get('task')!r})"
        )
    names = {f.name for f in fields(DemoConfig)}
    config = DemoConfig(**{k: v for k, v in checkpoint.config.items() if k in names})
    want = model_shapes(config)
    have = {k: tuple(v.shape) for k, v in checkpoint.state_dict.items()}
    if want != have:
        diff = [f"{k}: config implies {want.get(k)}, file holds {have.get(k)}"
                for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)]
        raise FileFormatError(
            f"{str(path)!r}: its config (coding={config.coding!r}, hidden={config.hidden}) does not match "
            f"the weights it holds ({'; '.join(diff[:4])})"
        )
    return restore(build_model(config), checkpoint), config


def count_demo_ops(model: Sequential, config: DemoConfig, samples: int | None = None) -> OpCounts:
    """:func:`axonal.energy.count_ops` on the first ``samples`` encoded test images (all: None),
    encoded with the evaluation seed."""
    data = load_digits_split()
    if samples is not None:
        check_int("samples", samples)
    x = data.x_test if samples is None else data.x_test[:samples]
    spikes = make_encoder(config)(x, torch.Generator().manual_seed(config.seed + 1))
    return count_ops(model, spikes)
