"""An imported chain is an ordinary axonal model: trainable, exportable again (same outputs
after import -> export -> import) and counted by the energy counter layer by layer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from axonal.energy import count_ops  # noqa: E402
from axonal.interop import GraphModule, from_nir, to_nir  # noqa: E402
from axonal.functional.neurons import ResetMode  # noqa: E402
from axonal.nn import LIF, CubaLIF, Delay, EulerCubaLIF, Recurrent, Scale, Sequential  # noqa: E402

DT = 1e-3


def _graph(conv: bool = False) -> Any:
    """Input -> Affine -> CubaLIF (w_in 1.5) with an Affine recurrence -> Delay -> LIF -> Output;
    with ``conv`` a Conv2d -> IF -> SumPool2d -> Flatten front end first."""
    rng = np.random.default_rng(0)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    n = 5
    ones = np.ones(n, np.float32)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    if conv:
        c = np.ones((3, 4, 4), np.float32)
        nodes["input"] = nir.Input(input_type={"input": np.array([2, 4, 4])})
        nodes["conv"] = nir.Conv2d(
            input_shape=(4, 4), weight=f32(rng.normal(size=(3, 2, 3, 3))), stride=1, padding=1,
            dilation=1, groups=1, bias=f32(np.zeros(3)),
        )
        nodes["if"] = nir.IF(r=c * 900.0, v_threshold=c * 0.5, v_reset=c * 0.0)
        nodes["pool"] = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
        nodes["flat"] = nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0, end_dim=-1)
        edges += [("input", "conv"), ("conv", "if"), ("if", "pool"), ("pool", "flat"), ("flat", "fc")]
        n_in = 12
    else:
        n_in = 4
        nodes["input"] = nir.Input(input_type={"input": np.array([n_in])})
        edges.append(("input", "fc"))
    nodes.update(
        fc=nir.Affine(weight=f32(rng.normal(size=(n, n_in)) * 2.0), bias=f32(np.full(n, 0.2))),
        lif=nir.CubaLIF(
            tau_syn=ones * 3e-3, tau_mem=ones * 6e-3, r=ones * 4.0, v_leak=ones * 0.0,
            v_threshold=ones * 0.8, v_reset=ones * 0.0, w_in=ones * 1.5,
        ),
        rec=nir.Affine(weight=f32(rng.normal(size=(n, n)) * 0.7), bias=f32(np.zeros(n))),
        delay=nir.Delay(delay=f32([0.0, 1e-3, 2e-3, 4e-3, 3e-3])),
        out=nir.LIF(tau=ones * 5e-3, r=ones * 3.0, v_leak=ones * 0.0, v_threshold=ones * 0.5, v_reset=ones * 0.0),
        output=nir.Output(output_type={"output": np.array([n])}),
    )
    edges += [("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "delay"), ("delay", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _spikes(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.4).float()


def test_a_chain_with_a_recurrence_and_a_delay_imports_as_axonal_layers() -> None:
    net = from_nir(_graph(), dt=DT)
    assert isinstance(net, Sequential)
    kinds = [type(m) for m in net.layers]
    assert kinds == [nn.Linear, Recurrent, Delay, LIF]
    rec = net.layers[1]
    assert isinstance(rec, Recurrent) and isinstance(rec.neuron, Sequential)
    assert [type(m) for m in rec.neuron.layers] == [Scale, CubaLIF]
    assert isinstance(from_nir(_graph(), dt=DT, discretisation="euler").layers[1].neuron.layers[1], EulerCubaLIF)
    graph = from_nir(_graph(), dt=DT, as_graph=True)
    assert isinstance(graph, GraphModule)
    x = _spikes((40, 3, 4))
    with torch.no_grad():
        out, _ = net(x)
        assert torch.equal(out, graph(x)[0])
    assert out.sum() > 0


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("disc", ["exact", "euler"])
def test_import_export_import_gives_the_same_outputs(conv: bool, disc: str) -> None:
    first = from_nir(_graph(conv), dt=DT, discretisation=disc)  # type: ignore[arg-type]
    assert isinstance(first, Sequential) and first.input_shape is not None
    exported = to_nir(first, first.input_shape)
    kinds = {type(node).__name__ for node in exported.nodes.values()}
    assert {"Affine", "CubaLIF", "Delay", "LIF"} <= kinds
    again = from_nir(exported, dt=DT, discretisation=disc)  # type: ignore[arg-type]
    assert [type(m) for m in again.layers] == [type(m) for m in first.layers]  # type: ignore[union-attr]
    x = _spikes((30, 2, *first.input_shape), seed=2)
    with torch.no_grad():
        want, got = first(x)[0], again(x)[0]
    assert want.sum() > 0
    assert torch.equal(got, want)


def test_an_imported_model_trains() -> None:
    net = from_nir(_graph(), dt=DT)
    x = _spikes((30, 4, 4), seed=3)
    params = [p for p in net.parameters() if p.requires_grad]
    assert params
    before = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=0.5)
    out, _ = net(x)
    loss = (out.mean() - 1.0) ** 2
    loss.backward()
    fc = net.layers[0]
    assert isinstance(fc, nn.Linear) and fc.weight.grad is not None and fc.weight.grad.abs().sum() > 0
    rec = net.layers[1].rec  # type: ignore[union-attr]
    assert rec.weight.grad is not None and rec.weight.grad.abs().sum() > 0
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, params))


def test_the_energy_counter_counts_every_layer_of_an_imported_model() -> None:
    net = from_nir(_graph(), dt=DT)
    assert isinstance(net, Sequential)
    x = _spikes((25, 3, 4), seed=4)
    with torch.no_grad():
        result = net.run(x)
    counts = count_ops(net, x, strict=True)  # strict: every operation understood
    t, b, n = 25, 3, 5
    fc, rec_z = counts.layer("layers.0"), result.outputs[1]
    assert fc.synops == int(x.sum()) * n and fc.dense_macs == t * b * 4 * n
    # the recurrent projection sees the recurrent population's spikes, one step after each
    rec = counts.layer("layers.1.rec")
    assert rec.synops == int(rec_z.sum()) * n and rec.dense_macs == t * b * n * n
    cuba = counts.layer("layers.1.neuron.layers.1")
    assert cuba.kind == "cuba_lif" and cuba.neuron_updates == t * b * n
    assert cuba.spikes_out == int(rec_z.sum()) > 0
    out = counts.layer("layers.3")
    assert out.kind == "lif" and out.neuron_updates == t * b * n and out.spikes_out == int(result.out.sum())
    assert counts.total("neuron_updates") == 2 * t * b * n


def test_the_energy_counter_understands_an_imported_convolutional_chain() -> None:
    net = from_nir(_graph(conv=True), dt=DT)
    assert isinstance(net, Sequential)
    x = _spikes((10, 2, 2, 4, 4), seed=5)
    counts = count_ops(net, x, strict=True)
    conv, neurons, pool = counts.layer("layers.0.module"), counts.layer("layers.1"), counts.layer("layers.2")
    assert conv.synops > 0 and conv.macs == 0
    assert neurons.kind == "if" and neurons.neuron_updates == 10 * 2 * 3 * 4 * 4
    assert pool.pool_ops == 10 * 2 * 3 * 2 * 2 * 4  # outputs x window
    assert counts.total("neuron_updates") == neurons.neuron_updates + 2 * 10 * 2 * 5


def test_a_self_loop_and_nested_sequentials_export_and_import_back() -> None:
    torch.manual_seed(0)
    model = Sequential(
        Sequential(nn.Linear(4, 5), Recurrent(LIF(tau_mem=5e-3, v_th=0.5, reset=ResetMode.ZERO, dt=DT), nn.Identity())),
        Delay(2e-3, dt=DT),
    )
    graph = to_nir(model, (4,))
    assert ("0.1.neuron", "0.1.neuron") in graph.edges and "1" in graph.nodes
    again = from_nir(graph, dt=DT)
    assert isinstance(again, Sequential)
    assert [type(m) for m in again.layers] == [nn.Linear, Recurrent, Delay]
    assert isinstance(again.layers[1].rec, nn.Identity)  # type: ignore[union-attr]
    x = _spikes((30, 2, 4), seed=6)
    with torch.no_grad():
        want, got = model(x)[0], again(x)[0]
    assert want.sum() > 0
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)  # float32 parameters in the file
