"""Triton backend (CUDA): registration on CPU machines, equivalence on GPU ones, and the
kernels' arithmetic under Triton's interpreter where Triton is installed without a GPU.

The exhaustive per-surrogate / per-reset equivalence on CUDA runs in ``test_backends.py``
(its ``triton`` cases carry the ``gpu`` marker and skip without CUDA).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from axonal.kernels import get_kernel
from axonal.kernels.cpu import cpu_available
from axonal.kernels.gpu import triton_available
from axonal.nn import LIF

FAMILIES = ("lif", "alif", "cuba_lif")


@pytest.mark.parametrize("family", FAMILIES)
def test_triton_is_registered_for_cuda_only(family: str) -> None:
    kernel = get_kernel(family, "triton", "cuda")
    assert kernel is not None and kernel.device == "cuda"
    assert get_kernel(family, "triton", "cpu") is None
    assert kernel.available() == triton_available()


# Runs in a subprocess: TRITON_INTERPRET must be set before the kernels are decorated.
_INTERPRETED = textwrap.dedent(
    """
    import os, sys
    os.environ["TRITON_INTERPRET"] = "1"
    import torch
    from axonal.kernels import ops, _triton
    gen = torch.Generator().manual_seed(0)
    def vec(n, lo, hi, dt):
        return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=dt)
    cases = [("lif", 0, 0, True, torch.float32), ("alif", 1, 1, False, torch.float64),
             ("cuba_lif", 2, 3, False, torch.float32), ("lif", 1, 2, False, torch.float64)]
    for name, reset, kind, broadcast, dt in cases:
        T, N = 71, 130  # three checkpoint segments; two programs, the second partly masked
        fam = ops.FAMILIES[name]
        x = torch.randn(T, N, generator=gen, dtype=dt) * 1.5 + 0.8
        state = [vec(N, 0, 0.5, dt) for _ in fam.states]
        coef = {"alpha": (.8, .95), "v_th": (.5, 1.), "v_leak": (0., 0.), "r": (1., 2.),
                "v_reset": (-.1, .1), "alpha_adapt": (.9, .99), "delta_th": (.05, .1),
                "alpha_syn": (.7, .9), "kernel": (.05, .1)}
        params = [vec(N, *coef[p], dt) for p in fam.params]
        codes = (reset, False, kind, 2.0, ops.SEG)
        ref = getattr(ops, name + "_forward")(x, *state, *params, *codes)
        tri = _triton.FORWARD[name](x, *state, *params, *codes)
        assert all(torch.equal(a, b) for a, b in zip(ref, tri)), name + ": forward differs"
        assert 0 < float(ref[0].mean()) < 1
        g_out = (torch.full((), 0.7, dtype=dt).expand(T, N) if broadcast
                 else torch.randn(T, N, generator=gen, dtype=dt))
        args = (g_out, *[torch.randn(N, generator=gen, dtype=dt) for _ in fam.states],
                x, ref[-1], ref[-2], *params, *codes)
        tol = 1e-4 if dt == torch.float32 else 1e-10
        for k, (a, b) in enumerate(zip(getattr(ops, name + "_backward")(*args),
                                       _triton.BACKWARD[name](*args))):
            scale = max(1.0, float(a.abs().max()))
            assert torch.allclose(a, b, rtol=tol, atol=tol * scale), f"{name}: gradient {k}"
    print("ok")
    """
)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
@pytest.mark.skipif(not cpu_available(), reason="fused CPU kernels (the reference ops) not built")
def test_triton_kernels_match_cpu_ops_under_interpreter() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _INTERPRETED], capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TRITON_INTERPRET="1"),
    )
    if "only 0-dimensional arrays can be converted" in result.stderr:
        pytest.skip("this Triton's interpreter does not run with this numpy (needs numpy < 2.3)")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


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
