"""Triton GPU kernels for the LIF, ALIF and CubaLIF families (backend ``"triton"``).

Same contract as the compiled CPU kernels (:mod:`axonal.kernels.ops`), same arithmetic in the
same order. One program handles ``BLOCK`` neurons and loops over time inside the kernel. The
forward pass keeps the spikes as uint8 and a checkpoint of the state every ``SEG`` steps. The
backward pass walks the segments from the last: it recomputes a segment's states forward from
its checkpoint into a ``[n_state, SEG, N]`` scratch buffer (the only extra memory, independent
of T), then sweeps the segment in reverse.

This module imports Triton at import time; :mod:`axonal.kernels.gpu` imports it lazily. It
runs under Triton's interpreter too (``TRITON_INTERPRET=1``, CPU tensors), which is how its
arithmetic is tested on machines without a GPU.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["FORWARD", "BACKWARD"]

_BLOCK = 128


@triton.jit  # type: ignore[untyped-decorator, misc]
def _reset(vp, zf, gap, vr, RESET: tl.constexpr):  # type: ignore[no-untyped-def]
    if RESET == 0:
        out = vp - zf * gap
    elif RESET == 1:
        out = tl.where(zf > 0, vr, vp)
    else:
        out = vp
    return out


@triton.jit  # type: ignore[untyped-decorator, misc]
def _reset_grad(gv, gz, zf, gap, vr, vp, attached, RESET: tl.constexpr):  # type: ignore[no-untyped-def]
    """Through the reset: (dL/dv_pre, dL/dz, dL/dgap) from dL/dv_new and dL/dz."""
    if RESET == 0:
        gz = gz - attached * gv * gap
        ggap = -gv * zf
        gp = gv
    elif RESET == 1:
        gz = gz + attached * gv * (vr - vp)
        ggap = gv * 0.0
        gp = gv * (1.0 - zf)
    else:
        ggap = gv * 0.0
        gp = gv
    return gp, gz, ggap


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


# ------------------------------------------------------------------------------------ LIF
@triton.jit  # type: ignore[untyped-decorator, misc]
def _lif_fwd(  # type: ignore[no-untyped-def]
    x_ptr, v0_ptr, al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr, out_ptr, vt_ptr, z_ptr, ck_ptr, T, N,
    RESET: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
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
        if t % SEG == 0:
            tl.store(ck_ptr + tl.cast(t // SEG, tl.int64) * N + offs, v, mask=mask)
        row = tl.cast(t, tl.int64) * N
        x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
        vinf = vl + r * x
        vp = vinf + (v - vinf) * al
        zf = tl.where(vp - th > 0, 1.0, 0.0).to(vp.dtype)
        v = _reset(vp, zf, th - vr, vr, RESET)
        tl.store(out_ptr + row + offs, zf, mask=mask)
        tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=mask)
    tl.store(vt_ptr + offs, v, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _lif_bwd(  # type: ignore[no-untyped-def]
    gout_ptr, gstride, gvt_ptr, x_ptr, ck_ptr, z_ptr, al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr,
    gx_ptr, buf_ptr, gv0_ptr, gal_ptr, gth_ptr, attached, k, T, N, S,
    RESET: tl.constexpr, KIND: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    al = tl.load(al_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    gv = tl.load(gvt_ptr + offs, mask=mask, other=0.0)
    ga = gv * 0.0
    gt = gv * 0.0
    for ss in range(S):
        s = S - 1 - ss
        t0 = s * SEG
        v = tl.load(ck_ptr + tl.cast(s, tl.int64) * N + offs, mask=mask, other=0.0)
        for i in range(SEG):  # recompute the segment; park v[t-1] in the scratch buffer
            t = t0 + i
            if t < T:
                row = tl.cast(t, tl.int64) * N
                tl.store(buf_ptr + i * N + offs, v, mask=mask)
                x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
                zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(v.dtype)
                vinf = vl + r * x
                vp = vinf + (v - vinf) * al
                v = _reset(vp, zf, th - vr, vr, RESET)
        for ii in range(SEG):
            i = SEG - 1 - ii
            t = t0 + i
            if t < T:
                row = tl.cast(t, tl.int64) * N
                vprev = tl.load(buf_ptr + i * N + offs, mask=mask, other=0.0)
                x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
                zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(vprev.dtype)
                gz = tl.load(gout_ptr + tl.cast(t, tl.int64) * gstride + offs, mask=mask, other=0.0)
                vinf = vl + r * x
                d = vprev - vinf
                vp = vinf + d * al
                gp, gz, ggap = _reset_grad(gv, gz, zf, th - vr, vr, vp, attached, RESET)
                sg = gz * _surrogate_grad(k, vp - th, KIND)
                gp = gp + sg
                gt = gt + ggap - sg
                tl.store(gx_ptr + row + offs, gp * (1.0 - al) * r, mask=mask)
                ga = ga + gp * d
                gv = gp * al
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(gal_ptr + offs, ga, mask=mask)
    tl.store(gth_ptr + offs, gt, mask=mask)


# ----------------------------------------------------------------------------------- ALIF
@triton.jit  # type: ignore[untyped-decorator, misc]
def _alif_fwd(  # type: ignore[no-untyped-def]
    x_ptr, v0_ptr, a0_ptr, am_ptr, aa_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr, dl_ptr,
    out_ptr, vt_ptr, at_ptr, z_ptr, ck_ptr, T, N, S,
    RESET: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    a = tl.load(a0_ptr + offs, mask=mask, other=0.0)
    am = tl.load(am_ptr + offs, mask=mask, other=0.0)
    aa = tl.load(aa_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    dl = tl.load(dl_ptr + offs, mask=mask, other=0.0)
    for t in range(T):
        if t % SEG == 0:
            c = tl.cast(t // SEG, tl.int64) * N
            tl.store(ck_ptr + c + offs, v, mask=mask)
            tl.store(ck_ptr + S * N + c + offs, a, mask=mask)
        row = tl.cast(t, tl.int64) * N
        x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
        vinf = vl + r * x
        vp = vinf + (v - vinf) * am
        ad = a * aa
        thr = th + ad
        zf = tl.where(vp - thr > 0, 1.0, 0.0).to(vp.dtype)
        v = _reset(vp, zf, thr - vr, vr, RESET)
        a = ad + dl * zf
        tl.store(out_ptr + row + offs, zf, mask=mask)
        tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=mask)
    tl.store(vt_ptr + offs, v, mask=mask)
    tl.store(at_ptr + offs, a, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _alif_bwd(  # type: ignore[no-untyped-def]
    gout_ptr, gstride, gvt_ptr, gat_ptr, x_ptr, ck_ptr, z_ptr, am_ptr, aa_ptr, th_ptr, vl_ptr,
    r_ptr, vr_ptr, dl_ptr, gx_ptr, buf_ptr, gv0_ptr, ga0_ptr, gam_ptr, gaa_ptr, gth_ptr, gdl_ptr,
    attached, k, T, N, S,
    RESET: tl.constexpr, KIND: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    am = tl.load(am_ptr + offs, mask=mask, other=0.0)
    aa = tl.load(aa_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    dl = tl.load(dl_ptr + offs, mask=mask, other=0.0)
    gv = tl.load(gvt_ptr + offs, mask=mask, other=0.0)
    gad = tl.load(gat_ptr + offs, mask=mask, other=0.0)
    g_am = gv * 0.0
    g_aa = gv * 0.0
    g_th = gv * 0.0
    g_dl = gv * 0.0
    for ss in range(S):
        s = S - 1 - ss
        t0 = s * SEG
        c = tl.cast(s, tl.int64) * N
        v = tl.load(ck_ptr + c + offs, mask=mask, other=0.0)
        a = tl.load(ck_ptr + S * N + c + offs, mask=mask, other=0.0)
        for i in range(SEG):
            t = t0 + i
            if t < T:
                row = tl.cast(t, tl.int64) * N
                tl.store(buf_ptr + i * N + offs, v, mask=mask)
                tl.store(buf_ptr + (SEG + i) * N + offs, a, mask=mask)
                x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
                zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(v.dtype)
                vinf = vl + r * x
                vp = vinf + (v - vinf) * am
                ad = a * aa
                v = _reset(vp, zf, (th + ad) - vr, vr, RESET)
                a = ad + dl * zf
        for ii in range(SEG):
            i = SEG - 1 - ii
            t = t0 + i
            if t < T:
                row = tl.cast(t, tl.int64) * N
                vprev = tl.load(buf_ptr + i * N + offs, mask=mask, other=0.0)
                ap = tl.load(buf_ptr + (SEG + i) * N + offs, mask=mask, other=0.0)
                x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
                zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(vprev.dtype)
                gz = tl.load(gout_ptr + tl.cast(t, tl.int64) * gstride + offs, mask=mask, other=0.0)
                vinf = vl + r * x
                d = vprev - vinf
                vp = vinf + d * am
                ad = ap * aa
                thr = th + ad
                gz = gz + gad * dl
                g_dl = g_dl + gad * zf
                gp, gz, ggap = _reset_grad(gv, gz, zf, thr - vr, vr, vp, attached, RESET)
                sg = gz * _surrogate_grad(k, vp - thr, KIND)
                gp = gp + sg
                g_thr = ggap - sg
                g_th = g_th + g_thr
                g_ad = gad + g_thr
                tl.store(gx_ptr + row + offs, gp * (1.0 - am) * r, mask=mask)
                g_am = g_am + gp * d
                gv = gp * am
                g_aa = g_aa + g_ad * ap
                gad = g_ad * aa
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(ga0_ptr + offs, gad, mask=mask)
    tl.store(gam_ptr + offs, g_am, mask=mask)
    tl.store(gaa_ptr + offs, g_aa, mask=mask)
    tl.store(gth_ptr + offs, g_th, mask=mask)
    tl.store(gdl_ptr + offs, g_dl, mask=mask)


# -------------------------------------------------------------------------------- CubaLIF
@triton.jit  # type: ignore[untyped-decorator, misc]
def _cuba_fwd(  # type: ignore[no-untyped-def]
    x_ptr, v0_ptr, i0_ptr, am_ptr, as_ptr, K_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr,
    out_ptr, vt_ptr, it_ptr, z_ptr, ck_ptr, T, N, S,
    RESET: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    c = tl.load(i0_ptr + offs, mask=mask, other=0.0)
    am = tl.load(am_ptr + offs, mask=mask, other=0.0)
    asy = tl.load(as_ptr + offs, mask=mask, other=0.0)
    K = tl.load(K_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    for t in range(T):
        if t % SEG == 0:
            cr = tl.cast(t // SEG, tl.int64) * N
            tl.store(ck_ptr + cr + offs, v, mask=mask)
            tl.store(ck_ptr + S * N + cr + offs, c, mask=mask)
        row = tl.cast(t, tl.int64) * N
        x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
        d = c - x
        vinf = vl + r * x
        vp = vinf + (v - vinf) * am + (r * d) * K
        c = x + d * asy
        zf = tl.where(vp - th > 0, 1.0, 0.0).to(vp.dtype)
        v = _reset(vp, zf, th - vr, vr, RESET)
        tl.store(out_ptr + row + offs, zf, mask=mask)
        tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=mask)
    tl.store(vt_ptr + offs, v, mask=mask)
    tl.store(it_ptr + offs, c, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _cuba_bwd(  # type: ignore[no-untyped-def]
    gout_ptr, gstride, gvt_ptr, git_ptr, x_ptr, ck_ptr, z_ptr, am_ptr, as_ptr, K_ptr, th_ptr,
    vl_ptr, r_ptr, vr_ptr, gx_ptr, buf_ptr, gv0_ptr, gi0_ptr, gam_ptr, gas_ptr, gK_ptr, gth_ptr,
    attached, k, T, N, S,
    RESET: tl.constexpr, KIND: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    am = tl.load(am_ptr + offs, mask=mask, other=0.0)
    asy = tl.load(as_ptr + offs, mask=mask, other=0.0)
    K = tl.load(K_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    gv = tl.load(gvt_ptr + offs, mask=mask, other=0.0)
    gi = tl.load(git_ptr + offs, mask=mask, other=0.0)
    g_am = gv * 0.0
    g_as = gv * 0.0
    g_K = gv * 0.0
    g_th = gv * 0.0
    for ss in range(S):
        s = S - 1 - ss
        t0 = s * SEG
        cr = tl.cast(s, tl.int64) * N
        v = tl.load(ck_ptr + cr + offs, mask=mask, other=0.0)
        c = tl.load(ck_ptr + S * N + cr + offs, mask=mask, other=0.0)
        for i in range(SEG):
            t = t0 + i
            if t < T:
                row = tl.cast(t, tl.int64) * N
                tl.store(buf_ptr + i * N + offs, v, mask=mask)
                tl.store(buf_ptr + (SEG + i) * N + offs, c, mask=mask)
                x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
                zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(v.dtype)
                d = c - x
                vinf = vl + r * x
                vp = vinf + (v - vinf) * am + (r * d) * K
                c = x + d * asy
                v = _reset(vp, zf, th - vr, vr, RESET)
        for ii in range(SEG):
            i = SEG - 1 - ii
            t = t0 + i
            if t < T:
                row = tl.cast(t, tl.int64) * N
                vprev = tl.load(buf_ptr + i * N + offs, mask=mask, other=0.0)
                iprev = tl.load(buf_ptr + (SEG + i) * N + offs, mask=mask, other=0.0)
                x = tl.load(x_ptr + row + offs, mask=mask, other=0.0)
                zf = tl.load(z_ptr + row + offs, mask=mask, other=0).to(vprev.dtype)
                gz = tl.load(gout_ptr + tl.cast(t, tl.int64) * gstride + offs, mask=mask, other=0.0)
                d = iprev - x
                vinf = vl + r * x
                dvv = vprev - vinf
                vp = vinf + dvv * am + (r * d) * K
                gp, gz, ggap = _reset_grad(gv, gz, zf, th - vr, vr, vp, attached, RESET)
                sg = gz * _surrogate_grad(k, vp - th, KIND)
                gp = gp + sg
                g_th = g_th + ggap - sg
                g_am = g_am + gp * dvv
                g_K = g_K + gp * r * d
                g_as = g_as + gi * d
                gd = gp * r * K + gi * asy
                tl.store(gx_ptr + row + offs, gp * (1.0 - am) * r + gi - gd, mask=mask)
                gv = gp * am
                gi = gd
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(gi0_ptr + offs, gi, mask=mask)
    tl.store(gam_ptr + offs, g_am, mask=mask)
    tl.store(gas_ptr + offs, g_as, mask=mask)
    tl.store(gK_ptr + offs, g_K, mask=mask)
    tl.store(gth_ptr + offs, g_th, mask=mask)


# -------------------------------------------------------------------------------- drivers
_KERNELS: dict[str, tuple[Any, Any, int, int]] = {
    # name: (forward kernel, backward kernel, state variables, parameter gradients)
    "lif": (_lif_fwd, _lif_bwd, 1, 2),
    "alif": (_alif_fwd, _alif_bwd, 2, 4),
    "cuba_lif": (_cuba_fwd, _cuba_bwd, 2, 4),
}


def _forward(name: str, *args: Any) -> tuple[Tensor, ...]:
    """``<name>_forward`` on CUDA: ``(x, *state0, *params, reset, detach, kind, slope, seg)``."""
    fwd, _, n_state, _ = _KERNELS[name]
    x = args[0]
    tensors = [t.contiguous() for t in args[:-5]]
    reset, seg = int(args[-5]), int(args[-1])
    T, N = x.shape
    S = (T + seg - 1) // seg
    out = torch.empty_like(x)
    finals = [torch.empty_like(tensors[1]) for _ in range(n_state)]
    z = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
    ckpt = torch.empty((n_state, S, N), dtype=x.dtype, device=x.device)
    extra = () if n_state == 1 else (S,)
    fwd[(triton.cdiv(N, _BLOCK),)](
        *tensors, out, *finals, z, ckpt, T, N, *extra, RESET=reset, SEG=seg, BLOCK=_BLOCK
    )
    return (out, *finals, z, ckpt)


def _backward(name: str, *args: Any) -> tuple[Tensor, ...]:
    """``<name>_backward`` on CUDA: ``(grad_out, *grad_state, x, ckpt, z, *params, reset,
    detach, kind, slope, seg)``."""
    _, bwd, n_state, n_grads = _KERNELS[name]
    grad_out = args[0]
    grad_state = [g.contiguous() for g in args[1 : 1 + n_state]]
    x, ckpt, z = args[1 + n_state : 4 + n_state]
    params = [p.contiguous() for p in args[4 + n_state : -5]]
    reset, detach, kind, slope, seg = args[-5:]
    T, N = x.shape
    if T > 1 and grad_out.stride(0) == 0:  # broadcast over time: one row, stride 0
        g_rows, g_stride = grad_out[0].contiguous(), 0
    else:
        g_rows, g_stride = grad_out.contiguous(), N
    grad_x = torch.empty_like(x)
    buf = torch.empty((n_state, seg, N), dtype=x.dtype, device=x.device)
    grads = [torch.empty_like(grad_state[0]) for _ in range(n_state + n_grads)]
    bwd[(triton.cdiv(N, _BLOCK),)](
        g_rows, g_stride, *grad_state, x, ckpt, z, *params, grad_x, buf, *grads,
        0.0 if detach else 1.0, float(slope), T, N, ckpt.shape[1],
        RESET=int(reset), KIND=int(kind), SEG=int(seg), BLOCK=_BLOCK,
    )
    return (grad_x, *grads)


FORWARD = {name: (lambda *a, _n=name: _forward(_n, *a)) for name in _KERNELS}
"""CUDA implementations of the ``<family>_forward`` ops, by family."""
BACKWARD = {name: (lambda *a, _n=name: _backward(_n, *a)) for name in _KERNELS}
"""CUDA implementations of the ``<family>_backward`` ops, by family."""
