"""Monitors: spikes, state variables and population rates, recorded into preallocated buffers.

A monitor is added to a :class:`~axonal.sim.network.Network` and is told, at the start of every
``run``, how many steps follow (it allocates its buffers for them), then sees every step.
Results are NumPy arrays (``arrays()``), saved by ``Network.save`` as one ``.npz``; figures
of them are drawn by :func:`axonal.plot.spike_raster` and :func:`axonal.plot.state_traces`.

Timing: step ``k`` is the update from ``k dt`` to ``(k + 1) dt``; a spike of step ``k`` is
reported at ``k dt`` (the step index is stored as well); a state sample of step ``k`` is the
state after that update.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from axonal.functional.validate import check_int
from axonal.sim.populations import Population, Source

__all__ = ["Monitor", "SpikeMonitor", "StateMonitor", "RateMonitor"]


def _subset(name: str, indices: Sequence[int] | Tensor | None, n: int) -> Tensor | None:
    if indices is None:
        return None
    idx = torch.as_tensor(indices)
    if idx.dtype.is_floating_point or idx.ndim != 1:
        raise TypeError(f"{name} must be a 1-D integer array")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"{name} must be in [0, {n}), got [{int(idx.min())}, {int(idx.max())}]")
    return idx.to(torch.int64)


class Monitor:
    """Base class of the monitors (see the module docstring)."""

    source: Source
    name: str
    dt: float = 0.0

    def prepare(self, start: int, n_steps: int, dt: float) -> None:
        raise NotImplementedError

    def record(self, step: int, ids: Tensor) -> None:
        raise NotImplementedError

    def record_many(self, steps: np.ndarray, ids: np.ndarray) -> None:
        """Record the spikes of many steps at once (``steps`` ascending, local ``ids``)."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError


class SpikeMonitor(Monitor):
    """Spikes of all neurons of ``source`` or of ``indices`` only."""

    def __init__(self, source: Source, indices: Sequence[int] | Tensor | None = None,
                 name: str | None = None) -> None:
        self.source = source
        self.indices = _subset("indices", indices, source.n)
        self._mask: Tensor | None = None
        if self.indices is not None:
            self._mask = torch.zeros(source.n, dtype=torch.bool)
            self._mask[self.indices] = True
        self.name = name or f"spikes_{source.name}"
        self._steps = torch.zeros(1 << 12, dtype=torch.int64)
        self._ids = torch.zeros(1 << 12, dtype=torch.int64)
        self._count = 0

    def prepare(self, start: int, n_steps: int, dt: float) -> None:
        self.dt = dt

    def record(self, step: int, ids: Tensor) -> None:
        if self._mask is not None:
            ids = ids[self._mask[ids]]
        self._append(step, ids)

    def record_many(self, steps: np.ndarray, ids: np.ndarray) -> None:
        if self._mask is not None:
            keep = self._mask.numpy()[ids]
            steps, ids = steps[keep], ids[keep]
        self._append(torch.from_numpy(steps.astype(np.int64)),
                     torch.from_numpy(ids.astype(np.int64)))

    def _append(self, steps: int | Tensor, ids: Tensor) -> None:
        """Append ``ids`` (with their step, or one step for all), growing the buffers 2x."""
        m = int(ids.numel())
        if m == 0:
            return
        end = self._count + m
        if end > self._steps.numel():
            size = max(end, 2 * self._steps.numel())
            for attr in ("_steps", "_ids"):
                old = getattr(self, attr)
                new = torch.zeros(size, dtype=torch.int64)
                new[: self._count] = old[: self._count]
                setattr(self, attr, new)
        self._steps[self._count : end] = steps
        self._ids[self._count : end] = ids
        self._count = end

    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self._count].numpy().copy()

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self._count].numpy().copy()

    @property
    def times(self) -> np.ndarray:
        """Spike times (s): step index times dt."""
        return self.steps * self.dt

    def counts(self) -> np.ndarray:
        """Spikes per neuron of the source, ``[n]``."""
        return np.bincount(self.ids, minlength=self.source.n)

    def mean_rate(self, duration: float, start: float = 0.0) -> float:
        """Mean firing rate (Hz) over the recorded neurons between ``start`` and ``duration`` s.

        ``start > 0`` leaves out an initial transient: only spikes at ``t >= start`` count, and
        the window is ``duration - start`` long.
        """
        if not 0.0 <= start < duration:
            raise ValueError(f"start must be in [0, duration = {duration}) s, got {start!r}")
        n = self.source.n if self.indices is None else int(self.indices.numel())
        if start == 0.0:
            return self._count / (n * duration)
        first = int(round(start / self.dt))
        count = int((self._steps[: self._count] >= first).sum())
        return count / (n * (duration - start))

    def cv_isi(self, min_intervals: int = 2) -> float:
        """Mean over neurons (with at least ``min_intervals`` ISIs) of the ISI CV; nan if none."""
        order = np.lexsort((self.steps, self.ids))
        ids, steps = self.ids[order], self.steps[order].astype(np.float64)
        if ids.size < 2:
            return float("nan")
        same = ids[1:] == ids[:-1]
        isi, owner = np.diff(steps)[same], ids[1:][same]
        count = np.bincount(owner, minlength=self.source.n)
        total = np.bincount(owner, weights=isi, minlength=self.source.n)
        total2 = np.bincount(owner, weights=isi * isi, minlength=self.source.n)
        ok = count >= min_intervals
        if not ok.any():
            return float("nan")
        mean = total[ok] / count[ok]
        var = np.maximum(total2[ok] / count[ok] - mean**2, 0.0)
        return float(np.mean(np.sqrt(var) / mean))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"steps": self.steps, "ids": self.ids, "times": self.times}


