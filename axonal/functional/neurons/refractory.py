"""Absolute refractory period with Brian2's rule, shared by every family that has one.

After a spike the membrane is held for ``round(t_ref / dt)`` samples: the spike step's reset
value, then ``round(t_ref / dt) - 1`` skipped membrane updates (Brian2's ``(unless
refractory)`` on ``dv/dt``). Everything else a family integrates (a synaptic current, an
adaptation variable) keeps evolving while the membrane is held, and no spike can occur.

The countdown is kept as time (s) in the state field ``refractory``: a spike sets it to
``t_ref``, each step subtracts ``dt``, and a step is active once what remains is at most
``dt / 2`` (so ``t_ref`` that is not a multiple of ``dt`` rounds to the nearest step, as
Brian2's ``not_refractory = t - lastspike >= t_ref`` does on its integer step grid up to
half a step).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

__all__ = ["refractory_gate", "refractory_unsupported", "refuse_refractory"]


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
    active = remaining <= 0.5 * dt
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
