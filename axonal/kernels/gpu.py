"""Registration of the Triton GPU kernel for LIF (backend ``"triton"``, device ``"cuda"``).

The CUDA implementations of ``axonal::lif_forward`` / ``axonal::lif_backward`` are registered
here; Triton itself is imported only when they first run, so this module costs nothing on a
machine without CUDA or Triton. The family adapter (:func:`axonal.kernels.linear.lif_run`) is
shared with the CPU backend: the op dispatches on the input's device.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch import Tensor

from axonal.kernels import ops
from axonal.kernels.linear import lif_run, lif_unsupported
from axonal.kernels.registry import Kernel, register_kernel

__all__ = ["triton_available"]


def triton_available() -> bool:
    """Whether a CUDA device and the ``triton`` package are both present."""
    return torch.cuda.is_available() and importlib.util.find_spec("triton") is not None


def _lif_forward_cuda(
    x: Tensor, v0: Tensor, alpha: Tensor, v_th: Tensor, v_leak: Tensor, r: Tensor,
    v_reset: Tensor, reset: int, detach: bool, kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor]:
    from axonal.kernels import _triton_lif

    return _triton_lif.lif_forward(x, v0, alpha, v_th, v_leak, r, v_reset, reset)


def _lif_backward_cuda(*args: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from axonal.kernels import _triton_lif

    return _triton_lif.lif_backward(*args)


ops.LIB.impl("lif_forward", _lif_forward_cuda, "CUDA")
ops.LIB.impl("lif_backward", _lif_backward_cuda, "CUDA")
register_kernel(Kernel("lif", "triton", "cuda", lif_run, lif_unsupported, triton_available))
