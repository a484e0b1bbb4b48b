"""Native backend of :meth:`axonal.sim.network.Network.run`: LIF and ALIF networks on the C loop.

:class:`NativeRunner` holds the flat arrays the loop of ``_native.c`` works on (aliased with
the network's tensors) and calls it; :func:`native_unsupported` says which networks it runs
(float32 LIF and ALIF populations, with or without a refractory period, any reset mode;
exponential (integrated exactly, so a LIF population with exponential channels is a CubaLIF
population), conductance and delta channels; constant currents, spike generators, Poisson
sources, spike and rate monitors; see :mod:`axonal.sim.native` for the library and its build).
Other families (CubaLIF, IF, AdEx, Izhikevich, ...) run on the torch loop. Poisson sources
draw from the backend's own generator (seeded from the network's), so their spike trains
differ from the torch path's; everything else is identical.
"""

from __future__ import annotations

import ctypes
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from axonal.functional.neurons import ALIFState, LIFState, ResetMode, get_family
from axonal.functional.neurons.family import exp_decay
from axonal.functional.neurons.refractory import refractory_limit
from axonal.sim.inputs import ConstantCurrent, PoissonSource, SpikeGenerator
from axonal.sim.monitors import Monitor, RateMonitor, SpikeMonitor
from axonal.sim.native import build_error, library, pointer, pointer_array
from axonal.sim.populations import Population, Source
from axonal.sim.projections import Projection
from axonal.sim.synapses import Conductance, Delta

__all__ = ["NativeRunner", "native_unsupported"]

_P = ctypes.c_void_p
_T_MAX = 8  # TMAX of _native.c

SOURCE_KINDS = {"LIF": 0, "POISSON": 1, "GENERATOR": 2}
"""Codes of the sources the C loop runs (``AXONAL_SIM_SOURCE_*`` of ``axonal/csrc/codes.h``,
generated from this table)."""
CHANNEL_KINDS = {"CURRENT": 0, "CONDUCTANCE": 1, "DELTA": 2}
"""Codes of the synaptic input channels (``AXONAL_SIM_CHANNEL_*``)."""
DELAY_KINDS = {"SCALAR": 0, "UINT8": 1, "INT16": 2, "INT32": 3}
"""Codes of how a projection stores its delays: one for all, or per synapse in that integer
type (``AXONAL_SIM_DELAY_*``)."""
_DELAY_DTYPES = {torch.uint8: "UINT8", torch.int16: "INT16", torch.int32: "INT32"}


def native_unsupported(dtype: torch.dtype, sources: Sequence[Source],
                       monitors: Sequence[Monitor]) -> str | None:
    """Why a network of these sources and monitors cannot run on the native backend, or
    ``None`` if it can."""
    if dtype != torch.float32:
        return "the native backend runs float32 networks"
    native_families = (get_family("lif"), get_family("alif"))
    for src in sources:
        if isinstance(src, Population):
            if src.family not in native_families:
                return (f"{src.name}: the native backend runs LIF and ALIF populations only, "
                        f"not {src.family.name}")
            if any(not isinstance(c, ConstantCurrent) for c in src.currents):
                return f"{src.name}: the native backend takes constant currents only"
        elif not isinstance(src, (PoissonSource, SpikeGenerator)):
            return f"unsupported source {type(src).__name__}"
    for mon in monitors:
        if not isinstance(mon, (SpikeMonitor, RateMonitor)):
            return f"{type(mon).__name__} needs the torch backend"
    if library() is None:
        return f"the native backend did not build: {build_error()}"
    return None


