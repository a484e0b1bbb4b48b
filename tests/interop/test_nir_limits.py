"""NIR import: non-finite weights and parameters are refused naming node and field; declared
shapes, convolution outputs, delay buffers and HDF5 datasets are checked against the data
present and the free memory before anything is built; exports refuse NaN weights."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
import pytest
import torch
from torch import nn

import axonal.data.limits as limits
from axonal.errors import FileFormatError, NonFiniteError, ResourceLimitError
from axonal.interop import from_nir, read_nir, to_nir
from axonal.nn import LIF, Sequential


def _graph(middle: dict[str, Any], n_in: int, n_out: int) -> Any:
    names = list(middle)
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}), **middle,
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    chain = ["input", *names, "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain, chain[1:])), type_check=False)


def _lif(n: int, **change: Any) -> Any:
    ones = np.ones(n, np.float32)
    fields = {"tau": ones * 1e-2, "r": ones, "v_leak": 0 * ones, "v_threshold": ones, "v_reset": 0 * ones} | change
    return nir.LIF(**fields)


def _affine(n_out: int, n_in: int, **change: Any) -> Any:
    fields = {"weight": np.ones((n_out, n_in), np.float32), "bias": np.zeros(n_out, np.float32)} | change
    return nir.Affine(**fields)


@pytest.mark.parametrize(
    "node, field, pattern",
    [
        (lambda: _affine(4, 3, weight=np.full((4, 3), np.nan, np.float32)), "weight", r"all|12 of 12"),
        (lambda: _affine(4, 3, bias=np.array([0, 0, np.inf, 0], np.float32)), "bias", r"1 of 4 values, the first at index \(2,\) is inf"),
        (lambda: nir.Linear(weight=np.array([[1, 2, 3]] * 4, np.float64) * 1e300), "weight", r"once converted to float32"),
    ],
    ids=["affine-weight-nan", "affine-bias-inf", "linear-overflows-float32"],
)
def test_non_finite_weights_name_node_and_field(node: Any, field: str, pattern: str) -> None:
    graph = _graph({"fc": node(), "lif": _lif(4)}, 3, 4)
    with pytest.raises(NonFiniteError, match=rf"node 'fc' \(\w+\): {field} holds NaN or inf") as info:
        from_nir(graph, dt=1e-3)
    assert re.search(pattern, str(info.value)), str(info.value)


@pytest.mark.parametrize("field", ["tau", "r", "v_leak", "v_threshold", "v_reset"])
def test_non_finite_neuron_parameters_name_node_and_field(field: str) -> None:
    value = np.ones(4, np.float32)
    value[1] = np.nan
    graph = _graph({"fc": _affine(4, 3), "lif": _lif(4, **{field: value})}, 3, 4)
    with pytest.raises(NonFiniteError, match=rf"node 'lif' \(LIF\): {field} holds NaN or inf \(1 of 4 values"):
        from_nir(graph, dt=1e-3)


def test_non_finite_conv_weights_and_cuba_w_in() -> None:
    w = np.ones((2, 1, 3, 3), np.float32)
    w[0, 0, 1, 1] = -np.inf
    conv = nir.Conv2d(input_shape=(5, 5), weight=w, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2, np.float32))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([1, 5, 5])}), "conv": conv,
               "output": nir.Output(output_type={"output": np.array([2, 5, 5])})},
        edges=[("input", "conv"), ("conv", "output")], type_check=False)
    with pytest.raises(NonFiniteError, match=r"node 'conv' \(Conv2d\): weight holds NaN or inf \(1 of 18 values, the first at index \(0, 0, 1, 1\)"):
        from_nir(graph, dt=1e-3)
    ones = np.ones(2, np.float32)
    cuba = nir.CubaLIF(tau_mem=ones, tau_syn=ones, r=ones, v_leak=0 * ones, v_threshold=ones, v_reset=0 * ones,
                       w_in=np.array([1.0, np.nan], np.float32))
    with pytest.raises(NonFiniteError, match=r"node 'cuba' \(CubaLIF\): w_in holds NaN or inf"):
        from_nir(_graph({"cuba": cuba}, 2, 2), dt=1e-3)


def test_a_file_with_nan_weights_names_the_file_node_and_field(tmp_path: Path) -> None:
    path = tmp_path / "nan.nir"
    nir.write(str(path), _graph({"fc": _affine(4, 3, weight=np.full((4, 3), np.nan, np.float32)), "lif": _lif(4)}, 3, 4))
    with pytest.raises(NonFiniteError, match=r"NIR file '.*nan\.nir': node 'fc' \(Affine\): weight holds NaN or inf"):
        read_nir(path, dt=1e-3)


def test_declared_input_shape_claiming_terabytes_is_refused() -> None:
    graph = _graph({"lif": _lif(1)}, 1, 1)
    graph.nodes["input"].input_type = {"input": np.array([10**6, 10**6])}
    with pytest.raises(ResourceLimitError, match=r"NIR graph: Input node 'input' of shape \(1000000, 1000000\) needs"):
        from_nir(graph, dt=1e-3)
    graph.nodes["input"].input_type = {"input": np.array([3, 0])}
    with pytest.raises(FileFormatError, match=r"input shape \(3, 0\) must hold ints in \[1, 2147483647\]"):
        from_nir(graph, dt=1e-3)


def test_conv_padding_that_would_allocate_terabytes_is_refused_before_the_probe() -> None:
    conv = nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 1, 1), np.float32), stride=1, padding=2**20,
                      dilation=1, groups=1, bias=np.zeros(1, np.float32))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([1, 4, 4])}), "conv": conv,
               "output": nir.Output(output_type={"output": np.array([1, 4, 4])})},
        edges=[("input", "conv"), ("conv", "output")], type_check=False)
    with pytest.raises(ResourceLimitError, match=r"a probe step up to node 'conv' \(Conv2d\) on input \(1, 4, 4\) needs \d+(\.\d+)? TiB"):
        from_nir(graph, dt=1e-3)


def test_a_delay_of_a_billion_steps_is_refused() -> None:
    graph = _graph({"d": nir.Delay(delay=np.array([1e9], np.float32))}, 1, 1)
    with pytest.raises(ResourceLimitError, match=r"node 'd' \(Delay\): a delay of 1e\+09 s at dt=0.001 s is 1e\+12 steps"):
        from_nir(graph, dt=1e-3)
    graph = _graph({"d": nir.Delay(delay=np.full(1000, 1e5, np.float32))}, 1000, 1000)
    with pytest.raises(ResourceLimitError, match=r"node 'd' \(Delay\) on input \(1000,\) needs"):
        from_nir(graph, dt=1e-3)


def test_parameters_that_broadcast_past_the_node_shape_are_refused() -> None:
    """Found by the fuzzer: a [1000, 1] time constant on a [4] input made the layer's output
    [T, 1000, 4] (1000 copies over the batch) instead of refusing."""
    lif = _lif(4)
    lif.tau = np.full((1000, 1), 1e-2, np.float32)  # nir's constructor refuses it; an edited graph need not
    graph = _graph({"fc": _affine(4, 3), "lif": lif}, 3, 4)
    with pytest.raises(FileFormatError, match=r"node 'lif' \(LIF\): tau_mem has shape \(1000, 1\), which does not broadcast to the node's input shape \(4,\)"):
        from_nir(graph, dt=1e-3)


def test_bad_integer_fields_name_node_and_field() -> None:
    def conv(**change: Any) -> Any:
        fields = {"input_shape": (4, 4), "weight": np.ones((1, 1, 3, 3), np.float32), "stride": 1, "padding": 1,
                  "dilation": 1, "groups": 1, "bias": np.zeros(1, np.float32)} | change
        node = nir.Conv2d(**{k: v for k, v in fields.items() if k in ("input_shape", "weight", "bias")},
                          stride=1, padding=1, dilation=1, groups=1)
        for k in ("stride", "padding", "dilation", "groups"):
            setattr(node, k, fields[k])
        return nir.NIRGraph(
            nodes={"input": nir.Input(input_type={"input": np.array([1, 4, 4])}), "conv": node,
                   "output": nir.Output(output_type={"output": np.array([1, 4, 4])})},
            edges=[("input", "conv"), ("conv", "output")], type_check=False)

    with pytest.raises(FileFormatError, match=r"node 'conv' \(Conv2d\): stride must be in \[1, 2147483647\], got \[0\]"):
        from_nir(conv(stride=0), dt=1e-3)
    with pytest.raises(FileFormatError, match=r"node 'conv' \(Conv2d\): dilation must hold whole numbers, got \[nan\]"):
        from_nir(conv(dilation=np.nan), dt=1e-3)
    with pytest.raises(FileFormatError, match=r"node 'conv' \(Conv2d\): padding must be 'same', 'valid' or integers, got 'full'"):
        from_nir(conv(padding="full"), dt=1e-3)
    with pytest.raises(FileFormatError, match=r"node 'conv' \(Conv2d\): groups must hold real numbers, got dtype <U1"):
        from_nir(conv(groups="a"), dt=1e-3)


def _write_with(path: Path, dataset: str, **create: Any) -> None:
    nir.write(str(path), _graph({"fc": _affine(4, 3), "lif": _lif(4)}, 3, 4))
    with h5py.File(path, "r+") as f:
        del f[dataset]
        f.create_dataset(dataset, **create)


def test_hdf5_dataset_claiming_terabytes_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.nir"
    _write_with(path, "node/nodes/fc/weight", shape=(10**6, 10**6), dtype="f4", chunks=(64, 64))
    assert path.stat().st_size < 100_000
    with pytest.raises(FileFormatError, match=r"huge\.nir': dataset '/node/nodes/fc/weight' claims shape \(1000000, 1000000\) of float32 \(3.64 TiB\) but stores 0 B"):
        read_nir(path, dt=1e-3)


def test_hdf5_datasets_larger_than_free_memory_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.nir"
    _write_with(path, "node/nodes/fc/weight", data=np.ones((4, 3000), np.float32))
    monkeypatch.setattr(limits, "available_memory", lambda: 50_000)
    with pytest.raises(ResourceLimitError, match=r"NIR file '.*big\.nir': reading its datasets needs"):
        read_nir(path, dt=1e-3)


def test_hdf5_links_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.nir"
    nir.write(str(path), _graph({"fc": _affine(4, 3), "lif": _lif(4)}, 3, 4))
    with h5py.File(path, "r+") as f:
        f["node/nodes/fc/extra"] = h5py.ExternalLink("/etc/passwd", "/x")
    with pytest.raises(FileFormatError, match=r"'/node/nodes/fc/extra' is a ExternalLink; a NIR file holds no links"):
        read_nir(path, dt=1e-3)


def test_export_refuses_nan_weights_naming_the_layer() -> None:
    model = Sequential(nn.Linear(3, 4), LIF())
    with torch.no_grad():
        model.layers[0].weight[1, 2] = float("nan")
    with pytest.raises(NonFiniteError, match=r"layer 0 \(Linear\): weight holds NaN or inf \(1 of 12 values, the first at index \(1, 2\)\); not exported"):
        to_nir(model, (3,))