class StateMonitor(Monitor):
    """State ``variables`` (fields of the family's state, or a synapse channel's ``g_<i>``) of
    ``indices`` (default all), every ``every`` steps."""

    source: Population

    def __init__(self, source: Source, variables: Sequence[str],
                 indices: Sequence[int] | Tensor | None = None, every: int = 1,
                 name: str | None = None) -> None:
        if isinstance(variables, str) or not all(isinstance(v, str) for v in variables):
            raise TypeError("variables must be a sequence of names")
        if not variables:
            raise ValueError("variables must not be empty")
        if not isinstance(source, Population):
            raise TypeError(f"source must be a neuron Population, got {type(source).__name__}")
        self.source = source
        self.variables = tuple(variables)
        self.indices = _subset("indices", indices, source.n)
        self.every = check_int("every", every)
        self.name = name or f"state_{source.name}"
        self._chunks: dict[str, list[Tensor]] = {v: [] for v in self.variables}
        self._steps: list[Tensor] = []
        self._pos = 0

    def prepare(self, start: int, n_steps: int, dt: float) -> None:
        self.dt = dt
        first = -(-start // self.every) * self.every
        steps = torch.arange(first, start + n_steps, self.every, dtype=torch.int64)
        width = self.source.n if self.indices is None else int(self.indices.numel())
        self._steps.append(steps)
        for v in self.variables:
            self._chunks[v].append(torch.zeros(int(steps.numel()), width, dtype=torch.float64))
        self._pos = 0

    def record(self, step: int, ids: Tensor) -> None:
        if step % self.every:
            return
        for v in self.variables:
            x = self.source.variable(v)
            self._chunks[v][-1][self._pos] = x if self.indices is None else x[self.indices]
        self._pos += 1

    @property
    def steps(self) -> np.ndarray:
        return torch.cat(self._steps).numpy() if self._steps else np.zeros(0, np.int64)

    @property
    def times(self) -> np.ndarray:
        """Sample times (s): the end of each recorded step."""
        return (self.steps + 1) * self.dt

    def values(self, variable: str) -> np.ndarray:
        """``[samples, neurons]`` of one variable."""
        if variable not in self._chunks:
            raise ValueError(f"variable {variable!r} is not recorded; recorded: {self.variables}")
        chunks = self._chunks[variable]
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, 0))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {v: self.values(v) for v in self.variables}
        out["times"] = self.times
        return out


class RateMonitor(Monitor):
    """Population rate (Hz) per step: spikes in the step / (n dt)."""

    def __init__(self, source: Source, name: str | None = None) -> None:
        self.source = source
        self.name = name or f"rate_{source.name}"
        self._chunks: list[Tensor] = []
        self._start: list[int] = []

    def prepare(self, start: int, n_steps: int, dt: float) -> None:
        self.dt = dt
        self._chunks.append(torch.zeros(n_steps, dtype=torch.float64))
        self._start.append(start)

    def record(self, step: int, ids: Tensor) -> None:
        self._chunks[-1][step - self._start[-1]] = ids.numel() / (self.source.n * self.dt)

    def record_many(self, steps: np.ndarray, ids: np.ndarray) -> None:
        chunk = self._chunks[-1]
        counts = np.bincount(steps - self._start[-1], minlength=chunk.numel())
        chunk += torch.from_numpy(counts[: chunk.numel()] / (self.source.n * self.dt))

    @property
    def rate(self) -> np.ndarray:
        return torch.cat(self._chunks).numpy() if self._chunks else np.zeros(0)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.rate.size) * self.dt + (self._start[0] * self.dt if self._start
                                                      else 0.0)

    def smoothed(self, width: float) -> np.ndarray:
        """The rate averaged over a flat window of ``width`` seconds (same length)."""
        k = max(1, int(round(width / self.dt)))
        return np.convolve(self.rate, np.ones(k) / k, mode="same")

    def arrays(self) -> dict[str, np.ndarray]:
        return {"rate": self.rate, "times": self.times}
