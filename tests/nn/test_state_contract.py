"""The state contract (axonal.nn.protocol), held for every stateful module.

For each module: two chunks, the second continuing from the state the first returned, give
exactly the outputs and the final state of one run (float64, spikes identical); ``T`` calls of
``step`` give the same as one run; ``initial_state`` is the state a run starts from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from axonal import nn as ann
from axonal.nn import (
    LIF,
    CubaLIF,
    Delay,
    DelayedLinear,
    Flatten,
    NeuronLayer,
    Recurrent,
    Scale,
    Sequential,
    Stateful,
    SumPool2d,
    TimeDistributed,
    is_stateful,
    run_module,
    step_module,
)
from axonal.functional.neurons import ResetMode

DT = 1e-3
T = 20

# every neuron layer class that axonal.nn exports, found, not listed
NEURON_CLASSES = sorted(
    (
        obj
        for name in ann.__all__
        if isinstance(obj := getattr(ann, name), type) and issubclass(obj, NeuronLayer) and obj is not NeuronLayer
    ),
    key=lambda c: c.__name__,
)

# input scale that makes each family fire within T steps (units differ: see each family)
DRIVE = {"Izhikevich": 40.0, "AdEx": 20000.0, "Integrator": 400.0, "ResonateAndFire": 300.0}
DT_OF = {"Izhikevich": 1e-4, "AdEx": 1e-4}


def _drive(shape: tuple[int, ...], scale: float, seed: int = 0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.rand(shape, generator=gen, dtype=torch.float64)


def _neuron(cls: type[NeuronLayer[Any, Any]]) -> Callable[[], nn.Module]:
    return lambda: cls(dt=DT_OF.get(cls.__name__, DT))


def _seeded(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        torch.manual_seed(0)
        return build()

    return make


def _nir_graph(chain: bool, recurrent: bool = True) -> Any:
    """A NIR graph with a recurrence (CubaLIF through an Affine, w_in != 1) and a Delay; with
    ``chain=False`` the input also reaches the output through a second branch; without
    ``recurrent`` there is no cycle (run layer by layer by the GraphModule)."""
    nir = pytest.importorskip("nir")
    rng = np.random.default_rng(0)
    n_in, n = 4, 5
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    ones = np.ones(n, np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc": nir.Affine(weight=f32(rng.normal(size=(n, n_in)) * 2.0), bias=f32(rng.normal(size=n) * 0.1)),
        "lif": nir.CubaLIF(
            tau_syn=ones * 3e-3, tau_mem=ones * 6e-3, r=ones * 4.0, v_leak=ones * 0.0,
            v_threshold=ones * 0.8, v_reset=ones * 0.0, w_in=ones * 1.5,
        ),
        "rec": nir.Affine(weight=f32(rng.normal(size=(n, n)) * 0.7), bias=f32(np.zeros(n))),
        "delay": nir.Delay(delay=f32([0.0, 1e-3, 2e-3, 4e-3, 3e-3])),
        "out_lif": nir.LIF(tau=ones * 5e-3, r=ones * 3.0, v_leak=ones * 0.0, v_threshold=ones * 0.5, v_reset=ones * 0.0),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "delay"), ("delay", "out_lif"), ("out_lif", "output")]
    if recurrent:
        edges += [("lif", "rec"), ("rec", "lif")]
    else:
        del nodes["rec"]
    if not chain:
        nodes["skip"] = nir.Affine(weight=f32(rng.normal(size=(n, n_in))), bias=f32(np.zeros(n)))
        edges += [("input", "skip"), ("skip", "out_lif")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _imported(chain: bool, as_graph: bool, disc: str = "exact", recurrent: bool = True) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        from axonal.interop import from_nir

        graph = _nir_graph(chain, recurrent)
        return from_nir(graph, dt=DT, discretisation=disc, as_graph=as_graph)  # type: ignore[arg-type]

    return make


def _delayed_linear(mode: str, form: str) -> Callable[[], nn.Module]:
    """A DelayedLinear 3 -> 4 with delays up to 5 steps (longer than the first chunk), trained
    (``form``: its interpolation kernel) or frozen (whole-step delays)."""

    def make() -> nn.Module:
        torch.manual_seed(0)
        kernel = "linear" if form == "linear" else "gaussian"
        layer = DelayedLinear(3, 4, max_delay=5, dt=DT, mode=mode, kernel=kernel, delay_init="uniform")  # type: ignore[arg-type]
        return layer.freeze() if form == "frozen" else layer

    return make


# name -> (builder, input shape per step, drive scale)
MODULES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], float]] = {
    **{
        f"neuron-{cls.__name__}": (_neuron(cls), (3, 4), DRIVE.get(cls.__name__, 3.0))
        for cls in NEURON_CLASSES
    },
    "delay-0": (lambda: Delay(0.0, dt=DT), (3,), 1.0),
    "delay-3": (lambda: Delay(3e-3, dt=DT), (3,), 1.0),
    "delay-per-element": (lambda: Delay(torch.tensor([0.0, 1e-3, 5e-3]), dt=DT), (3,), 1.0),
    "delay-longer-than-a-chunk": (lambda: Delay(9e-3, dt=DT), (2,), 1.0),
    **{
        f"delayed-linear-{mode}-{form}": (_delayed_linear(mode, form), (3,), 1.0)
        for mode in ("synapse", "channel")
        for form in ("gaussian", "linear", "frozen")
    },
    "recurrent-lif": (_seeded(lambda: Recurrent(LIF(tau_mem=5e-3, reset=ResetMode.ZERO), nn.Linear(4, 4))), (4,), 3.0),
    "recurrent-self-loop": (lambda: Recurrent(LIF(tau_mem=5e-3), nn.Identity()), (4,), 3.0),
    "recurrent-scaled-cuba": (
        _seeded(lambda: Recurrent(Sequential(Scale(1.5), CubaLIF(tau_syn=3e-3)), nn.Linear(4, 4))),
        (4,),
        3.0,
    ),
    "sequential-linear-recurrent-delay": (
        _seeded(lambda: Sequential(nn.Linear(3, 5), Recurrent(LIF(tau_mem=5e-3), nn.Linear(5, 5)), Delay(2e-3, dt=DT))),
        (3,),
        3.0,
    ),
    "sequential-mix": (
        _seeded(
            lambda: Sequential(
                nn.Linear(3, 6), LIF(tau_mem=4e-3), Delay(torch.arange(6) * 1e-3, dt=DT),
                nn.Linear(6, 4), CubaLIF(tau_syn=2e-3), nn.Linear(4, 2), ann.LI(tau_mem=5e-3),
            )
        ),
        (3,),
        3.0,
    ),
    "sequential-nested": (
        _seeded(lambda: Sequential(Sequential(nn.Linear(3, 4), ann.ALIF()), Delay(1e-3, dt=DT), Sequential(nn.Linear(4, 2), ann.IF()))),
        (3,),
        3.0,
    ),
    "sequential-conv": (
        _seeded(
            lambda: Sequential(
                TimeDistributed(nn.Conv2d(2, 3, 3, padding=1)), LIF(tau_mem=5e-3), SumPool2d(2), Flatten(),
                nn.Linear(3 * 2 * 2, 4), Scale(torch.tensor([4.0, -4.0, 4.0, -4.0])),
                Recurrent(ann.IF(tau_mem=1e-3, v_th=0.5), nn.Linear(4, 4)),
            )
        ),
        (2, 4, 4),
        6.0,
    ),
    "nir-chain-as-sequential": (_imported(chain=True, as_graph=False), (4,), 2.0),
    "nir-chain-euler-as-sequential": (_imported(chain=True, as_graph=False, disc="euler"), (4,), 2.0),
    "nir-chain-as-graph": (_imported(chain=True, as_graph=True), (4,), 2.0),
    "nir-dag-graph": (_imported(chain=False, as_graph=False), (4,), 2.0),
    "nir-acyclic-dag-graph": (_imported(chain=False, as_graph=False, recurrent=False), (4,), 2.0),
}
NAMES = sorted(MODULES)


def _build(name: str) -> tuple[nn.Module, Tensor]:
    build, shape, scale = MODULES[name]
    module = build().double().eval()
    x = _drive((T, 2, *shape), scale, seed=len(name))
    return module, x


def _same(a: Any, b: Any, where: str = "state") -> None:
    """Equality of two states of any nesting (tensors, tuples, lists, dicts, None), to 1e-12.

    Not bit for bit: a matrix product over the ``T1 * B`` rows of a chunk can round its last
    bit differently from the same rows inside the ``T * B`` product of the whole run (MKL picks
    its blocking from the row count, and which blocking depends on the CPU). A spike that
    flipped would still fail (it differs by 1)."""
    if isinstance(a, Tensor):
        assert isinstance(b, Tensor) and a.shape == b.shape and a.dtype == b.dtype, where
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), f"{where} differs by {float((a - b).abs().max())}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _same(u, v, f"{where}[{i}]")
    else:
        assert a is None and b is None, f"{where}: {a!r} vs {b!r}"


def test_the_enumeration_covers_every_neuron_layer_and_each_kind_of_stateful_module() -> None:
    assert {c.__name__ for c in NEURON_CLASSES} >= {
        "LIF", "IF", "LI", "CubaLIF", "ALIF", "AdEx", "Izhikevich", "CubaLI", "Integrator", "EulerLIF",
    }
    kinds = set()
    for name in NAMES:
        module, _ = _build(name)
        assert isinstance(module, Stateful) and is_stateful(module), name
        kinds.add(type(module).__name__)
    assert {"Delay", "DelayedLinear", "Recurrent", "Sequential", "GraphModule"} <= kinds


@pytest.mark.parametrize("name", NAMES)
def test_two_chunks_equal_one_run(name: str) -> None:
    module, x = _build(name)
    with torch.no_grad():
        whole, final = module(x)
        assert whole.dtype == torch.float64
        # the drive must do something: varying outputs, and spikes where the output is spikes
        assert len(whole.unique()) > 1, "the output never changes: the test would prove nothing"
        values = set(whole.unique().tolist())
        assert values == {0.0, 1.0} or not values <= {0.0, 1.0}
        for cut in (1, 7, T - 1):
            first, mid = module(x[:cut])
            second, end = module(x[cut:], mid)
            _same(torch.cat([first, second]), whole, f"{name} outputs (cut at {cut})")
            _same(end, final, f"{name} final state (cut at {cut})")


@pytest.mark.parametrize("name", NAMES)
def test_steps_equal_one_run_and_initial_state_is_where_a_run_starts(name: str) -> None:
    module, x = _build(name)
    with torch.no_grad():
        whole, final = module(x)
        state = module.initial_state(x[0])  # type: ignore[operator]
        from_rest, rest_final = module(x, state)
        _same(from_rest, whole, f"{name} outputs from initial_state")
        _same(rest_final, final, f"{name} final state from initial_state")
        outs = []
        state = None
        for t in range(T):
            y, state = module.step(x[t], state)  # type: ignore[operator]
            outs.append(y)
    torch.testing.assert_close(torch.stack(outs), whole, rtol=1e-12, atol=1e-12)
    if set(whole.unique().tolist()) <= {0.0, 1.0}:
        assert torch.equal(torch.stack(outs), whole)


def test_the_issue_example_returns_state_and_continues_exactly() -> None:
    """Sequential(Linear, Recurrent(LIF), Delay) in two chunks: every layer's state comes back."""
    torch.manual_seed(0)
    model = Sequential(nn.Linear(3, 5), Recurrent(LIF(tau_mem=5e-3), nn.Linear(5, 5)), Delay(3e-3, dt=DT)).double()
    x = _drive((40, 2, 3), 3.0)
    with torch.no_grad():
        whole, final = model(x)
        first, mid = model(x[:17])
        second, _ = model(x[17:], mid)
    assert mid[0] is None and mid[1] is not None and mid[2].shape == (3, 2, 5)
    assert whole.sum() > 0
    assert torch.equal(torch.cat([first, second]), whole)
    # starting the second chunk from rest instead is not the same run
    with torch.no_grad():
        fresh, _ = model(x[17:])
    assert not torch.equal(fresh, second)


