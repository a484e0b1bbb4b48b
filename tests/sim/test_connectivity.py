"""Connectivity rules: exact structure, statistics, switches, seeding, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from axonal.sim.connectivity import (
    AllToAll,
    Bernoulli,
    FixedInDegree,
    FixedOutDegree,
    FromArrays,
    OneToOne,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pairs(pre: torch.Tensor, post: torch.Tensor) -> set[tuple[int, int]]:
    return set(zip(pre.tolist(), post.tolist()))


def test_all_to_all_and_autapses() -> None:
    pre, post = AllToAll().build(3, 4, False, gen())
    assert pairs(pre, post) == {(i, j) for i in range(3) for j in range(4)}
    pre, post = AllToAll(autapses=False).build(4, 4, True, gen())
    assert len(pre) == 12 and not bool((pre == post).any())
    assert AllToAll(autapses=False).expected_count(4, 4, True) == 12
    # autapses only exist within one population
    assert len(AllToAll(autapses=False).build(4, 4, False, gen())[0]) == 16


def test_one_to_one() -> None:
    pre, post = OneToOne().build(5, 5, False, gen())
    assert pre.tolist() == post.tolist() == list(range(5))
    with pytest.raises(ValueError, match="equal sizes"):
        OneToOne().check(5, 6, False)


def test_bernoulli_statistics_and_autapses() -> None:
    n, p = 600, 0.05
    pre, post = Bernoulli(p, autapses=False).build(n, n, True, gen(3))
    expected = p * (n * n - n)
    assert abs(len(pre) - expected) < 5 * math.sqrt(expected * (1 - p))
    assert not bool((pre == post).any())
    assert len(pairs(pre, post)) == len(pre)  # no multapses
    # in-degrees are binomial: mean p (n - 1), variance p (1 - p)(n - 1)
    indeg = np.bincount(post.numpy(), minlength=n)
    assert abs(indeg.mean() - p * (n - 1)) < 0.5
    assert 0.7 < indeg.var() / (p * (1 - p) * (n - 1)) < 1.3
    # spread over the whole range of sources and targets
    assert pre.min() < 10 and pre.max() > n - 10 and post.min() < 10 and post.max() > n - 10


def test_bernoulli_edges() -> None:
    assert len(Bernoulli(0.0).build(10, 10, False, gen())[0]) == 0
    pre, _ = Bernoulli(1.0, autapses=False).build(10, 10, True, gen())
    assert len(pre) == 90
    a = Bernoulli(0.1).build(200, 300, False, gen(7))
    b = Bernoulli(0.1).build(200, 300, False, gen(7))
    c = Bernoulli(0.1).build(200, 300, False, gen(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (len(a[0]) == len(c[0]) and torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bernoulli_rejects_p(p: float) -> None:
    with pytest.raises(ValueError, match="p must be in"):
        Bernoulli(p)


def test_bernoulli_rejects_p_type() -> None:
    with pytest.raises(TypeError, match="p must be"):
        Bernoulli("0.1")  # type: ignore[arg-type]


@pytest.mark.parametrize("n_pre", [50, 30_000])  # dense and sparse drawing paths
def test_fixed_in_degree(n_pre: int) -> None:
    n_post, k = 800, 20
    rule = FixedInDegree(k, autapses=False)
    same = n_pre == n_post
    pre, post = rule.build(n_pre, n_post, same, gen(1))
    assert np.all(np.bincount(post.numpy(), minlength=n_post) == k)
    assert len(pairs(pre, post)) == len(pre)  # no multapses
    assert int(pre.min()) >= 0 and int(pre.max()) < n_pre
    # sources are drawn uniformly: out-degrees average k n_post / n_pre
    outdeg = np.bincount(pre.numpy(), minlength=n_pre)
    assert abs(outdeg.mean() - k * n_post / n_pre) < 1e-9


def test_fixed_in_degree_sparse_path_without_autapses() -> None:
    n = 6000  # 6000^2 pairs: the sparse (rejection) path
    pre, post = FixedInDegree(30, autapses=False).build(n, n, True, gen(2))
    assert not bool((pre == post).any())
    assert np.all(np.bincount(post.numpy(), minlength=n) == 30)
    assert len(pairs(pre, post)) == len(pre)


def test_fixed_in_degree_dense_without_autapses_uses_all_others() -> None:
    pre, post = FixedInDegree(9, autapses=False).build(10, 10, True, gen())
    assert pairs(pre, post) == {(i, j) for i in range(10) for j in range(10) if i != j}


def test_fixed_in_degree_k_too_large() -> None:
    with pytest.raises(ValueError, match="larger than the 9 allowed sources"):
        FixedInDegree(10, autapses=False).check(10, 10, True)
    with pytest.raises(ValueError, match="k=11"):
        FixedInDegree(11).check(10, 5, False)
    # with multapses k may exceed the source population
    pre, post = FixedInDegree(25, multapses=True, autapses=False).build(10, 10, True, gen())
    assert len(pre) == 250 and not bool((pre == post).any())
    assert len(pairs(pre, post)) < 250


def test_fixed_out_degree() -> None:
    pre, post = FixedOutDegree(7, autapses=False).build(100, 100, True, gen(4))
    assert np.all(np.bincount(pre.numpy(), minlength=100) == 7)
    assert not bool((pre == post).any()) and len(pairs(pre, post)) == 700
    with pytest.raises(ValueError, match="k=101"):
        FixedOutDegree(101).check(5, 100, False)


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_degree_type_checks(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="k"):
        FixedInDegree(bad)  # type: ignore[arg-type]


def test_from_arrays() -> None:
    rule = FromArrays(torch.tensor([0, 2, 2]), torch.tensor([1, 1, 0]))
    pre, post = rule.build(3, 2, False, gen())
    assert pre.tolist() == [0, 2, 2] and post.tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="same length"):
        FromArrays(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"post indices must be in \[0, 2\)"):
        FromArrays([0], [2]).check(3, 2, False)
    with pytest.raises(TypeError, match="pre must be a 1-D integer array"):
        FromArrays(torch.tensor([0.5]), torch.tensor([0]))


def test_direct_csr_build_equals_the_generic_build() -> None:
    from axonal.sim.delivery import build_table
    from axonal.sim.native import native_available

    if not native_available():
        pytest.skip("no C compiler here")
    for rule, same in ((FixedInDegree(7, multapses=True, autapses=False), True),
                       (FixedInDegree(12), False)):
        direct = rule.build_csr(300, 200 if not same else 300, same, gen(9))
        pre, post = rule.build(300, 200 if not same else 300, same, gen(9))
        table = build_table(300, pre, post, torch.tensor(1.0), 1)
        assert direct is not None
        assert torch.equal(direct[0], table.indptr) and torch.equal(direct[1], table.post)
        assert direct[1].dtype == torch.int32


def test_fixed_total_number() -> None:
    from axonal.sim.connectivity import FixedTotalNumber

    pre, post = FixedTotalNumber(5000, autapses=False).build(40, 40, True, gen(2))
    assert len(pre) == 5000 and not bool((pre == post).any())
    assert len(pairs(pre, post)) < 5000  # multapses (40 * 39 pairs only)
    counts = np.bincount(pre.numpy(), minlength=40)
    assert counts.min() > 70 and counts.max() < 190  # uniform sources (mean 125)
    with pytest.raises(ValueError, match="n must be"):
        FixedTotalNumber(-1)
