"""Contract tests run on every registered neuron family (discovered through the registry).

* the family's ``<name>_multi_step`` equals repeated single steps, bit for bit;
* exact-exponential families: halving ``dt`` (input repeated) gives the same trajectory;
* one step's surrogate gradient equals the exact gradient of the ``Smoothed`` step;
* float64 ``gradcheck`` of a few smoothed steps w.r.t. input, time constants and thresholds.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable

import pytest
import torch
from torch import Tensor

import axonal.functional.neurons as neurons
from axonal.functional import surrogate
from axonal.functional.neurons import NeuronFamily, Rule, family_names, get_family
from axonal.functional.surrogate import FastSigmoid, Smoothed
from axonal.functional.scan import multi_step

FAMILIES = family_names()

# Input amplitude and time step that make each family fire within a few tens of steps;
# families not listed use DEFAULT (and the tests still run on them).
DRIVE: dict[str, dict[str, float]] = {
    "lif": {"drive": 1.5, "dt": 1e-3, "steps": 60},
    "if": {"drive": 0.3, "dt": 1e-3, "steps": 60},
    "cuba_lif": {"drive": 2.5, "dt": 1e-3, "steps": 60},
    "alif": {"drive": 1.5, "dt": 1e-3, "steps": 60},
    "li": {"drive": 1.0, "dt": 1e-3, "steps": 60},
    "izhikevich": {"drive": 10.0, "dt": 1e-4, "steps": 300},
    "adex": {"drive": 1000.0, "dt": 1e-4, "steps": 300},
    "cuba_li": {"drive": 1.0, "dt": 1e-3, "steps": 60},
    "integrator": {"drive": 1.0, "dt": 1e-3, "steps": 60, "gain": 1000.0},
    # each RF spike resets z to a fixed point and the next one is sampled up to half a coarse
    # step late again: the third spike may be 1.5 coarse steps apart
    "rf": {"drive": 1.0, "dt": 1e-3, "steps": 100, "drift_steps": 1.5},
}
# Parameter changes from the defaults for the contract tests (a gain that brings the family's
# input scale to the others': RF's default r = 1 MOhm/s needs ~100 nA to fire in 100 ms).
PARAMS: dict[str, dict[str, float]] = {"rf": {"r": 100.0}}
DEFAULT = {"drive": 1.0, "dt": 1e-4, "steps": 300}

# Families whose step is the exact solution for piecewise-constant input (declared facet).
EXACT = [name for name in FAMILIES if get_family(name).method == "exact"]

THRESHOLD_FIELDS = ("v_th", "v_peak", "a_th")


def config(name: str) -> dict[str, float]:
    return DRIVE.get(name, DEFAULT)


def field_names(family: NeuronFamily[Any, Any]) -> set[str]:
    return {f.name for f in dataclasses.fields(family.params_type)}


def learnable_fields(family: NeuronFamily[Any, Any]) -> list[str]:
    """Time constants and thresholds of the family (the usual learnable parameters); for a
    family with neither (the integrator), its numeric fields."""
    fields = [f.name for f in dataclasses.fields(family.params_type)]
    usual = [f for f in fields if f.startswith("tau") or f in THRESHOLD_FIELDS]
    numeric = (Rule.FINITE, Rule.POSITIVE, Rule.NEGATIVE, Rule.NON_NEGATIVE)
    return usual or [f for f, (rule, _) in family.constraints.items() if rule in numeric]


def default_params(family: NeuronFamily[Any, Any], **changes: Any) -> Any:
    params = family.params_type(**PARAMS.get(family.name, {}))
    return dataclasses.replace(params, **changes) if changes else params


def family_multi_step(family: NeuronFamily[Any, Any]) -> Callable[..., Any]:
    """The family's public ``<name>_multi_step`` function, found beside its step."""
    module = sys.modules[family.step.__module__]
    fn_name = family.step.__name__.replace("_step", "_multi_step")
    fn = getattr(module, fn_name, None)
    assert fn is not None, f"{module.__name__} has no {fn_name}"
    return fn  # type: ignore[no-any-return]


def test_registry_holds_the_linear_families() -> None:
    for name in ("if", "lif", "cuba_lif", "alif", "li", "cuba_li", "integrator"):
        assert get_family(name).name == name
    assert neurons.IF_FAMILY is get_family("if")
    with pytest.raises(ValueError, match="unknown neuron family"):
        get_family("no_such_family")


