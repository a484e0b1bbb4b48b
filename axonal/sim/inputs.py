"""Inputs of a simulated network: spike sources and injected currents.

Spike sources are populations without a neuron model; projections leave them like any other
population:

* :class:`PoissonSource`: independent Poisson trains, ``Poisson(rate dt)`` spikes per step
  (several spikes of one neuron in a step are delivered as several events);
* :class:`SpikeGenerator`: spikes at given times (seconds) of given neurons.

Injected currents (added to a population's input ``x``, in nA) are evaluated per step ``k``
(time ``k dt`` at the start of the update):

* :class:`ConstantCurrent`: one value or one per neuron;
* :class:`StepCurrent`: piecewise constant, ``amplitudes[i]`` from ``times[i]`` on;
* :class:`ArrayCurrent`: one sample per step, ``[T]`` or ``[T, n]``; zero after the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.validate import check_int

__all__ = [
    "PoissonSource",
    "SpikeGenerator",
    "CurrentInput",
    "ConstantCurrent",
    "StepCurrent",
    "ArrayCurrent",
]


def _as_float_tensor(name: str, value: object) -> Tensor:
    if isinstance(value, Tensor):
        t = value.detach()
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a number or an array, got "
                            f"{type(value).__name__}") from None
    if not t.dtype.is_floating_point:
        t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise NonFiniteError(f"{name} must be finite, got {int(torch.isnan(t).sum())} NaN and "
                             f"{int(torch.isinf(t).sum())} inf of {t.numel()} values")
    return t


class PoissonSource:
    """``n`` independent Poisson spike trains of ``rate`` Hz (one value or ``[n]``)."""

    def __init__(self, n: int, rate: float | Tensor, name: str | None = None) -> None:
        self.n = check_int("n", n)
        r = _as_float_tensor("rate", rate)
        if r.ndim > 1 or (r.ndim == 1 and r.numel() != self.n):
            raise ValueError(f"rate must be a scalar or have shape [{self.n}], got {tuple(r.shape)}")
        if bool((r < 0).any()):
            raise ValueError("rate must be >= 0 Hz")
        self.rate = r
        self.name = name or f"poisson{id(self) % 10000}"
        self._p: Tensor | None = None

    def variable(self, name: str) -> Tensor:
        """Spike sources have no state variables: always raises ``ValueError``."""
        raise ValueError(f"{self.name} is a spike source and has no variable {name!r}")

    def prepare(self, dt: float, dtype: torch.dtype) -> None:
        self._p = (self.rate * dt).to(dtype).expand(self.n).contiguous()

    def emit(self, step: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        """Spike counts of the step: Poisson(rate dt) per neuron (may exceed 1 at high rates,
        e.g. a train standing for many independent inputs)."""
        assert self._p is not None
        return torch.poisson(self._p, generator=generator)


class SpikeGenerator:
    """Spikes of neuron ``indices[i]`` at ``times[i]`` seconds (each a multiple of ``dt``).

    A spike at time ``t`` is emitted by step ``round(t / dt)``.
    """

    def __init__(self, n: int, indices: Sequence[int] | Tensor, times: Sequence[float] | Tensor,
                 name: str | None = None) -> None:
        self.n = check_int("n", n)
        idx = torch.as_tensor(indices)
        t = _as_float_tensor("times", times)
        if idx.dtype.is_floating_point or idx.ndim != 1:
            raise TypeError(f"indices must be a 1-D integer array, got {idx.dtype}, "
                            f"shape {tuple(idx.shape)}")
        if t.ndim != 1 or t.numel() != idx.numel():
            raise ValueError(f"indices and times must have the same length, got {idx.numel()} "
                             f"and {t.numel()}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n):
            raise ValueError(f"indices must be in [0, {self.n})")
        if bool((t < 0).any()):
            raise ValueError("times must be >= 0 s")
        self.indices = idx.to(torch.int64)
        self.times = t
        self.name = name or f"generator{id(self) % 10000}"
        self._steps = torch.zeros(0, dtype=torch.int64)
        self._ids = torch.zeros(0, dtype=torch.int64)

    def variable(self, name: str) -> Tensor:
        """Spike sources have no state variables: always raises ``ValueError``."""
        raise ValueError(f"{self.name} is a spike source and has no variable {name!r}")

    def prepare(self, dt: float, dtype: torch.dtype) -> None:
        steps_f = self.times / dt
        steps = torch.round(steps_f)
        if bool((torch.abs(steps_f - steps) > 1e-6 * torch.clamp(steps, min=1.0)).any()):
            raise ValueError(f"times must be multiples of dt={dt} s")
        order = torch.argsort(steps, stable=True)
        self._steps = steps[order].to(torch.int64)
        self._ids = self.indices[order]

    def emit(self, step: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        z = torch.zeros(self.n, dtype=dtype)
        lo = int(torch.searchsorted(self._steps, step))
        hi = int(torch.searchsorted(self._steps, step, right=True))
        if hi > lo:
            z[self._ids[lo:hi]] = 1.0
        return z


class CurrentInput:
    """Base class: ``value(step, dt, n, dtype)`` is the current (nA) during step ``step``."""

    def value(self, step: int, dt: float, n: int, dtype: torch.dtype) -> Tensor | float:
        raise NotImplementedError


def _check_amplitude(name: str, value: Tensor, n: int | None) -> None:
    if value.ndim > 1:
        raise ValueError(f"{name} must be a scalar or [n], got shape {tuple(value.shape)}")


@dataclass(eq=False)
class ConstantCurrent(CurrentInput):
    """A constant current (nA): one float, or ``[n]`` per neuron."""

    amplitude: float | Tensor

    def __post_init__(self) -> None:
        a = _as_float_tensor("amplitude", self.amplitude)
        _check_amplitude("amplitude", a, None)
        self._a = a

    def value(self, step: int, dt: float, n: int, dtype: torch.dtype) -> Tensor | float:
        if self._a.ndim == 0:
            return float(self._a)
        return self._a.to(dtype)


@dataclass(eq=False)
class StepCurrent(CurrentInput):
    """Piecewise-constant current: ``amplitudes[i]`` (nA) from ``times[i]`` (s) on; 0 before."""

    times: Sequence[float] | Tensor
    amplitudes: Sequence[float] | Tensor
    _t: Tensor = field(init=False, repr=False)
    _a: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._t = _as_float_tensor("times", self.times)
        self._a = _as_float_tensor("amplitudes", self.amplitudes)
        if self._t.ndim != 1 or self._a.ndim != 1 or self._t.numel() != self._a.numel():
            raise ValueError(f"times and amplitudes must be 1-D of the same length, got shapes "
                             f"{tuple(self._t.shape)} and {tuple(self._a.shape)}")
        if self._t.numel() > 1 and bool((self._t[1:] <= self._t[:-1]).any()):
            raise ValueError("times must be strictly increasing")

    def value(self, step: int, dt: float, n: int, dtype: torch.dtype) -> Tensor | float:
        t = step * dt
        i = int(torch.searchsorted(self._t, torch.tensor(t + 1e-9 * dt, dtype=self._t.dtype),
                                   right=True)) - 1
        return 0.0 if i < 0 else float(self._a[i])


@dataclass(eq=False)
class ArrayCurrent(CurrentInput):
    """One current sample (nA) per step: ``[T]`` (same for all neurons) or ``[T, n]``."""

    values: Tensor

    def __post_init__(self) -> None:
        v = _as_float_tensor("values", self.values)
        if v.ndim not in (1, 2):
            raise ValueError(f"values must be [T] or [T, n], got shape {tuple(v.shape)}")
        self._v = v

    def value(self, step: int, dt: float, n: int, dtype: torch.dtype) -> Tensor | float:
        if step >= self._v.shape[0]:
            return 0.0
        if self._v.ndim == 1:
            return float(self._v[step])
        if self._v.shape[1] != n:
            raise ValueError(f"values must be [T, {n}] for this population, got "
                             f"{tuple(self._v.shape)}")
        return self._v[step].to(dtype)


def steps_for(duration: float, dt: float) -> int:
    """Number of steps of ``dt`` in ``duration`` (which must be a multiple of ``dt``)."""
    n = duration / dt
    k = round(n)
    if abs(n - k) > 1e-6 * max(1.0, k) or k < 1 or not math.isfinite(n):
        raise ValueError(f"duration must be a positive multiple of dt={dt} s, got {duration}")
    return int(k)
