"""Seeded random values per synapse or neuron: weights, delays, initial states.

A draw is any ``draw(generator, count) -> [count]`` tensor. :class:`ClippedNormal` is the one
the reference networks use; it is a record (not a closure), so two recipes compare equal and
a weight draw can be rescaled exactly (:func:`scale_weight`, for the synapse models whose
tables hold the stated weight times a factor of ``dt``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

import torch
from torch import Tensor

from axonal.errors import NonFiniteError
from axonal.functional.validate import check_finite_scalar

__all__ = ["Draw", "ClippedNormal", "scale_weight", "check_finite_values"]

Draw = Callable[[torch.Generator, int], Tensor]
"""A random value per synapse or neuron: ``draw(generator, count) -> [count]`` tensor."""


def check_finite_values(what: str, value: float | Tensor) -> None:
    """Raise :class:`~axonal.errors.NonFiniteError` naming ``what`` (e.g. ``"population
    'E': init['v']"``) unless every value of ``value`` is finite."""
    if isinstance(value, Tensor):
        with torch.no_grad():
            bad = ~torch.isfinite(value) if value.is_floating_point() else None
            if bad is not None and bool(bad.any()):
                nan = int(torch.isnan(value).sum())
                raise NonFiniteError(
                    f"{what} must be finite, got {nan} NaN and {int(bad.sum()) - nan} inf "
                    f"of {value.numel()} values")
    elif not math.isfinite(float(value)):
        raise NonFiniteError(f"{what} must be finite, got {value}")


@dataclass(frozen=True)
class ClippedNormal:
    """Normal values ``mean + sd N(0, 1)`` with ``sd = rel_sd |mean|``, clipped at zero so
    none has the opposite sign of ``mean`` (drawn in float32).

    Args:
        mean: the mean, in the unit of what is drawn (nA, uS, s).
        rel_sd: the standard deviation as a fraction of ``|mean|`` (Potjans & Diesmann 2014
            state theirs so: 10 % for weights, 50 % for delays).
    """

    mean: float
    rel_sd: float

    def __post_init__(self) -> None:
        check_finite_scalar("mean", self.mean)
        check_finite_scalar("rel_sd", self.rel_sd)
        if self.rel_sd < 0:
            raise ValueError(f"rel_sd must be >= 0, got {self.rel_sd}")

    def __call__(self, generator: torch.Generator, n: int) -> Tensor:
        sd = abs(self.mean) * self.rel_sd
        x = self.mean + sd * torch.randn(n, generator=generator, dtype=torch.float32)
        return x.clamp(min=0.0) if self.mean >= 0 else x.clamp(max=0.0)

    def scaled(self, factor: float) -> ClippedNormal:
        """The same draw of ``factor`` times the values (the same random numbers)."""
        return ClippedNormal(self.mean * factor, self.rel_sd)


Weight = Union[float, Tensor, Draw]


def scale_weight(weight: Weight, factor: float) -> Weight:
    """``weight`` times ``factor``: a float, a tensor, or a draw of scaled values.

    A :class:`ClippedNormal` scales its mean (its deviation follows), so the values are those
    it would draw with that mean; any other draw's values are multiplied after drawing.
    """
    if factor == 1.0:
        return weight
    if isinstance(weight, Tensor):
        return weight * factor
    if isinstance(weight, ClippedNormal):
        return weight.scaled(factor)
    if callable(weight):
        draw = weight

        def scaled(generator: torch.Generator, n: int) -> Tensor:
            return torch.as_tensor(draw(generator, n)) * factor

        return scaled
    return float(weight) * factor
