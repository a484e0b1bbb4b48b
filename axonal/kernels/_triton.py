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

import math
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["FORWARD", "BACKWARD"]

_BLOCK = 128
_UNROLL = 4
_NUM_WARPS = 4


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
def _surrogate_grad(k, u, half_pi, KIND: tl.constexpr):  # type: ignore[no-untyped-def]
    if KIND == 0:  # fast sigmoid
        d = 1.0 + k * tl.abs(u)
        g = 1.0 / (d * d)
    elif KIND == 1:  # atan
        y = half_pi * k * u
        g = (k / 2.0) / (1.0 + y * y)
    elif KIND == 2:  # sigmoid
        s = 1.0 / (1.0 + tl.exp(-k * u))
        g = k * s * (1.0 - s)
    elif KIND == 3:  # triangle
        g = k * tl.maximum(1.0 - k * tl.abs(u), 0.0)
    else:  # straight through
        g = k + 0.0 * u
    return g


# Every kernel walks time as S segments of SEG steps (the last one partly past T: those steps
# are masked and leave the state alone). Segment loops are unrolled UNROLL times so that the
# loads of several steps, which do not depend on the state, are in flight together.
# ``coef`` holds (surrogate slope, 1 if the reset is attached else 0, pi / 2) in the input's
# dtype (Python floats would reach the kernel as float32).


