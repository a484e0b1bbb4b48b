"""Projections: the synapses from a source onto a neuron population, built into CSR tables.

The stated weights and delays are physical (nA or uS, s) and do not depend on ``dt``: delays
are put on the grid of the run's ``dt`` when the table is built (:meth:`Projection.build`),
and the synapse model's :meth:`weight_factor <axonal.sim.synapses.Exponential.weight_factor>`
turns weights into what a step holds.
"""

from __future__ import annotations

import torch
from torch import Tensor

from axonal.errors import ResourceLimitError
from axonal.functional.validate import check_positive
from axonal.sim.connectivity import Connectivity, FromArrays
from axonal.sim.delivery import SynapseTable, build_table
from axonal.sim.draws import Draw, check_finite_values, scale_weight
from axonal.sim.inputs import PoissonSource, SpikeGenerator
from axonal.sim.populations import Population, Source
from axonal.sim.synapses import Conductance, Delta, Exponential, Synapse

__all__ = ["Projection"]


MAX_DELAY_STEPS = 2**31 - 1
"""The longest delay in steps (the tables and the native loop hold delays as int32)."""


def _check_delay_steps(name: str, longest: float, dt: float) -> None:
    if longest > MAX_DELAY_STEPS:
        raise ResourceLimitError(f"projection {name!r}: delay of {longest * dt:g} s is "
                                 f"{longest:.3g} steps of dt={dt:g} s; at most "
                                 f"{MAX_DELAY_STEPS} steps are allowed")


def _check_delay_value(delay: float, dt: float, name: str = "") -> int:
    d = delay / dt
    _check_delay_steps(name, d, dt)
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
        self.name = name or f"{pre.name}->{post.name}"
        for arg, value in (("weight", weight), ("delay", delay)):
            if isinstance(value, Tensor):
                if value.ndim > 1 or (value.ndim == 1 and not isinstance(connectivity, FromArrays)):
                    raise ValueError(f"{arg}: a per-synapse tensor needs FromArrays connectivity")
                if value.ndim == 1 and value.numel() != count:
                    raise ValueError(f"{arg} must have one value per synapse ({count}), got "
                                     f"{value.numel()}")
                check_finite_values(f"projection {self.name!r}: {arg}", value.detach())
            elif callable(value):
                pass
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{arg} must be a float, a tensor or a draw function, got "
                                f"{type(value).__name__}")
            else:
                check_finite_values(f"projection {self.name!r}: {arg}", float(value))
        if isinstance(delay, (int, float)) and not isinstance(delay, bool):
            check_positive("delay", float(delay))
        if isinstance(delay, Tensor) and bool((delay <= 0).any()):
            raise ValueError("delay must be > 0 s")
        self.pre, self.post, self.connectivity = pre, post, connectivity
        self.weight, self.delay, self.synapse = weight, delay, synapse
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
            _check_delay_value(float(self.delay), dt, self.name)
        elif isinstance(self.delay, Tensor):
            d = self.delay.to(torch.float64) / dt
            _check_delay_steps(self.name, float(d.max()) if d.numel() else 0.0, dt)
            k = torch.round(d)
            if bool((k < 1).any()) or bool((torch.abs(d - k) > 1e-6 * k.clamp(min=1)).any()):
                raise ValueError(f"delay must be whole multiples of dt={dt} s and >= dt")

    def build(self, dt: float, generator: torch.Generator, dtype: torch.dtype) -> SynapseTable:
        """Draw the synapses and build the table on the grid of ``dt``: delays in steps, and
        weights times the synapse model's ``weight_factor(dt, post params)``.

        Drawn weights and delays, and the weights as the table holds them (in ``dtype``, after
        the factor), must be finite: :class:`~axonal.errors.NonFiniteError` names the
        projection and the field otherwise."""
        table = self._build(dt, generator, dtype)
        check_finite_values(f"projection {self.name!r}: weight (as built, {dtype})", table.weight)
        return table

    def _build(self, dt: float, generator: torch.Generator, dtype: torch.dtype) -> SynapseTable:
        same = self.pre is self.post
        direct = getattr(self.connectivity, "build_csr", None)
        weight = scale_weight(self.weight, self.synapse.weight_factor(dt, self.post.params))
        w0, d0 = weight, self.delay
        if isinstance(w0, (int, float)) and isinstance(d0, (int, float)) and direct is not None:
            csr = direct(self.pre.n, self.post.n, same, generator)
            if csr is not None:
                self.table = SynapseTable(csr[0], csr[1], torch.tensor(float(w0), dtype=dtype),
                                          None, _check_delay_value(float(d0), dt, self.name))
                return self.table
        pre, post = self.connectivity.build(self.pre.n, self.post.n, same, generator)
        count = int(pre.numel())
        if isinstance(weight, Tensor):
            w = weight.to(dtype)
        elif callable(weight):
            drawn_w = torch.as_tensor(weight(generator, count))
            if drawn_w.shape != (count,):
                raise ValueError(f"weight draw must return [{count}], got "
                                 f"{tuple(drawn_w.shape)}")
            check_finite_values(f"projection {self.name!r}: weight (drawn)", drawn_w)
            w = drawn_w.to(dtype)
        else:
            w = torch.tensor(float(weight), dtype=dtype)
        delay: Tensor | int
        if isinstance(self.delay, Tensor):
            delay = torch.round(self.delay.to(torch.float64) / dt).to(torch.int64)
        elif callable(self.delay):
            drawn = torch.as_tensor(self.delay(generator, count), dtype=torch.float64)
            if drawn.shape != (count,):
                raise ValueError(f"delay draw must return [{count}], got {tuple(drawn.shape)}")
            check_finite_values(f"projection {self.name!r}: delay (drawn)", drawn)
            _check_delay_steps(self.name, float(drawn.max()) / dt if count else 0.0, dt)
            delay = torch.round(drawn / dt).clamp(min=1).to(torch.int64)
        else:
            delay = _check_delay_value(float(self.delay), dt, self.name)
        self.table = build_table(self.pre.n, pre, post, w, delay)
        return self.table


