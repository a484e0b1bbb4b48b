"""Native (C) backend of :meth:`axonal.sim.network.Network.run` for LIF networks.

The loop of ``_native.c`` does per step exactly what the torch path does (the pure
``lif_step``, ``exp_synapse_step`` and ``conductance_current`` equations, in float32 and in the
same order of operations, and the same CSR/ring-buffer delivery), without the per-operation
overhead of Python and torch. It is compiled with the system C compiler at first use (plain
C, no torch headers: about a second) by :mod:`axonal.native_build` (piece ``"sim"``), into
the same content-keyed cache as the kernels; without a compiler, or with
``AXONAL_NO_KERNELS=1``, the torch path runs. The build uses ``-march=native`` (vector
instructions for the per-neuron updates) with ``-ffp-contract=off`` (no fused multiply-add,
so results stay bit-identical to the torch path).

Supported (else the torch path runs): float32 networks whose neuron populations are LIF,
with constant injected currents, spike generators, Poisson sources, spike and rate monitors.
Poisson sources draw from the backend's own generator (seeded from the network's), so their
spike trains differ from the torch path's; everything else is identical.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from axonal.functional.neurons import ResetMode, get_family
from axonal.functional.neurons._common import exp_decay
from axonal.native_build import cpu_extension_error, load_library

if TYPE_CHECKING:
    from axonal.sim.network import Network

__all__ = [
    "NativeRunner",
    "csr_fill_indegree",
    "csr_order",
    "native_available",
    "native_unsupported",
]

_LIB: ctypes.CDLL | None = None
_ERROR: str | None = None
_P = ctypes.c_void_p
_T_MAX = 8  # TMAX of _native.c


def _load() -> ctypes.CDLL | None:
    """The compiled loop (built on first call), or ``None`` with the reason in ``_ERROR``."""
    global _LIB, _ERROR
    if _LIB is not None or _ERROR is not None:
        return _LIB
    lib = load_library("sim")
    if lib is None:
        _ERROR = cpu_extension_error("sim") or "the native loop is unavailable"
        return None
    lib.axonal_run.restype = ctypes.c_int
    lib.axonal_free.restype = None
    _LIB = lib
    return _LIB


def native_available() -> bool:
    """Whether the C backend compiled and loaded here."""
    return _load() is not None


def csr_order(pre: Tensor, indptr: Tensor) -> Tensor | None:
    """Stable order of the synapses by source (a linear-time counting sort), or ``None``
    when the native library is not available.

    Shapes:
        pre: ``[S]`` int64 sources; indptr: ``[n_pre + 1]`` int64 row pointers of ``pre``.
    """
    lib = _load()
    if lib is None:
        return None
    pre = pre.contiguous()
    cursor = indptr[:-1].clone()
    order = torch.empty(pre.numel(), dtype=torch.int64)
    lib.axonal_csr_order(ctypes.c_int64(pre.numel()), _P(_ptr(pre)), _P(_ptr(cursor)),
                         _P(_ptr(order)))
    return order


def csr_fill_indegree(pre: Tensor, k: int, indptr: Tensor) -> Tensor | None:
    """CSR targets (int32) of synapses ``pre[y] -> y // k`` in stable source order, without
    an int64 order array; ``None`` when the native library is not available."""
    lib = _load()
    if lib is None:
        return None
    pre = pre.to(torch.int32).contiguous()
    cursor = indptr[:-1].clone()
    out = torch.empty(pre.numel(), dtype=torch.int32)
    lib.axonal_csr_fill_indegree(ctypes.c_int64(pre.numel()), ctypes.c_int64(k),
                                 _P(_ptr(pre)), _P(_ptr(cursor)), _P(_ptr(out)))
    return out


def native_unsupported(net: Network) -> str | None:
    """Why ``net`` cannot run on the native backend, or ``None`` if it can."""
    from axonal.sim.inputs import ConstantCurrent, PoissonSource, SpikeGenerator
    from axonal.sim.monitors import RateMonitor, SpikeMonitor
    from axonal.sim.network import Population

    if net.dtype != torch.float32:
        return "the native backend runs float32 networks"
    lif = get_family("lif")
    for src in net.sources:
        if isinstance(src, Population):
            if src.family is not lif:
                return f"{src.name}: the native backend runs LIF populations only"
            if any(not isinstance(c, ConstantCurrent) for c in src.currents):
                return f"{src.name}: the native backend takes constant currents only"
        elif not isinstance(src, (PoissonSource, SpikeGenerator)):
            return f"unsupported source {type(src).__name__}"
    for mon in net.monitors:
        if not isinstance(mon, (SpikeMonitor, RateMonitor)):
            return f"{type(mon).__name__} needs the torch backend"
    if _load() is None:
        return f"the native backend did not build: {_ERROR}"
    return None


def _ptr(t: Tensor | np.ndarray | None) -> int | None:
    if t is None:
        return None
    if isinstance(t, np.ndarray):
        return int(t.ctypes.data)
    return int(t.data_ptr())


def _arr(ctype: Any, values: list[int | None]) -> Any:
    return (ctype * max(len(values), 1))(*values)


class NativeRunner:
    """Holds the flat arrays the C loop works on, aliased with the network's tensors."""

    def __init__(self, net: Network, dt: float) -> None:
        from axonal.functional.neurons import LIFState
        from axonal.sim.inputs import PoissonSource, SpikeGenerator
        from axonal.sim.network import Conductance, Delta, Population

        self.net = net
        self.dt = dt
        n_total = sum(s.n for s in net.sources)
        f32 = torch.float32
        self.v = torch.zeros(n_total, dtype=f32)
        self.refr = torch.zeros(n_total, dtype=f32)
        names = ("v_leak", "r", "decay", "v_th", "reset_value", "t_ref", "current")
        self.par = {k: torch.zeros(n_total, dtype=f32) for k in names}
        self.lam = np.zeros(n_total, dtype=np.float64)
        self.offsets: dict[int, int] = {}
        seed = int(torch.randint(0, 2**62, (1,), generator=net.generator))
        self.rng = np.array([seed], dtype=np.uint64)
        gen_steps: list[Tensor] = []
        gen_ids: list[Tensor] = []
        pop_meta: list[int] = []
        pop_lists: list[int] = []
        self.channels: list[Any] = []
        chan_index: dict[tuple[int, Any], int] = {}
        offset = 0
        for src in net.sources:
            self.offsets[id(src)] = offset
            sl = slice(offset, offset + src.n)
            if isinstance(src, Population):
                p: Any = src.params
                self.v[sl] = src.state.v
                self.refr[sl] = src.state.refractory
                src.state = LIFState(v=self.v[sl], refractory=self.refr[sl])
                for key, value in (("v_leak", p.v_leak), ("r", p.r), ("v_th", p.v_th),
                                   ("decay", exp_decay(dt, p.tau_mem)),
                                   ("t_ref", p.t_ref)):
                    self.par[key][sl] = torch.as_tensor(value).to(f32)
                reset = {ResetMode.SUBTRACT: 0, ResetMode.ZERO: 1, ResetMode.NONE: 2}[p.reset]
                value = p.v_th - p.v_reset if reset == 0 else p.v_reset
                self.par["reset_value"][sl] = torch.as_tensor(value).to(f32)
                for cur in src.currents:
                    self.par["current"][sl] += torch.as_tensor(
                        cur.value(0, dt, src.n, f32), dtype=f32)
                kind, has_ref = 0, int(p.t_ref > 0)
                chans = []
                for syn, ch in src.channels.items():
                    chan_index[(id(src), syn)] = len(self.channels)
                    chans.append(len(self.channels))
                    ch.g = ch.g.contiguous()
                    self.channels.append((syn, ch, offset))
            elif isinstance(src, PoissonSource):
                assert src._p is not None
                self.lam[sl] = src._p.double().numpy()
                kind, has_ref, reset, chans = 1, 0, 2, []
            else:
                assert isinstance(src, SpikeGenerator)
                gen_steps.append(src._steps)
                gen_ids.append(src._ids + offset)
                kind, has_ref, reset, chans = 2, 0, 2, []
            outgoing = [j for j, pr in enumerate(net.projections) if pr.pre is src]
            uniform = int(kind == 0 and src.n > 0 and all(
                bool((self.par[key][sl] == self.par[key][offset]).all()) for key in names))
            pop_meta += [kind, offset, src.n, has_ref, reset, uniform, len(chans),
                         len(outgoing)]
            pop_lists += chans + outgoing
            offset += src.n
        self.pop_meta = np.array(pop_meta, dtype=np.int32)
        self.pop_lists = np.array(pop_lists or [0], dtype=np.int32)
        chan_meta, chan_f = [], []
        for syn, ch, _ in self.channels:
            kind = 1 if isinstance(syn, Conductance) else 2 if isinstance(syn, Delta) else 0
            chan_meta += [kind, 0, ch.ring.n, ch.ring.depth]
            decay = 0.0 if isinstance(syn, Delta) else float(exp_decay(dt, syn.tau))
            chan_f += [decay, float(getattr(syn, "e_rev", 0.0))]
        self.chan_meta = np.array(chan_meta or [0], dtype=np.int32)
        self.chan_f = np.array(chan_f or [0.0], dtype=np.float32)
        proj_meta, proj_w = [], []
        self.tables = []
        for pr in net.projections:
            t = pr.table
            assert t is not None
            self.tables.append(t)
            scalar = int(t.weight.ndim == 0)
            dtype_code = 0 if t.delay is None else {torch.uint8: 1, torch.int16: 2,
                                                    torch.int32: 3}[t.delay.dtype]
            proj_meta += [chan_index[(id(pr.post), pr.synapse)], scalar, dtype_code,
                          t.delay_steps]
            proj_w.append(float(t.weight) if scalar else 0.0)
        # Steps per pass over the neurons: a spike of step k reaches a channel at the end of
        # step k + d at the earliest (d the shortest delay), so steps k .. k + d can update the
        # neurons before step k's delivery (see _native.c).
        shortest = min((t.delay_steps if t.delay is None else int(t.delay.min())
                        for t in self.tables if t.n_synapses > 0), default=_T_MAX)
        self.t_block = max(1, min(_T_MAX, shortest + 1))
        self.proj_meta = np.array(proj_meta or [0], dtype=np.int32)
        self.proj_w = np.array(proj_w or [0.0], dtype=np.float32)
        if gen_steps:
            steps, ids = torch.cat(gen_steps), torch.cat(gen_ids)
            order = np.lexsort((ids.numpy(), steps.numpy()))
            self.gen_steps = steps.numpy()[order].astype(np.int64)
            self.gen_ids = ids.numpy()[order].astype(np.int32)
        else:
            self.gen_steps = np.zeros(1, np.int64)
            self.gen_ids = np.zeros(1, np.int32)
        self.n_gen = len(gen_steps) and int(sum(s.numel() for s in gen_steps))
        self.gen_pos = np.zeros(1, np.int64)
        self.out_steps = ctypes.c_void_p(None)
        self.out_ids = ctypes.c_void_p(None)
        self.out_count = ctypes.c_int64(0)
        self.out_cap = ctypes.c_int64(0)

    def __del__(self) -> None:
        if _LIB is not None and getattr(self, "out_steps", None) is not None:
            _LIB.axonal_free(self.out_steps, self.out_ids)

    def run(self, start: int, n_steps: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Advance ``n_steps``; returns spike steps, global ids and synaptic events."""
        lib = _load()
        assert lib is not None
        events = ctypes.c_int64(0)
        self.out_count.value = 0
        chan_g = _arr(_P, [_ptr(ch.g) for _, ch, _ in self.channels])
        chan_ring = _arr(_P, [_ptr(ch.ring.data) for _, ch, _ in self.channels])
        tables = self.tables
        rc = lib.axonal_run(
            ctypes.c_int64(start), ctypes.c_int64(n_steps), ctypes.c_float(self.dt),
            ctypes.c_int32(self.t_block),
            ctypes.c_int32(len(self.net.sources)), _P(_ptr(self.pop_meta)),
            _P(_ptr(self.pop_lists)),
            ctypes.c_int32(len(self.channels)), _P(_ptr(self.chan_meta)), _P(_ptr(self.chan_f)),
            chan_g, chan_ring,
            ctypes.c_int32(len(tables)), _P(_ptr(self.proj_meta)), _P(_ptr(self.proj_w)),
            _arr(_P, [_ptr(t.indptr) for t in tables]), _arr(_P, [_ptr(t.post) for t in tables]),
            _arr(_P, [_ptr(t.weight) if t.weight.ndim else None for t in tables]),
            _arr(_P, [_ptr(t.delay) for t in tables]),
            *(_P(_ptr(a)) for a in (self.v, self.refr, self.par["v_leak"], self.par["r"],
                                    self.par["decay"], self.par["v_th"],
                                    self.par["reset_value"], self.par["t_ref"],
                                    self.par["current"], self.lam, self.rng,
                                    self.gen_steps, self.gen_ids)),
            ctypes.c_int64(self.n_gen), _P(_ptr(self.gen_pos)),
            ctypes.byref(self.out_steps), ctypes.byref(self.out_ids),
            ctypes.byref(self.out_count), ctypes.byref(self.out_cap), ctypes.byref(events))
        if rc != 0:
            raise MemoryError("the native simulator ran out of memory for the spike buffer")
        m = self.out_count.value
        if m == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), events.value
        steps = np.ctypeslib.as_array(ctypes.cast(self.out_steps, ctypes.POINTER(ctypes.c_int64)),
                                      shape=(m,)).copy()
        ids = np.ctypeslib.as_array(ctypes.cast(self.out_ids, ctypes.POINTER(ctypes.c_int32)),
                                    shape=(m,)).astype(np.int64)
        for _, ch, _ in self.channels:  # nothing to copy back: g and rings are aliased
            pass
        return steps, ids, events.value
