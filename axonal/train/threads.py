"""How many threads training uses, and results that do not depend on that number.

**Results.** On CPU, the part of an axonal training step whose floating-point result changed
with the thread count was MKL's matrix product under ``nn.Linear`` / ``matmul``: with more than
one thread MKL splits a product into blocks whose sums it adds in a split-dependent order (or
computes with a different micro-kernel), so 1 and 2 threads gave weights differing in the last
bit after a few batches, and a different accuracy after a full demo run (98.00% vs 97.78%).
MKL's strict reproducibility mode (``MKL_CBWR=AUTO,STRICT``) does not cure it on every machine:
Intel documents it for Intel CPUs only, and on this project's AMD EPYC a 10 x 16 product still
differed between 1 and 2 threads in that mode. What does cure it everywhere:
:func:`thread_independent_blas` runs MKL on one thread for the calling thread
(``mkl_set_num_threads_local(1)``), while torch's own parallel loops keep every thread. Those
are already split so that no element's sum depends on the split: the fused neuron kernels
parallelise over neurons only (each neuron's time loop and parameter-gradient sum run in one
thread; forward, input and parameter gradients of LIF, CubaLIF and ALIF are bit-identical with
1, 2 and 3 threads), and ATen's elementwise ops and reductions gave identical bits too.
:func:`axonal.train.loop.fit` and :func:`~axonal.train.loop.evaluate` run inside it (after one
warm-up pass, since a compiled extension's first parallel loop resets MKL's count: see
:meth:`BlasPin.pin`), so training through them does not depend on the thread count
(``tests/train/test_threads.py``, in fresh processes too). The cost:
the products themselves no longer use several threads (the recipes' products are small).
Not covered: oneDNN convolutions, whose weight gradients vary with the thread count (the loop
does not use them unless the model does), and torch builds without MKL (their BLAS decides).

**Count.** torch starts with one intra-op thread per physical core, whatever else runs on
the machine. The small recipes (the digits demo, STDP on MNIST) run thousands of short
parallel regions per batch; each ends at a barrier, so on a busy machine every region waits
for a thread that another process has taken off its core, and training ran 4-10x slower with
torch's default than with one thread. Their default is therefore :data:`DEFAULT_THREADS` (1);
``0`` asks :func:`auto_threads` for the CPUs this process may use that are idle now.
"""

from __future__ import annotations

import ctypes
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import torch

__all__ = [
    "DEFAULT_THREADS",
    "MAX_THREADS",
    "auto_threads",
    "resolve_threads",
    "set_threads",
    "chosen_threads",
    "recipe_threads",
    "BlasPin",
    "blas_status",
    "thread_independent_blas",
]

DEFAULT_THREADS = 1
"""Intra-op threads of the small recipes unless the user chooses (see the module docstring)."""

_chosen: int | None = None
# torch's own default (one thread per physical core, or OMP_NUM_THREADS), as found when this
# module is first imported; auto_threads never goes above it (hyper-threads do not help)
_TORCH_DEFAULT = torch.get_num_threads()


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


MAX_THREADS = 1024
"""The largest thread count :func:`resolve_threads` accepts (the command line's bound too)."""


def auto_threads() -> int:
    """The CPUs this process may use (``os.sched_getaffinity``) minus the 1-minute load
    average, rounded down, at least 1 and at most torch's own default (one per physical core).

    On an idle 8-core machine this is 8 (or fewer physical cores); on a 2-core machine where
    two other jobs run it is 1.
    """
    cpus = _cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform
        load = 0.0
    idle = math.floor(cpus - load) if math.isfinite(load) else 1
    return max(1, min(cpus, idle, _TORCH_DEFAULT))


def resolve_threads(requested: int | None, default: int = DEFAULT_THREADS) -> int:
    """The thread count a recipe uses for ``requested``.

    Args:
        requested: ``None``: ``default``, unless ``OMP_NUM_THREADS`` is set, which then wins
            (as torch reads it at start-up); ``0``: :func:`auto_threads`; ``n >= 1``: ``n``.
        default: the recipe's default.

    Raises:
        TypeError: ``requested`` is not an int (or None).
        ValueError: ``requested`` is negative or above :data:`MAX_THREADS`.
    """
    if requested is None:
        if os.environ.get("OMP_NUM_THREADS", "").strip():
            return torch.get_num_threads()
        return default
    if isinstance(requested, bool) or not isinstance(requested, int):
        raise TypeError(f"threads must be an int, got {type(requested).__name__}")
    if not 0 <= requested <= MAX_THREADS:
        raise ValueError(f"threads must be between 0 (auto: idle CPUs) and {MAX_THREADS}, got {requested}")
    return auto_threads() if requested == 0 else requested


