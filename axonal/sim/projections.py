"""Projections: the synapses from a source onto a neuron population, built into CSR tables.

The stated weights and delays are physical (nA or uS, s) and do not depend on ``dt``: delays
are put on the grid of the run's ``dt`` when the table is built (:meth:`Projection.build`),
and the synapse model's :meth:`weight_factor <axonal.sim.synapses.Exponential.weight_factor>`
turns weights into what a step holds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from axonal.functional.validate import check_positive
from axonal.sim.connectivity import Connectivity, FromArrays
from axonal.sim.delivery import SynapseTable, build_table
from axonal.sim.draws import Draw, scale_weight
from axonal.sim.inputs import PoissonSource, SpikeGenerator
from axonal.sim.populations import Population, Source
from axonal.sim.synapses import Conductance, Delta, Exponential, Synapse

__all__ = ["Projection"]


def _check_delay_value(delay: float, dt: float) -> int:
    d = delay / dt
    k = round(d)
    if k < 1 or abs(d - k) > 1e-6 * max(k, 1):
        raise ValueError(f"delay must be a whole multiple of dt={dt} s and >= dt, got {delay} s")
    return int(k)


class Projection:
    """Synapses from ``pre`` to ``post`` (a neuron population).

    Args:
        pre: source population (neurons or a spike source).
        post: target neuron population.
        connectivity: a rule of :mod:`axonal.sim.connectivity`.
        weight: one float, a tensor with one weight per synapse (in the order of
            :class:`FromArrays`), or ``draw(generator, count)``, in the synapse model's unit:
            nA (:class:`Exponential`, :class:`Delta`), uS (:class:`Conductance`), mV for
            ``Delta(jump=True)``. The table holds it times the model's ``weight_factor(dt)``
            (1 unless the model says otherwise), so the stated weight does not depend on ``dt``.
        delay: seconds: one float, one per synapse, or ``draw(generator, count)`` (drawn delays
            are rounded to the ``dt`` grid and raised to at least ``dt``, as NEST does).
        synapse: the target channel (projections with equal synapses share one channel).
    """

    def __init__(self, pre: Source, post: Population, connectivity: Connectivity,
                 weight: float | Tensor | Draw, delay: float | Tensor | Draw = 1e-4,
                 synapse: Synapse | None = None, name: str | None = None) -> None:
        if not isinstance(pre, (Population, PoissonSource, SpikeGenerator)):
            raise TypeError(f"pre must be a Population or a spike source, got "
                            f"{type(pre).__name__}")
        if not isinstance(post, Population):
            raise TypeError(f"post must be a Population, got {type(post).__name__}")
        if not hasattr(connectivity, "build"):
            raise TypeError(f"connectivity must be a connectivity rule, got "
                            f"{type(connectivity).__name__}")
        synapse = Exponential() if synapse is None else synapse
        if not isinstance(synapse, (Exponential, Conductance, Delta)):
            raise TypeError(f"synapse must be Exponential, Conductance or Delta, got "
                            f"{type(synapse).__name__}")
        same = pre is post
        connectivity.check(pre.n, post.n, same)
        count = connectivity.expected_count(pre.n, post.n, same)
        for arg, value in (("weight", weight), ("delay", delay)):
            if isinstance(value, Tensor):
                if value.ndim > 1 or (value.ndim == 1 and not isinstance(connectivity, FromArrays)):
                    raise ValueError(f"{arg}: a per-synapse tensor needs FromArrays connectivity")
                if value.ndim == 1 and value.numel() != count:
                    raise ValueError(f"{arg} must have one value per synapse ({count}), got "
                                     f"{value.numel()}")
                if not bool(torch.isfinite(value).all()):
                    raise ValueError(f"{arg} must be finite")
            elif callable(value):
                pass
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{arg} must be a float, a tensor or a draw function, got "
                                f"{type(value).__name__}")
            elif not math.isfinite(value):
                raise ValueError(f"{arg} must be finite, got {value}")
        if isinstance(delay, (int, float)) and not isinstance(delay, bool):
            check_positive("delay", float(delay))
        if isinstance(delay, Tensor) and bool((delay <= 0).any()):
            raise ValueError("delay must be > 0 s")
        self.pre, self.post, self.connectivity = pre, post, connectivity
        self.weight, self.delay, self.synapse = weight, delay, synapse
        self.name = name or f"{pre.name}->{post.name}"
        self.expected_synapses = count
        self.table: SynapseTable | None = None

    def bytes_per_synapse(self, dtype: torch.dtype) -> int:
        """Final table bytes per synapse (without row pointers)."""
        w = 0 if isinstance(self.weight, (int, float)) else torch.finfo(dtype).bits // 8
        d = 0 if isinstance(self.delay, (int, float)) else 2
        return 4 + w + d

    def check_delay_grid(self, dt: float) -> None:
        """Raise ``ValueError`` unless the stated delays are whole multiples of ``dt``, >= dt
        (drawn delays are put on the grid when built)."""
        if isinstance(self.delay, (int, float)):
            _check_delay_value(float(self.delay), dt)
        elif isinstance(self.delay, Tensor):
            d = self.delay.to(torch.float64) / dt
            k = torch.round(d)
            if bool((k < 1).any()) or bool((torch.abs(d - k) > 1e-6 * k.clamp(min=1)).any()):
                raise ValueError(f"delay must be whole multiples of dt={dt} s and >= dt")

    def build(self, dt: float, generator: torch.Generator, dtype: torch.dtype) -> SynapseTable:
        """Draw the synapses and build the table on the grid of ``dt``: delays in steps, and
        weights times the synapse model's ``weight_factor(dt, post params)``."""
        same = self.pre is self.post
        direct = getattr(self.connectivity, "build_csr", None)
        weight = scale_weight(self.weight, self.synapse.weight_factor(dt, self.post.params))
        w0, d0 = weight, self.delay
        if isinstance(w0, (int, float)) and isinstance(d0, (int, float)) and direct is not None:
            csr = direct(self.pre.n, self.post.n, same, generator)
            if csr is not None:
                self.table = SynapseTable(csr[0], csr[1], torch.tensor(float(w0), dtype=dtype),
                                          None, _check_delay_value(float(d0), dt))
                return self.table
        pre, post = self.connectivity.build(self.pre.n, self.post.n, same, generator)
        count = int(pre.numel())
        if isinstance(weight, Tensor):
            w = weight.to(dtype)
        elif callable(weight):
            w = torch.as_tensor(weight(generator, count), dtype=dtype)
            if w.shape != (count,):
                raise ValueError(f"weight draw must return [{count}], got {tuple(w.shape)}")
        else:
            w = torch.tensor(float(weight), dtype=dtype)
        delay: Tensor | int
        if isinstance(self.delay, Tensor):
            delay = torch.round(self.delay.to(torch.float64) / dt).to(torch.int64)
        elif callable(self.delay):
            drawn = torch.as_tensor(self.delay(generator, count), dtype=torch.float64)
            if drawn.shape != (count,):
                raise ValueError(f"delay draw must return [{count}], got {tuple(drawn.shape)}")
            delay = torch.round(drawn / dt).clamp(min=1).to(torch.int64)
        else:
            delay = _check_delay_value(float(self.delay), dt)
        self.table = build_table(self.pre.n, pre, post, w, delay)
        return self.table


