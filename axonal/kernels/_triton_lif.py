"""Triton GPU kernels for the LIF family (backend ``"triton"``, device ``"cuda"``).

One program handles ``BLOCK`` neurons and loops over time inside the kernel. The forward pass
keeps the spikes as uint8 for the backward pass. The backward pass first recomputes the
membrane forward and parks ``v[t-1]`` in the gradient buffer it is about to fill
(``grad_x [T, N]``), then sweeps in reverse, reading each ``v[t-1]`` just before it
overwrites that slot with ``dL/dx[t]``: no extra ``[T, N]`` float buffer at all.
Same arithmetic, codes and gradients as the CPU kernel in ``fused_cpu.cpp``.

This module imports Triton at import time; :mod:`axonal.kernels.gpu` imports it lazily.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["lif_forward", "lif_backward"]

_BLOCK = 256
_HALF_PI = math.pi / 2.0


@triton.jit  # type: ignore[untyped-decorator, misc]
def _reset(vp, zf, th, vr, RESET: tl.constexpr):  # type: ignore[no-untyped-def]
    if RESET == 0:
        out = vp - zf * (th - vr)
    elif RESET == 1:
        out = tl.where(zf > 0, vr, vp)
    else:
        out = vp
    return out


@triton.jit  # type: ignore[untyped-decorator, misc]
def _surrogate_grad(k, u, KIND: tl.constexpr):  # type: ignore[no-untyped-def]
    if KIND == 0:  # fast sigmoid
        d = 1.0 + k * tl.abs(u)
        g = 1.0 / (d * d)
    elif KIND == 1:  # atan
        y = 1.5707963267948966 * k * u
        g = (k / 2.0) / (1.0 + y * y)
    elif KIND == 2:  # sigmoid
        s = 1.0 / (1.0 + tl.exp(-k * u))
        g = k * s * (1.0 - s)
    elif KIND == 3:  # triangle
        g = k * tl.maximum(1.0 - k * tl.abs(u), 0.0)
    else:  # straight through
        g = k + 0.0 * u
    return g


@triton.jit  # type: ignore[untyped-decorator, misc]
def _lif_fwd(  # type: ignore[no-untyped-def]
    x_ptr, v0_ptr, al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr, out_ptr, vt_ptr, z_ptr, T, N,
    RESET: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    al = tl.load(al_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    for t in range(T):
        row = t.to(tl.int64) * N  # type: ignore[attr-defined]
        x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
        vinf = vl + r * x
        vp = vinf + (v - vinf) * al
        zf = tl.where(vp - th > 0, 1.0, 0.0).to(vp.dtype)
        v = _reset(vp, zf, th, vr, RESET)
        tl.store(out_ptr + row + offs, zf, mask=mask)
        tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=mask)
    tl.store(vt_ptr + offs, v, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _lif_bwd(  # type: ignore[no-untyped-def]
    gout_ptr, gvt_ptr, x_ptr, v0_ptr, z_ptr, al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr,
    gx_ptr, gv0_ptr, gal_ptr, gth_ptr, attached, k, T, N,
    RESET: tl.constexpr, KIND: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    al = tl.load(al_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    for t in range(T):  # recompute; park v[t-1] in grad_x[t]
        row = t.to(tl.int64) * N  # type: ignore[attr-defined]
        tl.store(gx_ptr + row + offs, v, mask=mask)
        x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
        zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(v.dtype)
        vinf = vl + r * x
        vp = vinf + (v - vinf) * al
        v = _reset(vp, zf, th, vr, RESET)
    gv = tl.load(gvt_ptr + offs, mask=mask, other=0.0)
    ga = gv * 0.0
    gt = gv * 0.0
    for tt in range(T):
        row = (T - 1 - tt).to(tl.int64) * N  # type: ignore[attr-defined]
        vprev = tl.load(gx_ptr + row + offs, mask=mask, other=0.0)
        x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
        zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(v.dtype)
        gz = tl.load(gout_ptr + row + offs, mask=mask, other=0.0)
        vinf = vl + r * x
        d = vprev - vinf
        vp = vinf + d * al
        if RESET == 0:
            gz = gz - attached * gv * (th - vr)
            ggap = -gv * zf
            gp = gv
        elif RESET == 1:
            gz = gz + attached * gv * (vr - vp)
            ggap = gv * 0.0
            gp = gv * (1.0 - zf)
        else:
            ggap = gv * 0.0
            gp = gv
        sg = gz * _surrogate_grad(k, vp - th, KIND)
        gp = gp + sg
        gt = gt + ggap - sg
        tl.store(gx_ptr + row + offs, gp * (1.0 - al) * r, mask=mask)
        ga = ga + gp * d
        gv = gp * al
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(gal_ptr + offs, ga, mask=mask)
    tl.store(gth_ptr + offs, gt, mask=mask)


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(n, _BLOCK),)


def lif_forward(
    x: Tensor, v0: Tensor, alpha: Tensor, v_th: Tensor, v_leak: Tensor, r: Tensor,
    v_reset: Tensor, reset: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Same contract as ``axonal::lif_forward`` (``x [T, N]`` and ``[N]`` vectors, on CUDA)."""
    T, N = x.shape
    out = torch.empty_like(x)
    v_t = torch.empty_like(v0)
    z = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
    _lif_fwd[_grid(N)](
        x, v0, alpha, v_th, v_leak, r, v_reset, out, v_t, z, T, N, RESET=reset, BLOCK=_BLOCK
    )
    return out, v_t, z


def lif_backward(
    grad_out: Tensor, grad_v: Tensor, x: Tensor, v0: Tensor, z: Tensor, alpha: Tensor,
    v_th: Tensor, v_leak: Tensor, r: Tensor, v_reset: Tensor, reset: int, detach: bool,
    kind: int, slope: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Same contract as ``axonal::lif_backward``."""
    T, N = x.shape
    grad_x = torch.empty_like(x)
    g_v0, g_alpha, g_th = (torch.empty_like(v0) for _ in range(3))
    _lif_bwd[_grid(N)](
        grad_out.contiguous(), grad_v.contiguous(), x, v0, z, alpha, v_th, v_leak, r, v_reset,
        grad_x, g_v0, g_alpha, g_th, 0.0 if detach else 1.0, float(slope), T, N,
        RESET=reset, KIND=kind, BLOCK=_BLOCK,
    )
    return grad_x, g_v0, g_alpha, g_th
