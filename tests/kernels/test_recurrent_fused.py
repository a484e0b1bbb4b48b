"""The fused recurrent kernels (axonal.kernels.recurrent, kernels/recurrent_cpu.cpp).

Held to the Python loop of ``axonal.nn.Recurrent`` (the neuron on the reference backend):
spikes, final states and the fed-back output identical in float32 and float64, for every fused
family, reset mode, with and without a refractory period, with and without a bias; every
gradient (input, fed-back input, initial state, recurrent weight and bias, learnable
parameters) equal to autograd through the loop to 1e-9 (float64). The raw entry points are
held directly against the families' step functions with ``F.linear``; a gradcheck runs a
tiny case; the results do not depend on the thread count; the cases the kernel does not
take run the Python loop.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axonal import nn as ann
from axonal.energy import count_ops
from axonal.errors import NonFiniteError
from axonal.functional import surrogate as sg
from axonal.functional.neurons import ResetMode, get_family, replace_unchecked
from axonal.functional.neurons.refractory import refractory_limit
from axonal.kernels import ops, recurrent
from axonal.native_build import load_extension
from axonal.nn import stateful

REC = load_extension("recurrent")
FUSED = load_extension("fused")
pytestmark = pytest.mark.skipif(REC is None or FUSED is None,
                                reason="the fused recurrent C++ extension cannot be built here")

DT = 1e-3
T_REF = 2.5e-3  # off the step grid: Brian2 rounds it down to 2 samples
T_STEPS, B, N = 40, 3, 8

LAYERS: dict[str, type[ann.NeuronLayer[Any, Any]]] = {
    "lif": ann.LIF, "alif": ann.ALIF, "cuba_lif": ann.CubaLIF,
}
# per-neuron ranges of the parameters each family learns here
RANGES = dict(tau_mem=(6e-3, 12e-3), tau_adapt=(20e-3, 40e-3), tau_syn=(3e-3, 5e-3),
              v_th=(0.8, 1.3), delta_th=(0.1, 0.3))
LEARN = {"lif": ("tau_mem", "v_th"), "alif": ("tau_mem", "tau_adapt", "v_th", "delta_th"),
         "cuba_lif": ("tau_mem", "tau_syn", "v_th")}
STATE_SCALE = dict(v=1.0, a=0.3, i=2.0)


def test_every_fused_family_has_a_recurrent_kernel() -> None:
    assert REC is not None
    assert set(REC.recurrent_families()) == set(ops.FAMILIES) == set(recurrent.RECURRENT_OPS)
    assert set(LAYERS) == set(ops.FAMILIES)  # a new fused family: add it to this test


def _pair(family: str, reset: ResetMode, t_ref: float, bias: bool, dtype: torch.dtype,
          surrogate: sg.Surrogate | None = None, detach: bool = True, seed: int = 0,
          n: int = N) -> tuple[nn.Module, nn.Module]:
    """The same Recurrent twice: the neuron on the default backend (fused) and on the
    reference loop, with per-neuron learnable parameters and a random recurrent matrix."""
    gen = torch.Generator().manual_seed(seed)
    values = {}
    for name in LEARN[family]:
        lo, hi = RANGES[name]
        values[name] = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)
    kwargs: dict[str, Any] = dict(values, reset=reset, t_ref=t_ref, detach_reset=detach, dt=DT,
                                  learn=LEARN[family], shape=(n,))
    if surrogate is not None:
        kwargs["surrogate"] = surrogate
    models = []
    for backend in ("auto", "reference"):
        linear = nn.Linear(n, n, bias=bias)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(n, n, generator=gen) * 0.6)
            if bias:
                linear.bias.copy_(torch.randn(n, generator=gen) * 0.2)
        models.append(ann.Recurrent(LAYERS[family](backend=backend, **kwargs), linear).to(dtype))
    models[1].load_state_dict(models[0].state_dict())
    return models[0], models[1]


def _inputs(family: str, dtype: torch.dtype, t_ref: float, seed: int = 1, batch: int = B,
            n: int = N, steps: int = T_STEPS) -> tuple[Tensor, tuple[Any, Tensor]]:
    """x [T, B, n] and a Recurrent state (neuron state, fed-back input) off rest."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, batch, n, generator=gen, dtype=dtype) * 2.5
    state_type = get_family(family).state_type
    fields = []
    for f in state_type._fields:
        if f == "refractory":  # 0 to 3 steps left, whole and half steps
            left = torch.randint(0, 7, (batch, n), generator=gen).to(dtype) * (0.5 * DT)
            fields.append(left if t_ref > 0 else torch.zeros(batch, n, dtype=dtype))
        else:
            fields.append(torch.rand(batch, n, generator=gen, dtype=dtype) * STATE_SCALE[f])
    fed = torch.randn(batch, n, generator=gen, dtype=dtype) * 0.5
    return x, (state_type(*fields), fed)


