"""Synaptic plasticity as pure functions: spike traces and weight-change rules.

Every rule here is written once and used by the tensor-layer learners in
:mod:`axonal.plasticity` and by simulator projections (:class:`axonal.sim.ProjectionLearner`).
A rule step takes the pre- and postsynaptic spikes of one time step, its explicit state
(traces, a NamedTuple) and frozen validated parameters, and returns ``(dw, new_state)``; it
never touches a weight. How the per-neuron factors become per-synapse changes is a
**contraction** argument:

* :func:`outer` (default): dense ``[N_post, N_pre]`` (the layout of ``nn.Linear.weight``),
  summed over the batch;
* :func:`outer_per_sample`: ``[B, N_post, N_pre]`` (eligibility traces of R-STDP);
* :func:`sparse_contraction`: one value per synapse of a list ``(post_index, pre_index)``, the
  layout of a simulator projection;
* the Conv2d learner passes an ``unfold``-based contraction.

Traces decay exactly: ``x[t+1] = x[t] exp(-dt / tau)`` and then jump at a spike, by ``+1``
(all-to-all interaction: every earlier spike counts) or to ``1`` (nearest-spike interaction:
only the latest spike counts). Time in seconds.

Order within a step (Brian2's ``on_pre`` before ``on_post``): decay all traces; presynaptic
spikes update the presynaptic traces and are depressed by the (decayed) postsynaptic traces;
then postsynaptic spikes update the postsynaptic traces and are potentiated by the presynaptic
traces, which already include this step's presynaptic spikes. So a pre and a post spike in the
same step (``t_post - t_pre = 0``) give ``+A_plus``, as in Brian2 (NEST gives 0).

Every rule function checks its inputs once per call, with one synchronisation: spikes and
traces finite, the weight finite where the rule reads it (multiplicative dependence), the
reward finite; a NaN or inf raises :class:`~axonal.errors.NonFiniteError` naming the tensor
(``state.pre of stdp_step contains NaN at 1 of 784 entries``). :func:`stdp_multi_step` checks
its whole ``[T, B, ...]`` input once, not per step; :func:`trace_step` is the unchecked
per-step helper of the loops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.validate import (
    all_finite,
    check_all_finite,
    check_dt,
    check_finite,
    check_finite_scalar,
    check_positive,
    nonfinite_summary,
)

__all__ = [
    "TRIPLET_HIPPOCAMPAL_ALL_TO_ALL",
    "TRIPLET_HIPPOCAMPAL_NEAREST",
    "TRIPLET_VISUAL_CORTEX_ALL_TO_ALL",
    "TRIPLET_VISUAL_CORTEX_NEAREST",
    "Contraction",
    "RSTDPParams",
    "RSTDPState",
    "STDPParams",
    "STDPState",
    "ThresholdParams",
    "TraceMode",
    "TripletParams",
    "TripletState",
    "WeightDependence",
    "adaptive_threshold_step",
    "check_weights_finite",
    "clip_weights",
    "normalise_weights",
    "outer",
    "outer_per_sample",
    "reward_dw",
    "rstdp_initial_state",
    "rstdp_step",
    "sparse_contraction",
    "stdp_initial_state",
    "stdp_multi_step",
    "stdp_step",
    "trace_step",
    "triplet_initial_state",
    "triplet_step",
]

Contraction = Callable[[Tensor, Tensor], Tensor]
"""``contract(post [B, N_post...], pre [B, N_pre...]) -> per-synapse sum over the batch``."""


class TraceMode(Enum):
    """How spikes add to a trace: ``ALL_TO_ALL`` adds 1, ``NEAREST`` sets it to 1."""

    ALL_TO_ALL = "all_to_all"
    NEAREST = "nearest"


class WeightDependence(Enum):
    """``ADDITIVE``: dw independent of w (hard bounds by clipping).

    ``MULTIPLICATIVE`` (soft bounds): potentiation scaled by ``(w_max - w)``, depression by
    ``(w - w_min)``, so a weight approaches the bounds but never crosses them for small steps.
    """

    ADDITIVE = "additive"
    MULTIPLICATIVE = "multiplicative"


# --------------------------------------------------------------------------------------------
# contractions: per-neuron factors -> per-synapse change
# --------------------------------------------------------------------------------------------


def outer(post: Tensor, pre: Tensor) -> Tensor:
    """``sum_b post[b, i] pre[b, j]`` as ``[N_post, N_pre]`` (layout of ``nn.Linear.weight``)."""
    return post.transpose(0, 1) @ pre


def outer_per_sample(post: Tensor, pre: Tensor) -> Tensor:
    """``post[b, i] pre[b, j]`` as ``[B, N_post, N_pre]`` (no sum over the batch)."""
    return post.unsqueeze(2) * pre.unsqueeze(1)


def sparse_contraction(post_index: Tensor, pre_index: Tensor) -> Contraction:
    """Contraction onto a synapse list: synapse ``s`` joins ``pre_index[s] -> post_index[s]``.

    Returns a function giving ``sum_b post[b, post_index[s]] pre[b, pre_index[s]]`` of shape
    ``[S]`` (the layout of a simulator projection's weights).
    """
    if post_index.shape != pre_index.shape or post_index.dim() != 1:
        raise ValueError(
            f"post_index and pre_index must be 1-D of the same length, got "
            f"{tuple(post_index.shape)} and {tuple(pre_index.shape)}"
        )
    if post_index.dtype != torch.int64 or pre_index.dtype != torch.int64:
        raise TypeError("post_index and pre_index must be int64 tensors")

    def contract(post: Tensor, pre: Tensor) -> Tensor:
        return (post[:, post_index] * pre[:, pre_index]).sum(0)

    return contract


# --------------------------------------------------------------------------------------------
# traces
# --------------------------------------------------------------------------------------------


def trace_step(trace: Tensor, spikes: Tensor, decay: float, mode: TraceMode) -> Tensor:
    """Decay a trace by ``decay = exp(-dt / tau)`` and add this step's spikes (0/1).

    Shapes:
        trace, spikes: ``[B, ...]``; returns the same shape.
    """
    decayed = trace * decay
    if mode is TraceMode.ALL_TO_ALL:
        return decayed + spikes
    return torch.where(spikes > 0, torch.ones_like(decayed), decayed)


def _check_tau(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in seconds, got {type(value).__name__}")
    check_positive(name, value)


def _check_amplitude(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    check_finite_scalar(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (a magnitude; depression is subtracted), got {value}")


def _check_bounds(w_min: float, w_max: float) -> None:
    for name, value in (("w_min", w_min), ("w_max", w_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a float, got {type(value).__name__}")
        if math.isnan(value):
            raise ValueError(f"{name} must not be nan")
    if not w_min < w_max:
        raise ValueError(f"w_min must be below w_max, got w_min={w_min} and w_max={w_max}")


def _check_enum(name: str, value: object, kind: type[Enum]) -> None:
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {value!r}")


def _check_spikes(name: str, spikes: object, like: Tensor | None = None) -> Tensor:
    if not isinstance(spikes, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(spikes).__name__}")
    if spikes.dim() < 2:
        raise ValueError(f"{name} must be [B, ...], got shape {tuple(spikes.shape)}")
    if like is not None and spikes.shape != like.shape:
        raise ValueError(
            f"{name} must match its trace's shape {tuple(like.shape)}, got {tuple(spikes.shape)}"
        )
    return spikes


def _check_rule_inputs(
    rule: str,
    pre: Tensor,
    post: Tensor,
    traces: tuple[Tensor, ...],
    weight: Tensor | None,
    dependence: WeightDependence,
    extra: tuple[tuple[str, Tensor], ...] = (),
) -> None:
    """Spikes, traces (and the weight, where multiplicative dependence reads it) finite: one
    synchronisation; a NaN/inf raises ``NonFiniteError`` naming the tensor and the rule."""
    fields = getattr(traces, "_fields", [str(i) for i in range(len(traces))])
    named = [("pre_spikes", pre), ("post_spikes", post)]
    named += [(f"state.{f}", t) for f, t in zip(fields, traces)]
    named += list(extra)
    if weight is not None and dependence is WeightDependence.MULTIPLICATIVE:
        named.append(("weight", weight))
    check_all_finite(named, rule)


def _soft_bound(
    dw_plus: Tensor, dw_minus: Tensor, weight: Tensor | None, dep: WeightDependence,
    w_min: float, w_max: float,
) -> Tensor:
    if dep is WeightDependence.ADDITIVE:
        return dw_plus - dw_minus
    if weight is None:
        raise ValueError("weight is required for multiplicative (soft-bound) weight dependence")
    if weight.shape != dw_plus.shape:
        raise ValueError(
            f"weight must have the contraction's shape {tuple(dw_plus.shape)}, "
            f"got {tuple(weight.shape)}"
        )
    return (w_max - weight) * dw_plus - (weight - w_min) * dw_minus


# --------------------------------------------------------------------------------------------
# pair-based STDP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class STDPParams:
    """Pair-based STDP.

    ``dw = +a_plus exp(-dt_s / tau_plus)`` for a post spike ``dt_s >= 0`` after a pre spike and
    ``-a_minus exp(dt_s / tau_minus)`` for a post spike before a pre spike (additive form).

    Args:
        tau_plus: presynaptic trace time constant (s, > 0).
        tau_minus: postsynaptic trace time constant (s, > 0).
        a_plus: potentiation amplitude (>= 0).
        a_minus: depression amplitude (>= 0, subtracted).
        mode: :class:`TraceMode` (all-to-all or nearest-spike).
        dependence: :class:`WeightDependence`.
        w_min, w_max: weight bounds (``w_min < w_max``), used by soft bounds and clipping.
    """

    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    a_plus: float = 0.01
    a_minus: float = 0.0105
    mode: TraceMode = TraceMode.ALL_TO_ALL
    dependence: WeightDependence = WeightDependence.ADDITIVE
    w_min: float = 0.0
    w_max: float = 1.0

    def __post_init__(self) -> None:
        _check_tau("tau_plus", self.tau_plus)
        _check_tau("tau_minus", self.tau_minus)
        _check_amplitude("a_plus", self.a_plus)
        _check_amplitude("a_minus", self.a_minus)
        _check_enum("mode", self.mode, TraceMode)
        _check_enum("dependence", self.dependence, WeightDependence)
        _check_bounds(self.w_min, self.w_max)


class STDPState(NamedTuple):
    """Traces of pair STDP: ``pre [B, N_pre...]`` and ``post [B, N_post...]`` (dimensionless)."""

    pre: Tensor
    post: Tensor


def stdp_initial_state(pre_like: Tensor, post_like: Tensor) -> STDPState:
    """Zero traces shaped like one step of pre- and postsynaptic spikes."""
    return STDPState(torch.zeros_like(pre_like), torch.zeros_like(post_like))


def stdp_step(
    pre_spikes: Tensor,
    post_spikes: Tensor,
    state: STDPState,
    params: STDPParams,
    dt: float,
    weight: Tensor | None = None,
    contract: Contraction = outer,
) -> tuple[Tensor, STDPState]:
    """One step of pair STDP; returns the weight change (summed over the batch) and new traces.

    Shapes:
        pre_spikes: ``[B, N_pre...]``, post_spikes: ``[B, N_post...]`` (0/1).
        weight: the contraction's output shape (needed for multiplicative dependence only).
        returns: ``dw`` of the contraction's output shape (``[N_post, N_pre]`` by default).
    Units:
        dt in seconds; dw in the units of ``a_plus``.
    """
    dt = check_dt(dt)
    pre = _check_spikes("pre_spikes", pre_spikes, state.pre)
    post = _check_spikes("post_spikes", post_spikes, state.post)
    _check_rule_inputs("stdp_step", pre, post, state, weight, params.dependence)
    return _stdp(pre, post, state, params, dt, weight, contract)


def _stdp(
    pre: Tensor,
    post: Tensor,
    state: STDPState,
    params: STDPParams,
    dt: float,
    weight: Tensor | None,
    contract: Contraction,
) -> tuple[Tensor, STDPState]:
    """:func:`stdp_step` on inputs its caller checked."""
    p = params
    post_decayed = state.post * math.exp(-dt / p.tau_minus)
    pre_trace = trace_step(state.pre, pre, math.exp(-dt / p.tau_plus), p.mode)
    depression = p.a_minus * contract(post_decayed, pre)
    potentiation = p.a_plus * contract(post, pre_trace)
    post_trace = _jump(post_decayed, post, p.mode)
    dw = _soft_bound(potentiation, depression, weight, p.dependence, p.w_min, p.w_max)
    return dw, STDPState(pre_trace, post_trace)


def stdp_multi_step(
    pre_spikes: Tensor,
    post_spikes: Tensor,
    state: STDPState,
    params: STDPParams,
    dt: float,
    weight: Tensor | None = None,
    contract: Contraction = outer,
) -> tuple[Tensor, STDPState]:
    """:func:`stdp_step` over ``T`` steps with the weight held fixed, contracted once.

    Equal to summing the ``T`` single-step changes (the weight is not updated in between):
    the traces are scanned step by step (elementwise), then each of the two terms is one
    contraction over the stacked ``T * B`` rows, keeping only rows with a spike on the spike
    side (postsynaptic spikes for potentiation, presynaptic ones for depression). ``contract``
    must sum over its first dimension (:func:`outer`, :func:`sparse_contraction`, conv).

    Shapes:
        pre_spikes: ``[T, B, N_pre...]``, post_spikes: ``[T, B, N_post...]``.
    """
    dt = check_dt(dt)
    if pre_spikes.dim() < 3 or post_spikes.dim() < 3 or pre_spikes.shape[:2] != post_spikes.shape[:2]:
        raise ValueError(
            f"pre_spikes and post_spikes must be [T, B, ...] with the same T and B, got "
            f"{tuple(pre_spikes.shape)} and {tuple(post_spikes.shape)}"
        )
    _check_spikes("pre_spikes", pre_spikes[0], state.pre)
    _check_spikes("post_spikes", post_spikes[0], state.post)
    _check_rule_inputs("stdp_multi_step", pre_spikes, post_spikes, state, weight, params.dependence)
    p = params
    d_pre, d_post = math.exp(-dt / p.tau_plus), math.exp(-dt / p.tau_minus)
    pre_traces, post_before = [], []
    pre_t, post_t = state.pre, state.post
    for t in range(pre_spikes.shape[0]):
        pre_t = trace_step(pre_t, pre_spikes[t], d_pre, p.mode)
        post_t = post_t * d_post
        pre_traces.append(pre_t)
        post_before.append(post_t)
        post_t = _jump(post_t, post_spikes[t], p.mode)
    rows_post = post_spikes.flatten(0, 1)
    rows_pre = pre_spikes.flatten(0, 1)
    keep_p = rows_post.flatten(1).any(1).nonzero().squeeze(1)
    keep_d = rows_pre.flatten(1).any(1).nonzero().squeeze(1)
    potentiation = p.a_plus * contract(rows_post[keep_p], torch.stack(pre_traces).flatten(0, 1)[keep_p])
    depression = p.a_minus * contract(torch.stack(post_before).flatten(0, 1)[keep_d], rows_pre[keep_d])
    dw = _soft_bound(potentiation, depression, weight, p.dependence, p.w_min, p.w_max)
    return dw, STDPState(pre_t, post_t)


def _jump(decayed: Tensor, spikes: Tensor, mode: TraceMode) -> Tensor:
    """Add spikes to an already-decayed trace (``trace_step`` with ``decay = 1``)."""
    return trace_step(decayed, spikes, 1.0, mode)


# --------------------------------------------------------------------------------------------
# triplet STDP (Pfister & Gerstner 2006)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TripletParams:
    """Triplet STDP (Pfister & Gerstner 2006, J. Neurosci. 26:9673, Table 4).

    Presynaptic traces ``r1`` (``tau_plus``) and ``r2`` (``tau_x``); postsynaptic traces ``o1``
    (``tau_minus``) and ``o2`` (``tau_y``). At a pre spike ``w -= o1 (a2_minus + a3_minus r2)``;
    at a post spike ``w += r1 (a2_plus + a3_plus o2)``, with ``r2`` and ``o2`` taken *before*
    the current spike's own increment.
    """

    tau_plus: float = 16.8e-3
    tau_minus: float = 33.7e-3
    tau_x: float = 101e-3
    tau_y: float = 125e-3
    a2_plus: float = 5e-10
    a3_plus: float = 6.2e-3
    a2_minus: float = 7e-3
    a3_minus: float = 2.3e-4
    mode: TraceMode = TraceMode.ALL_TO_ALL
    dependence: WeightDependence = WeightDependence.ADDITIVE
    w_min: float = 0.0
    w_max: float = 1.0

    def __post_init__(self) -> None:
        for name in ("tau_plus", "tau_minus", "tau_x", "tau_y"):
            _check_tau(name, getattr(self, name))
        for name in ("a2_plus", "a3_plus", "a2_minus", "a3_minus"):
            _check_amplitude(name, getattr(self, name))
        _check_enum("mode", self.mode, TraceMode)
        _check_enum("dependence", self.dependence, WeightDependence)
        _check_bounds(self.w_min, self.w_max)


# Published parameter sets (Pfister & Gerstner 2006, Table 4, "all-to-all" and "nearest-spike"
# full models): visual cortex fitted to Sjostrom et al. 2001, hippocampus to Wang et al. 2005.
TRIPLET_VISUAL_CORTEX_ALL_TO_ALL = TripletParams(
    tau_x=101e-3, tau_y=125e-3, a2_plus=5e-10, a3_plus=6.2e-3, a2_minus=7e-3, a3_minus=2.3e-4,
    mode=TraceMode.ALL_TO_ALL,
)
TRIPLET_VISUAL_CORTEX_NEAREST = TripletParams(
    tau_x=714e-3, tau_y=40e-3, a2_plus=8.8e-11, a3_plus=5.3e-2, a2_minus=6.6e-3, a3_minus=3.1e-3,
    mode=TraceMode.NEAREST,
)
TRIPLET_HIPPOCAMPAL_ALL_TO_ALL = TripletParams(
    tau_x=946e-3, tau_y=27e-3, a2_plus=6.1e-3, a3_plus=6.7e-3, a2_minus=1.6e-3, a3_minus=1.4e-3,
    mode=TraceMode.ALL_TO_ALL,
)
TRIPLET_HIPPOCAMPAL_NEAREST = TripletParams(
    tau_x=575e-3, tau_y=47e-3, a2_plus=4.6e-3, a3_plus=9.1e-3, a2_minus=3e-3, a3_minus=7.5e-9,
    mode=TraceMode.NEAREST,
)


class TripletState(NamedTuple):
    """Traces ``r1, r2 [B, N_pre...]`` and ``o1, o2 [B, N_post...]``."""

    r1: Tensor
    r2: Tensor
    o1: Tensor
    o2: Tensor


def triplet_initial_state(pre_like: Tensor, post_like: Tensor) -> TripletState:
    """Zero traces shaped like one step of pre- and postsynaptic spikes."""
    zp, zq = torch.zeros_like(pre_like), torch.zeros_like(post_like)
    return TripletState(zp, zp.clone(), zq, zq.clone())


def triplet_step(
    pre_spikes: Tensor,
    post_spikes: Tensor,
    state: TripletState,
    params: TripletParams,
    dt: float,
    weight: Tensor | None = None,
    contract: Contraction = outer,
) -> tuple[Tensor, TripletState]:
    """One step of triplet STDP (same order and shapes as :func:`stdp_step`)."""
    dt = check_dt(dt)
    pre = _check_spikes("pre_spikes", pre_spikes, state.r1)
    post = _check_spikes("post_spikes", post_spikes, state.o1)
    _check_rule_inputs("triplet_step", pre, post, state, weight, params.dependence)
    p = params
    r1 = state.r1 * math.exp(-dt / p.tau_plus)
    r2 = state.r2 * math.exp(-dt / p.tau_x)
    o1 = state.o1 * math.exp(-dt / p.tau_minus)
    o2 = state.o2 * math.exp(-dt / p.tau_y)
    # presynaptic spikes: depression with r2 before its increment, then the pre traces jump
    depression = contract(o1, pre * (p.a2_minus + p.a3_minus * r2))
    r1 = _jump(r1, pre, p.mode)
    r2 = _jump(r2, pre, p.mode)
    # postsynaptic spikes: potentiation with o2 before its increment
    potentiation = contract(post * (p.a2_plus + p.a3_plus * o2), r1)
    o1 = _jump(o1, post, p.mode)
    o2 = _jump(o2, post, p.mode)
    dw = _soft_bound(potentiation, depression, weight, p.dependence, p.w_min, p.w_max)
    return dw, TripletState(r1, r2, o1, o2)


# --------------------------------------------------------------------------------------------
# reward-modulated STDP (eligibility traces)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RSTDPParams:
    """Reward-modulated STDP: pair-STDP changes feed an eligibility trace ``e``.

    ``e[t+1] = e[t] exp(-dt / tau_e) + dw_stdp[t]`` per synapse and sample, and the weight
    changes only by ``lr * reward * e`` (Izhikevich 2007; Fremaux & Gerstner 2016).

    Args:
        stdp: the pair rule whose changes are made eligible.
        tau_e: eligibility time constant (s, > 0).
        lr: learning rate applied with the reward (>= 0).
    """

    stdp: STDPParams = STDPParams()
    tau_e: float = 0.2
    lr: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.stdp, STDPParams):
            raise TypeError(f"stdp must be STDPParams, got {type(self.stdp).__name__}")
        _check_tau("tau_e", self.tau_e)
        _check_amplitude("lr", self.lr)


class RSTDPState(NamedTuple):
    """Pair traces and the eligibility trace ``[B, *weight_shape]``."""

    traces: STDPState
    eligibility: Tensor


def rstdp_initial_state(pre_like: Tensor, post_like: Tensor, weight_shape: tuple[int, ...]) -> RSTDPState:
    """Zero traces and zero eligibility for a batch of ``pre_like.shape[0]`` samples."""
    e = pre_like.new_zeros((pre_like.shape[0], *weight_shape))
    return RSTDPState(stdp_initial_state(pre_like, post_like), e)


def rstdp_step(
    pre_spikes: Tensor,
    post_spikes: Tensor,
    state: RSTDPState,
    params: RSTDPParams,
    dt: float,
    weight: Tensor | None = None,
    contract: Contraction = outer_per_sample,
) -> RSTDPState:
    """Advance the eligibility trace by one step (no weight change without reward).

    ``contract`` must keep the batch (default :func:`outer_per_sample`); ``weight`` is
    broadcast over the batch for multiplicative dependence.
    """
    dt = check_dt(dt)
    e_decay = math.exp(-dt / params.tau_e)
    pre = _check_spikes("pre_spikes", pre_spikes, state.traces.pre)
    post = _check_spikes("post_spikes", post_spikes, state.traces.post)
    _check_rule_inputs(
        "rstdp_step", pre, post, state.traces, weight, params.stdp.dependence,
        (("state.eligibility", state.eligibility),),
    )
    w = None if weight is None else weight.expand_as(state.eligibility)
    dw, traces = _stdp(pre, post, state.traces, params.stdp, dt, w, contract)
    return RSTDPState(traces, state.eligibility * e_decay + dw)


def reward_dw(state: RSTDPState, reward: Tensor | float, params: RSTDPParams) -> Tensor:
    """Weight change ``lr * sum_b reward[b] e[b]`` for a reward per sample ``[B]`` (or scalar)."""
    e = state.eligibility
    r = torch.as_tensor(reward, dtype=e.dtype, device=e.device)
    if r.dim() == 0:
        r = r.expand(e.shape[0])
    if r.shape != (e.shape[0],):
        raise ValueError(f"reward must be a scalar or [B] with B={e.shape[0]}, got {tuple(r.shape)}")
    check_all_finite((("reward", r), ("state.eligibility", e)), "reward_dw")
    dw: Tensor = torch.tensordot(r, e, dims=1)
    return params.lr * dw


# --------------------------------------------------------------------------------------------
# bounds, normalisation, homeostasis, safety
# --------------------------------------------------------------------------------------------


def clip_weights(weight: Tensor, w_min: float, w_max: float) -> Tensor:
    """Hard bounds: ``weight`` clamped to ``[w_min, w_max]`` (a NaN stays NaN: see
    :func:`check_weights_finite`)."""
    _check_bounds(w_min, w_max)
    return weight.clamp(w_min, w_max)


def normalise_weights(weight: Tensor, total: float, dim: int | tuple[int, ...] = 1) -> Tensor:
    """Scale each neuron's weights so they sum to ``total`` over ``dim`` (Diehl & Cook 2015).

    With ``nn.Linear`` layout ``[N_post, N_pre]`` the default ``dim=1`` normalises the input
    weights of every postsynaptic neuron. Rows summing to zero are left at zero.
    """
    check_positive("total", total, unit="")
    check_finite("weight", weight, "normalise_weights")
    sums = weight.sum(dim=dim, keepdim=True)
    scale = torch.where(sums > 0, total / sums.clamp_min(torch.finfo(weight.dtype).tiny), 0.0)
    return weight * scale


@dataclass(frozen=True)
class ThresholdParams:
    """Homeostatic adaptive threshold: ``theta`` rises by ``theta_plus`` (mV) per spike and decays
    with ``tau_theta`` (s); the neuron's threshold is ``v_th + theta`` (Diehl & Cook 2015)."""

    theta_plus: float = 0.05
    tau_theta: float = 1e4

    def __post_init__(self) -> None:
        _check_amplitude("theta_plus", self.theta_plus)
        _check_tau("tau_theta", self.tau_theta)


def adaptive_threshold_step(theta: Tensor, spikes: Tensor, params: ThresholdParams, dt: float) -> Tensor:
    """``theta exp(-dt / tau_theta) + theta_plus * spikes``; shapes ``[B, N...]`` or ``[N...]``."""
    decay = math.exp(-check_dt(dt) / params.tau_theta)
    check_all_finite((("theta", theta), ("spikes", spikes)), "adaptive_threshold_step")
    return theta * decay + params.theta_plus * spikes


def check_weights_finite(name: str, weight: Tensor) -> None:
    """Raise :class:`~axonal.errors.NonFiniteError` naming ``name`` if ``weight`` holds a NaN
    or an infinity (the check of a weight *after* an update: the rules check their inputs)."""
    if not all_finite((weight,)):
        raise NonFiniteError(
            f"{name} became non-finite after a plasticity update "
            f"({nonfinite_summary(weight) or 'overflow'})"
        )