def set_threads(requested: int | None, default: int = DEFAULT_THREADS) -> int:
    """Set torch's intra-op thread count to :func:`resolve_threads` ``(requested, default)``,
    remember it as the user's choice (recipes then keep it), and return it."""
    global _chosen
    n = resolve_threads(requested, default)
    torch.set_num_threads(n)
    _chosen = n
    return n


def chosen_threads() -> int | None:
    """The count last set with :func:`set_threads`, or ``None`` if it was never called."""
    return _chosen


@contextmanager
def recipe_threads(requested: int | None = None, default: int = DEFAULT_THREADS) -> Iterator[int]:
    """Run a recipe with its thread count and put torch's count back afterwards.

    ``requested=None`` keeps a count chosen with :func:`set_threads` (the command line does
    this for ``--threads``), else uses ``default`` (or ``OMP_NUM_THREADS`` when set).
    """
    before = torch.get_num_threads()
    if requested is None and _chosen is not None:
        n = _chosen
    else:
        n = resolve_threads(requested, default)
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def _mkl_library() -> ctypes.CDLL | None:
    """The loaded library that holds torch's MKL (linked into libtorch_cpu on x86 builds)."""
    lib_dir = Path(torch.__file__).parent / "lib"
    for candidate in sorted(lib_dir.glob("libtorch_cpu*")) + sorted(lib_dir.glob("libmkl_rt*")):
        try:
            return ctypes.CDLL(str(candidate))
        except OSError:
            continue
    return None


class _Mkl(NamedTuple):
    set_local: Any
    max_threads: Any


def _mkl() -> _Mkl | None:
    """MKL's thread-count functions with C calling conventions, or None where unreachable.

    torch links MKL statically and exports its service layer under ``mkl_serv_*``; the plain
    ``mkl_*`` names in some builds are the Fortran bindings (arguments by pointer), so only
    the ``mkl_serv_*`` names are called with plain ints.
    """
    global _mkl_cached, _mkl_looked
    if _mkl_looked:
        return _mkl_cached
    _mkl_looked = True
    if not torch.backends.mkl.is_available():
        return None
    lib = _mkl_library()
    names = ("mkl_serv_set_num_threads_local", "mkl_serv_get_max_threads")
    if lib is None or not all(hasattr(lib, n) for n in names):
        return None
    set_local, max_threads = (getattr(lib, n) for n in names)
    set_local.argtypes, set_local.restype = [ctypes.c_int], ctypes.c_int
    max_threads.argtypes, max_threads.restype = [], ctypes.c_int
    _mkl_cached = _Mkl(set_local, max_threads)
    return _mkl_cached


_mkl_cached: _Mkl | None = None
_mkl_looked = False


def blas_status() -> str:
    """One line saying whether :func:`thread_independent_blas` can pin MKL in this process."""
    if _mkl() is None:
        return "torch's BLAS is not a reachable MKL: its products may depend on the thread count"
    return "MKL products on one thread (thread-count independent); torch's own loops on all threads"


class BlasPin:
    """What :func:`thread_independent_blas` yields: its status line and :meth:`pin`."""

    def __init__(self, mkl: _Mkl | None) -> None:
        self._mkl = mkl
        self.status = blas_status()

    def pin(self) -> None:
        """Set MKL's thread-local count to 1 again (cheap: one call into MKL).

        Needed because a compiled extension's *first* parallel loop on a thread runs ATen's
        lazy thread initialisation (its own copy of the inline, thread-local flag), which
        sets MKL's thread-local count back to torch's count: the fused CPU kernels do this
        on their first forward in a process. Call it after such a first use, e.g. at the
        start of every batch after a warm-up pass.
        """
        if self._mkl is not None:
            self._mkl.set_local(1)


@contextmanager
def thread_independent_blas() -> Iterator[BlasPin]:
    """Matrix products in this block give the same bits for any torch thread count.

    MKL runs single-threaded for the calling thread (``mkl_set_num_threads_local(1)``, put
    back on exit), while torch's own parallel loops, the fused neuron kernels included, keep
    their threads. Autograd runs a CPU backward pass on the thread that calls ``backward()``,
    so the backward products are covered too. ``torch.set_num_threads`` and the first
    parallel loop of a newly loaded extension undo the pin: re-assert it with the yielded
    :meth:`BlasPin.pin` (``fit`` warms the model up once, then pins at every batch).
    """
    mkl = _mkl()
    handle = BlasPin(mkl)
    if mkl is None:
        yield handle
        return
    previous = mkl.set_local(1)
    try:
        yield handle
    finally:
        mkl.set_local(previous)
