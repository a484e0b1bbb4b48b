"""Every native entry point, held directly against the reference step function of its family.

``ENTRY_POINTS`` lists, per compiled module, every function it exports and where it is held to
the reference; ``test_every_export_is_listed`` fails when a module exports a function this list
does not name, so a new entry point cannot be added silently. The neuron entry points are held
here, directly (no nn layer, no op registration in between):

* the fused CPU kernels (``kernels/fused_cpu.cpp``): forward and backward of every fused family,
  for every reset mode and registered surrogate, without and with a refractory period, against
  ``<family>_step`` looped in Python: spikes and final states identical, and (float64) every
  gradient against autograd through the reference steps; ``sum_rows`` against a sum in
  float64 and across thread counts;
* the event-driven kernel (``kernels/sparse_cpu.cpp``): ``spike_linear`` against the dense
  product, ``event_network`` against ``lif_step`` / ``li_step`` for every neuron kind, with and
  without a refractory period;
* the fused recurrent kernels (``kernels/recurrent_cpu.cpp``): held in
  ``tests/kernels/test_recurrent_fused.py``, directly against ``<family>_step`` looped with
  ``F.linear`` (spikes, states, gradients) and through ``axonal.nn.Recurrent``;
* the simulator's native loop (``sim/_native.c``): every LIF loop variant (uniform or per-neuron
  parameters, refractory or not, each reset mode) against ``lif_step`` under constant drive.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import axonal
from axonal.functional import surrogate as sg
from axonal.functional.neurons import (
    FusedSpec,
    LIFParams,
    LIFState,
    LIParams,
    LIState,
    NeuronFamily,
    ResetMode,
    families,
)
from axonal.functional.neurons.li import li_step
from axonal.functional.neurons.lif import lif_step
from axonal.functional.neurons.refractory import refractory_limit
from axonal.kernels import ops
from axonal.native_build import load_extension
from axonal.sim import ConstantCurrent, Network, Population, SpikeMonitor, native

FUSED = load_extension("fused")
SPARSE = load_extension("sparse")
RECURRENT = load_extension("recurrent")
SIM = native.library()
SIM_SOURCE = Path(axonal.__file__).parent / "sim" / "_native.c"

DT = 1e-3

# ------------------------------------------------------------------------ the fused families


@dataclass(frozen=True)
class FusedCase:
    """A registered family's fused kernel: its spec (states, coefficients and differentiable
    coefficients, in op order) and the parameter fields this test draws per neuron."""

    family: NeuronFamily[Any, Any]
    learn: tuple[str, ...]  # fields drawn per neuron and differentiated
    fixed: tuple[str, ...]  # fields drawn per neuron, without gradient

    @property
    def name(self) -> str:
        return self.family.name

    @property
    def spec(self) -> FusedSpec[Any]:
        assert self.family.fused is not None
        return self.family.fused

    @property
    def states(self) -> tuple[str, ...]:
        return self.spec.states

    @property
    def coefs(self) -> tuple[str, ...]:
        return tuple(self.spec.coefficients)

    @property
    def grads(self) -> tuple[str, ...]:
        return self.spec.differentiable

    def coefficients(self, params: Any) -> dict[str, Tensor]:
        return {n: torch.as_tensor(f(params, DT)) for n, f in self.spec.coefficients.items()}


# per-neuron ranges of the parameter fields a fused family may have (a new family's new field
# must be added here, or its case fails to build)
RANGES = dict(tau_mem=(6e-3, 12e-3), tau_adapt=(20e-3, 40e-3), tau_syn=(3e-3, 5e-3),
              v_th=(0.8, 1.3), delta_th=(0.1, 0.3), v_leak=(0.05, 0.15), r=(4.0, 6.0),
              v_reset=(0.0, 0.1))
# initial-state scale of each state variable a fused kernel carries
STATE_SCALE = dict(v=1.0, a=0.3, i=2.0)
T_REF = 2.5e-3  # off the step grid: Brian2 rounds it down to 2 samples
LIMIT = refractory_limit(DT)  # the gate opens once the remaining time is below it
T_REFS = (0.0, T_REF)
_NOT_DRAWN = ("reset", "surrogate", "detach_reset", "t_ref")


def _fused_case(family: NeuronFamily[Any, Any]) -> FusedCase:
    assert family.fused is not None
    names = [f.name for f in dataclasses.fields(family.params_type) if f.name not in _NOT_DRAWN]
    missing = [n for n in names if n not in RANGES]
    assert not missing, f"{family.name}: add ranges for {missing} to RANGES"
    fixed = tuple(n for n in names if n in family.fused.fixed)
    return FusedCase(family, tuple(n for n in names if n not in fixed), fixed)


FUSED_CASES = {f.name: _fused_case(f) for f in families() if f.fused is not None}

T_STEPS, N = 71, 9  # three checkpoint segments of the fused backward (SEG 32), the last partial


def _surrogates() -> list[sg.Surrogate]:
    # every surrogate with a kernel code, with a non-default slope so the slope is passed on
    return [cls(slope=1.5 * cls().slope) for cls in sg.kernel_codes()]


def _fused_inputs(case: FusedCase, dtype: torch.dtype, seed: int, t_ref: float = 0.0,
                  steps: int = T_STEPS) -> tuple[Tensor, list[Tensor], dict[str, Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, N, generator=gen, dtype=dtype) * 1.5 + 0.8
    state0 = []
    for s in case.states:
        if s == "refractory":  # 0 to 3 steps left, whole and half steps
            steps = torch.randint(0, 7, (N,), generator=gen).to(dtype) * 0.5
            state0.append(steps * DT if t_ref > 0 else torch.zeros(N, dtype=dtype))
        else:
            state0.append(torch.rand(N, generator=gen, dtype=dtype) * STATE_SCALE[s])
    values = {}
    for name in case.learn + case.fixed:
        lo, hi = RANGES[name]
        values[name] = lo + (hi - lo) * torch.rand(N, generator=gen, dtype=dtype)
    return x, state0, values


def _params(case: FusedCase, values: dict[str, Tensor], reset: ResetMode,
            surrogate: sg.Surrogate, detach: bool, t_ref: float = 0.0) -> Any:
    return case.family.params_type(**values, reset=reset, surrogate=surrogate,
                                   detach_reset=detach, t_ref=t_ref)


def _reference(case: FusedCase, params: Any, x: Tensor, state0: list[Tensor]
               ) -> tuple[Tensor, list[Tensor]]:
    """The family's reference step looped over time."""
    family = case.family
    values = dict(zip(case.states, state0))
    state = family.state_type(*(values.get(f, torch.zeros_like(x[0]))
                                for f in family.state_type._fields))
    spikes = []
    for t in range(x.shape[0]):
        z, state = family.step(x[t], state, params, DT)
        spikes.append(z)
    return torch.stack(spikes), [getattr(state, f) for f in case.states]


