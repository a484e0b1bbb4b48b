"""Figures: spike rasters, membrane traces, training curves (matplotlib, imported lazily).

Every function draws onto a new figure with labelled axes (with units) and a title, saves it
as PNG at ``path`` and returns the path. :func:`raster` and :func:`traces` take time-major
``[T, N]`` arrays (layers); :func:`spike_raster` and :func:`state_traces` take the monitors
of :mod:`axonal.sim` (events and sampled states of large networks).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from torch import Tensor

if TYPE_CHECKING:
    from axonal.sim.monitors import SpikeMonitor, StateMonitor
    from axonal.train.loop import EpochLog

__all__ = ["pyplot", "raster", "traces", "training_curve", "confusion_matrix", "spike_raster", "state_traces"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, title: str, dpi: int = 110) -> Path:
    """Title, lay out, write ``fig`` as PNG to ``path``, close it; returns the path."""
    if not title:
        raise ValueError("title must be a non-empty string: every figure has one")
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=dpi)
    pyplot().close(fig)
    return out


def _as_2d(name: str, x: Tensor | np.ndarray) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be [T, N] (time-major, one sample), got shape {arr.shape}")
    return arr


def raster(
    groups: Sequence[tuple[str, Tensor | np.ndarray]],
    path: str | Path,
    dt: float,
    title: str = "spike raster",
) -> Path:
    """Spike raster, one panel per ``(label, spikes [T, N])`` group, with a rate histogram.

    Units: dt in seconds; the time axis is drawn in ms.
    """
    plt = pyplot()
    if not groups:
        raise ValueError("groups must hold at least one (label, spikes) pair")
    fig, axes = plt.subplots(
        len(groups), 1, figsize=(8, 2.2 * len(groups) + 0.6), sharex=True, squeeze=False
    )
    for ax, (label, spikes) in zip(axes[:, 0], groups):
        s = _as_2d(f"spikes of {label!r}", spikes)
        t_idx, n_idx = np.nonzero(s > 0)
        ax.scatter(t_idx * dt * 1e3, n_idx, s=4, marker="|", color="black", linewidths=0.8)
        ax.set_ylabel(f"{label}\nneuron")
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        rate = s.mean(axis=1) / dt
        twin = ax.twinx()
        twin.plot(np.arange(s.shape[0]) * dt * 1e3, rate, color="tab:red", lw=1.0, alpha=0.7)
        twin.set_ylabel("rate (Hz)", color="tab:red")
    axes[-1, 0].set_xlabel("time (ms)")
    return _save(fig, path, title)


def traces(
    panels: Sequence[tuple[str, Tensor | np.ndarray, float | None]],
    path: str | Path,
    dt: float,
    title: str = "membrane traces",
) -> Path:
    """Membrane traces, one panel per ``(label, v [T, N], threshold or None)``; v in mV."""
    plt = pyplot()
    if not panels:
        raise ValueError("panels must hold at least one (label, v, threshold) entry")
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.5 * len(panels) + 0.6), sharex=True, squeeze=False)
    for ax, (label, v, threshold) in zip(axes[:, 0], panels):
        arr = _as_2d(f"membrane of {label!r}", v)
        t = np.arange(arr.shape[0]) * dt * 1e3
        for j in range(arr.shape[1]):
            ax.plot(t, arr[:, j], lw=1.0, label=f"{j}")
        if threshold is not None:
            ax.axhline(threshold, color="gray", ls="--", lw=0.8, label="threshold")
        ax.set_ylabel(f"{label}\nv (mV)")
        ax.legend(fontsize=6, ncol=6, loc="upper left")
    axes[-1, 0].set_xlabel("time (ms)")
    return _save(fig, path, title)


def training_curve(history: Sequence[EpochLog], path: str | Path,
                   title: str = "training curve") -> Path:
    """Loss (left) and train/test accuracy (right) per epoch."""
    plt = pyplot()
    if not history:
        raise ValueError("history is empty: nothing to plot")
    epochs = [h.epoch + 1 for h in history]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_l.plot(epochs, [h.loss for h in history], color="tab:blue")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("training loss")
    ax_l.set_yscale("log")
    ax_a.plot(epochs, [h.train_accuracy for h in history], label="train")
    if any(h.test_accuracy == h.test_accuracy for h in history):  # not every epoch NaN (no test set)
        ax_a.plot(epochs, [h.test_accuracy for h in history], label="test")
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("accuracy")
    ax_a.set_ylim(0.0, 1.0)
    ax_a.grid(alpha=0.3)
    ax_a.legend()
    return _save(fig, path, title)


def confusion_matrix(
    matrix: Tensor | np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    title: str = "confusion matrix",
) -> Path:
    """Confusion matrix ``[C, C]`` (rows: true class, columns: predicted class) as a heat map
    of the fraction of each true class, with the count written in every non-empty cell."""
    plt = pyplot()
    counts = _as_2d("matrix", matrix).astype(np.int64)
    n = counts.shape[0]
    if counts.shape != (n, n) or len(labels) != n:
        raise ValueError(f"matrix must be [C, C] with C = len(labels) = {len(labels)}, got shape {counts.shape}")
    if (counts < 0).any():
        raise ValueError("matrix must hold counts >= 0")
    rows = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(rows, 1)
    fig, ax = plt.subplots(figsize=(0.45 * n + 2.6, 0.45 * n + 2.0))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    return _save(fig, path, title)


def spike_raster(
    monitors: Sequence[SpikeMonitor],
    path: str | Path,
    duration: float,
    bin_width: float = 1e-3,
    max_neurons: int = 1000,
    title: str = "spike raster",
) -> Path:
    """Raster of the spikes of simulator monitors above their population rates.

    Each monitor's first ``max_neurons`` neurons are stacked in the order given; below, the
    rate of each population (Hz) in bins of ``bin_width`` seconds over ``[0, duration]`` s.
    """
    plt = pyplot()
    if not monitors:
        raise ValueError("monitors must hold at least one SpikeMonitor")
    if not duration > 0 or not bin_width > 0:
        raise ValueError(f"duration and bin_width must be > 0 s, got {duration}, {bin_width}")
    fig, (ax, ax_rate) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    offset = 0
    bins = np.arange(0.0, duration + bin_width, bin_width)
    for mon in monitors:
        times, ids = mon.times, mon.ids
        keep = ids < max_neurons
        ax.scatter(times[keep], ids[keep] + offset, s=0.5, marker=".", label=mon.source.name)
        hist, _ = np.histogram(times, bins=bins)
        ax_rate.plot(bins[:-1], hist / (mon.source.n * bin_width), lw=0.8,
                     label=mon.source.name)
        offset += min(max_neurons, mon.source.n)
    ax.set_ylabel("neuron (index)")
    ax_rate.set_xlabel("time (s)")
    ax_rate.set_ylabel("rate (Hz)")
    ax_rate.legend(loc="upper right", fontsize="small")
    return _save(fig, path, title, dpi=120)


def state_traces(
    monitor: StateMonitor,
    variable: str,
    path: str | Path,
    unit: str | None = None,
    max_traces: int = 5,
    title: str | None = None,
) -> Path:
    """Traces of a recorded ``variable`` of a simulator :class:`StateMonitor`, for up to
    ``max_traces`` recorded neurons, against time in s.

    ``unit``: the variable's unit for the axis label; by default the population's
    (:meth:`axonal.sim.Population.unit`: mV, s, nA, uS), which must then be known.
    """
    plt = pyplot()
    values = monitor.values(variable)
    if unit is None:
        unit = monitor.source.unit(variable)
        if unit is None:
            raise ValueError(f"unit: the unit of {variable!r} of {monitor.source.name} is the "
                             f"family's; pass unit= for the axis label")
    fig, ax = plt.subplots(figsize=(8, 3))
    for i in range(min(max_traces, values.shape[1])):
        ax.plot(monitor.times, values[:, i], lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{variable} ({unit})")
    return _save(fig, path, title or f"{variable} of {monitor.source.name}", dpi=120)
