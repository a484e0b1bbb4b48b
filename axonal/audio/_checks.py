"""Boundary checks shared by the audio modules (private to :mod:`axonal.audio`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.validate import all_finite, nonfinite_summary


def check_signal(name: str, x: object, ranks: tuple[int, ...], layout: str) -> Tensor:
    """Raise unless ``x`` is a finite floating tensor whose rank is one of ``ranks``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor {layout}, got dtype {x.dtype}")
    if x.dim() not in ranks:
        raise ValueError(f"{name} must be shaped {layout}, got shape {tuple(x.shape)}")
    if not all_finite((x,)):
        raise NonFiniteError(f"{name} must be finite, got a tensor with {nonfinite_summary(x)}")
    return x


def check_real(name: str, value: object, unit: str = "") -> float:
    """Raise unless ``value`` is a finite real number (not a bool); return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number{f' in {unit}' if unit else ''}, "
                        f"got {type(value).__name__}")
    if not math.isfinite(value):
        raise NonFiniteError(f"{name} must be finite, got {value}")
    return float(value)


def check_positive_real(name: str, value: object, unit: str = "") -> float:
    """:func:`check_real` and ``> 0``."""
    v = check_real(name, value, unit)
    if v <= 0:
        raise ValueError(f"{name} must be > 0{f' {unit}' if unit else ''}, got {v}")
    return v


def check_rate(name: str, value: object) -> int:
    """Raise unless ``value`` is a positive int (a sample rate in Hz); return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int sample rate in Hz, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a sample rate > 0 Hz, got {value}")
    return value


def per_channel(
    name: str, value: float | Tensor, channel_shape: tuple[int, ...], like: Tensor,
    unit: str = "in the units of x",
) -> Tensor:
    """A positive finite threshold (float, or tensor broadcastable to ``channel_shape``) as a
    tensor of ``like``'s dtype and device, broadcast to ``channel_shape``."""
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a float or a floating tensor, got dtype {value.dtype}")
        try:
            shape = torch.broadcast_shapes(value.shape, channel_shape)
        except RuntimeError:
            shape = None
        if shape != channel_shape:
            raise ValueError(
                f"{name} must be a float or a tensor broadcastable to one step of x "
                f"{channel_shape}, got shape {tuple(value.shape)}"
            )
        if not all_finite((value,)):
            raise NonFiniteError(f"{name} must be finite, got a tensor with "
                                 f"{nonfinite_summary(value)}")
        with torch.no_grad():
            if value.numel() and not bool((value > 0).all()):
                raise ValueError(f"{name} must be > 0 ({unit}), got a tensor with minimum "
                                 f"{float(value.min())}")
        out = value.detach().to(dtype=like.dtype, device=like.device)
    else:
        v = check_positive_real(name, value, f"({unit})")
        out = torch.tensor(v, dtype=like.dtype, device=like.device)
    return out.expand(channel_shape)


def broadcasts_to(shape: tuple[int, ...] | torch.Size, target: tuple[int, ...] | torch.Size) -> bool:
    """Whether a tensor of ``shape`` broadcasts to exactly ``target`` (without growing it)."""
    try:
        return tuple(torch.broadcast_shapes(shape, target)) == tuple(target)
    except RuntimeError:
        return False
