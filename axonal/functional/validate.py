"""Boundary validation helpers shared by the whole package (imports only axonal.errors, a leaf).

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (wrong value) with a
message that names the argument, what was expected and what came; a NaN or an infinity is a
:class:`~axonal.errors.NonFiniteError` (a ``ValueError``) whose message names the tensor and
counts the bad entries, e.g. ``state.v of LIF contains NaN at 3 of 128 entries``.

Checks run once per call at a public entry point, never per time step inside a loop. The
finiteness test of several tensors is one reduction per tensor and one host synchronisation
(:func:`check_all_finite`): a sum is finite exactly when every element is, unless it overflows,
and only then (or on a real NaN/inf) the elementwise pass runs to name the culprit.

Values that are valid but most likely a unit or shape mistake give a
:class:`~axonal.errors.PlausibilityWarning` through :func:`warn_plausibility`, attributed to the
user's line (the first caller outside axonal). Silence them with the standard filter::

    import warnings
    from axonal.errors import PlausibilityWarning
    warnings.filterwarnings("ignore", category=PlausibilityWarning)
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import warnings
from collections.abc import Iterable
from types import FrameType
from typing import Any

import torch
from torch import Tensor

from axonal.errors import NonFiniteError, PlausibilityWarning, ResourceLimitError

__all__ = [
    "all_finite",
    "check_all_finite",
    "check_bool",
    "check_dt",
    "check_finite",
    "check_finite_scalar",
    "nonfinite_summary",
    "user_stacklevel",
    "warn_plausibility",
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


def nonfinite_summary(value: Tensor) -> str | None:
    """``"NaN at 3 of 128 entries"`` (or ``"inf at ..."``, ``"NaN at 2 and inf at 1 of ..."``)
    for a floating tensor holding non-finite values; ``None`` when every entry is finite (or
    the tensor is not floating point)."""
    if not isinstance(value, Tensor) or not (value.is_floating_point() or value.is_complex()):
        return None
    with torch.no_grad():
        nan = int(torch.isnan(value).sum())
        inf = int(torch.isinf(value).sum())
    if nan == 0 and inf == 0:
        return None
    parts = [f"{what} at {n}" for what, n in (("NaN", nan), ("inf", inf)) if n]
    return f"{' and '.join(parts)} of {value.numel()} entries"


def _owned(name: str, owner: str | None) -> str:
    return f"{name} of {owner}" if owner else name


def check_finite(name: str, value: Tensor, owner: str | None = None) -> None:
    """Raise :class:`~axonal.errors.NonFiniteError` naming ``name`` (``"of owner"``) unless
    every entry of ``value`` is finite (non-floating tensors pass)."""
    summary = nonfinite_summary(value)
    if summary is not None:
        raise NonFiniteError(f"{_owned(name, owner)} contains {summary}")


def all_finite(tensors: Iterable[Any]) -> bool:
    """Whether every floating tensor among ``tensors`` is finite, with one synchronisation.

    Each tensor is summed once and the sums are added up; a finite total means every entry is
    finite. A non-finite total is a NaN/inf, or an overflowing sum: only then the elementwise
    test runs. Entries that are not floating tensors (``None``, ints, bool masks) are skipped.
    """
    items = [t for t in tensors if isinstance(t, Tensor) and t.is_floating_point() and t.numel()]
    if not items:
        return True
    with torch.no_grad():
        total = items[0].sum()
        for t in items[1:]:
            total = total + t.sum().to(total.device)
        if bool(torch.isfinite(total)):
            return True
        return all(bool(torch.isfinite(t).all()) for t in items)


def check_all_finite(named: Iterable[tuple[str, Any]], owner: str | None = None) -> None:
    """:func:`check_finite` for several ``(name, tensor)`` pairs with one synchronisation
    (:func:`all_finite`); on failure the first tensor holding a NaN or inf is named."""
    items = list(named)
    if all_finite(t for _, t in items):
        return
    for n, t in items:
        check_finite(n, t, owner)


def check_finite_scalar(name: str, value: Any) -> None:
    """Raise unless ``value`` is a finite real number or a finite floating tensor
    (:class:`~axonal.errors.NonFiniteError` for a NaN or an infinity)."""
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
        summary = nonfinite_summary(value)
        if summary is not None:
            raise NonFiniteError(f"{name} must be finite, got a tensor with {summary}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    if not math.isfinite(value):
        raise NonFiniteError(f"{name} must be finite, got {value}")


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
    """Validate a time step in seconds and return it as a float.

    Raises ``TypeError`` for a non-number, :class:`~axonal.errors.NonFiniteError` for NaN or
    inf and ``ValueError`` for ``dt <= 0`` (a step must move time forward).
    """
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        raise TypeError(f"dt must be a float in seconds, got {type(dt).__name__}")
    if not math.isfinite(dt):
        raise NonFiniteError(f"dt must be finite and > 0 s, got {dt}")
    if dt <= 0:
        raise ValueError(
            f"dt must be finite and > 0 s, got {dt} (a step of {'zero' if dt == 0 else 'negative'}"
            f" length would not move time forward)"
        )
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


# --------------------------------------------------------------------------- plausibility

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_DATACLASSES_FILE = os.path.abspath(dataclasses.__file__)


def _internal(frame: FrameType) -> bool:
    """Frames to step over when attributing a warning to the user's line: axonal itself,
    ``torch`` (``nn.Module.__call__``) and the dataclass machinery (``dataclasses.replace``,
    and the ``__init__`` that ``@dataclass`` generates for an axonal class, whose code has no
    file of its own)."""
    filename: str = frame.f_code.co_filename
    if filename.startswith("<"):
        owner = frame.f_locals.get("self") if frame.f_code.co_name == "__init__" else None
        module: str = type(owner).__module__
        return owner is not None and module.startswith("axonal.")
    path = os.path.abspath(filename)
    return path.startswith((_PACKAGE_DIR, _TORCH_DIR)) or path == _DATACLASSES_FILE


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called by this function's caller that points at
    the first frame outside axonal, torch and the dataclass machinery (the outermost frame if
    every frame is internal)."""
    level = 2  # 1: the caller of this function (which calls warnings.warn)
    frame = sys._getframe(2)
    while _internal(frame) and frame.f_back is not None:
        frame = frame.f_back
        level += 1
    return level


def warn_plausibility(message: str) -> None:
    """Issue a :class:`~axonal.errors.PlausibilityWarning` attributed to the user's call.

    Silence with ``warnings.filterwarnings("ignore", category=PlausibilityWarning)`` (or the
    ``-W ignore::axonal.errors.PlausibilityWarning`` interpreter option).
    """
    warnings.warn(message, PlausibilityWarning, stacklevel=user_stacklevel())