def test_stateless_modules_have_no_state_and_refuse_one() -> None:
    lin = nn.Linear(3, 2)
    x = torch.rand(4, 2, 3)
    assert not is_stateful(lin)
    y, state = run_module(lin, x)
    assert state is None and torch.equal(y, lin(x))
    y1, state = step_module(TimeDistributed(nn.Conv1d(1, 1, 1)), torch.rand(2, 1, 5))
    assert y1.shape == (2, 1, 5) and state is None
    with pytest.raises(ValueError, match="Linear is stateless: its state must be None"):
        run_module(lin, x, (torch.zeros(1),))


def test_bad_states_are_refused_with_what_was_expected() -> None:
    model = Sequential(nn.Linear(3, 4), Delay(2e-3, dt=DT), input_shape=(3,))
    x = torch.rand(5, 2, 3)
    with pytest.raises(ValueError, match=r"one entry per layer \(2\), got 1"):
        model(x, (None,))
    with pytest.raises(ValueError, match=r"layer 1 \(Delay\): Delay state must be a tensor of shape \(2, 2, 4\)"):
        model(x, (None, torch.zeros(3, 2, 4)))
    with pytest.raises(ValueError, match=r"x must have shape \[T, B, 3\], got \(5, 2, 4\)"):
        model(torch.rand(5, 2, 4))
    with pytest.raises(ValueError, match=r"x must have shape \[B, 3\], got \(2, 4\)"):
        model.step(torch.rand(2, 4))
    with pytest.raises(ValueError, match="Recurrent state must be a pair"):
        Recurrent(LIF(), nn.Linear(3, 3))(x, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="neuron must be a stateful module"):
        Recurrent(nn.Linear(3, 3), nn.Linear(3, 3))
    with pytest.raises(TypeError, match="rec must be a stateless module"):
        Recurrent(LIF(), Delay(1e-3, dt=DT))
