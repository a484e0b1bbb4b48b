"""C sources shared by every compiled part of axonal (headers only, no Python API).

* ``neuron_math.h``: the neuron equations (membrane charge and decay, adaptation, reset,
  surrogate gradients and their backward pieces), written once and included by the fused
  CPU kernels (``kernels/fused_cpu.cpp``), the event-driven kernel (``kernels/sparse_cpu.cpp``)
  and the simulator's native loop (``sim/_native.c``).
* ``fused_kernels.h``: the fused kernels' families (LIF, ALIF, CubaLIF over ``neuron_math.h``)
  and their generic time loop, forward and backward, shared by the two translation units of
  the fused CPU extension (``kernels/fused_cpu.cpp``, ``kernels/fused_ref_cpu.cpp``).
* ``codes.h``: the integer codes of the reset modes and surrogates, generated from their
  Python types by :mod:`axonal.csrc.gen_codes` (a test fails when it is stale).

The including files reach them by a relative path (``#include "../csrc/neuron_math.h"``), so
no build needs an include flag; :mod:`axonal.native_build` stages them next to the sources and
keys every build by their content.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CSRC_DIR", "header_paths"]

CSRC_DIR = Path(__file__).parent
"""The folder of the shared headers."""


def header_paths() -> list[Path]:
    """The shared headers, sorted by name (what a build of a native source also depends on)."""
    return sorted(CSRC_DIR.glob("*.h"))
