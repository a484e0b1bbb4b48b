"""Stateless shape and scaling layers on time-major ``[T, B, ...]`` input.

Each acts on every time step alike (state ``None`` under :mod:`axonal.nn.protocol`):
:class:`TimeDistributed` runs a module that expects one batch dimension on ``[T*B, ...]``;
:class:`Scale`, :class:`Threshold`, :class:`SumPool2d` and :class:`Flatten` are the NIR node
types that ``torch.nn`` has no layer for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axonal.functional.surrogate import FastSigmoid, Surrogate
from axonal.functional.scan import check_sequence

__all__ = ["Flatten", "Scale", "SumPool2d", "Threshold", "TimeDistributed"]


class TimeDistributed(nn.Module):
    """Apply a stateless module once to ``[T*B, ...]`` and restore ``[T, B, ...]``.

    Use it for layers that expect a single batch dimension (``nn.Conv2d``, ``nn.MaxPool2d``);
    ``nn.Linear`` already accepts ``[T, B, F]``.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, "x")
        t, b = x.shape[:2]
        y: Tensor = self.module(x.flatten(0, 1))
        out: Tensor = y.unflatten(0, (t, b))
        return out


def _as_tensor(name: str, value: float | Tensor) -> Tensor:
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite")
    return t


class Scale(nn.Module):
    """Elementwise ``y = x * scale`` (NIR ``Scale``); ``scale`` broadcasts to ``[...]``."""

    def __init__(self, scale: float | Tensor) -> None:
        super().__init__()
        self.scale = nn.Parameter(_as_tensor("scale", scale))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class Threshold(nn.Module):
    """Heaviside ``y = 1 where x > threshold`` (NIR ``Threshold``), surrogate gradient."""

    threshold: Tensor

    def __init__(self, threshold: float | Tensor, surrogate: Surrogate = FastSigmoid()) -> None:
        super().__init__()
        if not isinstance(surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, got {type(surrogate).__name__}")
        self.register_buffer("threshold", _as_tensor("threshold", threshold))
        self.surrogate = surrogate

    def forward(self, x: Tensor) -> Tensor:
        return self.surrogate(x - self.threshold)


def _pair(name: str, value: int | Sequence[int], minimum: int) -> tuple[int, int]:
    if isinstance(value, bool) or not isinstance(value, (int, Sequence)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {type(value).__name__}")
    out = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(out) != 2 or any(v < minimum for v in out):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return out[0], out[1]


class SumPool2d(nn.Module):
    """Sum over ``kernel_size`` windows (NIR ``SumPool2d``) on ``[T, B, C, H, W]`` or ``[N, C, H, W]``."""

    def __init__(
        self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0
    ) -> None:
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", self.kernel_size if stride is None else stride, 1)
        self.padding = _pair("padding", padding, 0)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-3]
        y = F.avg_pool2d(
            x.reshape(-1, *x.shape[-3:]), self.kernel_size, self.stride, self.padding, divisor_override=1
        )
        return y.reshape(*lead, *y.shape[1:])


class Flatten(nn.Module):
    """Flatten every dimension after time and batch: ``[T, B, ...] -> [T, B, prod(...)]``."""

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, "x")
        return x.flatten(2)
