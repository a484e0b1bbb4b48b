"""Adaptive LIF neuron: a LIF membrane with a spike-triggered, decaying threshold increment.

Dynamics (input ``x`` held constant over each step, both equations integrated exactly)::

    tau_mem   dv/dt = (v_leak - v) + r x
    tau_adapt da/dt = -a                     and  a <- a + delta_th  at each spike

    v[t+1] = v_inf + (v[t] - v_inf) exp(-dt / tau_mem),   v_inf = v_leak + r x[t]
    a'     = a[t] exp(-dt / tau_adapt)
    z      = H(v[t+1] - (v_th + a'))            (effective threshold v_th + a')
    a[t+1] = a' + delta_th z

The threshold adaptation follows Bellec et al. 2018 (LSNN), written with the increment in mV
(their ``beta`` times the jump of ``a``) instead of a dimensionless trace. Order within a step:
charge, decay the adaptation, fire against the effective threshold, reset, then adapt.

Reset choice: ``SUBTRACT`` removes the *effective* threshold distance,
``v <- v - z (v_th + a' - v_reset)``, so a neuron that fires right at threshold lands on
``v_reset`` whatever its adaptation (subtracting only ``v_th - v_reset`` would leave an adapted
neuron above ``v_reset`` and make it fire again sooner, working against the adaptation).
``ZERO`` sets ``v <- v_reset``. ``detach_reset`` only stops the gradient through the reset; the
gradient through the adaptation increment ``delta_th z`` is kept (it is the recurrent path
that e-prop/BPTT use to learn with adaptation).

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm (``r x`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from axonal.functional.neurons._common import (
    NeuronFamily,
    ResetMode,
    Scalar,
    apply_reset,
    check_bool,
    check_finite_scalar,
    check_positive,
    check_reset,
    exp_decay,
    full_like,
    register_family,
)
from axonal.functional.neurons.li import leaky_membrane
from axonal.functional.neurons.lif import check_threshold_above_reset
from axonal.functional.surrogate import FastSigmoid, Surrogate
from axonal.scan import ScanResult, multi_step

__all__ = [
    "ALIFParams",
    "ALIFState",
    "alif_step",
    "alif_multi_step",
    "alif_initial_state",
    "ALIF_FAMILY",
]


@dataclass(frozen=True)
class ALIFParams:
    """Parameters of an adaptive-threshold LIF neuron.

    Args:
        tau_mem: membrane time constant (s, > 0).
        tau_adapt: decay time constant of the threshold increment (s, > 0).
        v_leak: resting potential (mV).
        v_th: baseline threshold (mV).
        v_reset: reset potential (mV), below ``v_th``.
        delta_th: threshold increment per spike (mV, >= 0).
        r: input resistance (MOhm); ``r * x`` is the drive in mV.
        reset: :class:`ResetMode` (``SUBTRACT`` removes the effective threshold distance).
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset term.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    tau_mem: Scalar = 10e-3
    tau_adapt: Scalar = 200e-3
    v_leak: Scalar = 0.0
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    delta_th: Scalar = 0.1
    r: Scalar = 1.0
    reset: ResetMode = ResetMode.SUBTRACT
    surrogate: Surrogate = FastSigmoid()
    detach_reset: bool = True

    def __post_init__(self) -> None:
        check_positive("tau_mem", self.tau_mem)
        check_positive("tau_adapt", self.tau_adapt)
        for name in ("v_leak", "v_th", "v_reset", "delta_th", "r"):
            check_finite_scalar(name, getattr(self, name))
        with torch.no_grad():
            if not bool((torch.as_tensor(self.delta_th) >= 0).all()):
                raise ValueError(f"delta_th must be >= 0 mV, got {self.delta_th!r}")
        check_reset(self.reset)
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, got {type(self.surrogate).__name__}")
        check_bool("detach_reset", self.detach_reset)
        check_threshold_above_reset(self.v_th, self.v_reset)


class ALIFState(NamedTuple):
    """State of an ALIF population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
        a: threshold increment above ``v_th`` (mV), ``[B, ...]``; zero at rest.
    """

    v: Tensor
    a: Tensor


def alif_initial_state(x: Tensor, params: ALIFParams) -> ALIFState:
    """Resting state (``v = v_leak``, no adaptation) shaped like a single-step input ``x``."""
    return ALIFState(v=full_like(x, params.v_leak), a=torch.zeros_like(x))


def alif_step(
    x: Tensor, state: ALIFState, params: ALIFParams, dt: float
) -> tuple[Tensor, ALIFState]:
    """Advance an ALIF population by one step of ``dt`` seconds.

    Shapes:
        x: ``[B, ...]`` input current; state fields the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    Units:
        x in nA, v and a in mV, dt in s.
    """
    p = params
    v = leaky_membrane(state.v, x, p.tau_mem, p.v_leak, p.r, dt)
    a = state.a * exp_decay(dt, p.tau_adapt)
    threshold = p.v_th + a
    z = p.surrogate(v - threshold)
    v = apply_reset(v, z, threshold, p.v_reset, p.reset, p.detach_reset)
    a = a + p.delta_th * z
    return z, ALIFState(v=v, a=a)


def alif_multi_step(
    xs: Tensor,
    state: ALIFState | None,
    params: ALIFParams,
    dt: float,
    record: bool = False,
) -> ScanResult[ALIFState]:
    """Run :func:`alif_step` over ``xs`` of shape ``[T, B, ...]`` (state ``None``: at rest).

    Shapes:
        xs: ``[T, B, ...]``; returns spikes ``[T, B, ...]``, the final state and, with
        ``record``, the state after every step (``[T, B, ...]`` per field).
    """
    return multi_step(alif_step, alif_initial_state, xs, state, params, dt, record)


ALIF_FAMILY = register_family(
    NeuronFamily(
        name="alif",
        params_type=ALIFParams,
        state_type=ALIFState,
        step=alif_step,
        initial_state=alif_initial_state,
        positive=("tau_mem", "tau_adapt"),
    )
)
