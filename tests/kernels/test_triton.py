"""Triton LIF backend (CUDA only): registration on CPU machines, equivalence on GPU ones.

The exhaustive per-surrogate / per-reset equivalence runs in ``test_backends.py`` (its
``triton`` cases carry the ``gpu`` marker and skip without CUDA).
"""

from __future__ import annotations

import pytest
import torch

from axonal.kernels import get_kernel
from axonal.kernels.gpu import triton_available
from axonal.nn import LIF


def test_triton_lif_is_registered_for_cuda_only() -> None:
    kernel = get_kernel("lif", "triton", "cuda")
    assert kernel is not None and kernel.device == "cuda"
    assert get_kernel("lif", "triton", "cpu") is None
    assert kernel.available() == triton_available()


@pytest.mark.gpu
def test_triton_lif_long_sequence_matches_reference() -> None:
    if not triton_available():
        pytest.skip("needs CUDA and triton")
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(300, 8, 1000, generator=gen) * 2 + 1).cuda().requires_grad_()
    results = []
    for backend in ("reference", "triton"):
        layer = LIF(learn=("tau_mem", "v_th"), shape=(1000,), backend=backend, r=5.0).cuda()
        out, state = layer(x)
        loss = out.sum() + (state.v**2).sum()
        grads = torch.autograd.grad(loss, [x, *layer.parameters()])
        results.append((out, state.v, grads))
    (o1, v1, g1), (o2, v2, g2) = results
    assert torch.equal(o1, o2)
    torch.testing.assert_close(v2, v1)
    for a, b in zip(g2, g1):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
