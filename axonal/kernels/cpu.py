"""Registration of the compiled CPU kernels (backend ``"cpp"``, device ``"cpu"``)."""

from __future__ import annotations

from axonal.kernels._build import load_cpu_extension
from axonal.kernels.linear import (
    alif_run,
    alif_unsupported,
    cuba_lif_run,
    cuba_lif_unsupported,
    lif_run,
    lif_unsupported,
)
from axonal.kernels.registry import Kernel, register_kernel

__all__ = ["cpu_available"]


def cpu_available() -> bool:
    """Whether the compiled extension loads (compiling it on the first call)."""
    return load_cpu_extension() is not None


register_kernel(Kernel("lif", "cpp", "cpu", lif_run, lif_unsupported, cpu_available))
register_kernel(Kernel("alif", "cpp", "cpu", alif_run, alif_unsupported, cpu_available))
register_kernel(
    Kernel("cuba_lif", "cpp", "cpu", cuba_lif_run, cuba_lif_unsupported, cpu_available)
)
