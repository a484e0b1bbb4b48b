"""Figures: spike rasters, membrane traces, training curves (matplotlib, imported lazily).

Every function draws onto a new figure, saves it as PNG at ``path`` and returns the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from torch import Tensor

if TYPE_CHECKING:
    from axonal.train.loop import EpochLog

__all__ = ["raster", "traces", "training_curve"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _as_2d(name: str, x: Tensor | np.ndarray) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be [T, N] (time-major, one sample), got shape {arr.shape}")
    return arr


def raster(
    groups: Sequence[tuple[str, Tensor | np.ndarray]],
    path: str | Path,
    dt: float,
    title: str = "",
) -> Path:
    """Spike raster, one panel per ``(label, spikes [T, N])`` group, with a rate histogram.

    Units: dt in seconds; the time axis is drawn in ms.
    """
    plt = _pyplot()
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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def traces(
    panels: Sequence[tuple[str, Tensor | np.ndarray, float | None]],
    path: str | Path,
    dt: float,
    title: str = "",
) -> Path:
    """Membrane traces, one panel per ``(label, v [T, N], threshold or None)``; v in mV."""
    plt = _pyplot()
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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def training_curve(history: Sequence[EpochLog], path: str | Path, title: str = "") -> Path:
    """Loss (left) and train/test accuracy (right) per epoch."""
    plt = _pyplot()
    if not history:
        raise ValueError("history is empty: nothing to plot")
    epochs = [h.epoch + 1 for h in history]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_l.plot(epochs, [h.loss for h in history], color="tab:blue")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("training loss")
    ax_l.set_yscale("log")
    ax_a.plot(epochs, [h.train_accuracy for h in history], label="train")
    ax_a.plot(epochs, [h.test_accuracy for h in history], label="test")
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("accuracy")
    ax_a.set_ylim(0.0, 1.0)
    ax_a.grid(alpha=0.3)
    ax_a.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