@pytest.fixture
def fused_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the runs of the fused recurrent adapter through Recurrent."""
    calls: list[int] = []
    run = getattr(stateful, "recurrent_run")

    def spy(*args: Any) -> Any:
        calls.append(1)
        return run(*args)

    monkeypatch.setattr(stateful, "recurrent_run", spy)
    return calls


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, Tensor):
        assert isinstance(b, Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs by {float((a - b).abs().max())}"
    else:
        assert isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b), where
        for k, (u, v) in enumerate(zip(a, b)):
            _same(u, v, f"{where}[{getattr(a, '_fields', range(len(a)))[k]}]")


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("t_ref", [0.0, T_REF], ids=["noref", "ref"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("family", sorted(LAYERS))
def test_forward_equals_the_python_loop(family: str, reset: ResetMode, dtype: torch.dtype,
                                        t_ref: float, bias: bool, fused_calls: list[int]) -> None:
    fused, reference = _pair(family, reset, t_ref, bias, dtype)
    x, state = _inputs(family, dtype, t_ref)
    with torch.no_grad():
        for given in (None, state):
            got, got_state = fused(x, given)
            want, want_state = reference(x, given)
            _same(got, want, "spikes")
            _same(got_state, want_state, "state")
            assert 0 < int(want.sum()) < want.numel()  # some spikes, not all
    assert len(fused_calls) == 2  # the fused kernel ran, the reference did not
    if t_ref > 0:
        assert float(got_state[0].refractory.max()) > 0  # the gate is exercised


def _loss(out: Tensor, state: tuple[Any, Tensor], w: Tensor) -> Tensor:
    nstate, fed = state
    loss = (out * w).sum() + (fed * w[0]).sum()
    for k, field in enumerate(nstate):
        loss = loss + ((field * (k + 1)) ** 2).sum()
    return loss


def _grads(model: nn.Module, x: Tensor, state: tuple[Any, Tensor], w: Tensor
           ) -> tuple[dict[str, Tensor], Tensor]:
    """Gradients w.r.t. x, the fed-back input, each initial state field and every
    parameter of ``model``; and the spikes."""
    x = x.detach().clone().requires_grad_(True)
    nstate = type(state[0])(*(f.detach().clone().requires_grad_(True) for f in state[0]))
    fed = state[1].detach().clone().requires_grad_(True)
    out, final = model(x, (nstate, fed))
    names = list(dict(model.named_parameters()))
    leaves = [x, fed, *nstate, *model.parameters()]
    grads = torch.autograd.grad(_loss(out, final, w), leaves, allow_unused=True)
    keys = ["x", "fed", *(f"state.{f}" for f in nstate._fields), *names]
    return {k: torch.zeros_like(v) if g is None else g
            for k, v, g in zip(keys, leaves, grads)}, out


def _check_gradients(family: str, reset: ResetMode, t_ref: float, surrogate: sg.Surrogate,
                     detach: bool, bias: bool = True, steps: int = T_STEPS) -> dict[str, Tensor]:
    dtype = torch.float64
    fused, reference = _pair(family, reset, t_ref, bias, dtype, surrogate, detach)
    x, state = _inputs(family, dtype, t_ref, steps=steps)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(9), dtype=dtype)
    got, out = _grads(fused, x, state, w)
    want, want_out = _grads(reference, x, state, w)
    assert torch.equal(out, want_out) and int(out.sum()) < out.numel()
    assert steps < 5 or int(out.sum()) > 0
    assert got.keys() == want.keys()
    for name in want:
        scale = max(float(want[name].abs().max()), 1.0)
        torch.testing.assert_close(got[name], want[name], rtol=1e-9, atol=1e-11 * scale,
                                   msg=lambda m: f"gradient w.r.t. {name}: {m}")
    return want


@pytest.mark.parametrize("t_ref", [0.0, T_REF], ids=["noref", "ref"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("family", sorted(LAYERS))
def test_gradients_equal_autograd_through_the_loop(family: str, reset: ResetMode, t_ref: float,
                                                   fused_calls: list[int]) -> None:
    want = _check_gradients(family, reset, t_ref, sg.FastSigmoid(), detach=True)
    assert fused_calls == [1]
    for name in ("rec.weight", "rec.bias", "x", "fed", "state.v"):
        assert float(want[name].abs().max()) > 0, name
    learned = [k for k in want if k.startswith("neuron.")]
    assert len(learned) == len(LEARN[family])
    for name in learned:
        assert float(want[name].abs().max()) > 0, name


@pytest.mark.parametrize("detach", [True, False], ids=["detach", "attached"])
@pytest.mark.parametrize("surrogate", [cls(slope=1.5 * cls().slope) for cls in sg.kernel_codes()],
                         ids=lambda s: s.name)
def test_every_surrogate_and_detach_reset(surrogate: sg.Surrogate, detach: bool,
                                          fused_calls: list[int]) -> None:
    _check_gradients("alif", ResetMode.SUBTRACT, T_REF, surrogate, detach, bias=False)
    assert fused_calls == [1]


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_gradients_of_short_runs(steps: int, fused_calls: list[int]) -> None:
    """One step (no recurrent product inside the kernel: W's gradient comes from the
    fed-back output alone), two and three."""
    want = _check_gradients("alif", ResetMode.SUBTRACT, T_REF, sg.ArcTan(), detach=False,
                            steps=steps)
    assert fused_calls == [1] and float(want["rec.bias"].abs().max()) > 0


def test_gradcheck_of_a_tiny_case() -> None:
    """Numerical derivatives of a tiny ALIF run, with a triangle surrogate so narrow that it is
    exactly zero at every step (no membrane within 1e-3 mV of its threshold): the analytical
    gradient is then the true derivative, through W, b, x, the state and the parameters."""
    dtype = torch.float64
    family = get_family("alif")
    gen = torch.Generator().manual_seed(3)
    steps, batch, n = 6, 2, 3
    x = torch.rand(steps, batch, n, generator=gen, dtype=dtype) * 3.0
    weight = torch.randn(n, n, generator=gen, dtype=dtype) * 0.5
    bias = torch.randn(n, generator=gen, dtype=dtype) * 0.1
    v0 = torch.rand(batch, n, generator=gen, dtype=dtype)
    a0 = torch.rand(batch, n, generator=gen, dtype=dtype) * 0.2
    fed0 = torch.randn(batch, n, generator=gen, dtype=dtype) * 0.3
    tau_mem = torch.full((n,), 8e-3, dtype=dtype)
    v_th = torch.tensor([0.9, 1.0, 1.1], dtype=dtype)
    base = family.params_type(surrogate=sg.Triangle(slope=1e3), t_ref=T_REF, delta_th=0.2,
                              tau_adapt=30e-3)

    def run(x: Tensor, weight: Tensor, bias: Tensor, v0: Tensor, a0: Tensor, fed0: Tensor,
            tau_mem: Tensor, v_th: Tensor) -> tuple[Tensor, ...]:
        params = replace_unchecked(base, {"tau_mem": tau_mem, "v_th": v_th})
        state = family.state_type(v0, a0, torch.zeros_like(v0))
        out, final = recurrent.recurrent_run(family, x, state, fed0, weight, bias, params, DT)
        return out, final.v, final.a

    args = (x, weight, bias, v0, a0, fed0, tau_mem, v_th)
    out = run(*args)[0]
    assert 0 < int(out.sum()) < out.numel() and float(out[:-1].sum()) > 0  # spikes fed back
    leaves = tuple(a.clone().requires_grad_(True) for a in args)
    assert torch.autograd.gradcheck(run, leaves, eps=1e-6, atol=1e-7, rtol=1e-6)


def _run_with(threads: int) -> tuple[Tensor, ...]:
    """Forward and backward of a fused ALIF layer of 4 x 48 = 192 neurons (more than one block
    of the parallel split) on ``threads`` threads."""
    torch.set_num_threads(threads)
    fused, _ = _pair("alif", ResetMode.SUBTRACT, T_REF, True, torch.float32, seed=4, n=48)
    x, state = _inputs("alif", torch.float32, T_REF, seed=4, batch=4, n=48)
    x.requires_grad_(True)
    out, (nstate, fed) = fused(x, state)
    loss = _loss(out, (nstate, fed), torch.ones_like(out))
    grads = torch.autograd.grad(loss, [x, *fused.parameters()])
    return (out, *nstate, fed, *grads)


def test_results_do_not_depend_on_the_thread_count(fused_calls: list[int]) -> None:
    threads = torch.get_num_threads()
    try:
        one = _run_with(1)
        two = _run_with(2)
    finally:
        torch.set_num_threads(threads)
    assert fused_calls == [1, 1]
    assert len(one) == len(two)
    for a, b in zip(one, two):
        assert torch.equal(a, b)


def _recurrent(neuron: nn.Module, rec: nn.Module | None = None) -> ann.Recurrent:
    torch.manual_seed(0)
    return ann.Recurrent(neuron, nn.Linear(N, N) if rec is None else rec).double()


def _hooked() -> ann.Recurrent:
    rec = nn.Linear(N, N)
    rec.register_forward_hook(lambda m, a, out: None)
    return _recurrent(ann.ALIF(), rec)


# (case, model, input) where Recurrent runs its Python loop
LOOPS: list[tuple[str, Callable[[], ann.Recurrent], tuple[int, ...]]] = [
    ("reference backend", lambda: _recurrent(ann.ALIF(backend="reference")), (T_STEPS, B, N)),
    ("identity rec", lambda: _recurrent(ann.ALIF(), nn.Identity()), (T_STEPS, B, N)),
    ("a Linear subclass", lambda: _recurrent(ann.ALIF(), type("L", (nn.Linear,), {})(N, N)),
     (T_STEPS, B, N)),
    ("a hook on rec", _hooked, (T_STEPS, B, N)),
    ("a smoothed surrogate", lambda: _recurrent(ann.ALIF(surrogate=sg.Smoothed(sg.FastSigmoid()))),
     (T_STEPS, B, N)),
    ("not a neuron layer", lambda: _recurrent(ann.Sequential(ann.Scale(1.5), ann.LIF())),
     (T_STEPS, B, N)),
    ("a family without kernel", lambda: _recurrent(ann.AdEx(dt=1e-4)), (T_STEPS, B, N)),
    ("x [T, B, 2, n]", lambda: _recurrent(ann.LIF()), (T_STEPS, B, 2, N)),
]


@pytest.mark.parametrize(("case", "make", "shape"), LOOPS, ids=[c[0] for c in LOOPS])
def test_other_cases_run_the_python_loop(case: str, make: Callable[[], ann.Recurrent],
                                         shape: tuple[int, ...], fused_calls: list[int]) -> None:
    model = make()
    x = torch.rand(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    with torch.no_grad():
        out, _ = model(x)
    assert fused_calls == [] and out.shape == x.shape


def test_the_energy_counter_sees_every_step(fused_calls: list[int]) -> None:
    """count_ops watches every step's operations: the Python loop runs under it, and the
    counts are those of the reference layer."""
    model = _recurrent(ann.LIF())
    x = 30.0 * (torch.rand(T_STEPS, B, N, generator=torch.Generator().manual_seed(2)) < 0.5).double()
    counts = count_ops(model, x)
    assert fused_calls == []
    want = count_ops(_recurrent(ann.LIF(backend="reference")), x)
    assert counts.layers == want.layers and counts.layer("rec").synops > 0
    with torch.no_grad():
        model(x)
    assert fused_calls == [1]  # without the counter: fused


def test_two_chunks_equal_one_run(fused_calls: list[int]) -> None:
    fused, _ = _pair("alif", ResetMode.SUBTRACT, T_REF, True, torch.float64)
    x, state = _inputs("alif", torch.float64, T_REF)
    with torch.no_grad():
        whole, final = fused(x, state)
        first, mid = fused(x[:13], state)
        second, end = fused(x[13:], mid)
    _same(torch.cat([first, second]), whole, "spikes")
    _same(end, final, "state")
    assert len(fused_calls) == 3


def test_nonfinite_values_are_named(fused_calls: list[int]) -> None:
    rec = nn.Linear(N, N)
    neuron = ann.ALIF(learn=("v_th",), shape=(N,))
    model = _recurrent(neuron, rec)
    x, (nstate, fed) = _inputs("alif", torch.float64, 0.0)
    with torch.no_grad():
        rec.weight[1, 2] = float("nan")
    with pytest.raises(NonFiniteError, match=r"^the recurrent weight contains inf or nan"):
        model(x)
    rec = nn.Linear(N, N)
    model = _recurrent(neuron, rec)
    bad = nstate._replace(a=nstate.a.clone().index_fill_(1, torch.tensor([3]), float("inf")))
    with pytest.raises(NonFiniteError, match=r"^state\.a of ALIF contains inf at 3 of 24"):
        model(x, (bad, fed))
    with torch.no_grad():
        getattr(neuron, "v_th")[0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"^learnable parameter v_th of ALIF contains NaN"):
        model(x)


@pytest.mark.parametrize("family", sorted(LAYERS))
def test_the_entry_points_equal_the_family_step(family: str) -> None:
    """``<family>_recurrent_forward`` / ``_backward`` called directly (no layer, no op):
    spikes and final state identical to the family's step looped with ``F.linear``, and the
    gradients equal to autograd through that loop (float64, refractory period on)."""
    assert REC is not None
    dtype = torch.float64
    fam = get_family(family)
    spec = fam.fused
    assert spec is not None
    x, (nstate, fed0) = _inputs(family, dtype, T_REF, seed=6)
    gen = torch.Generator().manual_seed(7)
    weight = torch.randn(N, N, generator=gen, dtype=dtype) * 0.6
    bias = torch.randn(N, generator=gen, dtype=dtype) * 0.2
    values = {n: lo + (hi - lo) * torch.rand(N, generator=gen, dtype=dtype)
              for n, (lo, hi) in RANGES.items() if n in LEARN[family]}
    leaves = [x, fed0, weight, bias, *nstate, *values.values()]
    for leaf in leaves:
        leaf.requires_grad_(True)
    surrogate = sg.ArcTan()
    params = fam.params_type(**values, t_ref=T_REF, surrogate=surrogate, detach_reset=False)
    state, fed, spikes = nstate, fed0, []
    for t in range(x.shape[0]):
        z, state = fam.step(x[t] + fed, state, params, DT)
        fed = F.linear(z, weight, bias)
        spikes.append(z)
    want = torch.stack(spikes)
    w = torch.randn(want.shape, generator=gen, dtype=dtype)
    final = [getattr(state, s) for s in spec.states]
    loss = (want * w).sum() + sum(((f * (k + 1)) ** 2).sum() for k, f in enumerate(final))
    want_grads = torch.autograd.grad(loss, leaves, allow_unused=True)

    flat = lambda t: t.detach().reshape(t.shape[0], -1) if t.dim() == 3 else t.detach().reshape(-1)  # noqa: E731
    coefs = {n: torch.as_tensor(c(params, DT), dtype=dtype).expand(B, N).reshape(-1)
             for n, c in spec.coefficients.items()}
    codes = (ResetMode.SUBTRACT.code, T_REF, DT, refractory_limit(DT))
    outs, report = getattr(REC, f"{family}_recurrent_forward")(
        flat(x), flat(fed0), weight.detach(), bias.detach(),
        [flat(getattr(nstate, s)) for s in spec.states],
        [c.detach().contiguous() for c in coefs.values()], *codes)
    assert report == 0
    out, got_final, trace, inputs = outs[0], outs[1:-2], outs[-2], outs[-1]
    assert torch.equal(out, flat(want)) and 0 < int(out.sum()) < out.numel() // 2
    for name, a, b in zip(spec.states, got_final, final):
        assert torch.equal(a, flat(b)), name
    assert trace.shape == (x.shape[0], len(spec.states), B * N)

    g_final = [2.0 * (k + 1) ** 2 * f for k, f in enumerate(got_final)]
    g = getattr(REC, f"{family}_recurrent_backward")(
        flat(w), g_final, out, trace, inputs, weight.detach(),
        [c.detach().contiguous() for c in coefs.values()], ResetMode.SUBTRACT.code, False,
        sg.kernel_code(surrogate), surrogate.slope, T_REF, DT, refractory_limit(DT))
    n_s = len(spec.states)
    g_x, g_state, g_coef, g_w, g_b = g[0], g[1 : 1 + n_s], g[1 + n_s : -2], g[-2], g[-1]
    g_learn = torch.autograd.grad([coefs[c] for c in spec.differentiable],
                                  list(values.values()), grad_outputs=list(g_coef),
                                  allow_unused=True)
    got_grads = [g_x.reshape(x.shape), g_x[0].reshape(fed0.shape), g_w, g_b,
                 *(s.reshape(B, N) for s in g_state), *g_learn]
    names = ["x", "fed0", "weight", "bias", *spec.states, *values]
    for name, a, b in zip(names, got_grads, want_grads):
        assert b is not None and a is not None, name
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11 * max(float(b.abs().max()), 1.0),
                                   msg=lambda m: f"gradient w.r.t. {name}: {m}")
