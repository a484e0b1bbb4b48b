"""Surrogate gradients: Heaviside forward, smooth backward.

A surrogate is a small, named, picklable object with three parts:

* ``grad(x)``: the pseudo-derivative used in the backward pass;
* ``primitive(x)``: a smooth function whose derivative is exactly ``grad(x)`` (the "smoothed
  step" the surrogate stands for; used by tests and by :class:`Smoothed`);
* ``__call__(x)``: the spike function, ``x > 0`` in the forward pass with ``grad`` in the
  backward pass.

``x`` is the distance to threshold (``v - v_th``), in the neuron's voltage unit, so ``slope`` has
units of 1/voltage: a larger slope gives a narrower, taller pseudo-derivative.

Surrogates are registered by name so configs can name them:
``surrogate.get("atan", slope=2.0)``. A class that the compiled kernels implement also carries
its integer ``code`` (the kernels' switch value; ``axonal/csrc/codes.h`` is generated from
these codes): a class only uses the kernels if it sets ``code`` itself, so a subclass that
changes ``grad`` runs the reference path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor

__all__ = [
    "Surrogate",
    "FastSigmoid",
    "ArcTan",
    "Sigmoid",
    "Triangle",
    "StraightThrough",
    "Smoothed",
    "heaviside",
    "get",
    "kernel_code",
    "kernel_codes",
    "names",
    "register",
]

_REGISTRY: dict[str, type[Surrogate]] = {}


def register(cls: type[Surrogate]) -> type[Surrogate]:
    """Class decorator: make a surrogate available by its ``name`` through :func:`get`."""
    if not cls.name:
        raise ValueError(f"surrogate class {cls.__name__} needs a non-empty 'name'")
    code = vars(cls).get("code")
    if code is not None:
        if isinstance(code, bool) or not isinstance(code, int) or code < 0:
            raise ValueError(f"surrogate class {cls.__name__}: code must be an int >= 0, got {code!r}")
        for other in _REGISTRY.values():
            if other is not cls and other.name != cls.name and vars(other).get("code") == code:
                raise ValueError(
                    f"surrogate class {cls.__name__}: code {code} is already {other.__name__}'s"
                )
    _REGISTRY[cls.name] = cls
    return cls


def kernel_code(surrogate: Surrogate) -> int | None:
    """The compiled kernels' code of ``surrogate``'s exact class (``None``: no kernel; a
    subclass does not inherit its parent's code, since it may change ``grad``)."""
    code = vars(type(surrogate)).get("code")
    return code if isinstance(code, int) else None


def kernel_codes() -> dict[type[Surrogate], int]:
    """Registered surrogate class -> kernel code, for the classes the kernels implement."""
    return {
        cls: code
        for cls in _REGISTRY.values()
        if isinstance(code := vars(cls).get("code"), int)
    }


def names() -> list[str]:
    """Names of all registered surrogates."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs: Any) -> Surrogate:
    """Build a registered surrogate by name, e.g. ``get("fast_sigmoid", slope=25.0)``."""
    if not isinstance(name, str):
        raise TypeError(f"surrogate name must be a str, got {type(name).__name__}")
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown surrogate {name!r}; expected one of {names()}"
        ) from None
    return cls(**kwargs)


def heaviside(x: Tensor) -> Tensor:
    """Spike where ``x > 0`` (strictly), as a tensor of the input's dtype."""
    return (x > 0).to(x.dtype)


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        return heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Surrogate], output: Tensor) -> None:
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


