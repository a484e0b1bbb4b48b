"""The single time loop: run a pure step function over time-major input ``[T, B, ...]``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Generic, NamedTuple, TypeVar

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.validate import all_finite, check_all_finite, check_dt, nonfinite_summary

__all__ = [
    "ScanResult",
    "scan",
    "multi_step",
    "check_sequence",
    "check_state",
    "check_step_inputs",
    "state_owner",
]

S = TypeVar("S", bound=tuple[Tensor, ...])
P = TypeVar("P")


class ScanResult(NamedTuple, Generic[S]):
    """Result of :func:`scan`.

    Attributes:
        out: step outputs stacked over time, ``[T, B, ...]``.
        state: the state after the last step.
        trace: the state after every step stacked over time (each field ``[T, B, ...]``), or
            ``None`` when ``record=False``.
    """

    out: Tensor
    state: S
    trace: S | None


def check_sequence(xs: object, name: str = "x", min_rank: int = 2) -> Tensor:
    """Validate a time-major input: a floating tensor of rank >= ``min_rank``, all finite.

    A NaN or inf raises :class:`~axonal.errors.NonFiniteError` with the count of bad entries.
    The finiteness test is one sum (finite iff every entry is, unless it overflows; only then,
    or on a real NaN/inf, the elementwise count runs).
    """
    if not isinstance(xs, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [T, B, ...], got {type(xs).__name__}")
    if xs.dim() < min_rank:
        raise ValueError(
            f"{name} must be time-major with rank >= {min_rank} ([T, B, ...]), "
            f"got shape {tuple(xs.shape)}"
        )
    if not xs.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {xs.dtype}")
    if xs.shape[0] == 0:
        raise ValueError(f"{name} must have at least one time step, got shape {tuple(xs.shape)}")
    with torch.no_grad():
        if xs.numel() and not bool(torch.isfinite(xs.sum())):
            summary = nonfinite_summary(xs)
            if summary is not None:
                raise NonFiniteError(
                    f"{name} contains inf or nan ({summary}); it would poison the state and "
                    f"gradients"
                )
    return xs


def scan(
    step: Callable[[Tensor, S, P, float], tuple[Tensor, S]],
    xs: Tensor,
    state: S,
    params: P,
    dt: float,
    record: bool = False,
) -> ScanResult[S]:
    """Apply ``step`` to each ``xs[t]`` in order, threading the state.

    Validates ``xs``, ``dt`` and ``state`` (shapes and finiteness) once; the loop runs
    unchecked.

    Shapes:
        xs: ``[T, B, ...]``; each step sees ``[B, ...]``.
    Units:
        dt: seconds.
    """
    check_sequence(xs, "x")
    dt = check_dt(dt)
    check_state(state, xs.shape[1:])
    return _loop(step, xs, state, params, dt, record)


def _loop(
    step: Callable[[Tensor, S, P, float], tuple[Tensor, S]],
    xs: Tensor,
    state: S,
    params: P,
    dt: float,
    record: bool,
) -> ScanResult[S]:
    """The time loop itself, on inputs validated by the caller."""
    outs: list[Tensor] = []
    states: list[S] = []
    for t in range(xs.shape[0]):
        out, state = step(xs[t], state, params, dt)
        outs.append(out)
        if record:
            states.append(state)
    trace: S | None = None
    if record:
        stacked = [torch.stack(fields) for fields in zip(*states)]
        trace = type(state)(*stacked)
    return ScanResult(torch.stack(outs), state, trace)


def state_owner(state: object) -> str | None:
    """The family a state NamedTuple belongs to, read from its type (``LIFState`` -> ``LIF``),
    for messages; ``None`` for a plain tuple."""
    if not hasattr(state, "_fields"):
        return None
    name = type(state).__name__
    return (name[: -len("State")] or None) if name.endswith("State") else name


def check_state(
    state: tuple[Tensor, ...], shape: torch.Size, name: str = "state", owner: str | None = None
) -> None:
    """Raise unless every field of ``state`` is a finite tensor broadcastable to ``shape``
    ([B, ...]).

    A NaN or inf raises :class:`~axonal.errors.NonFiniteError` naming the field and the
    family (``owner``; default: read from the state's type), e.g.
    ``state.v of LIF contains NaN at 3 of 128 entries``; all fields are tested with one
    synchronisation.
    """
    fields = _check_state_shapes(state, shape, name)
    check_all_finite(zip(fields, state), owner if owner is not None else state_owner(state))


def _check_state_shapes(state: object, shape: torch.Size, name: str) -> list[str]:
    """The shape half of :func:`check_state`; returns the field names (``state.v``...)."""
    if not isinstance(state, tuple):
        raise TypeError(f"{name} must be a state NamedTuple, got {type(state).__name__}")
    fields = [f"{name}.{f}" for f in getattr(state, "_fields", range(len(state)))]
    for field, value in zip(fields, state):
        if not isinstance(value, Tensor):
            raise TypeError(f"{field} must be a tensor, got {type(value).__name__}")
        try:
            if torch.broadcast_shapes(value.shape, shape) != shape:
                raise RuntimeError
        except RuntimeError:
            raise ValueError(
                f"{field} has shape {tuple(value.shape)}, expected one broadcastable "
                f"to the per-step input shape {tuple(shape)}"
            ) from None
    return fields


def check_step_inputs(
    x: object,
    state: tuple[Tensor, ...] | None,
    extra: Iterable[tuple[str, Any]] = (),
    owner: str | None = None,
) -> Tensor:
    """The boundary check of a single step: ``x [B, ...]`` as :func:`check_sequence` with
    ``min_rank=1``, ``state`` (if given) as :func:`check_state`, and the finiteness of the
    ``(name, tensor)`` pairs in ``extra`` (named ``"name of owner"``), all with one
    synchronisation; returns ``x``. Errors read as the separate checks' do."""
    if (
        not isinstance(x, Tensor) or x.dim() < 1 or not x.is_floating_point()
        or x.shape[0] == 0
    ):
        check_sequence(x, "x", min_rank=1)
    assert isinstance(x, Tensor)
    extra = list(extra)
    fields = [] if state is None else _check_state_shapes(state, x.shape, "state")
    if all_finite([x, *(state or ()), *(t for _, t in extra)]):
        return x
    check_sequence(x, "x", min_rank=1)
    if state is not None:
        check_all_finite(zip(fields, state), state_owner(state))
    check_all_finite(extra, owner)
    return x


def multi_step(
    step: Callable[[Tensor, S, P, float], tuple[Tensor, S]],
    initial_state: Callable[[Tensor, P], S],
    xs: Tensor,
    state: S | None,
    params: P,
    dt: float,
    record: bool = False,
) -> ScanResult[S]:
    """Validate ``xs``, ``dt`` and ``state`` (``None``: the family's initial state) once, then
    run the loop of :func:`scan`."""
    check_sequence(xs, "x")
    dt = check_dt(dt)
    if state is None:
        state = initial_state(xs[0], params)
    else:
        check_state(state, xs.shape[1:])
    return _loop(step, xs, state, params, dt, record)
