"""Triton GPU kernels for the LIF, ALIF and CubaLIF families (backend ``"triton"``).

Same contract as the compiled CPU kernels (:mod:`axonal.kernels.ops`), same arithmetic in the
same order. One program handles ``BLOCK`` neurons and loops over time inside the kernel. The
forward pass keeps the spikes as uint8 and a checkpoint of the state every ``SEG`` steps. The
backward pass walks the segments from the last: it recomputes a segment's states forward from
its checkpoint into a ``[n_state, SEG, N]`` scratch buffer (the only extra memory, independent
of T), then sweeps the segment in reverse.

Each equation is written once, as a ``@triton.jit`` helper: the membrane's relaxation, the
spike, the reset and its gradient, the five surrogate gradients, ALIF's adaptation and
CubaLIF's synaptic current. One forward and one backward kernel walk time for every family;
the family is a compile-time code (``FAMILY``), so each family's kernel is compiled with only
its own state and coefficients. A family has the membrane ``v``, at most one second state
``w`` (ALIF's adaptation ``a``, CubaLIF's current ``i``) and at most two coefficients of its
own, ``p`` and ``q`` (ALIF: ``alpha_adapt``, ``delta_th``; CubaLIF: ``alpha_syn``, the
synaptic ``kernel``), besides the shared ``alpha``, ``v_th``, ``v_leak``, ``r``, ``v_reset``.

Refractory periods (``t_ref > 0``, Brian2's rule as the reference steps and the CPU kernels):
a compile-time flag ``REF`` adds the countdown ``rf`` (the family's last state, checkpointed
after ``v`` and ``w``): the membrane is held and no spike fires while the gate is closed, the
second state keeps evolving, and the backward pass is the gradient of exactly that. With
``t_ref = 0`` the kernels are compiled without it (the countdown and its gradient are copied
through).

The forward kernel is compiled without floating-point contraction (``enable_fp_fusion=False``,
as the CPU kernels build with ``-ffp-contract=off``; Triton < 3.10 fuses by default): it
rounds every operation as the reference steps and the CPU kernels do, the arithmetic that the
interpreter test checks bit for bit. It is bound by memory; the unfused multiply-adds cost no
registers. The backward pass keeps fused multiply-adds: its gradients need only agree with
the reference to rounding.

This module imports Triton at import time; :mod:`axonal.kernels.gpu` imports it lazily. It
runs under Triton's interpreter too (``TRITON_INTERPRET=1``, CPU tensors), which is how its
arithmetic is tested on machines without a GPU (``tests/kernels/test_triton.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from axonal.kernels import ops

__all__ = ["FORWARD", "BACKWARD"]

_BLOCK = 128
_UNROLL = 4
_NUM_WARPS = 4
_INT32_LIMIT = 2**31  # index counts from which offsets are computed in int64

# Kernel family codes (compile-time constants of the kernels below).
_LIF = tl.constexpr(0)
_ALIF = tl.constexpr(1)
_CUBA = tl.constexpr(2)


# ------------------------------------------------------------------------------ equations
@triton.jit  # type: ignore[untyped-decorator, misc]
def _relax(v, x, al, vl, r):  # type: ignore[no-untyped-def]
    """The membrane relaxed for one step toward ``v_leak + r x`` by ``alpha``: returns
    ``(v_pre, v - v_inf)``."""
    vinf = vl + r * x
    d = v - vinf
    return vinf + d * al, d


@triton.jit  # type: ignore[untyped-decorator, misc]
def _adapt(a, aa, th):  # type: ignore[no-untyped-def]
    """ALIF: the decayed adaptation ``a alpha_adapt`` and the threshold it raises."""
    ad = a * aa
    return ad, th + ad


@triton.jit  # type: ignore[untyped-decorator, misc]
def _synapse(c, x, asy):  # type: ignore[no-untyped-def]
    """CubaLIF: the synaptic current relaxed toward ``x`` by ``alpha_syn``: returns
    ``(i_new, i - x)``."""
    d = c - x
    return x + d * asy, d


@triton.jit  # type: ignore[untyped-decorator, misc]
def _remaining(rf, dt):  # type: ignore[no-untyped-def]
    """The refractory time left after this step: ``max(rf - dt, 0)`` (nan stays nan)."""
    rem = rf - dt
    return tl.where(rem < 0, 0.0, rem).to(rf.dtype)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _fire(vp, thr):  # type: ignore[no-untyped-def]
    """The spike (0 / 1 in the membrane's dtype): ``v_pre - threshold > 0``."""
    return tl.where(vp - thr > 0, 1.0, 0.0).to(vp.dtype)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _reset(vp, zf, gap, vr, RESET: tl.constexpr):  # type: ignore[no-untyped-def]
    """The membrane after the reset (0 subtract ``gap``, 1 to ``v_reset``, 2 none)."""
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
    """The surrogate's derivative at ``u = v_pre - threshold`` (slope ``k``)."""
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


@triton.jit  # type: ignore[untyped-decorator, misc]
def _spike_grad(  # type: ignore[no-untyped-def]
    gv, gz, zf, vp, thr, vr, k, attached, half_pi, RESET: tl.constexpr, KIND: tl.constexpr
):
    """Through the reset and the spike: (dL/dv_pre, dL/dthreshold) from dL/dv_new, dL/dz."""
    gp, gz, ggap = _reset_grad(gv, gz, zf, thr - vr, vr, vp, attached, RESET)
    sg = gz * _surrogate_grad(k, vp - thr, half_pi, KIND)
    return gp + sg, ggap - sg


# --------------------------------------------------------------------------- family steps
@triton.jit  # type: ignore[untyped-decorator, misc]
def _charge(v, w, x, al, th, vl, r, p, q, FAMILY: tl.constexpr):  # type: ignore[no-untyped-def]
    """One step up to the spike: ``(v_pre, v - v_inf, threshold, w before the spike's
    effect, i - x)`` (the last is CubaLIF's; the others return ``v - v_inf`` there)."""
    vp, d = _relax(v, x, al, vl, r)
    thr = th
    wn = w
    e = d
    if FAMILY == _ALIF:
        wn, thr = _adapt(w, p, th)
    elif FAMILY == _CUBA:
        wn, e = _synapse(w, x, p)
        vp = vp + (r * e) * q
    return vp, d, thr, wn, e


@triton.jit  # type: ignore[untyped-decorator, misc]
def _after_spike(vp, wn, zf, thr, vr, q, FAMILY: tl.constexpr, RESET: tl.constexpr):  # type: ignore[no-untyped-def]
    """The state ``(v, w)`` after the spike ``zf``: the reset, ALIF's ``+ delta_th z``."""
    v = _reset(vp, zf, thr - vr, vr, RESET)
    if FAMILY == _ALIF:
        wn = wn + q * zf
    return v, wn


# -------------------------------------------------------------------------------- kernels
@triton.jit  # type: ignore[untyped-decorator, misc]
def _vec(ptr, offs, mask):  # type: ignore[no-untyped-def]
    return tl.load(ptr + offs, mask=mask, other=0.0)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _row(i, N, WIDE: tl.constexpr):  # type: ignore[no-untyped-def]
    """Offset of row ``i`` of the ``[n_state * SEG, N]`` scratch buffer: int32 (fewer
    registers in the backward sweep) unless the buffer has 2^31 elements or more."""
    if WIDE:
        out = tl.cast(i, tl.int64) * N
    else:
        out = i * N
    return out


@triton.jit  # type: ignore[untyped-decorator, misc]
def _step_lanes(offs, N, t, T):  # type: ignore[no-untyped-def]
    """The lanes of step ``t``: the program's neurons below ``N`` while ``t < T``, none past
    the end. (Not ``(offs < N) & (t < T)``: Triton 3.9's interpreter splats a scalar
    comparison as int32 and rejects it as a mask.)"""
    return offs < tl.where(t < T, N, 0)


# Both kernels walk time as S segments of SEG steps (the last one partly past T: those steps
# are masked and leave the state alone). Segment loops are unrolled UNROLL times so that the
# loads of several steps, which do not depend on the state, are in flight together. For LIF
# the second state and the coefficients p, q are neither loaded nor stored (their pointers are
# placeholders).


@triton.jit  # type: ignore[untyped-decorator, misc]
def _forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, v0_ptr, w0_ptr, rf0_ptr, al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr, p_ptr, q_ptr, gate_ptr,
    out_ptr, vt_ptr, wt_ptr, rft_ptr, z_ptr, ck_ptr, T, N, S,
    FAMILY: tl.constexpr, RESET: tl.constexpr, REF: tl.constexpr, SEG: tl.constexpr,
    BLOCK: tl.constexpr, UNROLL: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    al, th = _vec(al_ptr, offs, mask), _vec(th_ptr, offs, mask)
    vl, r, vr = _vec(vl_ptr, offs, mask), _vec(r_ptr, offs, mask), _vec(vr_ptr, offs, mask)
    v = _vec(v0_ptr, offs, mask)
    w, p, q = v, al, al
    if FAMILY != _LIF:
        w, p, q = _vec(w0_ptr, offs, mask), _vec(p_ptr, offs, mask), _vec(q_ptr, offs, mask)
    rf, dt, lim, tref = v, al, al, al
    rf_row = S  # the countdown's checkpoint rows follow v's (and w's)
    if FAMILY != _LIF:
        rf_row = 2 * S
    if REF:  # gate: (dt, refractory_limit(dt), t_ref) in the input's dtype
        dt, lim, tref = tl.load(gate_ptr), tl.load(gate_ptr + 1), tl.load(gate_ptr + 2)
        rf = _vec(rf0_ptr, offs, mask)
    for s in range(S):
        c = tl.cast(s, tl.int64) * N  # addresses: a scalar int64 offset, then the lanes
        tl.store(ck_ptr + c + offs, v, mask=mask)
        if FAMILY != _LIF:
            tl.store(ck_ptr + tl.cast(S, tl.int64) * N + c + offs, w, mask=mask)
        if REF:
            tl.store(ck_ptr + tl.cast(rf_row, tl.int64) * N + c + offs, rf, mask=mask)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            t = s * SEG + i
            valid = t < T
            m = _step_lanes(offs, N, t, T)
            row = tl.cast(t, tl.int64) * N
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            vp, _, thr, wn, _ = _charge(v, w, x, al, th, vl, r, p, q, FAMILY)
            if REF:  # held while refractory: the membrane keeps v, no spike
                rem = _remaining(rf, dt)
                gate_open = rem < lim
                vp = tl.where(gate_open, vp, v)
                zf = tl.where(gate_open, _fire(vp, thr), 0.0).to(vp.dtype)
                rf = tl.where(valid, tl.where(zf > 0, tref, rem), rf)
            else:
                zf = _fire(vp, thr)
            vn, wn = _after_spike(vp, wn, zf, thr, vr, q, FAMILY, RESET)
            v = tl.where(valid, vn, v)
            if FAMILY != _LIF:
                w = tl.where(valid, wn, w)
            tl.store(out_ptr + row + offs, zf, mask=m)
            tl.store(z_ptr + row + offs, zf.to(tl.uint8), mask=m)
    tl.store(vt_ptr + offs, v, mask=mask)
    if FAMILY != _LIF:
        tl.store(wt_ptr + offs, w, mask=mask)
    if REF:
        tl.store(rft_ptr + offs, rf, mask=mask)


@triton.jit  # type: ignore[untyped-decorator, misc]
def _backward_kernel(  # type: ignore[no-untyped-def]
    gout_ptr, gstride, gvt_ptr, gwt_ptr, grft_ptr, x_ptr, ck_ptr, z_ptr,
    al_ptr, th_ptr, vl_ptr, r_ptr, vr_ptr, p_ptr, q_ptr,
    gx_ptr, buf_ptr, gv0_ptr, gw0_ptr, grf0_ptr, gal_ptr, gth_ptr, gp_ptr, gq_ptr, coef_ptr,
    T, N, S,
    FAMILY: tl.constexpr, RESET: tl.constexpr, KIND: tl.constexpr, REF: tl.constexpr,
    SEG: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr, WIDE: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    # coef: (surrogate slope, 1 if the reset is attached else 0, pi / 2, dt,
    # refractory_limit(dt), t_ref) in the input's dtype
    k, attached, half_pi = tl.load(coef_ptr), tl.load(coef_ptr + 1), tl.load(coef_ptr + 2)
    al, th = _vec(al_ptr, offs, mask), _vec(th_ptr, offs, mask)
    vl, r, vr = _vec(vl_ptr, offs, mask), _vec(r_ptr, offs, mask), _vec(vr_ptr, offs, mask)
    gv = _vec(gvt_ptr, offs, mask)
    g_al, g_th = gv * 0.0, gv * 0.0
    gw, p, q = gv, al, al
    if FAMILY != _LIF:
        gw, p, q = _vec(gwt_ptr, offs, mask), _vec(p_ptr, offs, mask), _vec(q_ptr, offs, mask)
        g_p, g_q = gv * 0.0, gv * 0.0
    g_rf, dt, lim, tref = gv, k, k, k
    rf_row = 1  # the countdown's rows (checkpoint and scratch) follow v's (and w's)
    if FAMILY != _LIF:
        rf_row = 2
    if REF:
        dt, lim, tref = tl.load(coef_ptr + 3), tl.load(coef_ptr + 4), tl.load(coef_ptr + 5)
        g_rf = _vec(grft_ptr, offs, mask)
    sn = tl.cast(S, tl.int64) * N
    for ss in range(S):
        s = S - 1 - ss
        c = tl.cast(s, tl.int64) * N
        v = tl.load(ck_ptr + c + offs, mask=mask, other=0.0)
        w = v
        if FAMILY != _LIF:
            w = tl.load(ck_ptr + sn + c + offs, mask=mask, other=0.0)
        rf = v
        if REF:
            rf = tl.load(ck_ptr + rf_row * sn + c + offs, mask=mask, other=0.0)
        for i in tl.range(0, SEG, loop_unroll_factor=UNROLL):  # recompute; park the state
            t = s * SEG + i
            m = _step_lanes(offs, N, t, T)
            row = tl.cast(t, tl.int64) * N
            tl.store(buf_ptr + _row(i, N, WIDE) + offs, v, mask=m)
            if FAMILY != _LIF:
                tl.store(buf_ptr + _row(SEG + i, N, WIDE) + offs, w, mask=m)
            if REF:
                tl.store(buf_ptr + _row(rf_row * SEG + i, N, WIDE) + offs, rf, mask=m)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(v.dtype)
            vp, _, thr, wn, _ = _charge(v, w, x, al, th, vl, r, p, q, FAMILY)
            if REF:
                rem = _remaining(rf, dt)
                vp = tl.where(rem < lim, vp, v)
                rf = tl.where(zf > 0, tref, rem)
            v, wn = _after_spike(vp, wn, zf, thr, vr, q, FAMILY, RESET)
            if FAMILY != _LIF:
                w = wn
        for ii in tl.range(0, SEG, loop_unroll_factor=UNROLL):
            i = SEG - 1 - ii
            t = s * SEG + i
            valid = t < T
            m = _step_lanes(offs, N, t, T)
            row = tl.cast(t, tl.int64) * N
            vprev = tl.load(buf_ptr + _row(i, N, WIDE) + offs, mask=m, other=0.0)
            wprev = vprev
            if FAMILY != _LIF:
                wprev = tl.load(buf_ptr + _row(SEG + i, N, WIDE) + offs, mask=m, other=0.0)
            x = tl.load(x_ptr + row + offs, mask=m, other=0.0)
            zf = tl.load(z_ptr + row + offs, mask=m, other=0).to(vprev.dtype)
            gz = tl.load(gout_ptr + tl.cast(t, tl.int64) * gstride + offs, mask=m, other=0.0)
            vp, d, thr, _, e = _charge(vprev, wprev, x, al, th, vl, r, p, q, FAMILY)
            if FAMILY == _ALIF:
                gz = gz + gw * q  # a_new = a alpha_adapt + delta_th z
            gp, g_thr = _spike_grad(gv, gz, zf, vp, thr, vr, k, attached, half_pi, RESET, KIND)
            gm = gp  # the gradient reaching the membrane update v_pre
            if REF:  # refractory: no spike, no surrogate; v passes straight to v_prev
                rfprev = tl.load(buf_ptr + _row(rf_row * SEG + i, N, WIDE) + offs, mask=m,
                                 other=0.0)
                gate_open = _remaining(rfprev, dt) < lim
                gp = tl.where(gate_open, gp, gv)
                g_thr = tl.where(gate_open, g_thr, 0.0)
                gm = tl.where(gate_open, gp, 0.0)
                held = (zf > 0) | (rfprev - dt < 0)  # torch.clamp passes where its input >= 0
                g_rf = tl.where(valid, tl.where(held, 0.0, g_rf), g_rf)
            gx = gm * (1.0 - al) * r
            if FAMILY == _ALIF:  # w = a, p = alpha_adapt, q = delta_th
                g_ad = gw + g_thr
                g_p = g_p + tl.where(valid, g_ad * wprev, 0.0)
                g_q = g_q + tl.where(valid, gw * zf, 0.0)
                gw = tl.where(valid, g_ad * p, gw)
            elif FAMILY == _CUBA:  # w = i, p = alpha_syn, q = kernel, e = i - x
                gd = gm * r * q + gw * p
                gx = gx + gw - gd
                g_p = g_p + tl.where(valid, gw * e, 0.0)
                g_q = g_q + tl.where(valid, gm * r * e, 0.0)
                gw = tl.where(valid, gd, gw)
            tl.store(gx_ptr + row + offs, gx, mask=m)
            g_th = g_th + tl.where(valid, g_thr, 0.0)
            g_al = g_al + tl.where(valid, gm * d, 0.0)
            g_prev = gm * al
            if REF:
                g_prev = tl.where(gate_open, g_prev, gp)
            gv = tl.where(valid, g_prev, gv)
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(gal_ptr + offs, g_al, mask=mask)
    tl.store(gth_ptr + offs, g_th, mask=mask)
    if FAMILY != _LIF:
        tl.store(gw0_ptr + offs, gw, mask=mask)
        tl.store(gp_ptr + offs, g_p, mask=mask)
        tl.store(gq_ptr + offs, g_q, mask=mask)
    if REF:
        tl.store(grf0_ptr + offs, g_rf, mask=mask)


# -------------------------------------------------------------------------------- drivers
_LAYOUT: dict[str, tuple[Any, tuple[str, ...]]] = {
    # name: (kernel family code, the op's parameters that are the kernel's p and q)
    "lif": (_LIF, ()),
    "alif": (_ALIF, ("alpha_adapt", "delta_th")),
    "cuba_lif": (_CUBA, ("alpha_syn", "kernel")),
}


def _coefficients(name: str, params: list[Tensor]) -> list[Tensor]:
    """The op's parameters as the kernels' (alpha, v_th, v_leak, r, v_reset, p, q); for LIF,
    ``p`` and ``q`` are placeholders that the kernels never read."""
    by_name = dict(zip(ops.FAMILIES[name].params, params))
    own = [by_name[n] for n in _LAYOUT[name][1]] or [params[0], params[0]]
    return [by_name[n] for n in ("alpha", "v_th", "v_leak", "r", "v_reset")] + own


_N_CODES = 8  # reset, detach, kind, slope, seg, t_ref, dt, ref_limit


def _forward(name: str, *args: Any) -> tuple[Tensor, ...]:
    """``<name>_forward`` on CUDA: ``(x, *state0, refractory0, *params, reset, detach, kind,
    slope, seg, t_ref, dt, ref_limit)``."""
    n_state = len(ops.FAMILIES[name].states)  # the refractory countdown last
    x, *rest = [t.contiguous() for t in args[:-_N_CODES]]
    state0, params = rest[:n_state], rest[n_state:]
    reset, seg = int(args[-_N_CODES]), int(args[-4])
    t_ref, dt, ref_limit = float(args[-3]), float(args[-2]), float(args[-1])
    ref = t_ref > 0
    T, N = x.shape
    S = (T + seg - 1) // seg
    out = torch.empty_like(x)
    finals = [torch.empty_like(state0[0]) for _ in range(n_state)]
    z = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
    ckpt = torch.empty((n_state - 1 + int(ref), S, N), dtype=x.dtype, device=x.device)
    gate = torch.tensor([dt, ref_limit, t_ref], dtype=x.dtype, device=x.device)
    w0, w_t = state0[1 if n_state > 2 else 0], finals[1 if n_state > 2 else 0]
    _forward_kernel[(triton.cdiv(N, _BLOCK),)](
        x, state0[0], w0, state0[-1], *_coefficients(name, params), gate, out, finals[0], w_t,
        finals[-1], z, ckpt, T, N, S, FAMILY=_LAYOUT[name][0], RESET=reset, REF=ref, SEG=seg,
        BLOCK=_BLOCK, UNROLL=_UNROLL, num_warps=_NUM_WARPS, enable_fp_fusion=False,
    )
    if not ref:  # the countdown passes through
        finals[-1].copy_(state0[-1])
    return (out, *finals, z, ckpt)


def _backward(name: str, *args: Any) -> tuple[Tensor, ...]:
    """``<name>_backward`` on CUDA: ``(grad_out, *grad_state, grad_refractory, x, ckpt, z,
    *params, reset, detach, kind, slope, seg, t_ref, dt, ref_limit)``."""
    fam = ops.FAMILIES[name]
    n_state = len(fam.states)
    grad_out = args[0]
    grad_state = [g.contiguous() for g in args[1 : 1 + n_state]]
    x, ckpt, z = args[1 + n_state : 4 + n_state]
    params = [p.contiguous() for p in args[4 + n_state : -_N_CODES]]
    reset, detach, kind, slope, seg, t_ref, dt, ref_limit = args[-_N_CODES:]
    ref = float(t_ref) > 0
    T, N = x.shape
    if T > 1 and grad_out.stride(0) == 0:  # broadcast over time: one row, stride 0
        g_rows, g_stride = grad_out[0].contiguous(), 0
    else:
        g_rows, g_stride = grad_out.contiguous(), N
    grad_x = torch.empty_like(x)
    buf = torch.empty((ckpt.shape[0], seg, N), dtype=x.dtype, device=x.device)
    g_state = [torch.empty_like(grad_state[0]) for _ in range(n_state)]
    g_param = {n: torch.empty_like(grad_state[0]) for n in fam.grads}
    own = _LAYOUT[name][1]
    g_own = [g_param[n] for n in own] or [g_state[0], g_state[0]]  # LIF: never written
    second = 1 if n_state > 2 else 0  # LIF: placeholders, never read or written
    coef = torch.tensor(
        [float(slope), 0.0 if detach else 1.0, math.pi / 2.0, float(dt), float(ref_limit),
         float(t_ref)], dtype=x.dtype, device=x.device,
    )
    _backward_kernel[(triton.cdiv(N, _BLOCK),)](
        g_rows, g_stride, grad_state[0], grad_state[second], grad_state[-1], x, ckpt, z,
        *_coefficients(name, params), grad_x, buf, g_state[0], g_state[second], g_state[-1],
        g_param["alpha"], g_param["v_th"], *g_own, coef, T, N, ckpt.shape[1],
        FAMILY=_LAYOUT[name][0], RESET=int(reset), KIND=int(kind), REF=ref, SEG=int(seg),
        BLOCK=_BLOCK, UNROLL=_UNROLL, WIDE=buf.numel() >= _INT32_LIMIT, num_warps=_NUM_WARPS,
    )
    if not ref:  # the countdown passed through the forward
        g_state[-1].copy_(grad_state[-1])
    return (grad_x, *g_state, *g_param.values())


FORWARD = {name: (lambda *a, _n=name: _forward(_n, *a)) for name in _LAYOUT}
"""CUDA implementations of the ``<family>_forward`` ops, by family."""
BACKWARD = {name: (lambda *a, _n=name: _backward(_n, *a)) for name in _LAYOUT}
"""CUDA implementations of the ``<family>_backward`` ops, by family."""