# ------------------------------------------------------------------------------------ LIF
@triton.jit  # type: ignore[untyped-decorator, misc]
def _lif_fwd(  # type: ignore[no-untyped-def]
    x_ptr, v0_ptr, al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr, out_ptr, vt_ptr, z_ptr, ck_ptr, T, N, S,
    RESET: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    al = tl.load(al_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=1.0)
    vl = tl.load(vl_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + offs, mask=mask, other=0.0)
    vr = tl.load(vr_ptr + offs, mask=mask, other=0.0)
    for s in range(S):
        tl.store(ck_ptr + tl.cast(s, tl.int64) * N + offs, v, mask=mask)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            t = s * SEG + i
            valid = t < T
            m = offs < tl.where(valid, N, 0)  # the interpreter mis-splats a scalar bool
            row = tl.cast(t, tl.int64) * N
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            vinf = vl + r * x
            vp = vinf + (v - vinf) * al
            zf = tl.where(vp - th > 0, 1.0, 0.0).to(vp.dtype)
            v = tl.where(valid, _reset(vp, zf, th - vr, vr, RESET), v)
            tl.store(out_ptr + row + offs, zf, mask=m)
            tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=m)
    tl.store(vt_ptr + offs, v, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _lif_bwd(  # type: ignore[no-untyped-def]
    gout_ptr, gstride, gvt_ptr, x_ptr, ck_ptr, z_ptr, al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr,
    gx_ptr, buf_ptr, gv0_ptr, gal_ptr, gth_ptr, coef_ptr, T, N, S,
    RESET: tl.constexpr, KIND: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
    UNROLL: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = tl.load(coef_ptr)
    attached = tl.load(coef_ptr + 1)
    half_pi = tl.load(coef_ptr + 2)
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
        v = tl.load(ck_ptr + tl.cast(s, tl.int64) * N + offs, mask=mask, other=0.0)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):  # recompute; park v[t-1]
            t = s * SEG + i
            m = offs < tl.where(t < T, N, 0)
            row = tl.cast(t, tl.int64) * N
            tl.store(buf_ptr + i * N + offs, v, mask=m)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(v.dtype)
            vinf = vl + r * x
            vp = vinf + (v - vinf) * al
            v = _reset(vp, zf, th - vr, vr, RESET)
        for ii in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            i = SEG - 1 - ii
            t = s * SEG + i
            valid = t < T
            m = offs < tl.where(valid, N, 0)  # the interpreter mis-splats a scalar bool
            row = tl.cast(t, tl.int64) * N
            vprev = tl.load(buf_ptr + i * N + offs, mask=m, other=0.0)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(vprev.dtype)
            gz = tl.load(gout_ptr + tl.cast(t, tl.int64) * gstride + offs, mask=m, other=0.0)
            vinf = vl + r * x
            d = vprev - vinf
            vp = vinf + d * al
            gp, gz, ggap = _reset_grad(gv, gz, zf, th - vr, vr, vp, attached, RESET)
            sg = gz * _surrogate_grad(k, vp - th, half_pi, KIND)
            gp = gp + sg
            tl.store(gx_ptr + row + offs, gp * (1.0 - al) * r, mask=m)
            gt = gt + tl.where(valid, ggap - sg, 0.0)
            ga = ga + tl.where(valid, gp * d, 0.0)
            gv = tl.where(valid, gp * al, gv)
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(gal_ptr + offs, ga, mask=mask)
    tl.store(gth_ptr + offs, gt, mask=mask)


# ----------------------------------------------------------------------------------- ALIF
@triton.jit  # type: ignore[untyped-decorator, misc]
def _alif_fwd(  # type: ignore[no-untyped-def]
    x_ptr, v0_ptr, a0_ptr, am_ptr, aa_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr, dl_ptr,
    out_ptr, vt_ptr, at_ptr, z_ptr, ck_ptr, T, N, S,
    RESET: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr,
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
    for s in range(S):
        c = tl.cast(s, tl.int64) * N
        tl.store(ck_ptr + c + offs, v, mask=mask)
        tl.store(ck_ptr + S * N + c + offs, a, mask=mask)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            t = s * SEG + i
            valid = t < T
            m = offs < tl.where(valid, N, 0)  # the interpreter mis-splats a scalar bool
            row = tl.cast(t, tl.int64) * N
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            vinf = vl + r * x
            vp = vinf + (v - vinf) * am
            ad = a * aa
            thr = th + ad
            zf = tl.where(vp - thr > 0, 1.0, 0.0).to(vp.dtype)
            v = tl.where(valid, _reset(vp, zf, thr - vr, vr, RESET), v)
            a = tl.where(valid, ad + dl * zf, a)
            tl.store(out_ptr + row + offs, zf, mask=m)
            tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=m)
    tl.store(vt_ptr + offs, v, mask=mask)
    tl.store(at_ptr + offs, a, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _alif_bwd(  # type: ignore[no-untyped-def]
    gout_ptr, gstride, gvt_ptr, gat_ptr, x_ptr, ck_ptr, z_ptr, am_ptr, aa_ptr, th_ptr, vl_ptr,
    r_ptr, vr_ptr, dl_ptr, gx_ptr, buf_ptr, gv0_ptr, ga0_ptr, gam_ptr, gaa_ptr, gth_ptr, gdl_ptr,
    coef_ptr, T, N, S,
    RESET: tl.constexpr, KIND: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
    UNROLL: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = tl.load(coef_ptr)
    attached = tl.load(coef_ptr + 1)
    half_pi = tl.load(coef_ptr + 2)
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
        c = tl.cast(s, tl.int64) * N
        v = tl.load(ck_ptr + c + offs, mask=mask, other=0.0)
        a = tl.load(ck_ptr + S * N + c + offs, mask=mask, other=0.0)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            t = s * SEG + i
            m = offs < tl.where(t < T, N, 0)
            row = tl.cast(t, tl.int64) * N
            tl.store(buf_ptr + i * N + offs, v, mask=m)
            tl.store(buf_ptr + (SEG + i) * N + offs, a, mask=m)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(v.dtype)
            vinf = vl + r * x
            vp = vinf + (v - vinf) * am
            ad = a * aa
            v = _reset(vp, zf, (th + ad) - vr, vr, RESET)
            a = ad + dl * zf
        for ii in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            i = SEG - 1 - ii
            t = s * SEG + i
            valid = t < T
            m = offs < tl.where(valid, N, 0)  # the interpreter mis-splats a scalar bool
            row = tl.cast(t, tl.int64) * N
            vprev = tl.load(buf_ptr + i * N + offs, mask=m, other=0.0)
            ap = tl.load(buf_ptr + (SEG + i) * N + offs, mask=m, other=0.0)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(vprev.dtype)
            gz = tl.load(gout_ptr + tl.cast(t, tl.int64) * gstride + offs, mask=m, other=0.0)
            vinf = vl + r * x
            d = vprev - vinf
            vp = vinf + d * am
            ad = ap * aa
            thr = th + ad
            gz = gz + gad * dl
            gp, gz, ggap = _reset_grad(gv, gz, zf, thr - vr, vr, vp, attached, RESET)
            sg = gz * _surrogate_grad(k, vp - thr, half_pi, KIND)
            gp = gp + sg
            g_thr = ggap - sg
            g_ad = gad + g_thr
            tl.store(gx_ptr + row + offs, gp * (1.0 - am) * r, mask=m)
            g_dl = g_dl + tl.where(valid, gad * zf, 0.0)
            g_th = g_th + tl.where(valid, g_thr, 0.0)
            g_am = g_am + tl.where(valid, gp * d, 0.0)
            g_aa = g_aa + tl.where(valid, g_ad * ap, 0.0)
            gv = tl.where(valid, gp * am, gv)
            gad = tl.where(valid, g_ad * aa, gad)
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
    RESET: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr,
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
    for s in range(S):
        cr = tl.cast(s, tl.int64) * N
        tl.store(ck_ptr + cr + offs, v, mask=mask)
        tl.store(ck_ptr + S * N + cr + offs, c, mask=mask)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            t = s * SEG + i
            valid = t < T
            m = offs < tl.where(valid, N, 0)  # the interpreter mis-splats a scalar bool
            row = tl.cast(t, tl.int64) * N
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            d = c - x
            vinf = vl + r * x
            vp = vinf + (v - vinf) * am + (r * d) * K
            c = tl.where(valid, x + d * asy, c)
            zf = tl.where(vp - th > 0, 1.0, 0.0).to(vp.dtype)
            v = tl.where(valid, _reset(vp, zf, th - vr, vr, RESET), v)
            tl.store(out_ptr + row + offs, zf, mask=m)
            tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=m)
    tl.store(vt_ptr + offs, v, mask=mask)
    tl.store(it_ptr + offs, c, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _cuba_bwd(  # type: ignore[no-untyped-def]
    gout_ptr, gstride, gvt_ptr, git_ptr, x_ptr, ck_ptr, z_ptr, am_ptr, as_ptr, K_ptr, th_ptr,
    vl_ptr, r_ptr, vr_ptr, gx_ptr, buf_ptr, gv0_ptr, gi0_ptr, gam_ptr, gas_ptr, gK_ptr, gth_ptr,
    coef_ptr, T, N, S,
    RESET: tl.constexpr, KIND: tl.constexpr, SEG: tl.constexpr, BLOCK: tl.constexpr,
    UNROLL: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = tl.load(coef_ptr)
    attached = tl.load(coef_ptr + 1)
    half_pi = tl.load(coef_ptr + 2)
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
        cr = tl.cast(s, tl.int64) * N
        v = tl.load(ck_ptr + cr + offs, mask=mask, other=0.0)
        c = tl.load(ck_ptr + S * N + cr + offs, mask=mask, other=0.0)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            t = s * SEG + i
            m = offs < tl.where(t < T, N, 0)
            row = tl.cast(t, tl.int64) * N
            tl.store(buf_ptr + i * N + offs, v, mask=m)
            tl.store(buf_ptr + (SEG + i) * N + offs, c, mask=m)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(v.dtype)
            d = c - x
            vinf = vl + r * x
            vp = vinf + (v - vinf) * am + (r * d) * K
            c = x + d * asy
            v = _reset(vp, zf, th - vr, vr, RESET)
        for ii in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            i = SEG - 1 - ii
            t = s * SEG + i
            valid = t < T
            m = offs < tl.where(valid, N, 0)  # the interpreter mis-splats a scalar bool
            row = tl.cast(t, tl.int64) * N
            vprev = tl.load(buf_ptr + i * N + offs, mask=m, other=0.0)
            iprev = tl.load(buf_ptr + (SEG + i) * N + offs, mask=m, other=0.0)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(vprev.dtype)
            gz = tl.load(gout_ptr + tl.cast(t, tl.int64) * gstride + offs, mask=m, other=0.0)
            d = iprev - x
            vinf = vl + r * x
            dvv = vprev - vinf
            vp = vinf + dvv * am + (r * d) * K
            gp, gz, ggap = _reset_grad(gv, gz, zf, th - vr, vr, vp, attached, RESET)
            sg = gz * _surrogate_grad(k, vp - th, half_pi, KIND)
            gp = gp + sg
            gd = gp * r * K + gi * asy
            tl.store(gx_ptr + row + offs, gp * (1.0 - am) * r + gi - gd, mask=m)
            g_th = g_th + tl.where(valid, ggap - sg, 0.0)
            g_am = g_am + tl.where(valid, gp * dvv, 0.0)
            g_K = g_K + tl.where(valid, gp * r * d, 0.0)
            g_as = g_as + tl.where(valid, gi * d, 0.0)
            gv = tl.where(valid, gp * am, gv)
            gi = tl.where(valid, gd, gi)
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
    fwd[(triton.cdiv(N, _BLOCK),)](
        *tensors, out, *finals, z, ckpt, T, N, S, RESET=reset, SEG=seg, BLOCK=_BLOCK,
        UNROLL=_UNROLL, num_warps=_NUM_WARPS,
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
    coef = torch.tensor(
        [float(slope), 0.0 if detach else 1.0, math.pi / 2.0], dtype=x.dtype, device=x.device
    )
    bwd[(triton.cdiv(N, _BLOCK),)](
        g_rows, g_stride, *grad_state, x, ckpt, z, *params, grad_x, buf, *grads, coef, T, N,
        ckpt.shape[1], RESET=int(reset), KIND=int(kind), SEG=int(seg), BLOCK=_BLOCK,
        UNROLL=_UNROLL, num_warps=_NUM_WARPS,
    )
    return (grad_x, *grads)


FORWARD = {name: (lambda *a, _n=name: _forward(_n, *a)) for name in _KERNELS}
"""CUDA implementations of the ``<family>_forward`` ops, by family."""
BACKWARD = {name: (lambda *a, _n=name: _backward(_n, *a)) for name in _KERNELS}
"""CUDA implementations of the ``<family>_backward`` ops, by family."""
