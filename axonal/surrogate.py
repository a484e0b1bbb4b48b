"""Public home of the surrogate gradients (implemented in :mod:`axonal.functional.surrogate`)."""

from axonal.functional.surrogate import (
    ArcTan,
    FastSigmoid,
    Sigmoid,
    Smoothed,
    StraightThrough,
    Surrogate,
    Triangle,
    get,
    heaviside,
    names,
    register,
    resolve,
)

__all__ = [
    "ArcTan",
    "FastSigmoid",
    "Sigmoid",
    "Smoothed",
    "StraightThrough",
    "Surrogate",
    "Triangle",
    "get",
    "heaviside",
    "names",
    "register",
    "resolve",
]