@dataclass(frozen=True)
class Surrogate:
    """Base class: Heaviside forward, ``grad`` backward.

    Args:
        slope: sharpness of the pseudo-derivative, in 1/voltage unit (> 0).
    """

    slope: float = 1.0
    name: ClassVar[str] = ""
    code: ClassVar[int | None] = None

    def __post_init__(self) -> None:
        if isinstance(self.slope, bool) or not isinstance(self.slope, (int, float)):
            raise TypeError(f"slope must be a number, got {type(self.slope).__name__}")
        if not math.isfinite(self.slope) or self.slope <= 0:
            raise ValueError(f"slope must be finite and > 0, got {self.slope}")

    def __call__(self, x: Tensor) -> Tensor:
        if not x.requires_grad:
            return heaviside(x)
        out: Tensor = _SpikeFunction.apply(x, self)
        return out

    def grad(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def primitive(self, x: Tensor) -> Tensor:
        raise NotImplementedError


@register
@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike / fast sigmoid (Zenke & Ganguli 2018): ``1 / (1 + k|x|)^2``."""

    slope: float = 25.0
    name: ClassVar[str] = "fast_sigmoid"
    code: ClassVar[int | None] = 0

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.slope * x.abs()) ** 2

    def primitive(self, x: Tensor) -> Tensor:
        return x / (1.0 + self.slope * x.abs())


@register
@dataclass(frozen=True)
class ArcTan(Surrogate):
    """Arctan (Fang et al. 2021): ``(k/2) / (1 + (pi k x / 2)^2)``; primitive goes 0 to 1."""

    slope: float = 2.0
    name: ClassVar[str] = "atan"
    code: ClassVar[int | None] = 1

    def grad(self, x: Tensor) -> Tensor:
        return (self.slope / 2.0) / (1.0 + (math.pi / 2.0 * self.slope * x) ** 2)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.atan(math.pi / 2.0 * self.slope * x) / math.pi + 0.5


@register
@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Logistic sigmoid: primitive ``sigma(k x)``, pseudo-derivative ``k sigma (1 - sigma)``."""

    slope: float = 5.0
    name: ClassVar[str] = "sigmoid"
    code: ClassVar[int | None] = 2

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.slope * x)
        return self.slope * s * (1.0 - s)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.slope * x)


@register
@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangle (Esser et al. 2016; Bellec et al. 2018): ``k * max(0, 1 - k|x|)``, unit area."""

    slope: float = 1.0
    name: ClassVar[str] = "triangle"
    code: ClassVar[int | None] = 3

    def grad(self, x: Tensor) -> Tensor:
        return self.slope * torch.clamp(1.0 - self.slope * x.abs(), min=0.0)

    def primitive(self, x: Tensor) -> Tensor:
        kx = torch.clamp(self.slope * x, -1.0, 1.0)
        neg = 0.5 * (1.0 + kx) ** 2
        pos = 1.0 - 0.5 * (1.0 - kx) ** 2
        return torch.where(kx < 0, neg, pos)


@register
@dataclass(frozen=True)
class StraightThrough(Surrogate):
    """Straight-through estimator: the backward pass is the identity scaled by ``slope``."""

    slope: float = 1.0
    name: ClassVar[str] = "straight_through"
    code: ClassVar[int | None] = 4

    def grad(self, x: Tensor) -> Tensor:
        return torch.full_like(x, self.slope)

    def primitive(self, x: Tensor) -> Tensor:
        return self.slope * x


@dataclass(frozen=True, init=False)
class Smoothed(Surrogate):
    """Replace the spike by the smooth primitive of ``base`` in the forward pass too.

    A network run with ``Smoothed(s)`` is an ordinary differentiable function; its exact
    gradient is what the surrogate path of ``s`` approximates. Used in tests (finite
    differences) and for annealing schemes. Note that the primitive is not always a 0..1
    step (the fast sigmoid's runs from -1/k to 1/k).
    """

    base: Surrogate = FastSigmoid()
    name: ClassVar[str] = "smoothed"

    def __init__(self, base: Surrogate = FastSigmoid()) -> None:
        if not isinstance(base, Surrogate):
            raise TypeError(f"base must be a Surrogate, got {type(base).__name__}")
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "slope", base.slope)

    def __call__(self, x: Tensor) -> Tensor:
        return self.base.primitive(x)

    def grad(self, x: Tensor) -> Tensor:
        return self.base.grad(x)

    def primitive(self, x: Tensor) -> Tensor:
        return self.base.primitive(x)


SurrogateLike = Surrogate | str
SpikeFn = Callable[[Tensor], Tensor]


def resolve(surrogate: SurrogateLike) -> Surrogate:
    """Accept a surrogate object or a registered name (default slope)."""
    if isinstance(surrogate, Surrogate):
        return surrogate
    if isinstance(surrogate, str):
        return get(surrogate)
    raise TypeError(
        f"surrogate must be a Surrogate or a registered name, got {type(surrogate).__name__}"
    )
