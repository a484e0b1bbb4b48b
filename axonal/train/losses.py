"""Classification losses on the output layer of a spiking network.

Every loss takes the time-major output of the readout layer, ``[T, B, C]`` (``T`` steps,
``B`` samples, ``C`` classes, one output neuron per class), and integer class targets ``[B]``,
and returns a scalar averaged over the batch. The readouts themselves (spike counts, first
spike times, membrane maxima) come from :mod:`axonal.functional.decode`; this module only
turns them into a loss.

Three codes are covered:

* **rate code**: the correct neuron should spike most (:func:`count_cross_entropy`,
  :func:`count_mse`);
* **membrane readout**: a non-spiking readout (e.g. a leaky integrator) whose largest or
  mean potential is the logit (:func:`membrane_cross_entropy`);
* **temporal code**: the correct neuron should spike first (:func:`first_spike_cross_entropy`,
  :func:`first_spike_predict`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from axonal.functional.decode import (
    first_spike_time,
    membrane_max,
    membrane_mean,
    spike_count,
)
from axonal.functional.scan import check_sequence

__all__ = [
    "count_cross_entropy",
    "count_mse",
    "membrane_cross_entropy",
    "first_spike_cross_entropy",
    "first_spike_predict",
]

_REDUCES = ("max", "mean")


def _check_output(name: str, value: Any) -> Tensor:
    """Validate a readout tensor: floating, finite, exactly ``[T, B, C]``, non-empty."""
    x = check_sequence(value, name, min_rank=3)
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have shape [T, B, C] (time, batch, classes), got shape {tuple(x.shape)}"
        )
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(
            f"{name} must have at least one sample and one class, got shape {tuple(x.shape)}"
        )
    return x


def _check_target(target: Any, like: Tensor, name: str) -> Tensor:
    """Validate class indices ``[B]`` against the readout ``like`` ``[T, B, C]`` called ``name``."""
    if not isinstance(target, Tensor):
        raise TypeError(
            f"target must be a tensor of class indices [B], got {type(target).__name__}"
        )
    if target.dtype == torch.bool or target.is_floating_point() or target.is_complex():
        raise TypeError(
            f"target must hold integer class indices (e.g. torch.long), got dtype {target.dtype}"
        )
    batch, classes = like.shape[1], like.shape[2]
    if target.shape != (batch,):
        raise ValueError(
            f"target must have shape [B] = ({batch},) to match {name} of shape "
            f"{tuple(like.shape)}, got shape {tuple(target.shape)}"
        )
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= classes:
        raise ValueError(
            f"target must hold class indices in [0, {classes}) for {name} with {classes} "
            f"classes, got values from {low} to {high}"
        )
    return target.to(device=like.device, dtype=torch.long)


def _check_number(name: str, value: Any, low: float, high: float = math.inf,
                  low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    number = float(value)
    above = number > low if low_open else number >= low
    if not math.isfinite(number) or not above or number > high:
        bracket = "(" if low_open else "["
        upper = "inf)" if high == math.inf else f"{high:g}]"
        raise ValueError(f"{name} must lie in {bracket}{low:g}, {upper}, got {number}")
    return number


def count_cross_entropy(spikes: Tensor, target: Tensor, scale: float = 1.0) -> Tensor:
    """Cross-entropy with logits ``scale * spike count`` of each output neuron.

    Args:
        spikes: output spikes ``[T, B, C]``.
        target: class indices ``[B]``.
        scale: logits per spike (> 0); a smaller scale softens the softmax for long ``T``.

    Returns:
        ``mean_b CE(scale * count[b], target[b])`` (nats), a scalar.
    """
    spikes = _check_output("spikes", spikes)
    labels = _check_target(target, spikes, "spikes")
    scale = _check_number("scale", scale, 0.0, low_open=True)
    return F.cross_entropy(scale * spike_count(spikes), labels)


def count_mse(
    spikes: Tensor, target: Tensor, on_rate: float = 0.8, off_rate: float = 0.2
) -> Tensor:
    """Mean squared error between each output's spike count and a target count.

    The target count is ``on_rate * T`` for the correct class and ``off_rate * T`` for the
    others (rates in spikes per step, in ``[0, 1]``).

    Returns:
        ``mean_{b, c} (count[b, c] - target_count[b, c])**2`` (spikes squared), a scalar.
    """
    spikes = _check_output("spikes", spikes)
    labels = _check_target(target, spikes, "spikes")
    on_rate = _check_number("on_rate", on_rate, 0.0, 1.0)
    off_rate = _check_number("off_rate", off_rate, 0.0, 1.0)
    steps = spikes.shape[0]
    counts = spike_count(spikes)
    wanted = torch.full_like(counts, off_rate * steps)
    wanted.scatter_(1, labels[:, None], on_rate * steps)
    return F.mse_loss(counts, wanted)


def membrane_cross_entropy(v: Tensor, target: Tensor, reduce: str = "max") -> Tensor:
    """Cross-entropy on the readout membrane reduced over time.

    Args:
        v: membrane potential of a (usually non-spiking) readout, ``[T, B, C]``; its unit is
            the logit unit, so scale the readout (or its weights) accordingly.
        target: class indices ``[B]``.
        reduce: ``"max"`` (logit = peak potential over time) or ``"mean"`` (time average).
    """
    v = _check_output("v", v)
    labels = _check_target(target, v, "v")
    if not isinstance(reduce, str):
        raise TypeError(f"reduce must be a str, got {type(reduce).__name__}")
    if reduce not in _REDUCES:
        raise ValueError(f"reduce must be one of {_REDUCES}, got {reduce!r}")
    logits = membrane_max(v) if reduce == "max" else membrane_mean(v)
    return F.cross_entropy(logits, labels)


def first_spike_cross_entropy(
    spikes: Tensor, target: Tensor, tau: float = 5.0, silence_weight: float = 0.0
) -> Tensor:
    """Time-to-first-spike loss: softmax over negative first-spike times.

    Temporal coding as in Mostafa (2017) and Göltz et al. (2021): the class is the output
    neuron that fires first, so the logits are ``-t_first / tau`` and the loss is their
    cross-entropy. Its gradient moves the correct neuron's first spike earlier and the
    others' later. ``t_first`` comes from
    :func:`~axonal.functional.decode.first_spike_time` in steps; its differentiable form
    ``sum_t t s_t prod_{t'<t}(1 - s_t') + T prod_t(1 - s_t)`` sends gradient to every step
    before the first spike (weight ``t - t_first``), so surrogate spikes there can move it.
    A neuron that never fires counts as firing at step ``T``.

    That last convention leaves a gap: a silent correct neuron scores only one step worse than
    one firing on the last step, so the loss barely tells "fires late" from "never fires"
    (and an all-silent output is a tie at prediction time).
    ``silence_weight`` adds ``silence_weight * mean_b relu(1 - count_correct)``:
    a fixed cost of ``silence_weight`` per sample whose correct neuron stays silent. Its
    gradient is ``-silence_weight`` on the correct neuron's spike at *every* step, evenly over
    time and independent of the softmax and of ``tau``; it is exactly zero once the neuron
    has fired (the penalty is ``relu(1 - count)``, flat at ``count >= 1``), so it never
    fights the timing term. 0 (default) turns it off; about 1 is a good start when output
    neurons begin silent.

    Args:
        spikes: output spikes ``[T, B, C]`` (binary with a surrogate gradient, or graded).
        target: class indices ``[B]``.
        tau: softmax temperature in steps (> 0): a gap of ``tau`` steps between two first
            spikes is one nat of logit difference. Smaller is sharper.
        silence_weight: weight (>= 0) of the silent-correct-neuron penalty, in nats.

    Returns:
        A scalar: batch mean of the cross-entropy plus the silence term.
    """
    spikes = _check_output("spikes", spikes)
    labels = _check_target(target, spikes, "spikes")
    tau = _check_number("tau", tau, 0.0, low_open=True)
    silence_weight = _check_number("silence_weight", silence_weight, 0.0)
    t_first = first_spike_time(spikes)
    loss = F.cross_entropy(-t_first / tau, labels)
    if silence_weight > 0:
        correct_count = spike_count(spikes).gather(1, labels[:, None]).squeeze(1)
        loss = loss + silence_weight * torch.relu(1.0 - correct_count).mean()
    return loss


def first_spike_predict(spikes: Tensor, v: Tensor | None = None) -> Tensor:
    """Predicted class: the output neuron that fires first.

    Ties, including the case where no output fires, go to the neuron with the larger
    membrane maximum over time when ``v`` is given, and otherwise (or if those are tied too)
    to the lowest index.

    Shapes:
        spikes: ``[T, B, C]``; v: ``[T, B, C]`` or ``None``; returns ``[B]`` (torch.long).
    """
    spikes = _check_output("spikes", spikes)
    if v is not None:
        v = _check_output("v", v)
        if v.shape != spikes.shape:
            raise ValueError(
                f"v must have the shape of spikes {tuple(spikes.shape)}, got {tuple(v.shape)}"
            )
    with torch.no_grad():
        t_first = first_spike_time(spikes.detach())
        earliest = t_first == t_first.min(dim=1, keepdim=True).values
        if v is None:
            # argmax returns the first maximal index: the lowest earliest-firing class
            return earliest.to(torch.int8).argmax(dim=1)
        peak = membrane_max(v.detach()).to(spikes.device)
        score = peak.masked_fill(~earliest, -math.inf)
        return score.argmax(dim=1)
