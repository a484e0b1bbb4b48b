"""Bad NIR input: each error names the file, node or edge, and nothing is returned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from axonal.interop import from_nir, read_nir, to_nir, write_nir  # noqa: E402
from axonal.nn import ALIF, LIF, Sequential  # noqa: E402
from axonal.functional.neurons.family import ResetMode  # noqa: E402


def _nodes(n_in: int = 3, n_hidden: int = 4) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    ones = np.ones(n_hidden, np.float32)
    return {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc": nir.Affine(weight=rng.normal(size=(n_hidden, n_in)).astype(np.float32), bias=np.zeros(n_hidden, np.float32)),
        "lif": nir.LIF(tau=ones * 1e-2, r=ones, v_leak=0 * ones, v_threshold=ones, v_reset=0 * ones),
        "output": nir.Output(output_type={"output": np.array([n_hidden])}),
    }


EDGES = [("input", "fc"), ("fc", "lif"), ("lif", "output")]


def _graph(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> Any:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_a_valid_graph_imports() -> None:
    net = from_nir(_graph(_nodes(), EDGES), dt=1e-3)
    assert net(torch.rand(5, 2, 3))[0].shape == (5, 2, 4)


def test_dangling_edge_names_the_edge_and_the_missing_node() -> None:
    with pytest.raises(ValueError, match=r"edge \('lif', 'out'\) is dangling: its target 'out' is not a node"):
        from_nir(_graph(_nodes(), EDGES[:-1] + [("lif", "out")]), dt=1e-3)
    with pytest.raises(ValueError, match=r"edge \('ghost', 'fc'\) is dangling: its source 'ghost'"):
        from_nir(_graph(_nodes(), EDGES + [("ghost", "fc")]), dt=1e-3)


def test_mismatched_shapes_name_the_node() -> None:
    nodes = _nodes()
    nodes["fc"] = nir.Affine(weight=np.ones((4, 5), np.float32), bias=np.zeros(4, np.float32))  # expects 5 inputs, gets 3
    with pytest.raises(ValueError, match=r"node 'fc' \(Affine\) cannot take input of shape \(3,\) from \['input'\]"):
        from_nir(_graph(nodes, EDGES), dt=1e-3)
    nodes = _nodes()
    nodes["output"] = nir.Output(output_type={"output": np.array([7])})
    with pytest.raises(ValueError, match=r"node 'output' \(Output\) declares input shape \(7,\) but its inputs give \(4,\)"):
        from_nir(_graph(nodes, EDGES), dt=1e-3)
    nodes = _nodes()
    nodes["fc"] = nir.Affine(weight=np.ones((4, 3), np.float32), bias=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"node 'fc' \(Affine\): bias must have shape \(4,\)"):
        from_nir(_graph(nodes, EDGES), dt=1e-3)


def test_unsupported_nodes_name_type_and_id() -> None:
    nodes = _nodes()
    nodes["sub"] = _graph(_nodes(), list(EDGES))
    edges = [("input", "sub"), ("sub", "output")]
    with pytest.raises(ValueError, match=r"node 'sub' has type NIRGraph, which axonal does not import"):
        from_nir(_graph({k: nodes[k] for k in ("input", "sub", "output")}, edges), dt=1e-3)


def test_bad_neuron_parameters_name_the_node() -> None:
    nodes = _nodes()
    ones = np.ones(4, np.float32)
    nodes["lif"] = nir.LIF(tau=-ones, r=ones, v_leak=0 * ones, v_threshold=ones, v_reset=0 * ones)
    with pytest.raises(ValueError, match=r"node 'lif' \(LIF\): tau_mem must be > 0"):
        from_nir(_graph(nodes, EDGES), dt=1e-3)


def test_graph_needs_one_input_reaching_every_node() -> None:
    nodes = _nodes()
    nodes["island"] = nir.Scale(scale=np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"node 'island' is not reachable from the input node 'input'"):
        from_nir(_graph(nodes, EDGES), dt=1e-3)
    nodes = _nodes()
    del nodes["output"]
    with pytest.raises(ValueError, match="exactly one Input and one Output"):
        from_nir(_graph(nodes, EDGES[:-1]), dt=1e-3)


def test_bad_arguments() -> None:
    graph = _graph(_nodes(), EDGES)
    with pytest.raises(ValueError, match="discretisation must be 'exact' or 'euler'"):
        from_nir(graph, dt=1e-3, discretisation="rk4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        from_nir(graph, dt=0.0)
    with pytest.raises(TypeError, match="graph must be a nir.NIRGraph or a path"):
        from_nir(42, dt=1e-3)
    net = from_nir(graph, dt=1e-3)
    with pytest.raises(ValueError, match=r"x must have shape \[T, B, 3\]"):
        net(torch.zeros(2, 1, 4))


def test_corrupt_truncated_and_missing_files_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.nir"
    nir.write(str(good), _graph(_nodes(), EDGES))
    assert read_nir(good, dt=1e-3) is not None
    data = good.read_bytes()
    trunc = tmp_path / "truncated.nir"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.nir' is not a readable NIR file"):
        read_nir(trunc, dt=1e-3)
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"this is not HDF5" * 10)
    with pytest.raises(ValueError, match=r"junk\.nir' is not a readable NIR file"):
        read_nir(junk, dt=1e-3)
    with pytest.raises(ValueError, match=r"nowhere\.nir' does not exist"):
        read_nir(tmp_path / "nowhere.nir", dt=1e-3)


def test_hdf5_file_without_a_graph_names_the_file(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "empty_graph.nir"
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0")
    with pytest.raises(ValueError, match=r"empty_graph\.nir' is not a readable NIR file \(KeyError"):
        read_nir(path, dt=1e-3)


def test_export_refuses_unsupported_layers_and_writes_nothing(tmp_path: Path) -> None:
    model = Sequential(nn.Linear(3, 4), ALIF())
    path = tmp_path / "alif.nir"
    with pytest.raises(ValueError, match=r"layer 1 \(ALIF\): ALIF has no NIR node"):
        write_nir(path, model, (3,))
    assert not path.exists()
    with pytest.raises(ValueError, match=r"layer 0 \(Softmax\)"):
        to_nir(Sequential(nn.Softmax(dim=-1)), (3,))
    with pytest.raises(ValueError, match=r"NIR's LIF has no refractory period"):
        to_nir(Sequential(nn.Linear(3, 4), LIF(t_ref=2e-3, reset=ResetMode.ZERO)), (3,))
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\) does not accept input of shape \(5,\)"):
        to_nir(Sequential(nn.Linear(3, 4)), (5,))
    with pytest.raises(ValueError, match="input_shape must be a non-empty sequence"):
        to_nir(Sequential(nn.Linear(3, 4)), ())
