"""Seeded connectivity rules: which (pre, post) pairs a projection connects.

Every rule is a small frozen dataclass with

* ``check(n_pre, n_post, same)``: raises ``ValueError`` for impossible parameters (called
  before anything is allocated);
* ``expected_count(n_pre, n_post, same)``: the (expected) number of synapses, used for the
  memory estimate;
* ``build(n_pre, n_post, same, generator)``: returns ``(pre, post)`` int64 index tensors.

``same`` tells whether source and target are the same population (only then do autapses,
``pre == post``, exist). All randomness comes from the ``torch.Generator`` passed in, so a
seeded network is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from axonal.functional.validate import check_bool, check_int

__all__ = [
    "Connectivity",
    "AllToAll",
    "OneToOne",
    "Bernoulli",
    "FixedInDegree",
    "FixedOutDegree",
    "FromArrays",
    "FixedTotalNumber",
]

_DENSE_LIMIT = 20_000_000  # pairs: below this a dense draw is cheap


class Connectivity(Protocol):
    """A connectivity rule (see the module docstring)."""

    def check(self, n_pre: int, n_post: int, same: bool) -> None: ...

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int: ...

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]: ...


@dataclass(frozen=True)
class AllToAll:
    """Every source to every target (``autapses=False`` drops ``pre == post``)."""

    autapses: bool = True

    def __post_init__(self) -> None:
        check_bool("autapses", self.autapses)

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        pass

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return n_pre * n_post - (n_pre if same and not self.autapses else 0)

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        pre = torch.arange(n_pre).repeat_interleave(n_post)
        post = torch.arange(n_post).repeat(n_pre)
        if same and not self.autapses:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post


@dataclass(frozen=True)
class OneToOne:
    """Source ``i`` to target ``i``; both populations must have the same size."""

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        if n_pre != n_post:
            raise ValueError(
                f"connectivity OneToOne needs equal sizes, got pre {n_pre} and post {n_post}"
            )

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return n_pre

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        self.check(n_pre, n_post, same)
        idx = torch.arange(n_pre)
        return idx, idx.clone()


@dataclass(frozen=True)
class Bernoulli:
    """Each (pre, post) pair independently with probability ``p``.

    Drawn in O(number of synapses) by geometric skips over the flattened pair index, so a
    sparse network of any size is built without an ``n_pre x n_post`` mask.
    """

    p: float
    autapses: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)):
            raise TypeError(f"p must be a float, got {type(self.p).__name__}")
        if not 0.0 <= self.p <= 1.0 or math.isnan(self.p):
            raise ValueError(f"p must be in [0, 1], got {self.p}")
        check_bool("autapses", self.autapses)

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        pass

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int:
        pairs = n_pre * n_post - (n_pre if same and not self.autapses else 0)
        return int(math.ceil(self.p * pairs))

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        total = n_pre * n_post
        if self.p == 0.0 or total == 0:
            flat = torch.zeros(0, dtype=torch.int64)
        elif self.p == 1.0:
            flat = torch.arange(total)
        else:
            chunks: list[Tensor] = []
            position = -1
            mean = self.p * total
            while True:
                size = int(mean + 6 * math.sqrt(mean) + 16) if not chunks else int(mean // 4 + 16)
                gaps = torch.empty(size, dtype=torch.float64).geometric_(self.p, generator=generator)
                flat_chunk = position + torch.cumsum(gaps.to(torch.int64), 0)
                if int(flat_chunk[-1]) >= total:
                    chunks.append(flat_chunk[flat_chunk < total])
                    break
                chunks.append(flat_chunk)
                position = int(flat_chunk[-1])
            flat = torch.cat(chunks)
        pre, post = flat // n_post, flat % n_post
        if same and not self.autapses:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post


def _argsort(keys: Tensor) -> Tensor:
    """Stable argsort of a 1-D integer tensor (NumPy's is several times faster than torch's
    on CPU for int64 keys)."""
    return torch.from_numpy(np.argsort(keys.numpy(), kind="stable"))


def _draw_without_replacement(
    rows: int, k: int, n: int, forbid_diagonal: bool, generator: torch.Generator
) -> Tensor:
    """``[rows, k]`` distinct indices in ``[0, n)`` per row (row ``i`` never ``i`` if asked)."""
    if rows * n <= _DENSE_LIMIT:
        keys = torch.rand(rows, n, generator=generator)
        if forbid_diagonal:
            diag = torch.arange(min(rows, n))
            keys[diag, diag] = 2.0  # sorted last
        return keys.argsort(dim=1)[:, :k]
    # Sparse regime (k << n): draw with replacement, redraw duplicates until none remain;
    # after the first pass only the rows that had a redraw are checked again.
    out = torch.randint(0, n, (rows, k), generator=generator)
    todo = torch.arange(rows)
    while todo.numel():
        sub = out[todo]
        keys = (torch.arange(todo.numel()).unsqueeze(1) * n + sub).reshape(-1)
        order = _argsort(keys)
        sorted_keys = keys[order]
        dup = torch.zeros_like(keys, dtype=torch.bool)
        dup[order[1:]] = sorted_keys[1:] == sorted_keys[:-1]
        bad = dup.reshape(sub.shape)
        if forbid_diagonal:
            bad |= sub == todo.unsqueeze(1)
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        sub[bad] = torch.randint(0, n, (n_bad,), generator=generator)
        out[todo] = sub
        todo = todo[bad.any(dim=1)]
    return out


def _randint32(n: int, rows: int, k: int, generator: torch.Generator) -> Tensor:
    """``[rows, k]`` uniform ints in ``[0, n)``, int32 when ``n`` fits, drawn in chunks of rows
    (no int64 array of the full size)."""
    dtype = torch.int32 if n < 2**31 else torch.int64
    out = torch.empty(rows, k, dtype=dtype)
    step = max(1, (1 << 22) // max(k, 1))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        out[r0:r1] = torch.randint(0, n, (r1 - r0, k), generator=generator)
    return out


def _draw_degree(
    rows: int, k: int, n: int, same: bool, autapses: bool, multapses: bool,
    generator: torch.Generator,
) -> Tensor:
    forbid = same and not autapses
    if multapses:
        out = _randint32(n, rows, k, generator)
        if forbid:
            row_ids = torch.arange(rows).unsqueeze(1).expand(rows, k)
            while True:
                bad = out == row_ids
                n_bad = int(bad.sum())
                if n_bad == 0:
                    break
                out[bad] = torch.randint(0, n, (n_bad,), generator=generator).to(out.dtype)
        return out
    return _draw_without_replacement(rows, k, n, forbid, generator)


def _check_degree(name: str, k: int, n_source: int, same: bool, autapses: bool,
                  multapses: bool) -> None:
    available = n_source - (1 if same and not autapses else 0)
    if available <= 0 and k > 0:
        raise ValueError(f"{name}: no allowed source for k={k}")
    if not multapses and k > available:
        raise ValueError(
            f"{name}: k={k} is larger than the {available} allowed sources "
            f"without multapses (set multapses=True or lower k)"
        )


@dataclass(frozen=True)
class _FixedDegree:
    """Shared fields and validation of the fixed in- and out-degree rules."""

    k: int
    autapses: bool = True
    multapses: bool = False

    def __post_init__(self) -> None:
        check_int("k", self.k, minimum=0)
        check_bool("autapses", self.autapses)
        check_bool("multapses", self.multapses)


@dataclass(frozen=True)
class FixedInDegree(_FixedDegree):
    """Every target receives exactly ``k`` synapses from sources drawn uniformly."""

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        _check_degree("FixedInDegree", self.k, n_pre, same, self.autapses, self.multapses)

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return self.k * n_post

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        self.check(n_pre, n_post, same)
        src = _draw_degree(n_post, self.k, n_pre, same, self.autapses, self.multapses, generator)
        post = torch.arange(n_post).repeat_interleave(self.k)
        return src.reshape(-1).to(torch.int64), post

    def build_csr(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor] | None:
        """``(indptr, post int32)`` in source order straight from the draw (about 8 bytes per
        synapse at the peak instead of ~40); the same synapses as :meth:`build`. ``None`` when
        the native library is not available."""
        from axonal.sim.native import csr_fill_indegree, native_available

        if not native_available():
            return None
        self.check(n_pre, n_post, same)
        src = _draw_degree(n_post, self.k, n_pre, same, self.autapses, self.multapses,
                           generator).reshape(-1)
        indptr = torch.zeros(n_pre + 1, dtype=torch.int64)
        torch.cumsum(torch.bincount(src, minlength=n_pre), 0, out=indptr[1:])
        post = csr_fill_indegree(src, self.k, indptr)
        assert post is not None
        return indptr, post


@dataclass(frozen=True)
class FixedOutDegree(_FixedDegree):
    """Every source sends exactly ``k`` synapses to targets drawn uniformly."""

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        _check_degree("FixedOutDegree", self.k, n_post, same, self.autapses, self.multapses)

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return self.k * n_pre

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        self.check(n_pre, n_post, same)
        dst = _draw_degree(n_pre, self.k, n_post, same, self.autapses, self.multapses, generator)
        pre = torch.arange(n_pre).repeat_interleave(self.k)
        return pre, dst.reshape(-1)


@dataclass(frozen=True, eq=False)
class FromArrays:
    """Explicit synapses: ``pre[i] -> post[i]`` (weights and delays go to the Projection)."""

    pre: Tensor
    post: Tensor

    def __post_init__(self) -> None:
        for name in ("pre", "post"):
            value = getattr(self, name)
            if not isinstance(value, Tensor):
                object.__setattr__(self, name, torch.as_tensor(value))
            value = getattr(self, name)
            if value.dtype.is_floating_point or value.dtype == torch.bool or value.ndim != 1:
                raise TypeError(f"{name} must be a 1-D integer array, got {value.dtype} "
                                f"of shape {tuple(value.shape)}")
        if self.pre.shape != self.post.shape:
            raise ValueError(
                f"pre and post must have the same length, got {self.pre.numel()} "
                f"and {self.post.numel()}"
            )

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        for name, arr, n in (("pre", self.pre, n_pre), ("post", self.post, n_post)):
            if arr.numel() and (int(arr.min()) < 0 or int(arr.max()) >= n):
                raise ValueError(f"{name} indices must be in [0, {n}), got "
                                 f"[{int(arr.min())}, {int(arr.max())}]")

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return int(self.pre.numel())

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        self.check(n_pre, n_post, same)
        return self.pre.to(torch.int64), self.post.to(torch.int64)


@dataclass(frozen=True)
class FixedTotalNumber:
    """Exactly ``n`` synapses between uniformly drawn (pre, post) pairs, with multapses (as
    NEST's ``fixed_total_number``); ``autapses=False`` redraws ``pre == post`` pairs."""

    n: int
    autapses: bool = True

    def __post_init__(self) -> None:
        check_int("n", self.n, minimum=0)
        check_bool("autapses", self.autapses)

    def check(self, n_pre: int, n_post: int, same: bool) -> None:
        if same and not self.autapses and n_pre < 2 and self.n > 0:
            raise ValueError("FixedTotalNumber: no allowed pair without autapses")

    def expected_count(self, n_pre: int, n_post: int, same: bool) -> int:
        return self.n

    def build(
        self, n_pre: int, n_post: int, same: bool, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        self.check(n_pre, n_post, same)
        pre = _randint32(n_pre, self.n, 1, generator).reshape(-1).to(torch.int64)
        post = _randint32(n_post, self.n, 1, generator).reshape(-1).to(torch.int64)
        if same and not self.autapses:
            while True:
                bad = pre == post
                n_bad = int(bad.sum())
                if n_bad == 0:
                    break
                pre[bad] = torch.randint(0, n_pre, (n_bad,), generator=generator)
        return pre, post
