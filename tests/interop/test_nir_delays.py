"""A frozen DelayedLinear exports to NIR (Delay + Affine nodes) and imports to the same outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from axonal.functional.neurons.family import ResetMode
from axonal.interop import GraphModule, from_nir, read_nir, to_nir, write_nir
from axonal.nn import LI, LIF, Delay, DelayedLinear, Sequential

DT = 1e-3
ZERO = ResetMode.ZERO


def _model(mode: str, seed: int = 0, max_delay: int = 4, bias: bool = True) -> tuple[Sequential, DelayedLinear]:
    torch.manual_seed(seed)
    layer = DelayedLinear(5, 6, max_delay, DT, mode=mode, bias=bias, delay_init="uniform")  # type: ignore[arg-type]
    model = Sequential(
        layer, LIF(tau_mem=5e-3, v_th=0.3, reset=ZERO, dt=DT), nn.Linear(6, 3), LI(tau_mem=5e-3, dt=DT)
    )
    return model, layer


def _spikes(seed: int = 1, t: int = 30, b: int = 4, n: int = 5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 3.0 * (torch.rand(t, b, n, generator=gen) < 0.3).float()


@pytest.mark.parametrize("mode", ["synapse", "channel"])
@pytest.mark.parametrize("bias", [True, False])
def test_round_trip_through_a_file_gives_identical_outputs(tmp_path: Path, mode: str, bias: bool) -> None:
    model, layer = _model(mode, bias=bias)
    layer.freeze()
    path = tmp_path / "delayed.nir"
    write_nir(path, model, (5,))
    back = read_nir(path, DT)
    x = _spikes()
    result = model.run(x)
    assert result.outputs[1].sum() > 10  # the LIF layer fires: the comparison is not of zeros
    out, state = back(x)
    assert torch.equal(out, result.out)
    # and it continues from its state as the original does
    x2 = _spikes(seed=2, t=12)
    assert torch.equal(back(x2, state)[0], model(x2, result.state)[0])


def test_channel_mode_is_delay_then_affine_and_imports_as_a_chain() -> None:
    model, layer = _model("channel")
    layer.freeze()
    graph = to_nir(model, (5,))
    delay, affine = graph.nodes["0.delay"], graph.nodes["0"]
    assert type(delay).__name__ == "Delay" and type(affine).__name__ == "Affine"
    np.testing.assert_allclose(delay.delay, layer.integer_delays().numpy() * DT, rtol=1e-6)
    np.testing.assert_array_equal(affine.weight, layer.weight.detach().numpy())
    assert ("input", "0.delay") in graph.edges and ("0.delay", "0") in graph.edges and ("0", "1") in graph.edges
    back = from_nir(graph, DT)
    assert isinstance(back, Sequential)  # a chain: Delay, Linear, LIF, Linear, LI
    assert isinstance(back.layers[0], Delay) and isinstance(back.layers[1], nn.Linear)


def test_synapse_mode_is_one_branch_per_delay_summed_by_the_next_node() -> None:
    model, layer = _model("synapse")
    layer.freeze()
    steps = layer.integer_delays().numpy()
    values = sorted(set(steps.reshape(-1).tolist()))
    assert len(values) >= 3
    graph = to_nir(model, (5,))
    weights = layer.weight.detach().numpy()
    total = np.zeros_like(weights)
    for n, k in enumerate(values):
        head = graph.nodes[f"0.w{k}"]
        # the bias rides on the first branch only
        assert type(head).__name__ == ("Affine" if n == 0 else "Linear")
        np.testing.assert_array_equal(head.weight, np.where(steps == k, weights, 0.0))
        total += head.weight
        assert (f"0.w{k}", "1") in graph.edges
        if k == 0:
            assert ("input", "0.w0") in graph.edges and "0.d0" not in graph.nodes
        else:
            np.testing.assert_allclose(graph.nodes[f"0.d{k}"].delay, np.full(5, k * DT), rtol=1e-6)
            assert ("input", f"0.d{k}") in graph.edges and (f"0.d{k}", f"0.w{k}") in graph.edges
    np.testing.assert_array_equal(total, weights)  # every synapse in exactly one branch
    assert isinstance(from_nir(graph, DT), GraphModule)  # branches: not a chain


def test_branches_feeding_the_output_and_following_a_neuron_layer(tmp_path: Path) -> None:
    """A DelayedLinear after a spiking layer (branches start at a neuron) and as the last layer
    (branches feed the Output node)."""
    torch.manual_seed(3)
    first = DelayedLinear(4, 5, 3, DT, delay_init="uniform").freeze()
    last = DelayedLinear(5, 2, 5, DT, delay_init="uniform").freeze()
    model = Sequential(first, LIF(tau_mem=4e-3, v_th=0.2, reset=ZERO, dt=DT), last)
    path = tmp_path / "two.nir"
    graph = write_nir(path, model, (4,))
    assert sum(1 for _, b in graph.edges if b == "output") == len(set(last.integer_delays().reshape(-1).tolist()))
    x = _spikes(seed=4, t=25, n=4)
    assert torch.equal(read_nir(path, DT)(x)[0], model(x)[0])


def test_all_delays_zero_exports_a_plain_affine() -> None:
    model, layer = _model("synapse")
    with torch.no_grad():
        layer.delay.zero_()
    layer.freeze()
    graph = to_nir(model, (5,))
    assert "0.w0" in graph.nodes and not any(type(v).__name__ == "Delay" for v in graph.nodes.values())
    back = from_nir(graph, DT)
    assert isinstance(back, Sequential)
    x = _spikes()
    assert torch.equal(back(x)[0], model(x)[0])


def test_a_layer_that_is_not_frozen_is_refused() -> None:
    model, layer = _model("synapse")
    with pytest.raises(ValueError, match=r"layer 0 \(DelayedLinear\): its delays are real-valued \(not frozen\).*\.freeze\(\)"):
        to_nir(model, (5,))
    rounded = Sequential(layer.rounded(), *list(model.layers)[1:])
    assert isinstance(to_nir(rounded, (5,)), nir.NIRGraph)
    assert not layer.frozen
