"""Readouts: reduce time-major spike trains or membrane traces ``[T, B, ...]`` to ``[B, ...]``.

All readouts are differentiable, so they can sit at the end of a network trained with
surrogate gradients. :func:`first_spike_time` in particular is written so that gradients reach
the spikes (see its docstring).

Units: ``dt`` in seconds; rates in Hz; membrane readouts keep the unit of their input.
"""

from __future__ import annotations

import torch
from torch import Tensor

from axonal.functional.validate import check_dt
from axonal.functional.scan import check_sequence

__all__ = [
    "spike_count",
    "first_spike_time",
    "membrane_max",
    "membrane_mean",
    "rate",
]


def spike_count(spikes: Tensor) -> Tensor:
    """Number of spikes of each neuron over the whole window.

    Shapes:
        spikes: ``[T, B, ...]``.
        returns: ``[B, ...]``.
    """
    s = check_sequence(spikes, "spikes")
    return s.sum(dim=0)


def first_spike_time(spikes: Tensor, dt: float | None = None) -> Tensor:
    """Time of each neuron's first spike; ``T`` (the window length) for a neuron that never fired.

    Computed as::

        t_first = sum_t t * s_t * prod_{t' < t} (1 - s_t')  +  T * prod_t (1 - s_t)

    For binary spikes exactly one term survives (the first spike, or the "never" term), so the
    result is the exact index. The expression is smooth in ``s``, so surrogate gradients flow
    back to every spike up to and including the first one; for values in ``(0, 1)`` it is the
    expected first-spike time when each step fires independently with probability ``s_t``.

    Shapes:
        spikes: ``[T, B, ...]`` with values in ``[0, 1]``.
        returns: ``[B, ...]``.
    Units:
        steps (a float index) when ``dt`` is None; seconds (``index * dt``) when ``dt`` is given.
    """
    s = check_sequence(spikes, "spikes")
    with torch.no_grad():
        if not bool(((s >= 0) & (s <= 1)).all()):
            raise ValueError(
                f"spikes must lie in [0, 1], got values in [{float(s.min())}, {float(s.max())}]"
            )
    scale = 1.0 if dt is None else check_dt(dt)
    steps = s.shape[0]
    survive = torch.cumprod(1.0 - s, dim=0)  # survive[t] = prod_{t' <= t} (1 - s_t')
    before = torch.cat((torch.ones_like(s[:1]), survive[:-1]), dim=0)  # prod_{t' < t}
    index = torch.arange(steps, dtype=s.dtype, device=s.device).reshape(
        steps, *([1] * (s.dim() - 1))
    )
    t_first = (index * s * before).sum(dim=0) + steps * survive[-1]
    return t_first * scale


def membrane_max(v: Tensor) -> Tensor:
    """Maximum over time of a membrane trace (the gradient goes to the maximising steps, shared
    evenly between ties).

    Shapes:
        v: ``[T, B, ...]``.
        returns: ``[B, ...]``.
    Units:
        those of ``v`` (mV for the neuron families).
    """
    vs = check_sequence(v, "v")
    return vs.amax(dim=0)


def membrane_mean(v: Tensor) -> Tensor:
    """Mean over time of a membrane trace.

    Shapes:
        v: ``[T, B, ...]``.
        returns: ``[B, ...]``.
    Units:
        those of ``v`` (mV for the neuron families).
    """
    vs = check_sequence(v, "v")
    return vs.mean(dim=0)


def rate(spikes: Tensor, dt: float) -> Tensor:
    """Mean firing rate over the window: ``count / (T * dt)``.

    Shapes:
        spikes: ``[T, B, ...]``.
        returns: ``[B, ...]``.
    Units:
        dt in seconds; the result in Hz.
    """
    s = check_sequence(spikes, "spikes")
    dt = check_dt(dt)
    return s.sum(dim=0) / (s.shape[0] * dt)
