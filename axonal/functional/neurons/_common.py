"""Shared pieces of the neuron families: reset modes, validation, decay, the family registry.

Units used by every family in this package:

* time in **seconds** (time constants, refractory periods, ``dt``);
* voltage in **millivolts** (mV);
* for the linear families (IF, LIF, CubaLIF, ALIF, LI) the input ``x`` is a current in
  nanoamperes and ``r`` a resistance in megaohms, so ``r * x`` is a voltage in mV
  (with the default ``r = 1`` the input is simply "mV of drive");
* Izhikevich and AdEx keep the units of their papers (stated in their modules).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import torch
from torch import Tensor

from axonal._validate import (
    check_bool,
    check_dt,
    check_finite_scalar,
    check_positive,
)

__all__ = [
    "ResetMode",
    "Scalar",
    "NeuronFamily",
    "register_family",
    "get_family",
    "family_names",
    "apply_reset",
    "check_below",
    "reset_to",
    "check_reset",
    "check_bool",
    "check_dt",
    "check_finite_scalar",
    "check_positive",
    "exp_decay",
    "full_like",
]

Scalar = float | Tensor
"""A parameter value: a Python float, or a tensor broadcastable to the neuron shape."""


class ResetMode(enum.Enum):
    """What happens to the membrane after a spike.

    * ``SUBTRACT``: ``v <- v - (v_th - v_reset)`` (keeps the overshoot; "soft" reset).
    * ``ZERO``: ``v <- v_reset`` ("hard" reset; called zero reset because v_reset = 0 by default).
    * ``NONE``: no reset (the threshold only emits spikes).
    """

    SUBTRACT = "subtract"
    ZERO = "zero"
    NONE = "none"


def check_reset(value: object) -> None:
    """Raise unless ``value`` is a :class:`ResetMode` member."""
    if not isinstance(value, ResetMode):
        raise TypeError(f"reset must be a ResetMode, got {value!r}")


def apply_reset(
    v: Tensor, z: Tensor, v_th: Scalar, v_reset: Scalar, mode: ResetMode, detach: bool
) -> Tensor:
    """Apply ``mode`` to membrane ``v`` where spikes ``z`` (0/1, surrogate-differentiable) fired.

    With ``detach=True`` no gradient flows through the reset (Zenke & Vogels 2021 found this
    helps training); the forward value is the same either way.
    """
    zr = z.detach() if detach else z
    if mode is ResetMode.SUBTRACT:
        return v - zr * (v_th - v_reset)
    if mode is ResetMode.ZERO:
        return reset_to(v, z, v_reset, detach)
    return v


def check_below(low_name: str, low: Scalar, high_name: str, high: Scalar) -> None:
    """Raise ``ValueError`` unless ``low < high`` everywhere (floats or broadcastable tensors)."""
    with torch.no_grad():
        gap = torch.as_tensor(high) - torch.as_tensor(low)
        if not bool((gap > 0).all()):
            raise ValueError(
                f"{low_name} must be below {high_name}, got {low_name}={low!r} "
                f"and {high_name}={high!r}"
            )


def reset_to(v: Tensor, z: Tensor, value: Scalar, detach: bool) -> Tensor:
    """Hard reset: ``value`` where ``z == 1``, ``v`` where ``z == 0``, the blend otherwise.

    The forward value is exact whatever the size of ``v`` (the blend ``v + z (value - v)``
    loses the low digits when ``v`` is far above threshold, as on an exponential or quadratic
    upstroke). The gradient is that of the blend; ``detach`` stops it through ``z``.
    """
    zr = z.detach() if detach else z
    blend = v + zr * (value - v)
    fired = torch.as_tensor(value, dtype=v.dtype, device=v.device)
    if zr.requires_grad:  # zero in the forward pass; carries d(blend)/dz
        fired = fired + (zr - zr.detach()) * (value - v)
    return torch.where(z == 1, fired, blend)


def exp_decay(dt: float, tau: Scalar) -> Scalar:
    """Per-step decay factor ``exp(-dt / tau)`` for a float or tensor time constant."""
    if isinstance(tau, Tensor):
        return torch.exp(-dt / tau)
    return math.exp(-dt / tau)


def full_like(x: Tensor, value: Scalar) -> Tensor:
    """A tensor shaped like ``x`` filled with ``value`` (float or broadcastable tensor)."""
    if isinstance(value, Tensor):
        return torch.zeros_like(x) + value.to(dtype=x.dtype, device=x.device)
    return torch.full_like(x, float(value))


P = TypeVar("P")
S = TypeVar("S", bound=tuple[Tensor, ...])


@dataclass(frozen=True)
class NeuronFamily(Generic[S, P]):
    """Everything generic code needs to run a neuron family.

    Attributes:
        name: registry key, e.g. ``"lif"``.
        params_type: the frozen parameter dataclass.
        state_type: the state NamedTuple.
        step: the pure single-step function ``step(x, state, params, dt) -> (out, state)``.
        initial_state: ``initial_state(x_t, params) -> state`` for a single-step input ``x_t``.
        check_dt: optional ``check_dt(params, dt)`` raising ``ValueError`` where the
            integration scheme is unstable for that ``dt``.
        positive: parameter fields that must stay > 0 (time constants, capacitances);
            learnable ones are trained in log space so they cannot cross zero.
    """

    name: str
    params_type: type[P]
    state_type: type[S]
    step: Callable[[Tensor, S, P, float], tuple[Tensor, S]]
    initial_state: Callable[[Tensor, P], S]
    check_dt: Callable[[P, float], None] | None = None
    positive: tuple[str, ...] = ()


_FAMILIES: dict[str, NeuronFamily[Any, Any]] = {}


def register_family(family: NeuronFamily[S, P]) -> NeuronFamily[S, P]:
    """Add a family to the registry (by ``family.name``) and return it."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"a neuron family named {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> NeuronFamily[Any, Any]:
    """Look up a registered family by name."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown neuron family {name!r}; expected one of {family_names()}"
        ) from None


def family_names() -> list[str]:
    return sorted(_FAMILIES)


