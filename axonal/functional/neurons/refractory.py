"""Absolute refractory period with Brian2's rule, shared by every family that has one.

After a spike the membrane is held for ``n_ref`` samples: the spike step's reset value, then
``n_ref - 1`` skipped membrane updates (Brian2's ``(unless refractory)`` on ``dv/dt``).
Everything else a family integrates (a synaptic current, an adaptation variable) keeps
evolving while the membrane is held, and no spike can occur.

``n_ref`` is Brian2's (2.1.3 and later) ``timestep(t_ref, dt) = int((t_ref + 1e-3 dt) / dt)``:
``t_ref / dt`` rounded *down* (to the step below unless within a thousandth of a step of the
one above), so ``t_ref = 2.7 dt`` holds the membrane for 2 samples, not 3. Brian2 tests
``timestep(t - lastspike, dt) >= timestep(t_ref, dt)`` at each step;
``tests/functional/neurons/test_refractory_brian2.py`` holds every family to Brian2 traces with
``t_ref`` off the step grid.

The countdown is kept as time (s) in the state field ``refractory``: a spike sets it to
``t_ref``, each step subtracts ``dt`` (clamped at 0), and a step is active once what remains is
below ``(1 - 1e-3) dt`` (:func:`refractory_limit`). After a spike at step ``k``, what remains
before step ``k + j`` is ``t_ref - j dt``, which is below ``(1 - 1e-3) dt`` exactly when
``j >= timestep(t_ref, dt)``. Every compiled path uses the same limit.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

__all__ = [
    "REFRACTORY_TOLERANCE",
    "refractory_gate",
    "refractory_limit",
    "refractory_steps",
    "refractory_unsupported",
    "refuse_refractory",
]

REFRACTORY_TOLERANCE = 1e-3
"""Brian2's ``timestep`` shifts a time by this fraction of ``dt`` before truncating it."""


def refractory_limit(dt: float) -> float:
    """``(1 - 1e-3) dt``: a neuron is active in a step once its remaining refractory time (s,
    after subtracting this step's ``dt``) is below this."""
    return (1.0 - REFRACTORY_TOLERANCE) * dt


def refractory_steps(t_ref: float, dt: float) -> int:
    """Samples the membrane is held after a spike: Brian2's ``timestep(t_ref, dt)``,
    ``int((t_ref + 1e-3 dt) / dt)`` (``t_ref / dt`` rounded down)."""
    return int((t_ref + REFRACTORY_TOLERANCE * dt) / dt)


def refractory_gate(
    v_new: Tensor,
    v_old: Tensor,
    refractory: Tensor,
    t_ref: float,
    dt: float,
    fire: Callable[[Tensor], Tensor],
) -> tuple[Tensor, Tensor, Tensor]:
    """Hold the membrane of refractory neurons and fire only the others.

    Args:
        v_new: the membrane after this step's update (mV), ``[B, ...]``.
        v_old: the membrane before it (the held value), ``[B, ...]``.
        refractory: remaining refractory time before this step (s), ``[B, ...]``.
        t_ref: refractory period (s, >= 0); 0 disables the gate.
        dt: time step (s).
        fire: ``v -> spikes`` (the family's threshold test through its surrogate).

    Returns:
        ``(v, z, refractory)``: the membrane before the reset, the spikes and the remaining
        refractory time after this step. With ``t_ref == 0`` this is ``(v_new, fire(v_new),
        refractory)``.
    """
    if t_ref <= 0:
        return v_new, fire(v_new), refractory
    remaining = torch.clamp(refractory - dt, min=0.0)
    active = remaining < refractory_limit(dt)
    v = torch.where(active, v_new, v_old)
    z = torch.where(active, fire(v), 0.0)
    return v, z, torch.where(z > 0, t_ref, remaining)


def refractory_unsupported(params: Any) -> str | None:
    """What a path without a refractory period cannot run (``None`` when ``t_ref == 0``),
    e.g. for a fused-kernel spec's ``unsupported`` or a NIR mapping's ``refuse``."""
    t_ref = getattr(params, "t_ref", 0.0)
    return f"refractory period (t_ref > 0), got t_ref={t_ref}" if t_ref > 0 else None


def refuse_refractory(params: Any, where: str) -> None:
    """Raise ``ValueError`` when ``params.t_ref > 0`` for a step ``where`` has none."""
    t_ref = getattr(params, "t_ref", 0.0)
    if t_ref > 0:
        raise ValueError(f"params.t_ref must be 0 for {where}, got {t_ref}")