@pytest.mark.parametrize("name", FAMILIES)
def test_multi_step_equals_repeated_steps(name: str) -> None:
    family = get_family(name)
    cfg = config(name)
    gen = torch.Generator().manual_seed(0)
    steps = int(cfg["steps"])
    xs = cfg["drive"] * 2.0 * torch.rand(steps, 3, 4, generator=gen, dtype=torch.float64)
    params = default_params(family)
    result = family_multi_step(family)(xs, None, params, cfg["dt"], record=True)
    generic = multi_step(family.step, family.initial_state, xs, None, params, cfg["dt"])

    state = family.initial_state(xs[0], params)
    outs = []
    for t in range(xs.shape[0]):
        out, state = family.step(xs[t], state, params, cfg["dt"])
        outs.append(out)
        for field, traced in zip(state, result.trace):
            assert torch.equal(traced[t], field)
    assert torch.equal(result.out, torch.stack(outs))
    assert torch.equal(generic.out, result.out)
    for a, b in zip(result.state, state):
        assert torch.equal(a, b)
    if family.spiking:
        assert result.out.sum() > 0, "the drive should make the family fire"
    else:
        assert torch.equal(result.out, result.trace[0]), "a readout outputs its membrane"


def _halving_pair(
    name: str, params: Any, xs: Tensor, dt: float
) -> tuple[Any, Any]:
    family = get_family(name)
    coarse = multi_step(family.step, family.initial_state, xs, None, params, dt, record=True)
    fine = multi_step(
        family.step,
        family.initial_state,
        xs.repeat_interleave(2, dim=0),
        None,
        params,
        dt / 2,
        record=True,
    )
    return coarse, fine


# a threshold of 1e6 mV switches spiking off; the plausibility check rightly warns about it
@pytest.mark.filterwarnings("ignore::axonal.errors.PlausibilityWarning")
@pytest.mark.parametrize("name", EXACT)
def test_halving_dt_gives_the_same_subthreshold_trajectory(name: str) -> None:
    family = get_family(name)
    spiking = any(f in field_names(family) for f in THRESHOLD_FIELDS)
    changes = {_spike_field(family): 1e6} if spiking else {}
    params = default_params(family, **changes)
    gen = torch.Generator().manual_seed(1)
    xs = 3.0 * torch.rand(40, 2, 3, generator=gen, dtype=torch.float64) - 1.0
    xs = xs * config(name).get("gain", 1.0)
    coarse, fine = _halving_pair(name, params, xs, 1e-3)
    for a, b in zip(coarse.trace, fine.trace):
        torch.testing.assert_close(b[1::2], a, rtol=0, atol=1e-9)
    torch.testing.assert_close(fine.out[1::2], coarse.out, rtol=0, atol=1e-9)
    # the trajectory really moves (not a constant that would pass trivially)
    assert float(coarse.trace[0].std()) > 0.05


@pytest.mark.parametrize("name", [n for n in EXACT if get_family(n).spiking])
def test_halving_dt_keeps_spike_times_within_one_coarse_step(name: str) -> None:
    """Up to the first spike both runs share every coarse sample, so the fine run fires at the
    same coarse sample or half a step earlier. Later spikes inherit the reset of a slightly
    different overshoot and drift by a fraction of a step per spike; the first three stay
    within one coarse step."""
    family = get_family(name)
    params = default_params(family)
    dt = 1e-3
    drive = config(name)["drive"]
    levels = torch.tensor([0.8, 1.0, 1.3, 1.7], dtype=torch.float64) * drive
    xs = levels.expand(100, 1, 4).clone()
    coarse, fine = _halving_pair(name, params, xs, dt)
    for n in range(4):
        t_coarse = (torch.nonzero(coarse.out[:, 0, n]).flatten() + 1).double() * dt
        t_fine = (torch.nonzero(fine.out[:, 0, n]).flatten() + 1).double() * (dt / 2)
        assert len(t_coarse) >= 3 and len(t_fine) >= 3
        first = float(t_coarse[0] - t_fine[0])
        assert first == pytest.approx(0.0, abs=1e-12) or first == pytest.approx(dt / 2)
        drift = config(name).get("drift_steps", 1.0) * dt
        assert float((t_coarse[:3] - t_fine[:3]).abs().max()) <= drift + 1e-12
        # the spike counts over the window agree to within one (the last spike may fall
        # just inside the window in one run and just outside in the other)
        assert abs(len(t_coarse) - len(t_fine)) <= 1


def _spike_field(family: NeuronFamily[Any, Any]) -> str:
    """The parameter the spike condition compares ``v`` with."""
    fields = field_names(family)
    return next(f for f in THRESHOLD_FIELDS if f in fields)


