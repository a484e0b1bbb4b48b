"""Registration of the compiled CPU kernels (backend ``"cpp"``, device ``"cpu"``)."""

from __future__ import annotations

from axonal.kernels.linear import ADAPTERS
from axonal.kernels.registry import Kernel, register_kernel
from axonal.native_build import load_cpu_extension

__all__ = ["cpu_available"]


def cpu_available() -> bool:
    """Whether the compiled extension loads (compiling it on the first call)."""
    return load_cpu_extension() is not None


for _family, (_run, _unsupported) in ADAPTERS.items():
    register_kernel(Kernel(_family, "cpp", "cpu", _run, _unsupported, cpu_available))
