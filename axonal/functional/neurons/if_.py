"""Integrate-and-fire neuron (perfect integrator, no leak), integrated exactly.

Dynamics (input ``x`` held constant over each step)::

    tau_mem dv/dt = r x
    v[t+1] = v[t] + (dt / tau_mem) r x[t]

With the defaults (``tau_mem = 1 ms``, ``r = 1``) and ``dt = 1 ms`` this is ``v += x``: the
classic discrete IF neuron of ANN-to-SNN conversion. A spike is emitted when the *updated*
membrane exceeds ``v_th`` (strictly) and the reset (:class:`ResetMode`) is applied at once.
Because the equation has no leak, the update is exact for any ``dt``.

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm (``r x`` in mV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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
    full_like,
    register_family,
)
from axonal.functional.neurons.lif import check_threshold_above_reset
from axonal.functional.surrogate import FastSigmoid, Surrogate
from axonal.scan import ScanResult, multi_step

__all__ = [
    "IFParams",
    "IFState",
    "if_step",
    "if_multi_step",
    "if_initial_state",
    "IF_FAMILY",
]


@dataclass(frozen=True)
class IFParams:
    """Parameters of an integrate-and-fire neuron.

    Args:
        tau_mem: integration time constant (s, > 0); ``dt / tau_mem`` scales each step's input.
        v_th: threshold (mV).
        v_reset: reset potential and resting state (mV), below ``v_th``.
        r: input resistance (MOhm); ``r * x`` is the drive in mV.
        reset: :class:`ResetMode`.
        surrogate: spike function with its surrogate gradient.
        detach_reset: stop the gradient through the reset term.

    Units:
        seconds, mV, MOhm (float or tensor broadcastable to the neuron shape).
    """

    tau_mem: Scalar = 1e-3
    v_th: Scalar = 1.0
    v_reset: Scalar = 0.0
    r: Scalar = 1.0
    reset: ResetMode = ResetMode.SUBTRACT
    surrogate: Surrogate = FastSigmoid()
    detach_reset: bool = True

    def __post_init__(self) -> None:
        check_positive("tau_mem", self.tau_mem)
        for name in ("v_th", "v_reset", "r"):
            check_finite_scalar(name, getattr(self, name))
        check_reset(self.reset)
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, got {type(self.surrogate).__name__}")
        check_bool("detach_reset", self.detach_reset)
        check_threshold_above_reset(self.v_th, self.v_reset)


class IFState(NamedTuple):
    """State of an IF population.

    Attributes:
        v: membrane potential (mV), ``[B, ...]``.
    """

    v: Tensor


def if_initial_state(x: Tensor, params: IFParams) -> IFState:
    """Resting state (``v = v_reset``) shaped like a single-step input ``x``."""
    return IFState(v=full_like(x, params.v_reset))


def if_step(x: Tensor, state: IFState, params: IFParams, dt: float) -> tuple[Tensor, IFState]:
    """Advance an IF population by one step of ``dt`` seconds.

    Shapes:
        x: ``[B, ...]`` input current; ``state.v`` the same shape.
        returns: spikes ``[B, ...]`` (0/1) and the new state.
    Units:
        x in nA, v in mV, dt in s.
    """
    p = params
    gain = dt / p.tau_mem
    v = state.v + gain * (p.r * x)
    z = p.surrogate(v - p.v_th)
    v = apply_reset(v, z, p.v_th, p.v_reset, p.reset, p.detach_reset)
    return z, IFState(v=v)


def if_multi_step(
    xs: Tensor,
    state: IFState | None,
    params: IFParams,
    dt: float,
    record: bool = False,
) -> ScanResult[IFState]:
    """Run :func:`if_step` over ``xs`` of shape ``[T, B, ...]`` (state ``None``: at rest).

    Shapes:
        xs: ``[T, B, ...]``; returns spikes ``[T, B, ...]``, the final state and, with
        ``record``, the state after every step (``[T, B, ...]`` per field).
    """
    return multi_step(if_step, if_initial_state, xs, state, params, dt, record)


IF_FAMILY = register_family(
    NeuronFamily(
        name="if",
        params_type=IFParams,
        state_type=IFState,
        step=if_step,
        initial_state=if_initial_state,
        positive=("tau_mem",),
    )
)
