"""The CPU kernels' buffer cache.

The fused CPU kernels allocate their large outputs (spikes ``[T, N]``, spike bytes, state
checkpoints, input gradients: every buffer of 1 MiB or more) from a cache instead of from
torch's CPU allocator. glibc gives a freed block of tens of megabytes back to the operating
system, so the next training step, asking for the same sizes, writes into freshly mapped pages;
from the cache it writes into the memory the previous step used. On the ``onb`` benchmark
(T = 500, 8192 neurons, 1 thread) the step went from 1.16-1.24x to 1.09-1.13x the floor
(``benchmarks/bench_cache.py``). A freed buffer waits in the cache for the next request that
it fits (at most 1/8 larger), like a caching GPU allocator.

The cache holds at most ``AXONAL_CPU_CACHE_MB`` megabytes of free buffers (default 1024; 0
turns it off), read when the kernels load; :func:`set_cpu_cache_limit` changes it at run time
and :func:`empty_cpu_cache` frees what is held. Buffers in use are never counted or freed.
Tensors from the cache are ordinary CPU tensors except that their storage cannot be resized
(``resize_`` to a larger size fails); copy one first if you must.
"""

from __future__ import annotations

from axonal.native_build import load_cpu_extension, loaded_extension

__all__ = ["cpu_cache_bytes", "empty_cpu_cache", "set_cpu_cache_limit"]


def cpu_cache_bytes() -> int:
    """Bytes of free buffers held by the cache (0 if the CPU kernels are not loaded)."""
    ext = loaded_extension("fused")
    return int(ext.cache_bytes()) if ext is not None else 0


def empty_cpu_cache() -> int:
    """Free every buffer held by the cache; returns the bytes released (nothing to do, and
    nothing built, if the CPU kernels are not loaded)."""
    ext = loaded_extension("fused")
    return int(ext.cache_clear()) if ext is not None else 0


def set_cpu_cache_limit(megabytes: float) -> None:
    """Hold at most ``megabytes`` of free buffers from now on (0: no caching); loads (and on
    first use builds) the CPU kernels so that the limit holds for them."""
    if isinstance(megabytes, bool) or not isinstance(megabytes, (int, float)) or not megabytes >= 0:
        raise ValueError(f"megabytes must be a number >= 0, got {megabytes!r}")
    ext = load_cpu_extension()
    if ext is not None:
        ext.cache_set_limit(int(megabytes * 2**20))