def _loss_weights(shape: torch.Size, dtype: torch.dtype) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(99), dtype=dtype)


def _loss(out: Tensor, final: list[Tensor], w: Tensor) -> Tensor:
    return (out * w).sum() + sum(((f * (k + 1)) ** 2).sum() for k, f in enumerate(final))


def _close(a: Tensor, b: Tensor, dtype: torch.dtype, what: str) -> None:
    rtol, atol = (1e-4, 1e-5) if dtype == torch.float32 else (1e-9, 1e-11)
    scale = max(float(b.detach().abs().max()), 1.0) if b.numel() else 1.0
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol * scale, msg=lambda m: f"{what}: {m}")


needs_fused = pytest.mark.skipif(FUSED is None, reason="the fused C++ extension cannot be built here")


def _held_steps(case: FusedCase, params: Any, x: Tensor, state0: list[Tensor]) -> int:
    """How many (step, neuron) pairs the reference holds refractory after a spike."""
    values = dict(zip(case.states, state0))
    state = case.family.state_type(*(values[f] for f in case.family.state_type._fields))
    held = 0
    for t in range(x.shape[0]):
        _, state = case.family.step(x[t], state, params, DT)
        held += int((state.refractory > 0.5 * DT).sum())
    return held


@needs_fused
@pytest.mark.parametrize("t_ref", T_REFS, ids=["noref", "ref"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("family", sorted(FUSED_CASES))
def test_fused_forward_equals_reference_step(family: str, reset: ResetMode, dtype: torch.dtype,
                                             t_ref: float) -> None:
    case = FUSED_CASES[family]
    x, state0, values = _fused_inputs(case, dtype, seed=1, t_ref=t_ref)
    params = _params(case, values, reset, sg.FastSigmoid(), True, t_ref)
    want, want_final = _reference(case, params, x, state0)
    coefs = case.coefficients(params)
    got, report = getattr(FUSED, f"{family}_forward")(
        x, *state0, *(coefs[c] for c in case.coefs), reset.code, ops.SEG, t_ref, DT, LIMIT)
    out, final, z, ckpt = got[0], got[1 : 1 + len(case.states)], got[-2], got[-1]
    assert report == 0
    assert 0 < int(want.sum()) < want.numel()  # some spikes, not all
    assert torch.equal(out, want)
    assert torch.equal(z, want.to(torch.uint8))
    carried = len(case.states) - (0 if t_ref > 0 else 1)  # the countdown only with t_ref > 0
    assert ckpt.shape == (carried, -(-T_STEPS // ops.SEG), N)
    for k, (a, b) in enumerate(zip(final, want_final)):
        assert torch.equal(a, b), f"final {case.states[k]}"
    if t_ref > 0:
        assert _held_steps(case, params, x, state0) > T_STEPS  # the gate is exercised


def _check_backward(family: str, reset: ResetMode, surrogate: sg.Surrogate, detach: bool,
                    t_ref: float, steps: int = T_STEPS, seed: int = 2) -> list[Tensor]:
    """The fused backward against autograd through the reference steps (float64); returns
    autograd's gradients (x, the initial states, the learned parameters)."""
    dtype = torch.float64
    case = FUSED_CASES[family]
    x, state0, values = _fused_inputs(case, dtype, seed=seed, t_ref=t_ref, steps=steps)
    leaves = [x, *state0, *(values[n] for n in case.learn)]
    for leaf in leaves:
        leaf.requires_grad_(True)
    params = _params(case, values, reset, surrogate, detach, t_ref)
    want, want_final = _reference(case, params, x, state0)
    w = _loss_weights(want.shape, dtype)
    want_grads = torch.autograd.grad(_loss(want, want_final, w), leaves, allow_unused=True)

    coefs = case.coefficients(params)
    args = [coefs[c].detach() for c in case.coefs]
    got, report = getattr(FUSED, f"{family}_forward")(
        x.detach(), *(s.detach() for s in state0), *args, reset.code, ops.SEG, t_ref, DT, LIMIT)
    out, final, z, ckpt = got[0], got[1 : 1 + len(case.states)], got[-2], got[-1]
    assert report == 0 and torch.equal(out, want.detach())
    g_final = [2.0 * (k + 1) ** 2 * f for k, f in enumerate(final)]
    g = getattr(FUSED, f"{family}_backward")(
        w, *g_final, x.detach(), ckpt, z, *args, reset.code, detach, sg.kernel_code(surrogate),
        surrogate.slope, ops.SEG, t_ref, DT, LIMIT,
    )
    n_s = len(case.states)
    assert len(g) == 1 + n_s + len(case.grads)
    g_x, g_state0, g_coef = g[0], g[1 : 1 + n_s], g[1 + n_s :]
    # the coefficients' gradients back to the parameters (the chain rule of the adapters)
    learn = leaves[1 + n_s :]
    g_learn = torch.autograd.grad([coefs[c] for c in case.grads], learn, grad_outputs=list(g_coef),
                                  allow_unused=True)
    got_grads = [g_x, *g_state0, *g_learn]
    names = ["x", *case.states, *case.learn]
    filled = []
    for name, a, b in zip(names, got_grads, want_grads):
        b = torch.zeros_like(a) if b is None else b
        a = torch.zeros_like(b) if a is None else a
        _close(a, b, dtype, f"gradient w.r.t. {name}")
        filled.append(b)
    return filled


@needs_fused
@pytest.mark.parametrize("t_ref", T_REFS, ids=["noref", "ref"])
@pytest.mark.parametrize("detach", [True, False], ids=["detach", "attached"])
@pytest.mark.parametrize("surrogate", _surrogates(), ids=lambda s: s.name)
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("family", sorted(FUSED_CASES))
def test_fused_backward_equals_autograd_through_reference_step(
    family: str, reset: ResetMode, surrogate: sg.Surrogate, detach: bool, t_ref: float
) -> None:
    grads = _check_backward(family, reset, surrogate, detach, t_ref)
    n_s = len(FUSED_CASES[family].states)
    assert any(float(g.abs().max()) > 0 for g in grads[1 + n_s :])  # parameter gradients


@needs_fused
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("family", sorted(FUSED_CASES))
def test_fused_backward_of_the_refractory_countdown(family: str, reset: ResetMode) -> None:
    """Over a few steps the final countdown still depends on the initial one (where no spike
    and no clamp at 0 cut it): that gradient too equals autograd's."""
    grads = _check_backward(family, reset, sg.ArcTan(), False, T_REF, steps=2, seed=5)
    assert float(grads[len(FUSED_CASES[family].states)].abs().max()) > 0


@needs_fused
@pytest.mark.parametrize("family", sorted(FUSED_CASES))
def test_fused_forward_reports_nonfinite_inputs(family: str) -> None:
    """The forward's report names x, each initial state and each coefficient holding inf or
    nan (bit 0, then one bit per state, then one per coefficient)."""
    case = FUSED_CASES[family]
    x, state0, values = _fused_inputs(case, torch.float32, seed=3, t_ref=T_REF)
    params = _params(case, values, ResetMode.SUBTRACT, sg.FastSigmoid(), True, T_REF)
    coefs = [case.coefficients(params)[c] for c in case.coefs]
    fwd = getattr(FUSED, f"{family}_forward")
    tensors = [x, *state0, *coefs]
    for k in range(len(tensors)):
        for t_ref in (0.0, T_REF):
            bad = [t.clone() for t in tensors]
            bad[k].view(-1)[N // 2] = float("nan") if k % 2 else float("inf")
            _, report = fwd(*bad, ResetMode.SUBTRACT.code, ops.SEG, t_ref, DT, LIMIT)
            assert report == 1 << k, (k, t_ref, report)
    _, report = fwd(*tensors, ResetMode.SUBTRACT.code, ops.SEG, T_REF, DT, LIMIT)
    assert report == 0


@needs_fused
def test_sum_rows_is_a_fixed_order_sum() -> None:
    gen = torch.Generator().manual_seed(11)
    for rows, cols in ((1, 5), (255, 3), (257, 1), (3000, 7), (600, 2100)):
        g = torch.randn(rows, cols, generator=gen)
        got = FUSED.sum_rows(g)  # type: ignore[union-attr]
        torch.testing.assert_close(got, g.double().sum(0).float(), rtol=1e-5, atol=1e-4)
        threads = torch.get_num_threads()
        try:
            for n in (1, 2, 3):
                torch.set_num_threads(n)
                assert torch.equal(FUSED.sum_rows(g), got)  # type: ignore[union-attr]
        finally:
            torch.set_num_threads(threads)
    g = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    assert torch.equal(FUSED.sum_rows(g[:, 1:3]), FUSED.sum_rows(g[:, 1:3].contiguous()))  # type: ignore[union-attr]


@needs_fused
def test_fused_families_match_the_registry() -> None:
    """The compiled families are the registered fused specs (state, coefficient and gradient
    counts), and the ops kernels/ops.py registers follow the same specs."""
    exported = {name: (s, p, g) for name, s, p, g in FUSED.fused_families()}  # type: ignore[union-attr]
    assert exported == {
        c.name: (len(c.states), len(c.coefs), len(c.grads)) for c in FUSED_CASES.values()
    }
    assert set(ops.FAMILIES) == set(FUSED_CASES)
    for name, fam in ops.FAMILIES.items():
        case = FUSED_CASES[name]
        assert (len(fam.states), fam.params, fam.grads) == (len(case.states), case.coefs, case.grads)


# ---------------------------------------------------------------------- the event-driven kernel

needs_sparse = pytest.mark.skipif(SPARSE is None, reason="the sparse C++ extension cannot be built here")


def _grid(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> Tensor:
    """Values on a 1/8 grid: every sum of them is exact, whatever the order of the additions."""
    return (torch.randint(-8, 9, shape, generator=gen) / 8.0).to(dtype)


@needs_sparse
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_spike_linear_equals_dense_product(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(4)
    x = (torch.rand(11, 37, generator=gen) < 0.3).to(dtype) - (torch.rand(11, 37, generator=gen) < 0.1).to(dtype)
    w, b = _grid((37, 21), gen, dtype), _grid((21,), gen, dtype)
    out, ok = SPARSE.spike_linear(x, w, b)  # type: ignore[union-attr]
    assert ok and torch.equal(out, x @ w + b)
    out, ok = SPARSE.spike_linear(x, w, None)  # type: ignore[union-attr]
    assert ok and torch.equal(out, x @ w)
    _, ok = SPARSE.spike_linear(x * 0.5, w, b)  # type: ignore[union-attr]
    assert not ok  # not spikes: the caller runs the dense product


@needs_sparse
@pytest.mark.parametrize("t_ref", T_REFS, ids=["noref", "ref"])
@pytest.mark.parametrize("with_state", [False, True], ids=["rest", "state"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
def test_event_network_equals_reference_steps(reset: ResetMode, with_state: bool,
                                              t_ref: float) -> None:
    """Linear -> LIF (kind = the reset code) -> Linear -> LI (kind AXONAL_EVENT_LI)."""
    dtype, steps, batch, k, n1, n2 = torch.float64, 30, 2, 24, 16, 5
    gen = torch.Generator().manual_seed(5)
    x = (torch.rand(steps, batch, k, generator=gen) < 0.25).to(dtype)
    w1, w2, b2 = _grid((k, n1), gen, dtype), _grid((n1, n2), gen, dtype), _grid((n2,), gen, dtype)
    lif = LIFParams(tau_mem=15e-3, r=4.0, v_th=torch.linspace(0.5, 1.5, n1, dtype=dtype),
                    v_reset=0.125, v_leak=0.0, reset=reset, t_ref=t_ref)
    li = LIParams(tau_mem=7e-3)
    v1 = torch.rand(batch, n1, generator=gen, dtype=dtype) if with_state else torch.zeros(batch, n1, dtype=dtype)
    v2 = torch.rand(batch, n2, generator=gen, dtype=dtype) if with_state else torch.zeros(batch, n2, dtype=dtype)
    r1 = (torch.randint(0, 7, (batch, n1), generator=gen).to(dtype) * (0.5 * DT) if with_state
          else torch.zeros(batch, n1, dtype=dtype))

    def coef(p: Any, n: int, v_th: Any, v_reset: Any) -> Tensor:
        # (decay, v_leak, r, v_th, v_reset, v_th - v_reset); the decay rounded once from the
        # parameters, as exp_decay does
        rows = (math.exp(-DT / p.tau_mem), p.v_leak, p.r, v_th, v_reset, v_th - v_reset)
        return torch.stack([torch.as_tensor(r, dtype=dtype).expand(n) for r in rows]).contiguous()

    c1, c2 = coef(lif, n1, lif.v_th, lif.v_reset), coef(li, n2, 0.0, 0.0)
    li_kind = len(ResetMode)  # AXONAL_EVENT_LI: the kind after the reset codes
    out, finals, finals_ref, ok = SPARSE.event_network(  # type: ignore[union-attr]
        x, [w1, w2], [None, b2], [c1, c2], [reset.code, li_kind],
        [v1, v2] if with_state else [None, None], [r1, None] if with_state else [None, None],
        [t_ref, 0.0], [DT, DT], [LIMIT, LIMIT])
    assert ok

    s1, s2 = LIFState(v=v1, refractory=r1), LIState(v=v2)
    spikes, outs = [], []
    for t in range(steps):
        z, s1 = lif_step(x[t] @ w1, s1, lif, DT)
        y, s2 = li_step(z @ w2 + b2, s2, li, DT)
        spikes.append(z)
        outs.append(y)
    assert 0 < int(torch.stack(spikes).sum()) < torch.stack(spikes).numel()
    assert torch.equal(out, torch.stack(outs))
    assert torch.equal(finals[0], s1.v) and torch.equal(finals[1], s2.v)
    assert finals_ref[1] is None  # LI: no countdown
    if t_ref > 0:
        assert torch.equal(finals_ref[0], s1.refractory)
        assert float(s1.refractory.max()) > 0.5 * DT  # some neurons end refractory
    else:
        assert finals_ref[0] is None  # no refractory period: the caller keeps its countdown


# -------------------------------------------------------------------- the simulator's C loop

needs_sim = pytest.mark.skipif(SIM is None, reason="no C compiler here")
SIM_N = 600  # one block of 512 neurons and a tail of 88


@needs_sim
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("t_ref", [0.0, 2e-3], ids=["noref", "ref"])
@pytest.mark.parametrize("uniform", [True, False], ids=["uniform", "per_neuron"])
def test_sim_native_loop_equals_lif_step(uniform: bool, t_ref: float, reset: ResetMode) -> None:
    dt, steps = 1e-4, 150
    v_th: Any = 1.0 if uniform else torch.linspace(0.8, 1.2, SIM_N)
    params = LIFParams(tau_mem=10e-3, v_th=v_th, v_reset=0.1, t_ref=t_ref, reset=reset)
    drive: Any = 12.0 if uniform else torch.linspace(0.5, 150.0, SIM_N)
    v0 = 1.2 * torch.rand(SIM_N, generator=torch.Generator().manual_seed(6))
    net = Network(seed=1, backend="native")
    pop = net.add(Population(params, SIM_N, name="p", init={"v": lambda g, n: v0.clone()}))
    net.inject(pop, ConstantCurrent(drive))
    mon = net.add(SpikeMonitor(pop))
    net.run(steps * dt, dt, progress=False)
    assert net.backend_used == "native"

    x = torch.as_tensor(drive, dtype=torch.float32).expand(SIM_N).contiguous()
    state = LIFState(v=v0.clone(), refractory=torch.zeros(SIM_N))
    want_steps, want_ids = [], []
    for k in range(steps):
        z, state = lif_step(x, state, params, dt)
        ids = torch.nonzero(z).flatten()
        want_steps += [k] * ids.numel()
        want_ids += ids.tolist()
    assert len(want_ids) > SIM_N and max(want_ids) >= 512  # the tail block spikes too
    np.testing.assert_array_equal(mon.steps, np.array(want_steps))
    np.testing.assert_array_equal(mon.ids, np.array(want_ids))
    assert torch.equal(pop.state.v, state.v)
    assert torch.equal(pop.state.refractory, state.refractory)


@needs_sim
def test_sim_csr_helpers_equal_a_stable_sort() -> None:
    gen = torch.Generator().manual_seed(7)
    pre = torch.randint(0, 13, (400,), generator=gen)
    counts = torch.bincount(pre, minlength=13)
    indptr = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])
    order = native.csr_order(pre, indptr)
    assert order is not None
    assert torch.equal(order, torch.sort(pre, stable=True).indices)
    post = native.csr_fill_indegree(pre, 8, indptr)
    assert post is not None
    assert torch.equal(post, (order // 8).to(torch.int32))


# ------------------------------------------------------------------------- the listing itself

HERE = "tests/native/test_entry_points.py"
REC_TESTS = "tests/kernels/test_recurrent_fused.py"
ENTRY_POINTS: dict[str, dict[str, str]] = {
    "fused": {
        **{f"{f}_forward": f"{HERE}::test_fused_forward_equals_reference_step" for f in FUSED_CASES},
        **{f"{f}_backward": f"{HERE}::test_fused_backward_equals_autograd_through_reference_step"
           for f in FUSED_CASES},
        "fused_families": f"{HERE}::test_fused_families_match_the_registry",
        "sum_rows": f"{HERE}::test_sum_rows_is_a_fixed_order_sum",
        "cache_clear": "tests/kernels/test_cache.py (the output buffer cache, no neuron math)",
        "cache_bytes": "tests/kernels/test_cache.py",
        "cache_set_limit": "tests/kernels/test_cache.py",
    },
    "recurrent": {
        **{f"{f}_recurrent_{d}": f"{REC_TESTS}::test_the_entry_points_equal_the_family_step"
           for f in FUSED_CASES for d in ("forward", "backward")},
        "recurrent_families": f"{REC_TESTS}::test_every_fused_family_has_a_recurrent_kernel",
    },
    "sparse": {
        "spike_linear": f"{HERE}::test_spike_linear_equals_dense_product",
        "event_network": f"{HERE}::test_event_network_equals_reference_steps",
    },
    "sim": {
        "axonal_run": f"{HERE}::test_sim_native_loop_equals_lif_step (the LIF loop variants); "
                      "tests/sim/test_native_loop.py (synaptic channels and delivery, against "
                      "the torch path)",
        "axonal_free": f"{HERE}::test_sim_native_loop_equals_lif_step (frees the spike buffer)",
        "axonal_csr_order": f"{HERE}::test_sim_csr_helpers_equal_a_stable_sort",
        "axonal_csr_fill_indegree": f"{HERE}::test_sim_csr_helpers_equal_a_stable_sort",
    },
}


def _module_exports(module: Any) -> set[str]:
    return {name for name in dir(module) if not name.startswith("_")}


def _sim_exports() -> set[str]:
    """The functions _native.c exports: its defined dynamic symbols where ``nm`` exists, else
    its definitions that are not static."""
    assert SIM is not None
    nm = shutil.which("nm")
    if nm is not None:
        listing = subprocess.run([nm, "-D", "--defined-only", SIM._name], check=True,
                                 capture_output=True, text=True).stdout
        return {line.split()[-1] for line in listing.splitlines() if " T " in line}
    text = SIM_SOURCE.read_text()
    return set(re.findall(r"^(?!static|INLINE)[A-Za-z_][\w \*]*?\b(\w+)\s*\(", text, re.MULTILINE))


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_every_export_is_listed(module: str) -> None:
    loaded = {"fused": FUSED, "sparse": SPARSE, "recurrent": RECURRENT, "sim": SIM}[module]
    if loaded is None:
        pytest.skip(f"the {module} native module cannot be built here")
    exports = _sim_exports() if module == "sim" else _module_exports(loaded)
    assert exports == set(ENTRY_POINTS[module]), (
        f"{module}: exported {sorted(exports)}, listed {sorted(ENTRY_POINTS[module])}; hold every "
        "new entry point against the reference step of its family here"
    )


def test_every_fused_op_is_listed() -> None:
    for name in ops.FAMILIES:
        assert {f"{name}_forward", f"{name}_backward"} <= set(ENTRY_POINTS["fused"])
        assert {f"{name}_recurrent_forward", f"{name}_recurrent_backward"} <= set(
            ENTRY_POINTS["recurrent"])
