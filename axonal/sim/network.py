"""The network: populations, spike sources, projections and monitors run on one clock.

Per step ``k`` (the update from ``k dt`` to ``(k + 1) dt``), :meth:`Network.run` does, in order:

1. every neuron population computes its input ``x`` (nA): the current of each synapse channel
   (current-based: ``g`` times the channel's input factor, which integrates the decaying
   current exactly into LIF and ALIF membranes, :mod:`axonal.sim.synapses`; conductance-based
   ``g (E_rev - v)``; delta: last step's arrivals) plus the injected currents, and advances
   with its family's pure step function
   (``get_family(name).step``), which applies threshold, reset and refractoriness;
   spike sources (Poisson, generators) emit their spikes of step ``k``;
2. every projection queues the synapses of the neurons that spiked (CSR rows, event-driven)
   into the ring buffer of its target channel, ``d`` steps ahead for a delay of ``d dt``,
   and the monitors record (a neuron's state after its update of step ``k``; a channel's
   ``g`` as step ``k`` used it, i.e. before 3.);
3. every channel decays exactly over the step and adds the weights due at step ``k``
   (:func:`axonal.functional.synapses.exp_synapse_advance` with the decay of its synapse
   model, computed once per run).

So a spike of step ``k`` with delay ``d dt`` first acts on the update of step ``k + d + 1``,
as in Brian2 and NEST with the same delay; delays must be whole multiples of ``dt``, >= dt.

Validation happens once per call at the boundary (:meth:`Network.run`: ``dt``, the delays on
its grid, each family's own ``check_dt``), never inside the step loop.

A plastic projection (one with a :class:`~axonal.sim.plastic.ProjectionLearner`) is handled by
its learner between steps 2 and 3: it delivers its synapses at their arrival (reading the
weights then, as Brian2's ``on_pre``) with the same timing, then applies its rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axonal.data.limits import available_memory
from axonal.errors import ResourceLimitError
from axonal.functional.validate import check_int, check_step_count
from axonal.functional.synapses import exp_synapse_advance
from axonal.sim.delivery import RingBuffer
from axonal.sim.inputs import CurrentInput, PoissonSource, SpikeGenerator, steps_for
from axonal.sim.monitors import Monitor
from axonal.sim.native import native_available
from axonal.sim.native_loop import NativeRunner, native_unsupported
from axonal.sim.plastic import ProjectionLearner
from axonal.sim.populations import Channel, Population, Source
from axonal.sim.projections import Projection
from axonal.sim.synapses import Conductance, Delta, Synapse

__all__ = ["Network", "RunStats"]


@dataclass
class RunStats:
    """What one :meth:`Network.run` did: steps, loop seconds, synaptic events, spikes."""

    steps: int
    seconds: float
    events: int
    spikes: dict[str, int] = field(default_factory=dict)


def _available_memory() -> int | None:
    """Bytes of memory available now (:func:`axonal.data.limits.available_memory`)."""
    return available_memory()


def _progress_bar(n_steps: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=n_steps, unit="step", desc="simulate", leave=False)


class Network:
    """A set of populations, spike sources, projections and monitors run on one clock.

    Args:
        seed: seeds the one generator used for connectivity, initial values and Poisson
            sources, in the order objects were added: the same seed gives the same run.
        dtype: floating dtype of states and weights.
        memory_limit: bytes the network may use (default: the machine's available memory).
        backend: ``"torch"`` (per-step torch operations on the pure step functions),
            ``"native"`` (the compiled loop of :mod:`axonal.sim.native`, which must support the
            network) or ``"auto"`` (native where supported, else torch). Networks with plastic
            projections (:class:`~axonal.sim.plastic.ProjectionLearner`) run on torch.
    """

    def __init__(self, seed: int = 0, dtype: torch.dtype = torch.float32,
                 memory_limit: int | None = None, backend: str = "auto") -> None:
        check_int("seed", seed, minimum=0)
        if backend not in ("auto", "torch", "native"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'native', got {backend!r}")
        self.backend = backend
        self._runner: NativeRunner | None = None
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.seed, self.dtype, self.memory_limit = seed, dtype, memory_limit
        self.generator = torch.Generator().manual_seed(seed)
        self.sources: list[Source] = []
        self.projections: list[Projection] = []
        self.monitors: list[Monitor] = []
        self.learners: list[ProjectionLearner] = []
        self.dt: float | None = None
        self.step = 0

    def add(self, obj: Any) -> Any:
        """Add a population, spike source, projection, monitor or projection learner."""
        if self.dt is not None:
            raise ValueError("the network has already run; build a new Network to change it")
        if isinstance(obj, (Population, PoissonSource, SpikeGenerator)):
            if any(s is obj for s in self.sources):
                raise ValueError(f"{obj.name} was added twice")
            self.sources.append(obj)
        elif isinstance(obj, Projection):
            for end in (obj.pre, obj.post):
                if not any(s is end for s in self.sources):
                    raise ValueError(f"add {end.name} to the network before projection {obj.name}")
            self.projections.append(obj)
        elif isinstance(obj, Monitor):
            if not any(s is obj.source for s in self.sources):
                raise ValueError(f"add {obj.source.name} to the network before its monitor")
            self.monitors.append(obj)
        elif isinstance(obj, ProjectionLearner):
            if not any(p is obj.projection for p in self.projections):
                raise ValueError(f"add projection {obj.projection.name} to the network before "
                                 f"its learner")
            if any(other.projection is obj.projection for other in self.learners):
                raise ValueError(f"projection {obj.projection.name} already has a learner")
            self.learners.append(obj)
        else:
            raise TypeError(f"cannot add a {type(obj).__name__} to a Network")
        return obj

    def inject(self, population: Population, current: CurrentInput) -> None:
        """Add an injected current (nA) to ``population``'s input."""
        if not isinstance(population, Population):
            raise TypeError(f"population must be a Population, got {type(population).__name__}")
        if not isinstance(current, CurrentInput):
            raise TypeError(f"current must be a CurrentInput, got {type(current).__name__}")
        amp = getattr(current, "_a", None)
        if isinstance(amp, Tensor) and amp.ndim == 1 and type(current).__name__ == "ConstantCurrent" \
                and amp.numel() != population.n:
            raise ValueError(f"current amplitude must be a scalar or [{population.n}], got "
                             f"{amp.numel()} values")
        population.currents.append(current)

    @property
    def t(self) -> float:
        """Simulated time so far (s)."""
        return self.step * (self.dt or 0.0)

    def estimate_memory(self) -> int:
        """Bytes the built network needs: tables, the largest build's temporaries, states."""
        elem = torch.finfo(self.dtype).bits // 8
        total = 0
        peak_build = 0
        for p in self.projections:
            s = p.expected_synapses
            total += s * p.bytes_per_synapse(self.dtype) + 8 * (p.pre.n + 1)
            direct = (hasattr(p.connectivity, "build_csr") and native_available()
                      and isinstance(p.weight, (int, float)) and isinstance(p.delay, (int, float)))
            # direct CSR: int32 sources + int32 targets; else int64 pre/post/order + scratch
            peak_build = max(peak_build, s * (8 if direct else 40))
        for src in self.sources:
            total += src.n * elem * 8
        for learner in self.learners:
            total += learner.projection.expected_synapses * learner.bytes_per_synapse(self.dtype)
        return total + peak_build

    def _build(self, dt: float) -> None:
        for p in self.projections:
            p.check_delay_grid(dt)
        estimate = self.estimate_memory()
        limit = self.memory_limit if self.memory_limit is not None else _available_memory()
        if limit is not None and estimate > limit:
            raise ResourceLimitError(f"the network needs about {estimate / 2**30:.2f} GiB "
                             f"({estimate} bytes) but only {limit / 2**30:.2f} GiB are available")
        for src in self.sources:
            if isinstance(src, Population):
                src._initialise(self.generator, self.dtype)
            else:
                src.prepare(dt, self.dtype)
        depth: dict[tuple[int, Synapse], int] = {}
        for p in self.projections:
            if isinstance(p.synapse, Conductance) and "v" not in p.post.family.state_type._fields:
                raise ValueError(f"{p.name}: conductance synapses need a state field 'v'")
            table = p.build(dt, self.generator, self.dtype)
            key = (id(p.post), p.synapse)
            depth[key] = max(depth.get(key, 1), table.delay_steps + 1)
        # the ring buffers (one row per step of the longest delay), before allocating them
        elem = torch.finfo(self.dtype).bits // 8
        post_of = {id(p.post): p.post for p in self.projections}
        rings = sum(d * post_of[key[0]].n * elem for key, d in depth.items())
        if limit is not None and estimate + rings > limit:
            raise ResourceLimitError(
                f"the ring buffers of the synaptic delays need {rings / 2**30:.2f} GiB "
                f"({rings} bytes: the longest delay of each channel in steps x its neurons) "
                f"on top of {estimate / 2**30:.2f} GiB, but only {limit / 2**30:.2f} GiB are "
                f"available (shorten the delays or raise dt)")
        for p in self.projections:
            key = (id(p.post), p.synapse)
            if p.synapse not in p.post.channels:
                p.post.channels[p.synapse] = Channel(
                    p.synapse, torch.zeros(p.post.n, dtype=self.dtype),
                    RingBuffer(depth[key], p.post.n, self.dtype))
        for src in self.sources:
            if isinstance(src, Population):
                src._initialise_channels(self.generator, self.dtype)
                src._set_channel_factors(dt, self.dtype)
        for learner in self.learners:
            learner._prepare(dt, self.dtype)

    def run(self, duration: float, dt: float, progress: bool = True) -> RunStats:
        """Simulate ``duration`` seconds more (a multiple of ``dt``); callable repeatedly.

        Every call validates ``dt`` (and each family's limits on it, e.g. AdEx's forward-Euler
        bound and Izhikevich's ``dt <= 1 ms``) and ``duration`` here, once: a run of more than
        :data:`~axonal.functional.validate.MAX_STEPS` (10^10) steps raises
        :class:`~axonal.errors.ResourceLimitError` before anything is built or run. The first
        call builds the network (puts delays on the ``dt`` grid, checks the memory estimate,
        draws connectivity, scales weights by their synapse model's factor); later calls must
        use the same ``dt``.
        """
        # dt (validated in there, once) and the duration: finite, >= 0, at most MAX_STEPS steps
        check_step_count(duration, dt)
        dt = float(dt)
        if self.dt is not None and abs(dt - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"dt must stay {self.dt} s for a continued run, got {dt}")
        n_steps = steps_for(float(duration), dt)
        for src in self.sources:  # each family's own limits on dt (AdEx, Izhikevich: stability)
            if isinstance(src, Population) and src.family.check_dt is not None:
                src.family.check_dt(src.params, dt)
        if self.dt is None:
            if self.backend == "torch":
                reason: str | None = "torch chosen"
            elif self.learners:
                reason = "plastic projections (ProjectionLearner) run on the torch loop"
            else:
                reason = native_unsupported(self.dtype, self.sources, self.monitors)
            if self.backend == "native" and reason is not None:
                raise ValueError(f"backend 'native' cannot run this network: {reason}")
            self._build(dt)
            self.dt = dt
            if reason is None:
                self._runner = NativeRunner(self.sources, self.projections, self.generator, dt)
        if self._runner is not None:
            return self._loop_native(n_steps, dt, progress)
        return self._loop(n_steps, dt, progress)

    @property
    def backend_used(self) -> str | None:
        """``"native"`` or ``"torch"`` once the network has run, else ``None``."""
        if self.dt is None:
            return None
        return "native" if self._runner is not None else "torch"

    def _loop_native(self, n_steps: int, dt: float, progress: bool) -> RunStats:
        assert self._runner is not None
        start = self.step
        for mon in self.monitors:
            mon.prepare(start, n_steps, dt)
        spikes = {s.name: 0 for s in self.sources}
        events = 0
        bar = _progress_bar(n_steps) if progress else None
        chunk = max(1000, n_steps // 50)
        t0 = time.perf_counter()
        done = 0
        while done < n_steps:
            m = min(chunk, n_steps - done)
            steps, ids, ev = self._runner.run(start + done, m)
            events += ev
            for src in self.sources:
                off = self._runner.offsets[id(src)]
                sel = (ids >= off) & (ids < off + src.n)
                spikes[src.name] += int(sel.sum())
                mons = [mon for mon in self.monitors if mon.source is src]
                if mons:
                    s_steps, s_ids = steps[sel], ids[sel] - off
                    for mon in mons:
                        mon.record_many(s_steps, s_ids)
            done += m
            self.step = start + done
            if bar is not None:
                bar.update(m)
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        return RunStats(n_steps, seconds, events, spikes)

    def _loop(self, n_steps: int, dt: float, progress: bool) -> RunStats:
        start = self.step
        for mon in self.monitors:
            mon.prepare(start, n_steps, dt)
        plastic = {id(learner.projection) for learner in self.learners}
        outgoing = {id(s): [p for p in self.projections if p.pre is s and id(p) not in plastic]
                    for s in self.sources}
        watched = {id(s): [m for m in self.monitors if m.source is s] for s in self.sources}
        populations = [s for s in self.sources if isinstance(s, Population)]
        channels = [ch for pop in populations for ch in pop.channels.values()]
        # the decay of each channel's synapse model, once per run (validates dt here only)
        decays = [0.0 if isinstance(ch.synapse, Delta) else ch.synapse.decay(dt)
                  for ch in channels]
        spikes = {s.name: 0 for s in self.sources}
        events = 0
        bar = _progress_bar(n_steps) if progress else None
        chunk = max(1, n_steps // 100)
        t0 = time.perf_counter()
        with torch.no_grad():
            for k in range(start, start + n_steps):
                fired: list[tuple[Source, Tensor]] = []
                for src in self.sources:
                    if isinstance(src, Population):
                        x = src._input(k, dt)
                        z, src.state = src.family.step(x, src.state, src.params, dt)
                        fired.append((src, z.nonzero().squeeze(1)))
                    else:
                        z = src.emit(k, self.generator, self.dtype)
                        ids = z.nonzero().squeeze(1)
                        if isinstance(src, PoissonSource) and ids.numel():
                            counts = z[ids].to(torch.int64)
                            if int(counts.max()) > 1:
                                ids = torch.from_numpy(np.repeat(ids.numpy(), counts.numpy()))
                        fired.append((src, ids))
                for src, ids in fired:
                    m = int(ids.numel())
                    spikes[src.name] += m
                    if m:
                        for p in outgoing[id(src)]:
                            assert p.table is not None
                            events += p.post.channels[p.synapse].ring.deliver(p.table, ids, k)
                    for mon in watched[id(src)]:
                        mon.record(k, ids)
                if self.learners:
                    now = {id(src): ids for src, ids in fired}
                    for learner in self.learners:
                        p = learner.projection
                        events += learner._step(k, now[id(p.pre)], now[id(p.post)])
                for ch, decay in zip(channels, decays):
                    due = ch.ring.due(k)
                    if isinstance(ch.synapse, Delta):
                        ch.g = due.clone()
                    else:
                        ch.g = exp_synapse_advance(ch.g, due, decay)
                    ch.ring.clear(k)
                self.step = k + 1
                if bar is not None and (k + 1 - start) % chunk == 0:
                    bar.update(chunk)
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        return RunStats(n_steps, seconds, events, spikes)

    def save(self, path: str | Path) -> Path:
        """Save every monitor's arrays (``<monitor name>/<array>``) and ``dt`` as ``.npz``."""
        arrays: dict[str, np.ndarray] = {"dt": np.array(self.dt or 0.0)}
        for mon in self.monitors:
            for key, value in mon.arrays().items():
                arrays[f"{mon.name}/{key}"] = value
        out = Path(path)
        np.savez(out, **arrays)  # type: ignore[arg-type]
        return out
