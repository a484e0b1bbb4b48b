"""Export -> .nir file -> import gives the same outputs, for one model per supported node type."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from axonal.functional.neurons.family import ResetMode
from axonal.interop import (
    SUPPORTED_NODES,
    UNSUPPORTED_NODES,
    from_nir,
    read_nir,
    to_nir,
    write_nir,
)
from axonal.nn import (
    IF,
    LI,
    LIF,
    CubaLI,
    CubaLIF,
    Delay,
    Flatten,
    Integrator,
    Recurrent,
    Scale,
    Sequential,
    SumPool2d,
    Threshold,
    TimeDistributed,
)

DT = 1e-3
ZERO = ResetMode.ZERO


def _seeded(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        torch.manual_seed(0)
        return build()

    return make


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], set[str]]] = {
    "affine_lif": (
        _seeded(lambda: Sequential(nn.Linear(6, 5), LIF(tau_mem=5e-3, r=4.0, v_leak=0.1, v_th=0.8, v_reset=-0.2, reset=ZERO, dt=DT))),
        (6,),
        {"Affine", "LIF"},
    ),
    "linear_if": (
        _seeded(lambda: Sequential(nn.Linear(6, 5, bias=False), IF(tau_mem=2e-3, r=1.5, v_th=0.5, reset=ZERO, dt=DT))),
        (6,),
        {"Linear", "IF"},
    ),
    "li": (_seeded(lambda: Sequential(nn.Linear(6, 4), LI(tau_mem=7e-3, r=3.0, v_leak=0.2, dt=DT))), (6,), {"LI"}),
    "cuba_lif": (
        _seeded(lambda: Sequential(nn.Linear(6, 5), CubaLIF(tau_syn=3e-3, tau_mem=6e-3, r=8.0, v_th=0.6, reset=ZERO, dt=DT))),
        (6,),
        {"CubaLIF"},
    ),
    "cuba_li": (_seeded(lambda: Sequential(nn.Linear(6, 3), CubaLI(tau_syn=2e-3, tau_mem=9e-3, r=5.0, dt=DT))), (6,), {"CubaLI"}),
    "integrator": (_seeded(lambda: Sequential(nn.Linear(6, 3), Integrator(r=200.0, dt=DT))), (6,), {"I"}),
    "scale_threshold": (_seeded(lambda: Sequential(Scale(torch.linspace(0.5, 2.0, 6)), Threshold(0.4))), (6,), {"Scale", "Threshold"}),
    "delay": (
        _seeded(lambda: Sequential(nn.Linear(4, 3), Delay(torch.tensor([0.0, 2e-3, 5e-3]), dt=DT))),
        (4,),
        {"Delay"},
    ),
    "conv1d": (
        _seeded(
            lambda: Sequential(
                TimeDistributed(nn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=2, groups=2)),
                IF(r=2.0, reset=ZERO, tau_mem=1e-3, dt=DT),
                Flatten(),
            )
        ),
        (2, 11),
        {"Conv1d", "IF", "Flatten"},
    ),
    "conv2d_pools": (
        _seeded(
            lambda: Sequential(
                TimeDistributed(nn.Conv2d(2, 4, 3, stride=(1, 2), padding=(1, 2), dilation=(2, 1), groups=2)),
                LIF(tau_mem=4e-3, r=5.0, reset=ZERO, dt=DT),
                SumPool2d(2),
                TimeDistributed(nn.AvgPool2d(2, stride=1, padding=1)),
                Flatten(),
                nn.Linear(4 * 4 * 4, 3),
                LI(tau_mem=5e-3, dt=DT),
            )
        ),
        (2, 8, 10),
        {"Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "LI"},
    ),
    "recurrent": (
        _seeded(
            lambda: Sequential(
                nn.Linear(5, 6),
                Recurrent(CubaLIF(tau_syn=2e-3, tau_mem=5e-3, r=6.0, v_th=0.5, reset=ZERO, dt=DT), nn.Linear(6, 6)),
                nn.Linear(6, 2),
                LIF(tau_mem=4e-3, r=5.0, reset=ZERO, dt=DT),
            )
        ),
        (5,),
        {"CubaLIF", "Affine"},
    ),
    "subtract_reset_in_metadata": (
        _seeded(lambda: Sequential(nn.Linear(6, 5), LIF(tau_mem=5e-3, r=5.0, v_th=0.5, dt=DT))),
        (6,),
        {"LIF"},
    ),
}


def _input(shape: tuple[int, ...]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.rand((30, 3, *shape), generator=gen) * 2.0


def _run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        y = model(x)
    return y[0] if isinstance(y, tuple) else y


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_through_a_file_gives_identical_outputs(name: str, tmp_path: Path) -> None:
    build, shape, kinds = MODELS[name]
    model = build()
    keep = name == "subtract_reset_in_metadata"
    path = tmp_path / f"{name}.nir"
    graph = write_nir(path, model, shape, keep_subtract_reset=keep)
    assert kinds <= {type(n).__name__ for n in graph.nodes.values()}
    imported = read_nir(path, dt=DT)
    x = _input(shape)
    want, got = _run(model, x), _run(imported, x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert want.abs().sum() > 0  # the test input actually drives the model


def test_recurrent_model_exports_a_cycle_and_the_cycle_matters(tmp_path: Path) -> None:
    model = MODELS["recurrent"][0]()
    graph = to_nir(model, (5,))
    assert ("1.neuron", "1.rec") in graph.edges and ("1.rec", "1.neuron") in graph.edges
    path = _write(graph, tmp_path)
    assert read_nir(path, dt=DT, as_graph=True).back_edges == {("1.rec", "1.neuron")}
    imported = read_nir(path, dt=DT)  # the chain with its cycle: a Sequential with a Recurrent
    assert isinstance(imported, Sequential) and isinstance(imported.layers[1], Recurrent)
    x = _input((5,))
    with torch.no_grad():
        model.layers[1].rec.weight.zero_()  # type: ignore[union-attr]
        model.layers[1].rec.bias.zero_()  # type: ignore[union-attr]
    assert not torch.equal(_run(model, x), _run(imported, x))


def _write(graph: object, tmp_path: Path) -> Path:
    path = tmp_path / "g.nir"
    nir.write(str(path), graph)
    return path


def test_subtract_reset_needs_opt_in_and_is_read_back() -> None:
    model = MODELS["subtract_reset_in_metadata"][0]()
    with pytest.raises(ValueError, match=r"layer 1 \(LIF\) uses ResetMode.SUBTRACT"):
        to_nir(model, (6,))
    graph = to_nir(model, (6,), keep_subtract_reset=True)
    assert graph.nodes["1"].metadata == {"axonal.reset": "subtract"}


def test_parameters_are_written_in_nir_continuous_time_convention() -> None:
    model = Sequential(nn.Linear(2, 3), IF(tau_mem=2e-3, r=1.5, reset=ZERO), LIF(tau_mem=5e-3, r=4.0, v_leak=0.1, reset=ZERO))
    graph = to_nir(model, (2,))
    # axonal IF: tau_mem dv/dt = r x ; NIR IF: dv/dt = r x  =>  r_nir = r / tau_mem
    assert graph.nodes["1"].r.tolist() == pytest.approx([750.0] * 3)
    assert graph.nodes["2"].tau.tolist() == pytest.approx([5e-3] * 3)
    assert graph.nodes["2"].r.tolist() == pytest.approx([4.0] * 3)
    assert graph.nodes["2"].v_leak.tolist() == pytest.approx([0.1] * 3)


def test_every_nir_node_class_is_supported_or_listed_as_unsupported() -> None:
    classes = {
        name for name, obj in inspect.getmembers(nir.ir, inspect.isclass) if issubclass(obj, nir.NIRNode) and obj is not nir.NIRNode
    }
    assert classes <= set(SUPPORTED_NODES) | set(UNSUPPORTED_NODES)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "nir.md").read_text()
    for name in classes:
        assert f"`{name}`" in docs, f"docs/nir.md does not mention {name}"


def test_acyclic_graphs_run_layer_by_layer_exactly_like_step_by_step() -> None:
    model = MODELS["conv2d_pools"][0]()
    net = from_nir(to_nir(model, (2, 8, 10)), dt=DT, as_graph=True)
    assert not net.back_edges
    x = _input((2, 8, 10))
    with torch.no_grad():
        whole, end_state = net(x)
        state = net.initial_state(x[0])
        steps = []
        for t in range(x.shape[0]):
            y, state = net.step(x[t], state)
            steps.append(y)
    torch.testing.assert_close(whole, torch.stack(steps), atol=1e-6, rtol=1e-6)
    # the returned state continues the run like an uninterrupted one
    with torch.no_grad():
        first, mid = net(x[:10])
        second, _ = net(x[10:], mid)
    torch.testing.assert_close(torch.cat([first, second]), whole, atol=1e-6, rtol=1e-6)
