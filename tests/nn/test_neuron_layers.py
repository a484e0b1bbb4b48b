"""The nn layers of the linear families: shapes, explicit state, learnable parameters."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

from axonal import nn as ann
from axonal.functional.neurons import (
    ALIFState,
    CubaLIFState,
    CubaLIState,
    IFState,
    IntegratorState,
    LIFState,
    LIState,
    RFState,
)

Layer = type[ann.NeuronLayer[Any, Any]]
LAYERS: dict[str, tuple[Layer, type[tuple[Any, ...]], dict[str, Any], tuple[str, ...]]] = {
    # class, state type, constructor overrides, learnable fields to test
    "IF": (ann.IF, IFState, {"v_th": 1.0}, ("tau_mem", "v_th")),
    "LIF": (ann.LIF, LIFState, {"tau_mem": 5e-3}, ("tau_mem", "v_th")),
    "CubaLIF": (ann.CubaLIF, CubaLIFState, {"tau_syn": 3e-3}, ("tau_syn", "tau_mem", "v_th")),
    "ALIF": (ann.ALIF, ALIFState, {"delta_th": 0.2}, ("tau_mem", "tau_adapt", "v_th")),
    "LI": (ann.LI, LIState, {"v_leak": 0.1}, ("tau_mem", "v_leak")),
    "CubaLI": (ann.CubaLI, CubaLIState, {"tau_syn": 3e-3}, ("tau_syn", "tau_mem")),
    "Integrator": (ann.Integrator, IntegratorState, {"r": 2.0}, ("r",)),
    "ResonateAndFire": (ann.ResonateAndFire, RFState, {"r": 300.0}, ("b", "omega", "a_th")),
}
NAMES = list(LAYERS)


def drive(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return 3.0 * torch.rand(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_and_state_type(name: str) -> None:
    cls, state_type, overrides, _ = LAYERS[name]
    layer = cls(**overrides)
    x = drive((20, 3, 7))
    out, state = layer(x)
    assert out.shape == (20, 3, 7)
    assert isinstance(state, state_type)
    for field in state:
        assert field.shape == (3, 7)
    if not cls.family.spiking:
        assert torch.equal(out[-1], state[0])  # membrane readout (state.v)
    else:
        assert set(out.unique().tolist()) <= {0.0, 1.0}
        assert out.sum() > 0
    result = layer.run(x, record=True)
    assert result.trace is not None and result.trace[0].shape == (20, 3, 7)
    # single step equals the first step of a run
    first, _ = layer.step(x[0])
    assert torch.equal(first, out[0])


@pytest.mark.parametrize("name", NAMES)
def test_running_two_halves_with_returned_state_equals_one_run(name: str) -> None:
    cls, _, overrides, _ = LAYERS[name]
    layer = cls(**overrides)
    x = drive((30, 2, 5), seed=1)
    whole, final = layer(x)
    first, mid = layer(x[:13])
    second, end = layer(x[13:], mid)
    assert torch.equal(torch.cat([first, second]), whole)
    for a, b in zip(end, final):
        assert torch.equal(a, b)


@pytest.mark.parametrize("shape", [(), (6,)])
@pytest.mark.parametrize("name", NAMES)
def test_learnable_parameters_get_gradients(name: str, shape: tuple[int, ...]) -> None:
    cls, _, overrides, learn = LAYERS[name]
    layer = cls(learn=learn, shape=shape, **overrides)
    for field in learn:
        value = getattr(layer, field)
        assert value.shape == shape
        torch.testing.assert_close(
            value.detach(), torch.full(shape, float(getattr(layer.base_params, field)))
        )
    params = dict(layer.named_parameters())
    assert params, "learnable fields must be registered as parameters"
    x = drive((15, 4, 6), seed=2)
    out, _ = layer(x)
    (out * torch.linspace(-0.5, 1.0, 6)).sum().backward()
    for pname, p in params.items():
        assert p.grad is not None, pname
        assert p.grad.shape == shape
        assert bool(torch.isfinite(p.grad).all()), pname
        assert float(p.grad.abs().max()) > 0, pname
    # params() hands the current values to the functional step
    current = layer.params()
    for field in learn:
        assert torch.equal(getattr(current, field), getattr(layer, field))


@pytest.mark.parametrize("name", NAMES)
def test_learning_changes_the_output(name: str) -> None:
    cls, _, overrides, learn = LAYERS[name]
    layer = cls(learn=learn, shape=(6,), **overrides)
    x = drive((15, 4, 6), seed=3)
    before, _ = layer(x)
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    out, _ = layer(x)
    out.sum().backward()
    opt.step()
    after, _ = layer(x)
    assert not torch.equal(before, after)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_learn_name_and_bad_params_raise(name: str) -> None:
    cls, _, _, _ = LAYERS[name]
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        cls(learn=("nope",))
    with pytest.raises(TypeError, match="learn must be a sequence"):
        cls(learn="tau_mem")
    with pytest.raises(TypeError, match="params must be"):
        cls(params=object())
    positive = cls.family.positive
    if positive:
        with pytest.raises(ValueError, match=positive[0]):
            cls(**{positive[0]: -1.0})
    with pytest.raises(ValueError, match="dt"):
        cls(dt=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name: str) -> None:
    cls, _, overrides, learn = LAYERS[name]
    layer = cls(learn=learn, shape=(5,), **overrides)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.01 * torch.arange(5.0))
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    fresh = cls(learn=learn, shape=(5,), **overrides)
    x = drive((12, 2, 5), seed=4)
    assert not torch.equal(getattr(fresh, learn[0]), getattr(layer, learn[0]))
    fresh.load_state_dict(torch.load(buffer))
    for field in learn:
        assert torch.equal(getattr(fresh, field), getattr(layer, field))
    out_a, state_a = layer(x)
    out_b, state_b = fresh(x)
    assert torch.equal(out_a, out_b)
    for a, b in zip(state_a, state_b):
        assert torch.equal(a, b)


def test_learned_layer_validates_when_values_are_set_not_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-call path swaps the learnable values into the record without re-validating it;
    construction and ``load_state_dict`` validate in full."""
    import axonal.functional.neurons.family as common

    calls = {"n": 0}
    real = common.validate_params

    def counting(params: Any) -> None:
        calls["n"] += 1
        real(params)

    monkeypatch.setattr(common, "validate_params", counting)
    layer = ann.LIF(learn=("tau_mem", "v_th"), shape=(4,))
    x = torch.rand(5, 2, 4)
    before = calls["n"]
    for _ in range(3):
        layer(x)[0].sum().backward()
    assert calls["n"] == before, "forward must not re-validate the parameter record"
    bad = layer.state_dict()
    bad["v_th"] = torch.full((4,), -1.0)  # below v_reset = 0
    with pytest.raises(ValueError, match="v_reset must be below v_th"):
        ann.LIF(learn=("tau_mem", "v_th"), shape=(4,)).load_state_dict(bad)
    with pytest.raises(ValueError, match="v_reset must be below v_th"):
        with torch.no_grad():
            layer.v_th.fill_(-1.0)
        layer.validate()
