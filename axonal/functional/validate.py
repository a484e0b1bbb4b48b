"""Boundary validation helpers shared by the whole package (imports only axonal.errors, a leaf).

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (wrong value) with a
message that names the argument, what was expected and what came.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from axonal.errors import ResourceLimitError

__all__ = [
    "check_bool",
    "check_dt",
    "check_finite_scalar",
    "check_positive",
    "check_int",
    "check_step_count",
    "MAX_STEPS",
]

MAX_STEPS = 10**10
"""The most time steps one run may take (a run of more is refused before it starts: at a
realistic 10^7 steps per second it would take over 15 minutes even for one neuron)."""


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    return repr(value)


def check_finite_scalar(name: str, value: Any) -> None:
    """Raise unless ``value`` is a finite real number or a finite floating tensor."""
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
        with torch.no_grad():
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{name} must be finite, got a tensor with inf or nan")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def check_positive(name: str, value: Any, unit: str = "s") -> None:
    """Raise unless ``value`` (float or tensor) is finite and strictly positive."""
    check_finite_scalar(name, value)
    if isinstance(value, Tensor):
        with torch.no_grad():
            if not bool((value > 0).all()):
                low = float(value.min())
                raise ValueError(f"{name} must be > 0{_unit(unit)}, got a tensor with minimum {low}")
    elif value <= 0:
        raise ValueError(f"{name} must be > 0{_unit(unit)}, got {value}")


def check_dt(dt: Any) -> float:
    """Validate a time step in seconds and return it as a float."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        raise TypeError(f"dt must be a float in seconds, got {type(dt).__name__}")
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be finite and > 0 s, got {dt}")
    return float(dt)


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """Raise unless ``value`` is an int >= ``minimum``; return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value




def check_step_count(duration: Any, dt: float, name: str = "duration",
                     max_steps: int = MAX_STEPS) -> int:
    """Validate a run length in seconds against ``dt`` and return the number of steps.

    ``duration`` must be finite and ``>= 0`` s; the number of steps, ``round(duration / dt)``,
    must not exceed ``max_steps`` (default :data:`MAX_STEPS`), otherwise
    :class:`~axonal.errors.ResourceLimitError` is raised before anything runs.
    """
    dt = check_dt(dt)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TypeError(f"{name} must be a float in seconds, got {type(duration).__name__}")
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"{name} must be finite and >= 0 s, got {duration}")
    steps = duration / dt
    if steps > max_steps:
        raise ResourceLimitError(
            f"{name} = {duration:g} s at dt = {dt:g} s is {steps:.3g} steps; at most "
            f"{max_steps:.3g} are allowed (shorten the run or raise dt)"
        )
    return int(round(steps))