def _probe(name: str) -> tuple[Any, Tensor, Any, float]:
    """A family, a float64 input and a state whose membrane sits near the firing boundary.

    The other state fields come from a driven warm-up; ``v`` is set, per neuron, by bisection
    to the value from which this step just fires, plus a small spread, so that the surrogate
    gradients are far from zero for every family (whatever its voltage scale).
    """
    family = get_family(name)
    cfg = config(name)
    dt = cfg["dt"]
    gen = torch.Generator().manual_seed(2)
    params = default_params(family)
    warm = cfg["drive"] * 1.5 * torch.rand(15, 8, 5, generator=gen, dtype=torch.float64)
    state = multi_step(family.step, family.initial_state, warm, None, params, dt).state
    assert "v" in state._fields, f"{name} state has no membrane field 'v'"
    x = cfg["drive"] * 2.0 * torch.rand(8, 5, generator=gen, dtype=torch.float64)

    def fires(v0: Tensor) -> Tensor:
        with torch.no_grad():
            return family.step(x, state._replace(v=v0), params, dt)[0] > 0.5

    rest = family.initial_state(x, params).v
    threshold = float(getattr(params, _spike_field(family)))
    span = abs(threshold - float(rest.mean())) + 1.0
    lo = rest - 1.0
    hi = torch.full_like(lo, threshold + 1.0)
    for _ in range(40):  # widen until every neuron fires from hi
        if bool(fires(hi).all()):
            break
        hi = torch.where(fires(hi), hi, hi + span)
    assert not bool(fires(lo).any()) and bool(fires(hi).all())
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        up = fires(mid)
        hi = torch.where(up, mid, hi)
        lo = torch.where(up, lo, mid)
    spread = 0.02 * span * (2.0 * torch.rand(8, 5, generator=gen, dtype=torch.float64) - 1.0)
    return family, x, state._replace(v=hi + spread), dt


SPIKING = [n for n in FAMILIES if "surrogate" in field_names(get_family(n))]
SURROGATES = [s for s in surrogate.names() if s != "smoothed"]


@pytest.mark.parametrize("sname", SURROGATES)
@pytest.mark.parametrize("name", SPIKING)
def test_one_step_surrogate_gradient_equals_smoothed_finite_difference(
    name: str, sname: str
) -> None:
    family, x, state, dt = _probe(name)
    base = default_params(family)
    fields = learnable_fields(family)
    values = {f: torch.full((5,), float(getattr(base, f)), dtype=torch.float64) for f in fields}
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    s = surrogate.get(sname)

    def loss(x_: Tensor, vals: dict[str, Tensor], spike: surrogate.Surrogate) -> Tensor:
        params = dataclasses.replace(base, surrogate=spike, **vals)
        out, _ = family.step(x_, state, params, dt)
        total: Tensor = (out * weight).sum()
        return total

    xg = x.clone().requires_grad_(True)
    vg = {f: v.clone().requires_grad_(True) for f, v in values.items()}
    loss(xg, vg, s).backward()
    assert xg.grad is not None

    smooth = Smoothed(base=s)  # keyword: positionally the first field is slope

    def central(tensor: Tensor, index: int, rebuild: Callable[[Tensor], Tensor]) -> float:
        # step relative to the value: time constants are ~1e-3 s
        eps = 1e-6 * max(abs(float(tensor.view(-1)[index])), 1e-3)
        up, down = tensor.clone(), tensor.clone()
        up.view(-1)[index] += eps
        down.view(-1)[index] -= eps
        return float((rebuild(up) - rebuild(down)) / (2 * eps))

    fd_x = torch.tensor(
        [central(x, i, lambda t: loss(t, values, smooth)) for i in range(x.numel())],
        dtype=torch.float64,
    ).view_as(x)
    torch.testing.assert_close(xg.grad, fd_x, rtol=1e-5, atol=1e-8)
    assert float(xg.grad.abs().max()) > 1e-4, "probe state should sit near threshold"
    for f in fields:
        def with_field(t: Tensor, f: str = f) -> Tensor:
            return loss(x, {**values, f: t}, smooth)

        fd = torch.tensor(
            [central(values[f], i, with_field) for i in range(5)], dtype=torch.float64
        )
        grad = vg[f].grad
        if grad is None:  # the field does not reach this step's spikes (e.g. AdEx tau_w)
            grad = torch.zeros_like(fd)
        torch.testing.assert_close(grad, fd, rtol=1e-5, atol=1e-8, msg=f"{name} {sname} {f}")


@pytest.mark.parametrize("name", FAMILIES)
def test_gradcheck_smoothed_multi_step(name: str) -> None:
    family = get_family(name)
    cfg = config(name)
    changes: dict[str, Any] = {}
    if "surrogate" in field_names(family):
        changes = {"surrogate": Smoothed(base=FastSigmoid()), "detach_reset": False}
    base = default_params(family, **changes)
    fields = learnable_fields(family)
    assert fields, f"{name} has no time constant or threshold to check"
    gen = torch.Generator().manual_seed(4)
    xs = cfg["drive"] * 1.5 * torch.rand(4, 2, 2, generator=gen, dtype=torch.float64)
    xs.requires_grad_(True)
    tensors = [
        torch.full((2,), float(getattr(base, f)), dtype=torch.float64)
        .mul_(1.0 + 0.1 * torch.rand(2, generator=gen, dtype=torch.float64))
        .requires_grad_(True)
        for f in fields
    ]

    def run(xs_: Tensor, *vals: Tensor) -> tuple[Tensor, ...]:
        params = dataclasses.replace(base, **dict(zip(fields, vals)))
        result = multi_step(family.step, family.initial_state, xs_, None, params, cfg["dt"])
        return (result.out, *result.state)

    assert torch.autograd.gradcheck(run, (xs, *tensors), eps=1e-6, atol=1e-6, rtol=1e-4)
