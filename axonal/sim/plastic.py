"""Plastic projections: the rules of :mod:`axonal.functional.plasticity` on simulator synapses.

A :class:`ProjectionLearner` makes one :class:`~axonal.sim.projections.Projection` plastic with
pair STDP (:class:`STDPParams`), triplet STDP (:class:`TripletParams`) or reward-modulated
STDP (:class:`RSTDPParams`). It calls the same pure step functions as the tensor-layer
learners of :mod:`axonal.plasticity`, with a contraction onto the synapses that had an event
in the step (:func:`~axonal.functional.plasticity.sparse_contraction`), so one copy of each
equation serves both.

Per step ``k`` (inside :meth:`Network.run <axonal.sim.network.Network.run>`, after every
population has advanced and before the channels read their input):

1. the spikes the presynaptic neurons emitted at ``k`` are queued; each synapse ``s`` of
   delay ``d_s dt`` *arrives* at step ``k + d_s`` (Brian2's ``on_pre`` runs at
   ``t_spike + delay``);
2. the arriving synapses add their *current* weights to the target channel (``g += w``, due
   at the end of step ``k``, so the weight first acts on the update of ``k + 1``, exactly as
   the static delivery of a spike emitted at ``k - d_s``);
3. the rule's step runs: traces decay, arrivals depress (pre-before-post order of the pure
   rules, Brian2's ``on_pre`` before ``on_post``), the postsynaptic spikes of step ``k``
   potentiate (``on_post`` has no delay), traces jump;
4. the weights of the synapses touched in the step become
   ``clip(w + lr * dw, w_min, w_max)``.

Traces are per neuron. A presynaptic trace seen through a delay ``d`` is the neuron's trace
``d`` steps ago, so the learner keeps one presynaptic trace per (neuron, distinct delay value)
pair: ``state.pre`` (``r1``/``r2`` for the triplet rule) has shape
``[1, n_delays * n_pre]``, block ``j`` holding the trace of the spikes arriving through the
``j``-th largest delay (one block when the projection has one delay). This equals Brian2's
per-synapse ``Apre`` exactly, at the cost of ``n_delays * n_pre`` floats instead of one
per synapse. Postsynaptic traces are ``[1, n_post]``.

Only synapses with an event are read or written: the CSR rows of the arriving presynaptic
neurons and, through a post-sorted index, the synapses of the postsynaptic neurons that
fired. Trace decays cost ``n_delays * n_pre + n_post`` per step. R-STDP keeps one
eligibility value per synapse, decayed lazily (from the step it was last touched), and
changes weights only in :meth:`ProjectionLearner.reward`.

Differences from Brian2's classic STDP example: the weight is clipped once per step (after
the step's depression and potentiation, as the tensor learners do), not after each of
``on_pre`` and ``on_post``; the two agree unless a synapse hits a bound in a step that has
both an arrival and a postsynaptic spike.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from axonal.functional.validate import check_bool, check_finite_scalar, check_positive
from axonal.functional.plasticity import (
    Contraction,
    RSTDPParams,
    RSTDPState,
    STDPParams,
    TripletParams,
    check_weights_finite,
    clip_weights,
    reward_dw,
    rstdp_step,
    sparse_contraction,
    stdp_initial_state,
    stdp_step,
    triplet_initial_state,
    triplet_step,
)
from axonal.sim.delivery import RingBuffer, SynapseTable, synapse_positions
from axonal.sim.projections import Projection
from axonal.sim.synapses import Conductance

__all__ = ["ProjectionLearner", "Rule"]

Rule = STDPParams | TripletParams | RSTDPParams
"""Rules a projection can learn with (dispatched on the parameter type)."""

_EMPTY = torch.zeros(0, dtype=torch.int64)


def _per_sample(post_index: Tensor, pre_index: Tensor) -> Contraction:
    """Like :func:`sparse_contraction` but keeping the batch: ``[B, S]`` (R-STDP)."""

    def contract(post: Tensor, pre: Tensor) -> Tensor:
        return post[:, post_index] * pre[:, pre_index]

    return contract


def _bounds(params: Rule) -> tuple[float, float]:
    stdp = params.stdp if isinstance(params, RSTDPParams) else params
    return float(stdp.w_min), float(stdp.w_max)


class ProjectionLearner:
    """Synaptic plasticity on one projection of a :class:`~axonal.sim.network.Network`.

    Add it to the network after its projection: ``net.add(ProjectionLearner(proj, rule))``.
    A network with plastic projections runs on the torch loop (``backend="auto"`` picks it;
    ``backend="native"`` raises ``ValueError``).

    Args:
        projection: the projection whose weights learn (already added to the network, or
            added before this learner). Its weights must lie in ``[w_min, w_max]`` of the rule.
        params: :class:`STDPParams` (pair rule), :class:`TripletParams` or
            :class:`RSTDPParams` (weights change only in :meth:`reward`).
        lr: factor on every weight change (>= 0; 0 freezes the weights).
        enabled: when ``False``, traces and eligibilities still evolve and spikes are still
            delivered through this learner, but no weight changes (also settable between runs).
        debug: check after every update that the changed weights are finite (ValueError).

    Units:
        weights in the projection's units (nA, or uS for conductance synapses); ``dt`` is the
        network's.
    """

    def __init__(self, projection: Projection, params: Rule, lr: float = 1.0,
                 enabled: bool = True, debug: bool = False) -> None:
        if not isinstance(projection, Projection):
            raise TypeError(f"projection must be a Projection, got {type(projection).__name__}")
        if not isinstance(params, (STDPParams, TripletParams, RSTDPParams)):
            raise TypeError(f"params must be STDPParams, TripletParams or RSTDPParams, got "
                            f"{type(params).__name__}")
        check_finite_scalar("lr", lr)
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        check_bool("enabled", enabled)
        check_bool("debug", debug)
        if projection.synapse.rescales_weights:
            raise ValueError(f"{projection.name}: a plastic projection's weights are what its "
                             f"synapses deliver per step; its synapse model "
                             f"{projection.synapse!r} rescales weights by dt "
                             f"(Delta(jump=True)), so it cannot learn")
        w_min, w_max = _bounds(params)
        if isinstance(projection.synapse, Conductance) and w_min < 0:
            raise ValueError(f"params: w_min={w_min} would allow negative conductances on "
                             f"{projection.name} (a Conductance synapse); use w_min >= 0")
        w = projection.weight
        if isinstance(w, (int, float)) and not isinstance(w, bool):
            self._check_range(float(w), float(w), w_min, w_max, projection.name)
        elif isinstance(w, Tensor) and w.numel():
            self._check_range(float(w.min()), float(w.max()), w_min, w_max, projection.name)
        self.projection = projection
        self.params = params
        self.lr = float(lr)
        self.enabled = enabled
        self.debug = debug
        self.state: Any = None
        self._table: SynapseTable | None = None
        self._next = 0  # the next step to process

    @staticmethod
    def _check_range(low: float, high: float, w_min: float, w_max: float, name: str) -> None:
        if low < w_min or high > w_max:
            raise ValueError(f"weight of {name} must lie in [w_min, w_max] = [{w_min}, {w_max}] "
                             f"of its plasticity rule, got values in [{low}, {high}]")

    # ---------------------------------------------------------------------------------------
    # what the network calls
    # ---------------------------------------------------------------------------------------

    def bytes_per_synapse(self, dtype: torch.dtype) -> int:
        """Bytes per synapse the learner adds to the projection's table (estimate)."""
        elem = torch.finfo(dtype).bits // 8
        extra = elem + 16  # per-synapse weight, post-sorted index, virtual-row order
        if isinstance(self.params, RSTDPParams):
            extra += elem + 8  # eligibility and the step it was last updated
        return extra

    def _prepare(self, dt: float, dtype: torch.dtype) -> None:
        """Called once by the network after the tables and channels are built."""
        proj = self.projection
        table = proj.table
        assert table is not None
        n_syn = table.n_synapses
        if table.weight.ndim == 0:
            table.weight = table.weight.expand(n_syn).clone()
        w_min, w_max = _bounds(self.params)
        if n_syn:
            self._check_range(float(table.weight.min()), float(table.weight.max()), w_min,
                              w_max, proj.name)
        self._table = table
        self._dt = dt
        self._n_pre = table.indptr.numel() - 1
        self._n_post = proj.post.n
        self._ring: RingBuffer = proj.post.channels[proj.synapse].ring
        # virtual presynaptic rows: (distinct delay j, neuron i), largest delay first, so the
        # arrivals of a step come in the order of their emission (as the static delivery adds)
        self._vperm: Tensor | None = None
        self._lut: Tensor | None = None
        self._vindptr = table.indptr
        if table.delay is None or table.delay.numel() == 0:
            self._delays = [table.delay_steps]
        else:
            d = table.delay.to(torch.int64)
            values = torch.unique(d).flip(0)
            self._delays = [int(v) for v in values]
            lut = torch.zeros(int(values[0]) + 1, dtype=torch.int64)
            lut[values] = torch.arange(values.numel())
            counts = table.indptr[1:] - table.indptr[:-1]
            pre = torch.repeat_interleave(torch.arange(self._n_pre), counts)
            key = lut[d] * self._n_pre + pre
            self._vperm = torch.argsort(key, stable=True)
            n_rows = len(self._delays) * self._n_pre
            self._vindptr = torch.zeros(n_rows + 1, dtype=torch.int64)
            torch.cumsum(torch.bincount(key, minlength=n_rows), 0, out=self._vindptr[1:])
            self._lut = lut
        post = table.post.to(torch.int64)
        self._post_perm = torch.argsort(post, stable=True)
        self._post_indptr = torch.zeros(self._n_post + 1, dtype=torch.int64)
        torch.cumsum(torch.bincount(post, minlength=self._n_post), 0, out=self._post_indptr[1:])
        self._hist = [_EMPTY] * (table.delay_steps + 1)
        self._n_virtual = len(self._delays) * self._n_pre
        pre_like = torch.zeros(1, self._n_virtual, dtype=dtype)
        post_like = torch.zeros(1, self._n_post, dtype=dtype)
        if isinstance(self.params, TripletParams):
            self.state = triplet_initial_state(pre_like, post_like)
        else:
            self.state = stdp_initial_state(pre_like, post_like)
        if isinstance(self.params, RSTDPParams):
            self._e = torch.zeros(n_syn, dtype=dtype)
            self._last = torch.full((n_syn,), -1, dtype=torch.int64)
            self._e_decay = math.exp(-dt / self.params.tau_e)

    def _step(self, k: int, pre_ids: Tensor, post_ids: Tensor) -> int:
        """Step ``k``: queue ``pre_ids``' spikes, deliver arrivals, learn; returns the events
        emitted (synapses of ``pre_ids``)."""
        table = self._table
        assert table is not None
        events = 0
        if pre_ids.numel():
            events = int((table.indptr[pre_ids + 1] - table.indptr[pre_ids]).sum())
        h = len(self._hist)
        self._hist[k % h] = pre_ids
        parts = []
        for j, d in enumerate(self._delays):
            ids = self._hist[(k - d) % h]
            if ids.numel():
                parts.append(ids + j * self._n_pre if j else ids)
        dtype = table.weight.dtype
        pre_spikes = torch.zeros(1, self._n_virtual, dtype=dtype)
        arriving = _EMPTY
        if parts:
            vids = torch.cat(parts) if len(parts) > 1 else parts[0]
            pre_spikes[0].index_add_(0, vids, torch.ones(vids.numel(), dtype=dtype))
            pos = synapse_positions(self._vindptr, vids)
            arriving = pos if self._vperm is None else self._vperm.index_select(0, pos)
            if arriving.numel():
                self._ring.data[k % self._ring.depth].index_add_(
                    0, table.post.index_select(0, arriving),
                    table.weight.index_select(0, arriving))
        post_spikes = torch.zeros(1, self._n_post, dtype=dtype)
        fired = _EMPTY
        if post_ids.numel():
            post_spikes[0, post_ids] = 1.0
            fired = self._post_perm.index_select(
                0, synapse_positions(self._post_indptr, post_ids))
        if arriving.numel() and fired.numel():
            touched = torch.unique(torch.cat([arriving, fired]))
        elif arriving.numel():
            touched = torch.unique(arriving)
        else:
            touched = fired
        self._learn(k, touched, pre_spikes, post_spikes)
        self._next = k + 1
        return events

    # ---------------------------------------------------------------------------------------
    # the rule
    # ---------------------------------------------------------------------------------------

    def _virtual_pre(self, syn: Tensor) -> Tensor:
        """Virtual presynaptic row (delay block * n_pre + neuron) of synapses ``syn``."""
        table = self._table
        assert table is not None
        pre = torch.searchsorted(table.indptr, syn, right=True) - 1
        if self._lut is None or table.delay is None:
            return pre
        return self._lut[table.delay.index_select(0, syn).to(torch.int64)] * self._n_pre + pre

    def _learn(self, k: int, syn: Tensor, pre_spikes: Tensor, post_spikes: Tensor) -> None:
        table = self._table
        assert table is not None
        post_index = table.post.index_select(0, syn).to(torch.int64)
        pre_index = self._virtual_pre(syn)
        w = table.weight.index_select(0, syn)
        p = self.params
        if isinstance(p, RSTDPParams):
            n = (k - 1 - self._last.index_select(0, syn)).to(torch.float64)
            e_prev = self._e.index_select(0, syn) * torch.pow(self._e_decay, n).to(w.dtype)
            st = rstdp_step(pre_spikes, post_spikes, RSTDPState(self.state, e_prev[None]), p,
                            self._dt, w, _per_sample(post_index, pre_index))
            self.state = st.traces
            self._e.index_copy_(0, syn, st.eligibility[0])
            self._last.index_fill_(0, syn, k)
            return
        contract = sparse_contraction(post_index, pre_index)
        dw: Tensor
        if isinstance(p, TripletParams):
            dw, self.state = triplet_step(pre_spikes, post_spikes, self.state, p, self._dt, w,
                                          contract)
        else:
            dw, self.state = stdp_step(pre_spikes, post_spikes, self.state, p, self._dt, w,
                                       contract)
        if self.enabled and syn.numel():
            self._write(syn, w, dw)

    def _write(self, syn: Tensor, w: Tensor, dw: Tensor) -> None:
        table = self._table
        assert table is not None
        w_min, w_max = _bounds(self.params)
        new = clip_weights(w + self.lr * dw, w_min, w_max)
        if self.debug:  # clamp keeps NaN: an update that produced one is caught here
            check_weights_finite(f"weight of {self.projection.name}", new)
        table.weight.index_copy_(0, syn, new)

    # ---------------------------------------------------------------------------------------
    # public
    # ---------------------------------------------------------------------------------------

    def _built(self) -> SynapseTable:
        if self._table is None:
            raise ValueError(f"the learner of {self.projection.name} has no synapses yet: add "
                             f"it to a network and run it first")
        return self._table

    @property
    def weight(self) -> Tensor:
        """The live per-synapse weights ``[S]`` in CSR order (``synapses()`` gives the ends)."""
        return self._built().weight

    def synapses(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(pre, post, delay_steps)`` per synapse, int64, in the order of :attr:`weight`."""
        pre, post, _, delay = self._built().to_arrays()
        return pre, post, delay

    def eligibility(self) -> Tensor:
        """R-STDP eligibility ``[S]`` after the last simulated step (CSR order)."""
        self._built()
        if not isinstance(self.params, RSTDPParams):
            raise TypeError(f"eligibility and reward need RSTDPParams, this learner has "
                            f"{type(self.params).__name__}")
        n = (self._next - 1 - self._last).to(torch.float64)
        return self._e * torch.pow(self._e_decay, n).to(self._e.dtype)

    def reward(self, value: float) -> Tensor:
        """Turn the eligibility into a weight change: ``lr_rule * value * e`` (R-STDP).

        The change (``[S]``, before the learner's ``lr`` and clipping) is returned and, when
        :attr:`enabled`, applied: ``w = clip(w + lr * dw, w_min, w_max)``. Call it between
        runs (``net.run`` in chunks, one reward per trial).
        """
        e = self.eligibility()
        check_finite_scalar("value", value)
        assert isinstance(self.params, RSTDPParams)
        dw = reward_dw(RSTDPState(self.state, e[None]), value, self.params)
        table = self._built()
        if self.enabled and dw.numel():
            syn = torch.arange(dw.numel())
            self._write(syn, table.weight.clone(), dw)
        return dw

    def normalise(self, total: float) -> None:
        """Scale each postsynaptic neuron's incoming weights to sum to ``total``
        (Diehl & Cook 2015; :func:`~axonal.functional.plasticity.normalise_weights` on the
        synapse list). Neurons whose weights sum to <= 0 keep zero weights. No clipping."""
        table = self._built()
        check_positive("total", total, unit="")
        post = table.post.to(torch.int64)
        sums = torch.zeros(self._n_post, dtype=table.weight.dtype).index_add_(0, post, table.weight)
        tiny = torch.finfo(sums.dtype).tiny
        scale = torch.where(sums > 0, total / sums.clamp_min(tiny), 0.0)
        table.weight.mul_(scale.index_select(0, post))
        if self.debug:
            check_weights_finite(f"weight of {self.projection.name}", table.weight)
