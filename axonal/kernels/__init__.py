"""Fused multi-step kernels behind one registry (see :mod:`axonal.kernels.registry`).

Importing this package registers the compiled CPU kernels (built at first use) and, where
Triton is importable, the GPU kernels. ``NeuronLayer(backend="auto")`` uses them.
"""

from axonal.kernels import cpu as _cpu  # noqa: F401  (registers the "cpp" kernels)
from axonal.kernels import gpu as _gpu  # noqa: F401  (registers the "triton" kernels)

from axonal.kernels.cache import cpu_cache_bytes, empty_cpu_cache, set_cpu_cache_limit
from axonal.kernels.registry import (
    BACKENDS,
    Kernel,
    check_backend,
    get_kernel,
    kernels,
    register_kernel,
    select,
)
from axonal.native_build import build_seconds, cpu_extension_error, load_cpu_extension

__all__ = [
    "BACKENDS",
    "Kernel",
    "build_seconds",
    "check_backend",
    "cpu_cache_bytes",
    "cpu_extension_error",
    "empty_cpu_cache",
    "get_kernel",
    "kernels",
    "load_cpu_extension",
    "register_kernel",
    "select",
    "set_cpu_cache_limit",
]
