"""The CPU kernels' buffer cache: reuse, limits, and results that do not depend on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from axonal.kernels import cpu_cache_bytes, empty_cpu_cache, set_cpu_cache_limit
from axonal.kernels.cpu import cpu_available

pytestmark = pytest.mark.skipif(not cpu_available(), reason="compiled CPU kernels unavailable")

T, N = 40, 8192  # [T, N] float32 = 1.25 MiB: above the cache's 1 MiB threshold


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    set_cpu_cache_limit(256)
    empty_cpu_cache()
    yield
    empty_cpu_cache()
    set_cpu_cache_limit(1024)


def _lif(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    from axonal.kernels import ops

    n = x.shape[1]
    full = lambda v: torch.full((n,), v)  # noqa: E731
    return tuple(ops.lif_forward(x, full(0.0), full(0.0), full(0.9), full(1.0), full(0.0),
                                 full(10.0), full(0.0), 0, True, 0, 25.0, 32, 0.0, 1e-3, 0.999e-3))


def _backward(x: torch.Tensor, fwd: tuple[torch.Tensor, ...]) -> torch.Tensor:
    from axonal.kernels import ops

    n = x.shape[1]
    full = lambda v: torch.full((n,), v)  # noqa: E731
    g = torch.ones(T, n)
    return ops.lif_backward(g, full(0.0), full(0.0), x, fwd[-1], fwd[-2], full(0.9), full(1.0),
                            full(0.0), full(10.0), full(0.0), 0, True, 0, 25.0, 32, 0.0, 1e-3,
                            0.999e-3)[0]


def test_freed_outputs_are_reused() -> None:
    gen = torch.Generator().manual_seed(0)
    x1, x2 = (torch.randn(T, N, generator=gen) * 0.5 for _ in range(2))
    fwd = _lif(x1)
    first = fwd[0].data_ptr()
    assert cpu_cache_bytes() == 0
    del fwd
    held = cpu_cache_bytes()
    assert held >= T * N * 4  # the spikes' buffer came back
    fwd = _lif(x2)
    assert fwd[0].data_ptr() == first and cpu_cache_bytes() < held


def test_results_do_not_depend_on_the_cache() -> None:
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(T, N, generator=gen) * 0.5 for _ in range(3)]
    cached = []
    for x in xs:  # each call reuses the buffers the previous one freed
        fwd = _lif(x)
        cached.append((fwd[0].clone(), _backward(x, fwd).clone()))
        del fwd
    set_cpu_cache_limit(0)
    assert cpu_cache_bytes() == 0
    for x, (spikes, grad) in zip(xs, cached):
        fwd = _lif(x)
        assert torch.equal(fwd[0], spikes) and torch.equal(_backward(x, fwd), grad)
        del fwd
        assert cpu_cache_bytes() == 0  # limit 0: nothing is kept


def test_empty_cache_releases_free_buffers_only() -> None:
    x = torch.randn(T, N)
    keep = _lif(x)
    other = _lif(x)
    expected = keep[0].clone()
    del other
    released = empty_cpu_cache()
    assert released >= T * N * 4 and cpu_cache_bytes() == 0
    assert torch.equal(keep[0], expected)  # a buffer in use is untouched
    del keep
    assert cpu_cache_bytes() >= T * N * 4


def test_limit_bounds_what_is_held() -> None:
    set_cpu_cache_limit(1.5)  # room for one 1.25 MiB buffer, not two
    x = torch.randn(T, N)
    a, b = _lif(x), _lif(x)
    del a, b
    assert T * N * 4 <= cpu_cache_bytes() <= 1.5 * 2**20


@pytest.mark.parametrize("bad", [-1, float("nan"), "1", True])
def test_limit_must_be_a_non_negative_number(bad: object) -> None:
    with pytest.raises(ValueError, match="megabytes must be a number >= 0"):
        set_cpu_cache_limit(bad)  # type: ignore[arg-type]
