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


# Runs in a subprocess: TRITON_INTERPRET must be set before the kernels are decorated (and a
# GPU test in this process may have imported them compiled). argv: family, wide (1: index the
# backward's scratch buffer in int64, as for 2^31 elements or more).
_INTERPRETED = textwrap.dedent(
    """
    import os, sys
    os.environ["TRITON_INTERPRET"] = "1"
    import torch
    from axonal.kernels import ops, _triton
    from axonal.functional.neurons.refractory import refractory_limit
    name, wide = sys.argv[1], sys.argv[2] == "1"
    if wide:
        _triton._INT32_LIMIT = 0
    fam = ops.FAMILIES[name]
    gen = torch.Generator().manual_seed(0)
    def vec(n, lo, hi, dt):
        return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=dt)
    coef = {"alpha": (.8, .95), "v_th": (.5, 1.), "v_leak": (-.1, .1), "r": (1., 2.),
            "v_reset": (-.1, .1), "alpha_adapt": (.9, .99), "delta_th": (.05, .1),
            "alpha_syn": (.7, .9), "kernel": (.05, .1)}
    T, N = 40, 130  # two checkpoint segments, the second partial; two programs, one masked
    DT, T_REF = 1e-3, 2.5e-3  # off the step grid: Brian2's rounding down is tested
    LIMIT = refractory_limit(DT)
    checked = 0
    for t_ref in (0.0, T_REF):
        for reset in (0, 1, 2):  # subtract, zero, none
            for dt in (torch.float32, torch.float64):
                if t_ref > 0 and (dt == torch.float64) != (reset == 1):
                    continue  # with a refractory period: float64 under the zero reset only
                x = torch.randn(T, N, generator=gen, dtype=dt) * 1.5 + 0.8
                state = [vec(N, 0, 0.5, dt) for _ in fam.states[:-1]]
                # the countdown: 0 to 3 steps left (passed through untouched when t_ref = 0)
                state.append(torch.randint(0, 7, (N,), generator=gen).to(dt) * (0.5 * DT))
                params = [vec(N, *coef[p], dt) for p in fam.params]
                fwd_codes = (reset, False, 0, 2.0, ops.SEG, t_ref, DT, LIMIT)
                ref = getattr(ops, name + "_forward")(x, *state, *params, *fwd_codes)
                tri = _triton.FORWARD[name](x, *state, *params, *fwd_codes)
                for k, (a, b) in enumerate(zip(ref, tri)):  # spikes, states, bytes, checkpoints
                    assert torch.equal(a, b), f"{name} t_ref {t_ref} reset {reset} {dt}: output {k}"
                assert 0.05 < float(ref[0].mean()) < 0.95, "too few or too many spikes to test"
                if t_ref > 0:
                    assert float(ref[len(fam.states)].max()) > 0, "no neuron left refractory"
                # every surrogate under each reset, the dtypes alternating, detach both ways;
                # with a refractory period one surrogate per reset
                if t_ref > 0:
                    kinds = ((1, 2, 4)[reset],)  # atan (detached), sigmoid, straight through
                else:
                    kinds = range(5) if not wide else (reset,)
                for kind in kinds:
                    if t_ref == 0 and (kind + reset) % 2 != (dt == torch.float64):
                        continue
                    detach = kind % 2 == 1
                    if kind == 4 and reset == 0:  # an output gradient broadcast over time
                        g_out = torch.full((), 0.7, dtype=dt).expand(T, N)
                    else:
                        g_out = torch.randn(T, N, generator=gen, dtype=dt)
                    g_state = [torch.randn(N, generator=gen, dtype=dt) for _ in fam.states]
                    codes = (reset, detach, kind, 1.5 + kind * 0.5, ops.SEG, t_ref, DT, LIMIT)
                    args = (g_out, *g_state, x, ref[-1], ref[-2], *params, *codes)
                    want = getattr(ops, name + "_backward")(*args)
                    got = _triton.BACKWARD[name](*args)
                    assert len(want) == len(got) == 1 + len(fam.states) + len(fam.grads)
                    tol = 1e-4 if dt == torch.float32 else 1e-10
                    for k, (a, b) in enumerate(zip(want, got)):
                        scale = max(1.0, float(a.abs().max()))
                        assert torch.allclose(a, b, rtol=tol, atol=tol * scale), (
                            f"{name} t_ref {t_ref} reset {reset} kind {kind} {dt}: gradient {k} "
                            f"differs by {float((a - b).abs().max())}"
                        )
                    checked += 1
    print("ok", checked)
    """
)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
@pytest.mark.skipif(not cpu_available(), reason="fused CPU kernels (the reference ops) not built")
@pytest.mark.parametrize(("family", "wide"), [(f, False) for f in FAMILIES] + [("alif", True)])
def test_triton_kernels_match_cpu_ops_under_interpreter(family: str, wide: bool) -> None:
    """Every family, reset mode and surrogate code, without and with a refractory period: the
    forward outputs equal the CPU op's (the same arithmetic in the same order), the gradients
    agree to rounding."""
    result = subprocess.run(
        [sys.executable, "-c", _INTERPRETED, family, "1" if wide else "0"],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, TRITON_INTERPRET="1"),
    )
    if "only 0-dimensional arrays can be converted" in result.stderr:
        pytest.skip("Triton < 3.7: its interpreter does not run with numpy >= 2.3")
    expected = f"ok {6 if wide else 18}"
    assert result.returncode == 0 and result.stdout.strip() == expected, (
        result.stdout[-500:] + result.stderr[-3000:]
    )


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