class NativeRunner:
    """Holds the flat arrays the C loop works on, aliased with the network's tensors."""

    def __init__(self, sources: Sequence[Source], projections: Sequence[Projection],
                 generator: torch.Generator, dt: float) -> None:
        self.sources = list(sources)
        self.dt = dt
        n_total = sum(s.n for s in sources)
        f32 = torch.float32
        self.v = torch.zeros(n_total, dtype=f32)
        self.refr = torch.zeros(n_total, dtype=f32)
        self.adapt = torch.zeros(n_total, dtype=f32)
        names = ("v_leak", "r", "decay", "v_th", "reset_value", "t_ref", "current",
                 "alpha_adapt", "delta_th")
        self.par = {k: torch.zeros(n_total, dtype=f32) for k in names}
        self.lam = np.zeros(n_total, dtype=np.float64)
        self.offsets: dict[int, int] = {}
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self.rng = np.array([seed], dtype=np.uint64)
        gen_steps: list[Tensor] = []
        gen_ids: list[Tensor] = []
        pop_meta: list[int] = []
        pop_lists: list[int] = []
        self.channels: list[Any] = []
        chan_index: dict[tuple[int, Any], int] = {}
        offset = 0
        for src in sources:
            self.offsets[id(src)] = offset
            sl = slice(offset, offset + src.n)
            if isinstance(src, Population):
                p: Any = src.params
                adaptive = src.family.name == "alif"
                self.v[sl] = src.state.v
                self.refr[sl] = src.state.refractory
                if adaptive:
                    self.adapt[sl] = src.state.a
                    src.state = ALIFState(v=self.v[sl], a=self.adapt[sl],
                                          refractory=self.refr[sl])
                else:
                    src.state = LIFState(v=self.v[sl], refractory=self.refr[sl])
                values = [("v_leak", p.v_leak), ("r", p.r), ("v_th", p.v_th),
                          ("decay", exp_decay(dt, p.tau_mem)), ("t_ref", p.t_ref)]
                if adaptive:
                    values += [("alpha_adapt", exp_decay(dt, p.tau_adapt)),
                               ("delta_th", p.delta_th)]
                for key, value in values:
                    self.par[key][sl] = torch.as_tensor(value).to(f32)
                reset = p.reset.code
                # LIF: what the reset mode reads; ALIF: v_reset (the loop subtracts the
                # effective threshold's distance, (v_th + a) - v_reset)
                value = (p.v_th - p.v_reset if p.reset is ResetMode.SUBTRACT and not adaptive
                         else p.v_reset)
                self.par["reset_value"][sl] = torch.as_tensor(value).to(f32)
                for cur in src.currents:
                    self.par["current"][sl] += torch.as_tensor(
                        cur.value(0, dt, src.n, f32), dtype=f32)
                kind, has_ref = SOURCE_KINDS["LIF"], int(p.t_ref > 0)
                adapt_flag = int(adaptive)
                chans = []
                for syn, ch in src.channels.items():
                    chan_index[(id(src), syn)] = len(self.channels)
                    chans.append(len(self.channels))
                    ch.g = ch.g.contiguous()
                    self.channels.append((syn, ch, offset))
            elif isinstance(src, PoissonSource):
                assert src._p is not None
                self.lam[sl] = src._p.double().numpy()
                kind, has_ref, reset, chans = SOURCE_KINDS["POISSON"], 0, ResetMode.NONE.code, []
                adapt_flag = 0
            else:
                assert isinstance(src, SpikeGenerator)
                gen_steps.append(src._steps)
                gen_ids.append(src._ids + offset)
                kind, has_ref, reset, chans = SOURCE_KINDS["GENERATOR"], 0, ResetMode.NONE.code, []
                adapt_flag = 0
            outgoing = [j for j, pr in enumerate(projections) if pr.pre is src]
            uniform = int(kind == SOURCE_KINDS["LIF"] and src.n > 0 and all(
                bool((self.par[key][sl] == self.par[key][offset]).all()) for key in names))
            pop_meta += [kind, offset, src.n, has_ref, reset, uniform, len(chans),
                         len(outgoing), adapt_flag]
            pop_lists += chans + outgoing
            offset += src.n
        self.pop_meta = np.array(pop_meta, dtype=np.int32)
        self.pop_lists = np.array(pop_lists or [0], dtype=np.int32)
        chan_meta, chan_f = [], []
        self.chan_coef: list[Tensor | None] = []  # per-neuron input factors (kept alive)
        for syn, ch, _ in self.channels:
            kind = CHANNEL_KINDS["CONDUCTANCE" if isinstance(syn, Conductance)
                                 else "DELTA" if isinstance(syn, Delta) else "CURRENT"]
            chan_meta += [kind, 0, ch.ring.n, ch.ring.depth]
            decay = 0.0 if isinstance(syn, Delta) else syn.decay(dt)
            factor = ch.factor
            coef = 1.0
            if factor is not None and factor.ndim == 0:
                coef = float(factor)  # a float32 value: exact
                factor = None
            self.chan_coef.append(None if factor is None else factor.to(f32).contiguous())
            chan_f += [decay, float(getattr(syn, "e_rev", 0.0)), coef]
        self.chan_meta = np.array(chan_meta or [0], dtype=np.int32)
        self.chan_f = np.array(chan_f or [0.0], dtype=np.float32)
        proj_meta, proj_w = [], []
        self.tables = []
        for pr in projections:
            t = pr.table
            assert t is not None
            self.tables.append(t)
            scalar = int(t.weight.ndim == 0)
            dtype_code = DELAY_KINDS["SCALAR" if t.delay is None else _DELAY_DTYPES[t.delay.dtype]]
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
        lib = library()
        if lib is not None and getattr(self, "out_steps", None) is not None:
            lib.axonal_free(self.out_steps, self.out_ids)

    def run(self, start: int, n_steps: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Advance ``n_steps``; returns spike steps, global ids and synaptic events."""
        lib = library()
        assert lib is not None
        events = ctypes.c_int64(0)
        self.out_count.value = 0
        chan_g = pointer_array(_P, [pointer(ch.g) for _, ch, _ in self.channels])
        chan_ring = pointer_array(_P, [pointer(ch.ring.data) for _, ch, _ in self.channels])
        tables = self.tables
        chan_coef = pointer_array(_P, [None if c is None else pointer(c) for c in self.chan_coef])
        rc = lib.axonal_run(
            ctypes.c_int64(start), ctypes.c_int64(n_steps), ctypes.c_float(self.dt),
            ctypes.c_float(refractory_limit(self.dt)), ctypes.c_int32(self.t_block),
            ctypes.c_int32(len(self.sources)), _P(pointer(self.pop_meta)),
            _P(pointer(self.pop_lists)),
            ctypes.c_int32(len(self.channels)), _P(pointer(self.chan_meta)), _P(pointer(self.chan_f)),
            chan_g, chan_ring, chan_coef,
            ctypes.c_int32(len(tables)), _P(pointer(self.proj_meta)), _P(pointer(self.proj_w)),
            pointer_array(_P, [pointer(t.indptr) for t in tables]), pointer_array(_P, [pointer(t.post) for t in tables]),
            pointer_array(_P, [pointer(t.weight) if t.weight.ndim else None for t in tables]),
            pointer_array(_P, [pointer(t.delay) for t in tables]),
            *(_P(pointer(a)) for a in (self.v, self.refr, self.adapt, self.par["v_leak"],
                                    self.par["r"], self.par["decay"], self.par["v_th"],
                                    self.par["reset_value"], self.par["t_ref"],
                                    self.par["current"], self.par["alpha_adapt"],
                                    self.par["delta_th"], self.lam, self.rng,
                                    self.gen_steps, self.gen_ids)),
            ctypes.c_int64(self.n_gen), _P(pointer(self.gen_pos)),
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
        # nothing to copy back: the channels' g and rings are aliased with the C arrays
        return steps, ids, events.value
