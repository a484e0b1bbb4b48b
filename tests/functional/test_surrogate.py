"""Contract of every registered surrogate: grad = d(primitive)/dx, Heaviside forward."""

from __future__ import annotations

import pickle

import pytest
import torch

from axonal.functional import surrogate
from axonal.functional.surrogate import (
    ArcTan,
    FastSigmoid,
    Sigmoid,
    Smoothed,
    StraightThrough,
    Surrogate,
    Triangle,
    heaviside,
)

NAMES = [n for n in surrogate.names() if n != "smoothed"]
SLOPES = (0.5, 1.0, 3.0)


def sample_points(s: Surrogate) -> torch.Tensor:
    """Many float64 points over the active range, away from the triangle's kinks."""
    gen = torch.Generator().manual_seed(0)
    width = 4.0 / s.slope
    x = (2.0 * torch.rand(2000, generator=gen, dtype=torch.float64) - 1.0) * width
    if isinstance(s, Triangle):
        kinks = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) / s.slope
        far = (x[:, None] - kinks[None, :]).abs().min(dim=1).values > 1e-4
        x = x[far]
    return x


def test_registry_lists_the_built_in_surrogates() -> None:
    assert set(NAMES) >= {"fast_sigmoid", "atan", "sigmoid", "triangle", "straight_through"}
    assert isinstance(surrogate.get("atan"), ArcTan)
    assert surrogate.get("fast_sigmoid", slope=7.0) == FastSigmoid(slope=7.0)


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("name", NAMES)
def test_grad_is_the_derivative_of_the_primitive(name: str, slope: float) -> None:
    s = surrogate.get(name, slope=slope)
    x = sample_points(s)
    assert x.numel() > 1500
    h = 1e-6
    fd = (s.primitive(x + h) - s.primitive(x - h)) / (2 * h)
    torch.testing.assert_close(s.grad(x), fd, rtol=1e-6, atol=1e-8)
    # grad really changes with slope (the test would catch a slope ignored by grad)
    wider = surrogate.get(name, slope=2 * slope)
    assert not torch.allclose(wider.grad(x), s.grad(x))


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_strict_heaviside(name: str) -> None:
    s = surrogate.get(name)
    x = torch.tensor([-2.0, -1e-9, 0.0, 1e-9, 3.0], dtype=torch.float64)
    expected = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.equal(s(x), expected)
    xg = x.clone().requires_grad_(True)
    out = s(xg)
    assert torch.equal(out.detach(), expected)
    assert out.dtype == torch.float64
    assert torch.equal(heaviside(x), expected)


@pytest.mark.parametrize("name", NAMES)
def test_backward_through_call_equals_grad(name: str) -> None:
    s = surrogate.get(name, slope=2.0)
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(300, generator=gen, dtype=torch.float64)).requires_grad_(True)
    weight = torch.randn(300, generator=gen, dtype=torch.float64)
    (s(x) * weight).sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, weight * s.grad(x.detach()), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_surrogates_pickle_round_trip(name: str) -> None:
    s = surrogate.get(name, slope=3.5)
    back = pickle.loads(pickle.dumps(s))
    assert back == s and type(back) is type(s)
    x = torch.linspace(-1, 1, 11, dtype=torch.float64)
    assert torch.equal(back.grad(x), s.grad(x))
    smooth = Smoothed(base=s)
    smooth_back = pickle.loads(pickle.dumps(smooth))
    assert smooth_back == smooth
    assert torch.equal(smooth_back(x), s.primitive(x))


def test_smoothed_forward_is_the_primitive_and_differentiable() -> None:
    base = ArcTan(slope=3.0)
    smooth = Smoothed(base=base)
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    out = smooth(x)
    torch.testing.assert_close(out, base.primitive(x))
    out.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, base.grad(x.detach()))
    with pytest.raises(TypeError, match="base"):
        Smoothed(base="atan")  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [FastSigmoid, ArcTan, Sigmoid, Triangle, StraightThrough])
def test_bad_slope_raises(cls: type[Surrogate]) -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="slope"):
            cls(slope=bad)
    for wrong in ("2", None, True):
        with pytest.raises(TypeError, match="slope"):
            cls(slope=wrong)  # type: ignore[arg-type]


def test_get_errors_and_resolve() -> None:
    with pytest.raises(ValueError, match="unknown surrogate 'nope'"):
        surrogate.get("nope")
    with pytest.raises(TypeError, match="surrogate name"):
        surrogate.get(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slope"):
        surrogate.get("atan", slope=-2.0)
    assert surrogate.resolve("sigmoid") == Sigmoid()
    s = Triangle(slope=2.0)
    assert surrogate.resolve(s) is s
    with pytest.raises(TypeError, match="surrogate"):
        surrogate.resolve(1.0)  # type: ignore[arg-type]
    assert surrogate.names() == sorted(surrogate.names())
