"""The single time loop: run a pure step function over time-major input ``[T, B, ...]``."""

from __future__ import annotations

from typing import Callable, Generic, NamedTuple, TypeVar

import torch
from torch import Tensor

from axonal.functional.validate import check_dt

__all__ = ["ScanResult", "scan", "multi_step", "check_sequence", "check_state"]

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
    """Validate a time-major input: a floating tensor of rank >= ``min_rank``, all finite."""
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
        if not bool(torch.isfinite(xs).all()):
            raise ValueError(f"{name} contains inf or nan; it would poison the state and gradients")
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

    Shapes:
        xs: ``[T, B, ...]``; each step sees ``[B, ...]``.
    Units:
        dt: seconds.
    """
    check_sequence(xs, "x")
    dt = check_dt(dt)
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


def check_state(state: tuple[Tensor, ...], shape: torch.Size, name: str = "state") -> None:
    """Raise unless every field of ``state`` is a tensor broadcastable to ``shape`` ([B, ...])."""
    if not isinstance(state, tuple):
        raise TypeError(f"{name} must be a state NamedTuple, got {type(state).__name__}")
    for field, value in zip(getattr(state, "_fields", range(len(state))), state):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}.{field} must be a tensor, got {type(value).__name__}")
        try:
            if torch.broadcast_shapes(value.shape, shape) != shape:
                raise RuntimeError
        except RuntimeError:
            raise ValueError(
                f"{name}.{field} has shape {tuple(value.shape)}, expected one broadcastable "
                f"to the per-step input shape {tuple(shape)}"
            ) from None


def multi_step(
    step: Callable[[Tensor, S, P, float], tuple[Tensor, S]],
    initial_state: Callable[[Tensor, P], S],
    xs: Tensor,
    state: S | None,
    params: P,
    dt: float,
    record: bool = False,
) -> ScanResult[S]:
    """Validate ``xs`` and ``state`` (``None``: the family's initial state), then :func:`scan`."""
    check_sequence(xs, "x")
    if state is None:
        state = initial_state(xs[0], params)
    else:
        check_state(state, xs.shape[1:])
    return scan(step, xs, state, params, dt, record)
