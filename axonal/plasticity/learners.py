"""STDP-family learners for batched ``nn.Linear`` / ``nn.Conv2d`` spiking layers.

Shapes: pre spikes are the layer's input ``[B, N_in]`` (Linear) or ``[B, C_in, H, W]``
(Conv2d); post spikes are the spiking output driven by the layer, ``[B, N_out]`` or
``[B, C_out, H_out, W_out]``. Weight changes have the shape of ``layer.weight``.

Inputs are checked once per call: the rules refuse non-finite spikes, traces, eligibility,
weights and rewards (:class:`~axonal.errors.NonFiniteError` naming the tensor), and
:meth:`STDPLearner.apply` / ``to_grad`` refuse a non-finite ``dw``. With ``debug=True`` the
weight is also checked *after* each update (an update of finite values can still overflow).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axonal.functional.validate import check_bool, check_dt, check_finite, check_finite_scalar
from axonal.functional.plasticity import (
    Contraction,
    RSTDPParams,
    RSTDPState,
    STDPParams,
    STDPState,
    TripletParams,
    TripletState,
    check_weights_finite,
    clip_weights,
    outer,
    outer_per_sample,
    reward_dw,
    rstdp_initial_state,
    rstdp_step,
    stdp_initial_state,
    stdp_step,
    triplet_initial_state,
    triplet_step,
)

__all__ = ["RSTDPLearner", "STDPLearner", "conv2d_contraction", "layer_contraction"]

PairOrTriplet = STDPParams | TripletParams
RuleState = STDPState | TripletState


class _Rule(NamedTuple):
    step: Callable[..., tuple[Tensor, Any]]
    initial_state: Callable[[Tensor, Tensor], Any]


# rules a learner can run, found by their parameter type (add a rule: one entry here)
_RULES: dict[type, _Rule] = {
    STDPParams: _Rule(stdp_step, stdp_initial_state),
    TripletParams: _Rule(triplet_step, triplet_initial_state),
}


def conv2d_contraction(layer: nn.Conv2d, per_sample: bool = False) -> Contraction:
    """Contraction for a Conv2d: sums ``post * pre`` over the batch and every output position
    that the kernel entry connects, giving ``[C_out, C_in, kh, kw]`` (``[B, ...]`` when
    ``per_sample``)."""
    _check_conv(layer)
    shape = tuple(layer.weight.shape)
    kernel, dilation = layer.kernel_size, layer.dilation
    padding, stride = layer.padding, layer.stride

    def contract(post: Tensor, pre: Tensor) -> Tensor:
        cols = F.unfold(pre, kernel, dilation=dilation, padding=padding, stride=stride)  # type: ignore[arg-type]
        p = post.flatten(2)
        if p.shape[2] != cols.shape[2]:
            raise ValueError(
                f"post_spikes has {p.shape[2]} positions, the layer's output of this input has "
                f"{cols.shape[2]}"
            )
        if per_sample:
            return torch.einsum("bol,bil->boi", p, cols).reshape(p.shape[0], *shape)
        return torch.einsum("bol,bil->oi", p, cols).reshape(shape)

    return contract


def _check_conv(layer: nn.Conv2d) -> None:
    if layer.groups != 1:
        raise ValueError(f"layer: Conv2d with groups={layer.groups} is not supported (groups=1 only)")
    if isinstance(layer.padding, str):
        raise ValueError(f"layer: Conv2d padding={layer.padding!r} is not supported; give integers")
    if layer.padding_mode != "zeros":
        raise ValueError(f"layer: Conv2d padding_mode={layer.padding_mode!r} is not supported")


def layer_contraction(layer: nn.Module, per_sample: bool = False) -> Contraction:
    """The contraction serving ``layer`` (``nn.Linear`` or ``nn.Conv2d``); TypeError otherwise."""
    if isinstance(layer, nn.Linear):
        return outer_per_sample if per_sample else outer
    if isinstance(layer, nn.Conv2d):
        return conv2d_contraction(layer, per_sample)
    raise TypeError(
        f"layer must be nn.Linear or nn.Conv2d (a layer with a dense weight that the rule can "
        f"address), got {type(layer).__name__}"
    )


class _Learner:
    def __init__(self, layer: nn.Module, dt: float, debug: bool, per_sample: bool) -> None:
        self.contract = layer_contraction(layer, per_sample)
        self.layer = layer
        self.dt = check_dt(dt)
        check_bool("debug", debug)
        self.debug = debug

    @property
    def weight(self) -> Tensor:
        w = self.layer.weight
        assert isinstance(w, Tensor)
        return w

    def _apply(self, dw: Tensor, lr: float, w_min: float, w_max: float) -> None:
        if dw.shape != self.weight.shape:
            raise ValueError(f"dw must have the weight's shape {tuple(self.weight.shape)}, got {tuple(dw.shape)}")
        check_finite("dw", dw, f"{type(self).__name__}.apply")
        check_finite_scalar("lr", lr)
        with torch.no_grad():
            new = clip_weights(self.weight + lr * dw, w_min, w_max)
            if self.debug:
                # clamp keeps NaN: an update that produced one is caught here
                check_weights_finite(f"{type(self.layer).__name__}.weight", new)
            self.weight.copy_(new)

    def to_grad(self, dw: Tensor) -> None:
        """Store ``-dw`` as the weight's gradient, so an optimiser's step moves along ``dw``."""
        check_finite("dw", dw, f"{type(self).__name__}.to_grad")
        self.weight.grad = (-dw).detach().clone()


class STDPLearner(_Learner):
    """Pair or triplet STDP on a layer's weight.

    Args:
        layer: ``nn.Linear`` or ``nn.Conv2d`` (groups=1, integer padding, zero padding mode).
        params: :class:`STDPParams` (pair rule) or :class:`TripletParams`.
        dt: time step (s).
        debug: check after every :meth:`apply` that the weight is finite (ValueError if not).
    """

    def __init__(self, layer: nn.Module, params: PairOrTriplet, dt: float, debug: bool = False) -> None:
        rule = _RULES.get(type(params))
        if rule is None:
            raise TypeError(f"params must be STDPParams or TripletParams, got {type(params).__name__}")
        super().__init__(layer, dt, debug, per_sample=False)
        self.params = params
        self._rule = rule

    def initial_state(self, pre_spikes: Tensor, post_spikes: Tensor) -> RuleState:
        """Zero traces for one step of pre and post spikes."""
        state: RuleState = self._rule.initial_state(pre_spikes, post_spikes)
        return state

    def step(self, pre_spikes: Tensor, post_spikes: Tensor, state: RuleState | None = None) -> tuple[Tensor, RuleState]:
        """Weight change of one step (summed over the batch) and the new traces."""
        if state is None:
            state = self.initial_state(pre_spikes, post_spikes)
        w = self.weight.detach()
        dw, new = self._rule.step(pre_spikes, post_spikes, state, self.params, self.dt, w, self.contract)
        if self.debug:
            check_weights_finite("dw", dw)
        return dw, new

    def apply(self, dw: Tensor, lr: float = 1.0) -> None:
        """``weight += lr * dw`` in place, clipped to ``[w_min, w_max]``."""
        self._apply(dw, lr, self.params.w_min, self.params.w_max)


class RSTDPLearner(_Learner):
    """Reward-modulated STDP: :meth:`step` grows per-sample eligibility traces; :meth:`reward`
    turns a reward per sample into the weight change (and :meth:`apply` applies it)."""

    def __init__(self, layer: nn.Module, params: RSTDPParams, dt: float, debug: bool = False) -> None:
        if not isinstance(params, RSTDPParams):
            raise TypeError(f"params must be RSTDPParams, got {type(params).__name__}")
        super().__init__(layer, dt, debug, per_sample=True)
        self.params = params

    def initial_state(self, pre_spikes: Tensor, post_spikes: Tensor) -> RSTDPState:
        return rstdp_initial_state(pre_spikes, post_spikes, tuple(self.weight.shape))

    def step(self, pre_spikes: Tensor, post_spikes: Tensor, state: RSTDPState | None = None) -> RSTDPState:
        if state is None:
            state = self.initial_state(pre_spikes, post_spikes)
        return rstdp_step(pre_spikes, post_spikes, state, self.params, self.dt, self.weight.detach(), self.contract)

    def reward(self, state: RSTDPState, reward: Tensor | float) -> Tensor:
        """``lr * sum_b reward[b] e[b]``."""
        return reward_dw(state, reward, self.params)

    def apply(self, dw: Tensor, lr: float = 1.0) -> None:
        self._apply(dw, lr, self.params.stdp.w_min, self.params.stdp.w_max)
