"""Event-driven spike delivery: CSR synapse tables and per-target ring buffers.

A :class:`SynapseTable` stores one projection in compressed sparse row form, rows indexed by
the presynaptic neuron. Per step only the rows of the neurons that spiked are read
(``index_select`` of their synapses, ``index_add_`` into the target's ring buffer), so the
cost grows with spikes x fan-out, not with the number of synapses.

Memory per synapse: 4 bytes (int32 target index) + 4 bytes (float32 weight, omitted when the
projection has one weight) + 1 or 2 bytes (uint8/int16 delay in steps, omitted when the
projection has one delay); plus 8 bytes per presynaptic neuron for the row pointers.

Delay semantics (the NEST and Brian2 convention): a spike emitted by the update of step
``k`` through a synapse of delay ``d dt`` (``d >= 1``) is added to the synapse variable at the
end of step ``k + d``, so it first acts on the update of step ``k + d + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["SynapseTable", "RingBuffer", "build_table", "synapse_positions"]


def synapse_positions(indptr: Tensor, rows: Tensor) -> Tensor:
    """Positions (into the CSR arrays) of all synapses of ``rows``, row after row.

    Shapes:
        indptr: ``[n_pre + 1]`` int64; rows: ``[m]`` int64; returns ``[sum of row lengths]``.
    """
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    nonempty = counts > 0
    starts, counts = starts[nonempty], counts[nonempty]
    total = int(counts.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.int64, device=indptr.device)
    out_start = torch.cumsum(counts, 0) - counts
    shift = starts - out_start  # position = output index + shift of its row
    step = shift.clone()
    step[1:] -= shift[:-1]
    marker = torch.zeros(total, dtype=torch.int64, device=indptr.device)
    marker[out_start] = step  # (torch.repeat_interleave is far slower on a busy CPU)
    return torch.arange(total, device=indptr.device) + torch.cumsum(marker, 0)


@dataclass
class SynapseTable:
    """One projection's synapses in CSR form (rows: presynaptic neurons).

    Attributes:
        indptr: ``[n_pre + 1]`` int64 row pointers.
        post: ``[S]`` int32 target indices.
        weight: ``[S]`` weights, or a 0-d tensor when every synapse has the same weight.
        delay: ``[S]`` uint8/int16 delays in steps, or ``None`` with ``delay_steps`` for all.
        delay_steps: the common delay (steps) when ``delay`` is ``None``; else the maximum.
    """

    indptr: Tensor
    post: Tensor
    weight: Tensor
    delay: Tensor | None
    delay_steps: int

    @property
    def n_synapses(self) -> int:
        return int(self.post.numel())

    @property
    def nbytes(self) -> int:
        """Bytes held by the table (row pointers, targets, weights, delays)."""
        total = self.indptr.nbytes + self.post.nbytes + self.weight.nbytes
        return total + (self.delay.nbytes if self.delay is not None else 0)

    def to_arrays(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(pre, post, weight, delay_steps)`` per synapse, int64/float/int64, CSR order."""
        n_pre = self.indptr.numel() - 1
        counts = self.indptr[1:] - self.indptr[:-1]
        pre = torch.repeat_interleave(torch.arange(n_pre), counts)
        weight = self.weight.expand(self.n_synapses) if self.weight.ndim == 0 else self.weight
        if self.delay is None:
            delay = torch.full((self.n_synapses,), self.delay_steps, dtype=torch.int64)
        else:
            delay = self.delay.to(torch.int64)
        return pre, self.post.to(torch.int64), weight.clone(), delay


def build_table(
    n_pre: int, pre: Tensor, post: Tensor, weight: Tensor, delay: Tensor | int
) -> SynapseTable:
    """Sort synapses by source into a :class:`SynapseTable`.

    Args:
        n_pre: number of presynaptic neurons.
        pre, post: ``[S]`` int64 indices.
        weight: ``[S]`` or 0-d weights.
        delay: ``[S]`` int64 delays in steps (>= 1), or one int for all.
    """
    from axonal.sim.native import csr_order

    pre = pre.to(torch.int64)
    counts = torch.bincount(pre, minlength=n_pre)
    indptr = torch.zeros(n_pre + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=indptr[1:])
    fast = csr_order(pre, indptr)
    order = fast if fast is not None else torch.from_numpy(
        np.argsort(pre.numpy(), kind="stable"))
    post_sorted = post[order].to(torch.int32)
    w = weight if weight.ndim == 0 else weight[order].contiguous()
    if isinstance(delay, int):
        return SynapseTable(indptr, post_sorted, w, None, delay)
    d_max = int(delay.max()) if delay.numel() else 1
    if delay.numel() and int(delay.min()) == d_max:
        return SynapseTable(indptr, post_sorted, w, None, d_max)
    dtype = torch.uint8 if d_max < 256 else torch.int16 if d_max < 32768 else torch.int32
    return SynapseTable(indptr, post_sorted, w, delay[order].to(dtype), d_max)


class RingBuffer:
    """Future synaptic input of one target channel: ``[depth, n]``, row ``k % depth`` is due at
    the end of step ``k``. ``depth`` is the largest delay (steps) plus one."""

    def __init__(self, depth: int, n: int, dtype: torch.dtype) -> None:
        self.depth = depth
        self.n = n
        self.data = torch.zeros(depth, n, dtype=dtype)
        self._flat = self.data.view(-1)
        self._ones = torch.ones(0, dtype=dtype)

    def _unit(self, m: int) -> Tensor:
        if self._ones.numel() < m:
            self._ones = torch.ones(max(m, 2 * self._ones.numel()), dtype=self.data.dtype)
        return self._ones[:m]

    def deliver(self, table: SynapseTable, spiking: Tensor, step: int) -> int:
        """Queue the synapses of the neurons ``spiking`` (int64 ids) that fired at ``step``.

        Returns the number of synaptic events.
        """
        pos = synapse_positions(table.indptr, spiking)
        m = int(pos.numel())
        if m == 0:
            return 0
        targets = table.post.index_select(0, pos)
        if table.weight.ndim == 0:
            values = self._unit(m)
            alpha = float(table.weight)
        else:
            values = table.weight.index_select(0, pos)
            alpha = 1.0
        if table.delay is None:
            row = self.data[(step + table.delay_steps) % self.depth]
            row.index_add_(0, targets, values, alpha=alpha)
        else:
            slot = torch.remainder(table.delay.index_select(0, pos).to(torch.int64) + step,
                                   self.depth)
            self._flat.index_add_(0, slot * self.n + targets, values, alpha=alpha)
        return m

    def due(self, step: int) -> Tensor:
        """The row due at the end of ``step`` (a view: call :meth:`clear` after using it)."""
        return self.data[step % self.depth]

    def clear(self, step: int) -> None:
        self.data[step % self.depth].zero_()
