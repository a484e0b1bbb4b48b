"""Registration of the Triton GPU kernels (backend ``"triton"``, device ``"cuda"``) for LIF,
ALIF and CubaLIF.

The CUDA implementations of the ``axonal::<family>_forward`` / ``_backward`` ops are
registered here; Triton itself is imported only when they first run, so this module costs
nothing on a machine without CUDA or Triton. The family adapters
(:mod:`axonal.kernels.linear`) are shared with the CPU backend: the op dispatches on the
input's device.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch import Tensor

from axonal.kernels import ops
from axonal.kernels.linear import ADAPTERS
from axonal.kernels.registry import Kernel, register_kernel

__all__ = ["triton_available"]


def triton_available() -> bool:
    """Whether a CUDA device and the ``triton`` package are both present."""
    return torch.cuda.is_available() and importlib.util.find_spec("triton") is not None


def _cuda_impl(name: str, direction: str) -> Any:
    def impl(*args: Any) -> tuple[Tensor, ...]:
        from axonal.kernels import _triton

        table = _triton.FORWARD if direction == "forward" else _triton.BACKWARD
        return table[name](*args)

    return impl


for _name in ops.FAMILIES:
    ops.LIB.impl(f"{_name}_forward", _cuda_impl(_name, "forward"), "CUDA")
    ops.LIB.impl(f"{_name}_backward", _cuda_impl(_name, "backward"), "CUDA")

for _family, (_run, _unsupported) in ADAPTERS.items():
    register_kernel(Kernel(_family, "triton", "cuda", _run, _unsupported, triton_available))
