"""Firing-rate regularisers for surrogate-gradient training.

Each function takes the spikes of **one layer**, ``[T, B, *neurons]`` (time-major, any number
of neuron dimensions, e.g. ``[T, B, N]`` or ``[T, B, C, H, W]``), and computes each neuron's
firing rate as its mean over time and batch::

    rate[n] = (1 / (T B)) sum_{t, b} spikes[t, b, n]

Units: rates are in **spikes per time step** (a firing probability per step, in ``[0, 1]``
for binary spikes); a rate in Hz is ``rate / dt``, so for ``dt = 1 ms`` a rate of 0.02 is
20 Hz. Time constants do not enter.

The penalty on the per-neuron deviation ``d[n]`` is ``d**2`` (``kind="l2"``) or ``|d|``
(``kind="l1"``), averaged over neurons, so it does not grow with the layer size and can be
summed over layers with one weight per layer::

    loss = task_loss + 1e-2 * sum(upper_rate_penalty(s, 0.1) for s in hidden_spikes)

* :func:`rate_penalty` pulls every neuron towards a target rate;
* :func:`upper_rate_penalty` only acts on neurons above ``max_rate`` (keeps activity, and
  hence energy, low);
* :func:`lower_rate_penalty` only acts on neurons below ``min_rate``: it revives silent
  neurons, which otherwise get no surrogate gradient from the task loss because their
  membrane stays far below threshold (as in Zenke & Vogels 2021, which pairs a per-neuron
  lower bound with an upper bound on activity).

Inside the allowed band the one-sided penalties are exactly zero with a zero gradient.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from axonal.functional.scan import check_sequence

__all__ = ["firing_rate", "rate_penalty", "upper_rate_penalty", "lower_rate_penalty"]

_KINDS = ("l1", "l2")


def firing_rate(spikes: Tensor) -> Tensor:
    """Per-neuron rate in spikes per step, averaged over time and batch.

    Shapes:
        spikes: ``[T, B, *neurons]`` -> ``[*neurons]``.
    """
    check_sequence(spikes, "spikes", min_rank=3)
    if spikes.numel() == 0:
        raise ValueError(
            f"spikes must have at least one sample and one neuron, got shape {tuple(spikes.shape)}"
        )
    return spikes.mean(dim=(0, 1))


def _check_rate(name: str, value: Any, neurons: torch.Size) -> Tensor | float:
    """A rate in spikes per step: a float or a tensor broadcastable to ``neurons``, in [0, 1]."""
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a float or a floating tensor, got dtype {value.dtype}")
        try:
            shape = torch.broadcast_shapes(value.shape, neurons)
        except RuntimeError:
            shape = None
        if shape != neurons:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}, expected one broadcastable to the "
                f"neuron shape {tuple(neurons)}"
            )
        with torch.no_grad():
            if not bool(torch.isfinite(value).all()) or not bool(
                ((value >= 0) & (value <= 1)).all()
            ):
                raise ValueError(
                    f"{name} must lie in [0, 1] spikes per step, got values from "
                    f"{float(value.min())} to {float(value.max())}"
                )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float (spikes per step), got {type(value).__name__}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1] spikes per step, got {value}")
    return float(value)


def _check_kind(kind: Any) -> str:
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, got {type(kind).__name__}")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    return kind


def _reduce(deviation: Tensor, kind: str) -> Tensor:
    per_neuron = deviation.square() if kind == "l2" else deviation.abs()
    return per_neuron.mean()


def rate_penalty(spikes: Tensor, target_rate: float | Tensor, kind: str = "l2") -> Tensor:
    """Mean over neurons of ``(rate - target_rate)**2`` (``"l2"``) or ``|rate - target_rate|``.

    Args:
        spikes: one layer's spikes, ``[T, B, *neurons]``.
        target_rate: spikes per step in ``[0, 1]``; a float or a tensor broadcastable to
            ``[*neurons]`` (one target per neuron).
        kind: ``"l2"`` or ``"l1"``.

    Returns:
        A scalar tensor (units: (spikes per step)**2 for l2, spikes per step for l1).
    """
    rate = firing_rate(spikes)
    target = _check_rate("target_rate", target_rate, rate.shape)
    return _reduce(rate - target, _check_kind(kind))


def upper_rate_penalty(spikes: Tensor, max_rate: float | Tensor, kind: str = "l2") -> Tensor:
    """Mean over neurons of ``relu(rate - max_rate)**2`` (or its l1 form): only above the max.

    Arguments as in :func:`rate_penalty`; zero (with zero gradient) for neurons at or below
    ``max_rate``.
    """
    rate = firing_rate(spikes)
    bound = _check_rate("max_rate", max_rate, rate.shape)
    return _reduce(torch.relu(rate - bound), _check_kind(kind))


def lower_rate_penalty(spikes: Tensor, min_rate: float | Tensor, kind: str = "l2") -> Tensor:
    """Mean over neurons of ``relu(min_rate - rate)**2`` (or its l1 form): only below the min.

    Use it to revive silent neurons. Arguments as in :func:`rate_penalty`; zero (with zero
    gradient) for neurons at or above ``min_rate``.
    """
    rate = firing_rate(spikes)
    bound = _check_rate("min_rate", min_rate, rate.shape)
    return _reduce(torch.relu(bound - rate), _check_kind(kind))
