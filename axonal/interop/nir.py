"""NIR (Neuromorphic Intermediate Representation) import and export.

* :func:`to_nir` / :func:`write_nir`: an axonal model (a :class:`~axonal.nn.Sequential` or a
  single layer built from supported pieces) to a ``nir.NIRGraph`` / a ``.nir`` file.
* :func:`from_nir` / :func:`read_nir`: a ``nir.NIRGraph`` or ``.nir`` file to a runnable
  :class:`~axonal.interop._runtime.GraphModule`, with an explicit ``dt`` and a choice of
  ``"exact"`` (axonal's exponential integration) or ``"euler"`` (forward Euler, as snnTorch and
  Norse import NIR) discretisation.

Parameter mapping (NIR's continuous-time equations; docs/nir.md has the full table):
LIF ``tau <-> tau_mem``; IF ``r_nir = r / tau_mem`` (axonal's IF is ``tau_mem dv/dt = r x``,
NIR's is ``dv/dt = r x``); CubaLIF/CubaLI ``w_in`` scales the input before the synapse; the
hard reset of NIR is :attr:`ResetMode.ZERO`. Requires the optional ``nir`` package
(``pip install axonal[interop]``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

try:
    import nir
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("axonal.interop needs the 'nir' package: pip install 'axonal[interop]'") from err

from axonal.data.limits import check_allocation, format_bytes
from axonal.errors import AxonalError, FileFormatError, NonFiniteError, ResourceLimitError
from axonal.functional.validate import check_dt
from axonal.functional.neurons import ResetMode, families, family_for_nir
from axonal.interop._runtime import (
    GraphModule,
    ModuleNode,
    NeuronNode,
    StatelessNode,
    StepNode,
)
from axonal.nn.container import Sequential
from axonal.nn.delays import DelayedLinear
from axonal.nn.neuron import NeuronLayer
from axonal.nn.neurons import (
    IF,
    LI,
    LIF,
    CubaLI,
    CubaLIF,
    EulerCubaLI,
    EulerCubaLIF,
    EulerLI,
    EulerLIF,
    Integrator,
)
from axonal.nn.protocol import run_module
from axonal.nn.shape import Flatten, Scale, SumPool2d, Threshold, TimeDistributed
from axonal.nn.stateful import Delay, Recurrent

__all__ = [
    "NEURON_NODES",
    "SUPPORTED_NODES",
    "as_sequential",
    "UNSUPPORTED_NODES",
    "Discretisation",
    "from_nir",
    "load_nir_file",
    "read_nir",
    "to_nir",
    "write_nir",
]

Discretisation = Literal["exact", "euler"]

NEURON_NODES = tuple(f.nir.kind for f in families() if f.nir is not None)
"""NIR neuron node classes: those the registered families map to (their ``nir`` facet)."""

SUPPORTED_NODES = (
    "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d",
    "Flatten", "Threshold", "Delay",
) + NEURON_NODES
"""NIR node classes that import and export (graph cycles included)."""

UNSUPPORTED_NODES = ("NIRGraph",)
"""NIR node classes that do not import: a nested ``NIRGraph`` (flatten it first)."""

RESET_KEY = "axonal.reset"
"""Node metadata key marking a subtractive reset (NIR itself only has the hard reset)."""

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- export


def _finite(arr: np.ndarray, where: str, field: str) -> np.ndarray:
    """``arr`` (float32) if it is finite; else :class:`~axonal.errors.NonFiniteError` naming the
    layer and field (NaN or inf would be written into the file and poison every importer)."""
    finite = np.isfinite(arr)
    if not bool(finite.all()):
        bad = int(finite.size - np.count_nonzero(finite))
        raise NonFiniteError(
            f"{where}: {field} holds NaN or inf ({bad} of {finite.size} values, the first at index "
            f"{_first_bad(finite)}); not exported"
        )
    return arr


def _array(value: float | Tensor, shape: Sequence[int], where: str = "model", field: str = "value") -> np.ndarray:
    t = torch.as_tensor(value).detach().to("cpu", torch.float32)
    return _finite(np.ascontiguousarray(np.broadcast_to(t.numpy(), tuple(shape)).astype(np.float32)), where, field)


def _weights(tensor: Tensor, where: str, field: str) -> np.ndarray:
    return _finite(tensor.detach().cpu().numpy().astype(np.float32), where, field)


def _reset_metadata(where: str, reset: ResetMode, keep_subtract_reset: bool) -> dict[str, Any]:
    if reset is ResetMode.ZERO:
        return {}
    if reset is ResetMode.SUBTRACT and keep_subtract_reset:
        return {RESET_KEY: "subtract"}
    raise ValueError(
        f"{where} uses ResetMode.{reset.name}; NIR neurons reset to v_reset (ResetMode.ZERO). "
        "Build the layer with reset=ResetMode.ZERO, or pass keep_subtract_reset=True to record "
        f"the subtractive reset in the node metadata ({RESET_KEY!r}, read back by axonal only)"
    )


def _neuron_node(layer: NeuronLayer[Any, Any], shape: Sequence[int], where: str, keep_subtract: bool) -> Any:
    family = layer.family
    mapping = family.nir
    if mapping is None:
        mapped = ", ".join(f"{f.name} ({f.nir.kind})" for f in families() if f.nir is not None)
        raise ValueError(f"{where}: {type(layer).__name__} has no NIR node (families with one: {mapped})")
    p = layer.params()
    reason = None if mapping.refuse is None else mapping.refuse(p)
    if reason is not None:
        raise ValueError(f"{where}: NIR's {mapping.kind} has no {reason}")
    fields: dict[str, Any] = {key: _array(value, shape, where, key) for key, value in mapping.to_node(p).items()}
    if mapping.resets:
        fields["metadata"] = _reset_metadata(where, p.reset, keep_subtract)
    return getattr(nir, mapping.kind)(**fields)


def _tuple_arg(value: Any) -> Any:
    return value if isinstance(value, str) else np.array(value, dtype=np.int64)


def _stateless_node(module: nn.Module, in_shape: Sequence[int], where: str) -> Any | None:
    inner = module.module if isinstance(module, TimeDistributed) else module
    if isinstance(inner, (nn.Dropout, nn.Identity)):
        return None
    if isinstance(inner, nn.Linear):
        w = _weights(inner.weight, where, "weight")
        if inner.bias is None:
            return nir.Linear(weight=w)
        return nir.Affine(weight=w, bias=_weights(inner.bias, where, "bias"))
    if isinstance(inner, (nn.Conv1d, nn.Conv2d)):
        if inner.padding_mode != "zeros":
            raise ValueError(f"{where}: NIR convolutions pad with zeros, got padding_mode={inner.padding_mode!r}")
        w = _weights(inner.weight, where, "weight")
        bias = np.zeros(w.shape[0], np.float32) if inner.bias is None else _weights(inner.bias, where, "bias")
        if isinstance(inner, nn.Conv1d):
            return nir.Conv1d(
                input_shape=int(in_shape[-1]), weight=w, stride=int(inner.stride[0]),
                padding=inner.padding if isinstance(inner.padding, str) else int(inner.padding[0]),
                dilation=int(inner.dilation[0]), groups=int(inner.groups), bias=bias,
            )
        return nir.Conv2d(
            input_shape=(int(in_shape[-2]), int(in_shape[-1])), weight=w, stride=_tuple_arg(inner.stride),
            padding=_tuple_arg(inner.padding), dilation=_tuple_arg(inner.dilation), groups=int(inner.groups), bias=bias,
        )
    if isinstance(inner, nn.AvgPool2d):
        if inner.ceil_mode or not inner.count_include_pad or inner.divisor_override is not None:
            raise ValueError(f"{where}: only AvgPool2d(ceil_mode=False, count_include_pad=True) maps to NIR")
        pair = lambda v: np.array(v if isinstance(v, (tuple, list)) else (v, v), dtype=np.int64)
        stride = inner.stride if inner.stride is not None else inner.kernel_size
        return nir.AvgPool2d(kernel_size=pair(inner.kernel_size), stride=pair(stride), padding=pair(inner.padding))
    if isinstance(inner, SumPool2d):
        return nir.SumPool2d(
            kernel_size=np.array(inner.kernel_size), stride=np.array(inner.stride), padding=np.array(inner.padding)
        )
    if isinstance(inner, Flatten):
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
    if isinstance(inner, nn.Flatten):
        # NIR dims exclude time and batch: [T, B, ...] (or [T*B, ...] inside TimeDistributed)
        lead = 1 if inner is not module else 2
        dims = [inner.start_dim, inner.end_dim]
        if any(0 <= d < lead for d in dims):
            raise ValueError(f"{where}: flattening the time or batch dimension has no NIR node")
        start, end = (d - lead if d >= 0 else d for d in dims)
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=start, end_dim=end)
    if isinstance(inner, Scale):
        return nir.Scale(scale=_array(inner.scale, in_shape, where, "scale"))
    if isinstance(inner, Threshold):
        return nir.Threshold(threshold=_array(inner.threshold, in_shape, where, "threshold"))
    raise ValueError(f"{where}: {type(inner).__name__} has no NIR node; supported: {', '.join(SUPPORTED_NODES)}")


def _delayed_linear_nodes(
    layer: DelayedLinear, name: str, sources: list[str], where: str
) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
    """NIR nodes and edges of a frozen :class:`~axonal.nn.DelayedLinear` fed by ``sources``,
    and the nodes that feed the next layer.

    ``mode="channel"``: ``"<name>.delay"`` (``Delay``, per channel, ``steps * dt`` s) then
    ``"<name>"`` (``Affine``, or ``Linear`` without bias). ``mode="synapse"`` (NIR's ``Delay``
    is per channel): one branch per distinct integer delay ``k``, in increasing order,
    ``"<name>.d<k>"`` (``Delay`` of ``k * dt`` s on every input channel; none for ``k = 0``)
    then ``"<name>.w<k>"`` (the weights of the synapses with delay ``k``, others zero; the
    bias on the first branch only); the branches all feed the next node, which sums them.
    """
    if not layer.frozen:
        raise ValueError(
            f"{where}: its delays are real-valued (not frozen) and NIR delays are whole steps; call "
            f".freeze() on the layer first (rounds every delay to whole steps of dt={layer.dt:g} s; "
            f".rounded() gives a frozen copy)"
        )
    steps = layer.integer_delays().cpu()
    weight = _weights(layer.weight, where, "weight")
    bias = None if layer.bias is None else _weights(layer.bias, where, "bias")
    n_in = layer.in_features
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []

    def affine(w: np.ndarray, with_bias: bool) -> Any:
        if with_bias and bias is not None:
            return nir.Affine(weight=w, bias=bias)
        return nir.Linear(weight=w)

    if layer.mode == "channel":
        delay_s = (steps.to(torch.float64) * layer.dt).numpy().astype(np.float32)
        nodes[f"{name}.delay"] = nir.Delay(delay=_finite(delay_s, where, "delay"))
        nodes[name] = affine(weight, True)
        edges += [(src, f"{name}.delay") for src in sources] + [(f"{name}.delay", name)]
        return nodes, edges, [name]
    heads: list[str] = []
    for k in sorted(set(steps.reshape(-1).tolist())):
        w = np.where(steps.numpy() == k, weight, np.float32(0.0)).astype(np.float32)
        head = f"{name}.w{k}"
        nodes[head] = affine(w, not heads)
        if k == 0:
            edges += [(src, head) for src in sources]
        else:
            d = f"{name}.d{k}"
            nodes[d] = nir.Delay(delay=np.full(n_in, k * layer.dt, dtype=np.float32))
            edges += [(src, d) for src in sources] + [(d, head)]
        heads.append(head)
    return nodes, edges, heads


def _flat_layers(model: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """(node id, layer) of ``model``, nested :class:`Sequential` s spliced in (ids ``"i.j"``)."""
    if not isinstance(model, Sequential):
        return [(prefix or "0", model)]
    out: list[tuple[str, nn.Module]] = []
    for i, layer in enumerate(model.layers):
        name = f"{prefix}{i}"
        out += _flat_layers(layer, name + ".") if isinstance(layer, Sequential) else [(name, layer)]
    return out


def _recurrent_neuron(layer: Recurrent, where: str) -> tuple[NeuronLayer[Any, Any], Scale | None]:
    """The neuron layer of a Recurrent and the Scale before it (NIR ``w_in``), if any."""
    inner = layer.neuron
    if isinstance(inner, NeuronLayer):
        return inner, None
    parts = list(inner.layers) if isinstance(inner, Sequential) else []
    if len(parts) == 2 and isinstance(parts[0], Scale) and isinstance(parts[1], NeuronLayer):
        return parts[1], parts[0]
    raise ValueError(
        f"{where}: NIR export needs the recurrent neuron to be a neuron layer or "
        f"Sequential(Scale, neuron layer), got {type(inner).__name__}"
    )


def to_nir(
    model: nn.Module, input_shape: Sequence[int], *, keep_subtract_reset: bool = False
) -> Any:
    """Export ``model`` to a ``nir.NIRGraph`` (Input -> layers -> Output).

    Args:
        model: an :class:`~axonal.nn.Sequential` or one layer, made of supported pieces
            (``nn.Linear``, ``TimeDistributed(nn.Conv1d/Conv2d/AvgPool2d)``, :mod:`axonal.nn`
            neuron layers LIF/IF/LI/CubaLIF/CubaLI/Integrator, Scale, Threshold, SumPool2d,
            Flatten, Delay, Recurrent, a frozen DelayedLinear; Dropout/Identity are skipped).
        input_shape: shape of one sample at one time step (without ``T`` and ``B``).
        keep_subtract_reset: allow ``ResetMode.SUBTRACT`` neurons, recorded in node metadata.

    Node ids are the layer indices (``"0"``, ``"1"``, ...; ``"i.j"`` for layer ``j`` of a nested
    Sequential ``i``; a Recurrent layer ``k`` gives ``"k.neuron"`` and ``"k.rec"``, or a
    self-loop on ``"k.neuron"`` when ``rec`` is ``nn.Identity``; a frozen DelayedLinear ``k``
    gives ``"k.delay"`` and ``"k"`` in channel mode, and one branch ``"k.d<s>"`` -> ``"k.w<s>"``
    per distinct delay of ``s`` steps in synapse mode, the branches all feeding the next node).

    Raises:
        ValueError: a layer with no NIR node, a DelayedLinear that is not frozen, ...
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be a non-empty sequence of positive ints, got {input_shape!r}")
    layers = _flat_layers(model, "")
    was_training = model.training
    model.eval()
    try:
        nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
        edges: list[tuple[str, str]] = []
        last = ["input"]  # the nodes feeding the next one (several after a DelayedLinear's branches)
        x = torch.zeros((1, 1, *shape))
        for i, layer in layers:
            where = f"layer {i} ({type(layer).__name__})"
            in_shape = tuple(x.shape[2:])
            with torch.no_grad():
                try:
                    x, _ = run_module(layer, x)
                except RuntimeError as err:
                    raise ValueError(f"{where} does not accept input of shape {in_shape}: {err}") from None
            out_shape = tuple(x.shape[2:])
            if isinstance(layer, Recurrent):
                neuron_layer, w_in = _recurrent_neuron(layer, where)
                neuron = _neuron_node(neuron_layer, out_shape, where, keep_subtract_reset)
                if w_in is not None:
                    if not hasattr(neuron, "w_in"):
                        raise ValueError(
                            f"{where}: a Scale inside the recurrence maps to NIR's w_in, which only "
                            f"CubaLIF and CubaLI have, not {type(neuron_layer).__name__}"
                        )
                    neuron = dataclasses.replace(neuron, w_in=_array(w_in.scale, out_shape, where, "w_in"))
                rec = _stateless_node(layer.rec, out_shape, where + ".rec")
                a, b = f"{i}.neuron", f"{i}.rec"
                nodes[a] = neuron
                if rec is None:  # identity feedback: a self-loop
                    edges += [(src, a) for src in last] + [(a, a)]
                else:
                    nodes[b] = rec
                    edges += [(src, a) for src in last] + [(a, b), (b, a)]
                last = [a]
                continue
            if isinstance(layer, DelayedLinear):
                branch_nodes, branch_edges, last = _delayed_linear_nodes(layer, i, last, where)
                nodes.update(branch_nodes)
                edges += branch_edges
                continue
            if isinstance(layer, NeuronLayer):
                node = _neuron_node(layer, out_shape, where, keep_subtract_reset)
            elif isinstance(layer, Delay):
                node = nir.Delay(delay=_array(layer.delay, out_shape, where, "delay"))
            else:
                node = _stateless_node(layer, in_shape, where)
                if node is None:
                    continue
                if type(node).__name__ in ("Conv1d", "Conv2d"):  # nir derives C_in/groups here
                    node.input_type = {"input": np.array(in_shape)}
            nodes[i] = node
            edges += [(src, i) for src in last]
            last = [i]
        nodes["output"] = nir.Output(output_type={"output": np.array(tuple(x.shape[2:]))})
        edges += [(src, "output") for src in last]
    finally:
        model.train(was_training)
    # nir's own type check assumes groups == 1 for convolutions; shapes were traced above
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def write_nir(path: PathLike, model: nn.Module, input_shape: Sequence[int], *, keep_subtract_reset: bool = False) -> Any:
    """Export ``model`` (see :func:`to_nir`) and write it to ``path``; returns the graph."""
    graph = to_nir(model, input_shape, keep_subtract_reset=keep_subtract_reset)
    nir.write(str(path), graph)
    return graph


# --------------------------------------------------------------------------- import

_MAX_RANK = 8
"""The most dimensions a declared NIR shape (one sample at one time step) may have."""

_MAX_INT = 2**31 - 1
"""The largest stride, padding, dilation, kernel size, group count or dimension accepted."""

_NEURON_STATE_COPIES = 6
"""Tensors of a node's output shape that one probe step of a node may hold (output, state
fields, temporaries): the factor of the memory estimate made before the probe runs."""


def _where(name: str, kind: str) -> str:
    return f"node {name!r} ({kind})"


def _numeric(node: Any, name: str, kind: str, field: str) -> np.ndarray:
    """A field of a node as a numpy array of real numbers (bool, int or float)."""
    value = getattr(node, field, None)
    if value is None:
        raise FileFormatError(f"{_where(name, kind)}: {field} is missing")
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise FileFormatError(f"{_where(name, kind)}: {field} is not an array of numbers ({err})") from None
    if arr.dtype.kind not in "biuf":
        raise FileFormatError(f"{_where(name, kind)}: {field} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _first_bad(finite: np.ndarray) -> tuple[int, ...]:
    flat = int(np.argmin(finite.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, finite.shape)) if finite.ndim else ()


def _float_field(node: Any, name: str, kind: str, field: str) -> Tensor:
    """A float field (weight, bias, neuron parameter) as a finite tensor of the default dtype.

    NaN or inf, in the file or after the conversion to the default dtype (a float64 value past
    float32's range), raises :class:`~axonal.errors.NonFiniteError` naming the node and field.
    """
    arr = _numeric(node, name, kind, field).astype(np.float64)
    dtype = torch.get_default_dtype()
    finite = np.isfinite(arr)
    after = ""
    if bool(finite.all()):
        out = torch.as_tensor(arr, dtype=dtype)
        finite = torch.isfinite(out).numpy()
        if bool(finite.all()):
            return out
        after = f" once converted to {str(dtype).removeprefix('torch.')}"
    bad = int(finite.size - np.count_nonzero(finite))
    first = _first_bad(finite)
    raise NonFiniteError(
        f"{_where(name, kind)}: {field} holds NaN or inf{after} ({bad} of {finite.size} values, the first "
        f"at index {first} is {arr[first] if arr.ndim else arr[()]}); refusing to build a model from it"
    )


def _int_field(
    node: Any, name: str, kind: str, field: str, n: int, minimum: int, maximum: int = _MAX_INT
) -> tuple[int, ...]:
    """An integer field given as one value or ``n`` values, each in ``[minimum, maximum]``."""
    arr = _numeric(node, name, kind, field).reshape(-1)
    if arr.size not in (1, n):
        raise FileFormatError(f"{_where(name, kind)}: {field} must hold 1 or {n} integers, got {arr.size}")
    if arr.dtype.kind == "f" and not bool((np.isfinite(arr) & (arr == np.round(arr))).all()):
        raise FileFormatError(f"{_where(name, kind)}: {field} must hold whole numbers, got {arr.tolist()}")
    values = [int(v) for v in arr]
    if any(v < minimum or v > maximum for v in values):
        raise FileFormatError(f"{_where(name, kind)}: {field} must be in [{minimum}, {maximum}], got {values}")
    return tuple(values) if len(values) == n else (values[0],) * n


def _shape_of(node: Any, key: str, name: str = "?") -> tuple[int, ...] | None:
    """The declared input/output shape of a node (positive ints), ``None`` when not declared."""
    kind = type(node).__name__
    types = node.input_type if key == "input" else node.output_type
    if types is not None and not isinstance(types, dict):
        raise FileFormatError(f"{_where(name, kind)}: its {key} type must be a mapping, got {type(types).__name__}")
    value = None if types is None else types.get(key)
    if value is None:
        return None
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise FileFormatError(f"{_where(name, kind)}: {key} shape is not an array of integers ({err})") from None
    if arr.size == 0:  # scalar parameters: shape not declared
        return None
    if arr.dtype.kind not in "iuf" or arr.ndim > 1:
        raise FileFormatError(f"{_where(name, kind)}: {key} shape must be a 1-D array of integers, got {arr!r}")
    if arr.size > _MAX_RANK:
        raise FileFormatError(f"{_where(name, kind)}: {key} shape has {arr.size} dimensions; at most {_MAX_RANK}")
    if arr.dtype.kind == "f" and not bool((np.isfinite(arr) & (arr == np.round(arr))).all()):
        raise FileFormatError(f"{_where(name, kind)}: {key} shape must hold whole numbers, got {arr.tolist()}")
    shape = tuple(int(s) for s in arr.reshape(-1))
    if any(s < 1 or s > _MAX_INT for s in shape):
        raise FileFormatError(f"{_where(name, kind)}: {key} shape {shape} must hold ints in [1, {_MAX_INT}]")
    return shape


def _reset_of(node: Any, name: str) -> ResetMode:
    metadata = {} if node.metadata is None else node.metadata
    if not isinstance(metadata, dict):
        raise FileFormatError(f"node {name!r}: metadata must be a mapping, got {type(metadata).__name__}")
    mode = metadata.get(RESET_KEY, "zero")
    if isinstance(mode, np.ndarray) and mode.ndim == 0:
        mode = mode[()]
    if isinstance(mode, bytes):
        mode = mode.decode("utf-8", errors="replace")
    if not isinstance(mode, str) or mode not in ("zero", "subtract"):
        raise FileFormatError(f"node {name!r}: metadata {RESET_KEY}={mode!r} must be 'zero' or 'subtract'")
    return ResetMode.ZERO if mode == "zero" else ResetMode.SUBTRACT


def _neuron(kind: str, node: Any, name: str, dt: float, disc: str) -> NeuronNode:
    family = family_for_nir(kind)
    if family is None or family.nir is None:  # pragma: no cover - _check_graph rejects it first
        raise FileFormatError(f"node {name!r}: no neuron family maps to NIR {kind}")
    mapping = family.nir
    fixed: dict[str, Any] = dict(mapping.constants)
    if mapping.resets:
        fixed["reset"] = _reset_of(node, name)
    make: Callable[[dict[str, Any]], Any] = lambda d: family.params_type(**fixed, **d)
    w = None
    if getattr(node, "w_in", None) is not None:
        w_in = _float_field(node, name, kind, "w_in")
        w = None if bool((w_in == 1.0).all()) else w_in
    converted = {ours: _float_field(node, name, kind, theirs) for ours, theirs in mapping.from_node.items()}
    try:
        return NeuronNode(family.stepper(disc), family.initial_state, make, converted, dt, w_in=w)
    except AxonalError as err:
        raise type(err)(f"{_where(name, kind)}: {err}") from None
    except (ValueError, TypeError, RuntimeError) as err:
        raise FileFormatError(f"{_where(name, kind)}: {err}") from None


def _stateless(kind: str, node: Any, name: str) -> nn.Module:
    where = _where(name, kind)
    if kind in ("Affine", "Linear"):
        w = _float_field(node, name, kind, "weight")
        if w.dim() != 2 or w.numel() == 0:
            raise FileFormatError(f"{where}: weight must be 2-D [out, in] and not empty, got shape {tuple(w.shape)}")
        b = _float_field(node, name, kind, "bias") if kind == "Affine" else None
        if b is not None and tuple(b.shape) != (w.shape[0],):
            raise FileFormatError(f"{where}: bias must have shape ({w.shape[0]},), got {tuple(b.shape)}")
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        with torch.no_grad():
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(b)
        return lin
    if kind in ("Conv1d", "Conv2d"):
        n = 1 if kind == "Conv1d" else 2
        w = _float_field(node, name, kind, "weight")
        if w.dim() != n + 2 or w.numel() == 0:
            raise FileFormatError(f"{where}: weight must be {n + 2}-D and not empty, got shape {tuple(w.shape)}")
        groups = _int_field(node, name, kind, "groups", 1, 1)[0]
        padding = node.padding
        if isinstance(padding, np.ndarray) and padding.dtype.kind in "SUO" and padding.size == 1:
            padding = padding.reshape(-1)[0]
        if isinstance(padding, bytes):
            padding = padding.decode("utf-8", errors="replace")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise FileFormatError(f"{where}: padding must be 'same', 'valid' or integers, got {padding!r}")
            pad: str | tuple[int, ...] = padding
        else:
            pad = _int_field(node, name, kind, "padding", n, 0)
        kw: dict[str, Any] = {
            "stride": _int_field(node, name, kind, "stride", n, 1),
            "padding": pad,
            "dilation": _int_field(node, name, kind, "dilation", n, 1),
            "kernel_size": tuple(w.shape[2:]),
        }
        bias = _float_field(node, name, kind, "bias").reshape(-1)
        if tuple(bias.shape) != (w.shape[0],):
            raise FileFormatError(f"{where}: bias must have shape ({w.shape[0]},), got {tuple(bias.shape)}")
        if w.shape[0] % groups:
            raise FileFormatError(f"{where}: {w.shape[0]} output channels are not divisible by groups={groups}")
        cls = nn.Conv1d if n == 1 else nn.Conv2d
        try:
            conv: nn.Conv1d | nn.Conv2d = cls(w.shape[1] * groups, w.shape[0], groups=groups, bias=True, **kw)
        except (ValueError, RuntimeError) as err:
            raise FileFormatError(f"{where}: {err}") from None
        with torch.no_grad():
            conv.weight.copy_(w)
            conv.bias.copy_(bias)  # type: ignore[union-attr]
        return conv
    if kind in ("SumPool2d", "AvgPool2d"):
        kernel = _int_field(node, name, kind, "kernel_size", 2, 1)
        stride = _int_field(node, name, kind, "stride", 2, 1)
        padding2 = _int_field(node, name, kind, "padding", 2, 0)
        if any(2 * p > k for p, k in zip(padding2, kernel)):
            raise FileFormatError(f"{where}: padding {padding2} must be at most half the kernel size {kernel}")
        if kind == "SumPool2d":
            return SumPool2d(kernel, stride, padding2)
        return nn.AvgPool2d(
            kernel_size=(kernel[0], kernel[1]), stride=(stride[0], stride[1]), padding=(padding2[0], padding2[1])
        )
    if kind == "Flatten":
        start = _int_field(node, name, kind, "start_dim", 1, -_MAX_RANK - 1, _MAX_RANK)[0]
        end = _int_field(node, name, kind, "end_dim", 1, -_MAX_RANK - 1, _MAX_RANK)[0]
        # NIR dims exclude the batch; ours include it at position 0
        return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
    if kind == "Scale":
        return Scale(_float_field(node, name, kind, "scale"))
    if kind == "Threshold":
        return Threshold(_float_field(node, name, kind, "threshold"))
    raise AssertionError(kind)  # pragma: no cover


def _delay(node: Any, name: str, dt: float) -> ModuleNode:
    d = _float_field(node, name, "Delay", "delay").to(torch.float64)
    if bool((d < 0).any()):
        raise FileFormatError(f"node {name!r} (Delay): delays must be >= 0 s, got minimum {float(d.min())}")
    longest = float(d.max()) / dt if d.numel() else 0.0
    if longest > _MAX_INT:
        raise ResourceLimitError(
            f"node {name!r} (Delay): a delay of {float(d.max()):g} s at dt={dt:g} s is {longest:.3g} steps "
            f"of buffer; at most {_MAX_INT} are allowed"
        )
    steps = torch.round(d / dt)
    if not bool(torch.allclose(steps * dt, d, rtol=1e-6, atol=1e-12)):
        raise FileFormatError(f"node {name!r} (Delay): delays {d.tolist()} s are not whole steps of dt={dt:g} s")
    return ModuleNode(Delay(d, dt))


def _check_graph(graph: Any) -> tuple[str, str]:
    if not isinstance(graph.nodes, dict) or not graph.nodes:
        raise FileFormatError(f"the graph's nodes must be a non-empty mapping, got {type(graph.nodes).__name__}")
    names = set(graph.nodes)
    if not all(isinstance(n, str) for n in names):
        raise FileFormatError(f"node ids must be strings, got {sorted(map(repr, names))[:5]}")
    try:
        edges = list(graph.edges)
    except TypeError:
        raise FileFormatError(f"the graph's edges must be a list of pairs, got {type(graph.edges).__name__}") from None
    for edge in edges:
        if isinstance(edge, (str, bytes)) or not hasattr(edge, "__len__") or len(edge) != 2:
            raise FileFormatError(f"edge {edge!r} must be a (source, target) pair")
        a, b = edge
        for end, what in ((a, "source"), (b, "target")):
            if not isinstance(end, str) or end not in names:
                raise FileFormatError(f"edge ({a!r}, {b!r}) is dangling: its {what} {end!r} is not a node of the graph")
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED_NODES:
            raise FileFormatError(
                f"node {name!r} has type {kind}, which axonal does not import; supported: {', '.join(SUPPORTED_NODES)}"
            )
    inputs = [n for n, v in graph.nodes.items() if type(v).__name__ == "Input"]
    outputs = [n for n, v in graph.nodes.items() if type(v).__name__ == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise FileFormatError(
            f"the graph must have exactly one Input and one Output node, got inputs {inputs} and outputs {outputs}"
        )
    return inputs[0], outputs[0]


def from_nir(
    graph: Any, dt: float, discretisation: Discretisation = "exact", *, as_graph: bool = False
) -> nn.Module:
    """Build a runnable module from a ``nir.NIRGraph`` or a ``.nir`` path.

    Where the graph is a chain (Input -> ... -> Output), possibly with simple recurrences (a
    neuron node whose output feeds back through one stateless node, e.g. an Affine), the result
    is an ordinary :class:`~axonal.nn.Sequential` of ``torch.nn`` and :mod:`axonal.nn` layers
    (``nn.Linear``, ``TimeDistributed(nn.Conv2d)``, neuron layers, :class:`~axonal.nn.Recurrent`,
    :class:`~axonal.nn.Delay`, ...): trainable, exportable again with :func:`to_nir` and
    countable by :mod:`axonal.energy`. Any other graph (branches, merges, longer cycles) becomes
    a :class:`~axonal.interop.GraphModule`. Both give the same outputs and keep the state
    contract of :mod:`axonal.nn.protocol` (``out, state = net(x, state)``).

    Every node is checked before anything is built: weights and neuron parameters must be
    finite (in the default dtype), integer fields whole and in range, declared shapes positive;
    the memory one probe step needs (declared input shape, convolution outputs, delay buffers,
    broadcast parameter shapes) must fit in the free memory.

    Args:
        graph: a ``nir.NIRGraph``, or a path to a ``.nir`` file.
        dt: step in seconds (NIR parameters are continuous-time).
        discretisation: ``"exact"`` (exponential integration, input held over each step) or
            ``"euler"`` (forward Euler, synapse first).
        as_graph: always return the :class:`~axonal.interop.GraphModule` (the graph as
            imported, node by node), even for a chain.

    Raises:
        TypeError / ValueError: a bad ``graph`` type, ``dt`` or ``discretisation``.
        FileFormatError: naming the node or edge for unsupported nodes, dangling edges, shape
            mismatches, bad parameters (and the file, for a path); nothing is returned half-built.
        NonFiniteError: a weight or parameter holding NaN or inf, naming the node and field.
        ResourceLimitError: the model would not fit in the free memory.
    """
    dt = check_dt(dt)
    if discretisation not in ("exact", "euler"):
        raise ValueError(f"discretisation must be 'exact' or 'euler', got {discretisation!r}")
    if isinstance(graph, (str, os.PathLike)):
        return read_nir(graph, dt, discretisation, as_graph=as_graph)
    if type(graph).__name__ != "NIRGraph" or not hasattr(graph, "nodes"):
        raise TypeError(f"graph must be a nir.NIRGraph or a path, got {type(graph).__name__}")
    input_name, output_name = _check_graph(graph)
    in_shape = _shape_of(graph.nodes[input_name], "input", input_name)
    if in_shape is None:
        raise FileFormatError(f"Input node {input_name!r} has no shape")
    check_allocation(
        4 * _NEURON_STATE_COPIES * math.prod(in_shape), f"Input node {input_name!r} of shape {in_shape}", "NIR graph"
    )
    nodes: dict[str, StepNode] = {}
    types: dict[str, str] = {}
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        types[name] = kind
        if kind in ("Input", "Output"):
            nodes[name] = StatelessNode(nn.Identity())
        elif kind in NEURON_NODES:
            nodes[name] = _neuron(kind, node, name, dt, discretisation)
        elif kind == "Delay":
            nodes[name] = _delay(node, name, dt)
        else:
            nodes[name] = StatelessNode(_stateless(kind, node, name))
    out_shape = _shape_of(graph.nodes[output_name], "output", output_name) or ()
    try:
        module = GraphModule(nodes, list(graph.edges), input_name, output_name, in_shape, out_shape, dt, types)
    except AxonalError:
        raise
    except ValueError as err:
        raise FileFormatError(str(err)) from None
    _probe(module, graph)
    if as_graph:
        return module
    chain = as_sequential(module)
    return module if chain is None else chain


# --------------------------------------------------------------------------- chains -> layers

_LAYER_CLASSES: tuple[type[NeuronLayer[Any, Any]], ...] = (
    LIF, IF, LI, CubaLIF, CubaLI, Integrator, EulerLIF, EulerLI, EulerCubaLIF, EulerCubaLI,
)
"""The layers an imported neuron node can become: the one whose family has the node's
parameter type and step function."""


def _neuron_layer(node: NeuronNode) -> NeuronLayer[Any, Any]:
    for cls in _LAYER_CLASSES:
        family = cls.family
        if type(node.params) is family.params_type and node.step_fn is family.step:
            return cls(node.params, dt=node.dt)
    raise AssertionError(f"no layer class runs {type(node.params).__name__} with {node.step_fn}")  # pragma: no cover


def _time_major(module: nn.Module) -> nn.Module:
    """A stateless per-step module (acting on ``[B, ...]``) as a layer on ``[T, B, ...]``."""
    if isinstance(module, nn.Flatten):
        if module.start_dim == 1 and module.end_dim == -1:
            return Flatten()
        return TimeDistributed(module)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.AvgPool2d)):
        return TimeDistributed(module)
    return module  # Linear, SumPool2d, Scale, Threshold act on any leading dimensions


def _stateful_layers(node: StepNode) -> list[nn.Module]:
    if isinstance(node, NeuronNode):
        layer = _neuron_layer(node)
        return [Scale(node.w_in), layer] if node.has_w_in else [layer]
    if isinstance(node, ModuleNode):
        return [node.module]
    raise AssertionError(type(node).__name__)  # pragma: no cover


def as_sequential(module: GraphModule) -> Sequential | None:
    """The :class:`~axonal.nn.Sequential` that runs ``module``'s graph, or ``None`` when the
    graph is not a chain with simple recurrences.

    A chain: every node but the Input has one forward input and every node but the Output one
    forward output, in a single line from Input to Output. A simple recurrence: a neuron node
    ``n`` whose cycle is ``n -> r -> n`` through one stateless node ``r`` (becomes
    ``Recurrent(n, r)``) or ``n -> n`` (``Recurrent(n, nn.Identity())``). The layers share
    nothing with ``module``.
    """
    preds: dict[str, list[str]] = {n: [] for n in module.names}
    succs: dict[str, list[str]] = {n: [] for n in module.names}
    for a, b in module.edges:
        preds[b].append(a)
        succs[a].append(b)
    rec_of: dict[str, str | None] = {}  # recurrent neuron -> its feedback node (None: self-loop)
    absorbed: set[str] = set()
    for r, n in module.back_edges:
        if n in rec_of or not isinstance(module.node(n), NeuronNode):
            return None
        if r == n:
            rec_of[n] = None
            continue
        if preds[r] != [n] or succs[r] != [n] or not isinstance(module.node(r), StatelessNode):
            return None
        rec_of[n] = r
        absorbed.add(r)
    line = [module.input_name]
    seen = {module.input_name}
    while line[-1] != module.output_name:
        name = line[-1]
        nxt = [b for b in succs[name] if b not in absorbed and b != name]
        if len(nxt) != 1 or nxt[0] in seen:
            return None
        name = nxt[0]
        forward = [a for a in preds[name] if a not in absorbed and a != name]
        if len(forward) != 1:
            return None
        line.append(name)
        seen.add(name)
    if len(seen) + len(absorbed) != len(module.names):
        return None  # a node off the line (a dead end)
    layers: list[nn.Module] = []
    for name in line[1:-1]:
        node = module.node(name)
        if isinstance(node, StatelessNode):
            layers.append(_time_major(copy.deepcopy(node.module)))
            continue
        stateful = _stateful_layers(copy.deepcopy(node))
        if name in rec_of:
            fed = rec_of[name]
            rec = nn.Identity() if fed is None else copy.deepcopy(_feedback(module.node(fed)))
            # w_in scales the neuron's whole input, the fed-back part included
            neuron = stateful[0] if len(stateful) == 1 else Sequential(*stateful)
            stateful = [Recurrent(neuron, rec)]
        layers += stateful
    if not layers:
        layers.append(nn.Identity())
    return Sequential(*layers, input_shape=module.input_shape)


def _feedback(node: StepNode) -> nn.Module:
    assert isinstance(node, StatelessNode)
    return node.module



def _broadcast_elements(*shapes: Sequence[int]) -> int | None:
    try:
        return int(math.prod(torch.broadcast_shapes(*(torch.Size(s) for s in shapes))))
    except RuntimeError:
        return None  # not broadcastable: the probe step reports it


def _window_elements(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                     padding: Sequence[int], dilation: Sequence[int]) -> tuple[int, int]:
    """(padded input, output) elements per channel of a convolution or pooling window."""
    padded = math.prod(s + 2 * p for s, p in zip(spatial, padding))
    out = math.prod(
        max((s + 2 * p - d * (k - 1) - 1) // st + 1, 0)
        for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation)
    )
    return padded, out


def _planned_elements(node: StepNode, in_shape: tuple[int, ...]) -> int:
    """Elements one probe step of ``node`` allocates for an input ``in_shape`` (batch included),
    worked out from the shapes alone, before the step runs (a bound up to a small factor)."""
    numel = math.prod(in_shape)
    if isinstance(node, StatelessNode):
        m = node.module
        if isinstance(m, nn.Linear):
            return numel // max(in_shape[-1], 1) * m.out_features if in_shape else m.out_features
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.AvgPool2d, SumPool2d)):
            n = 1 if isinstance(m, nn.Conv1d) else 2
            if len(in_shape) < n + 1:
                return numel
            spatial = in_shape[-n:]
            channels = math.prod(in_shape[:-n])
            kernel = tuple(m.kernel_size) if isinstance(m.kernel_size, tuple) else (int(m.kernel_size),) * n
            stride = tuple(m.stride) if isinstance(m.stride, tuple) else (int(m.stride),) * n
            dil = tuple(m.dilation) if isinstance(m, (nn.Conv1d, nn.Conv2d)) else (1,) * n
            pad_attr = m.padding
            if isinstance(pad_attr, str):
                pad = (0,) * n if pad_attr == "valid" else tuple(d * (k - 1) // 2 + 1 for k, d in zip(kernel, dil))
            else:
                pad = tuple(pad_attr) if isinstance(pad_attr, tuple) else (int(pad_attr),) * n
            padded, out = _window_elements(spatial, kernel, stride, pad, dil)
            out_channels = m.out_channels if isinstance(m, (nn.Conv1d, nn.Conv2d)) else channels
            return numel + channels * padded + out_channels * out
        if isinstance(m, Scale):
            return _broadcast_elements(in_shape, m.scale.shape) or numel
        if isinstance(m, Threshold):
            return _broadcast_elements(in_shape, m.threshold.shape) or numel
        return numel
    if isinstance(node, NeuronNode):
        shapes = [getattr(node, k).shape for k in node.names] + ([node.w_in.shape] if node.has_w_in else [])
        return (_broadcast_elements(in_shape, *shapes) or numel) * _NEURON_STATE_COPIES
    if isinstance(node, ModuleNode) and isinstance(node.module, Delay):
        delay = node.module
        # the line [D, B, ...], the line with the step appended (a copy) and the output
        return (_broadcast_elements(in_shape, delay.steps.shape) or numel) * (2 * delay.max_steps + 3)
    return numel


def _parameter_shapes(node: StepNode) -> dict[str, torch.Size]:
    """The elementwise parameters of a node (they must broadcast into its per-sample shape)."""
    if isinstance(node, NeuronNode):
        shapes = {k: getattr(node, k).shape for k in node.names}
        return shapes | ({"w_in": node.w_in.shape} if node.has_w_in else {})
    if isinstance(node, StatelessNode) and isinstance(node.module, Scale):
        return {"scale": node.module.scale.shape}
    if isinstance(node, StatelessNode) and isinstance(node.module, Threshold):
        return {"threshold": node.module.threshold.shape}
    if isinstance(node, ModuleNode) and isinstance(node.module, Delay):
        return {"delay": node.module.steps.shape}
    return {}


def _check_parameter_shapes(node: StepNode, name: str, kind: str, sample: tuple[int, ...]) -> None:
    """Refuse parameters that would grow a node's output past its input (e.g. a ``[1000, 1]``
    time constant on a ``[4]`` input makes 1000 copies of the layer over the batch)."""
    for field, shape in _parameter_shapes(node).items():
        try:
            ok = torch.broadcast_shapes(shape, torch.Size(sample)) == torch.Size(sample)
        except RuntimeError:
            ok = False
        if not ok:
            raise FileFormatError(
                f"{_where(name, kind)}: {field} has shape {tuple(shape)}, which does not broadcast to the "
                f"node's input shape {sample}"
            )


def _probe(module: GraphModule, graph: Any) -> None:
    """Run one zero step, checking every edge's shape; errors name the node and its inputs.

    Before each node runs, the memory its step needs (from the shapes alone) is added to what
    the probe already holds and checked against the free memory.
    """
    outs: dict[str, Tensor] = {}
    itemsize = torch.empty((), dtype=torch.get_default_dtype()).element_size()
    held = 0
    x = torch.zeros((1, *module.input_shape))
    with torch.no_grad():
        for name in module.order:
            if name == module.input_name:
                inp = x
            else:
                shapes = {}
                parts = []
                for a, back in module.preds[name]:
                    if a not in outs and back:
                        continue  # resolved below once the source has run
                    shapes[a] = tuple(outs[a].shape[1:])
                    parts.append(outs[a])
                if len(set(shapes.values())) > 1:
                    raise FileFormatError(f"node {name!r} gets inputs of different shapes: {shapes}")
                inp = parts[0]
            kind = module.node_types[name]
            node = module.node(name)
            _check_parameter_shapes(node, name, kind, tuple(inp.shape[1:]))
            held += _planned_elements(node, tuple(inp.shape)) * itemsize
            check_allocation(held, f"a probe step up to node {name!r} ({kind}) on input {tuple(inp.shape[1:])}", "NIR graph")
            try:
                state = node.initial_state(inp)
                outs[name], _ = node.step(inp, state)
            except AxonalError as err:
                raise type(err)(f"{_where(name, kind)}: {err}") from None
            except (RuntimeError, ValueError, IndexError, TypeError) as err:
                raise FileFormatError(
                    f"node {name!r} ({kind}) cannot take input of shape {tuple(inp.shape[1:])} "
                    f"from {[a for a, _ in module.preds[name]]}: {err}"
                ) from None
            declared = _shape_of(graph.nodes[name], "input", name)
            actual = tuple(inp.shape[1:])
            if kind in ("Conv1d", "Conv2d") and declared is not None:  # nir declares C_in / groups
                declared, actual = declared[1:], actual[1:]
            if declared is not None and kind != "Input" and declared != actual:
                if kind != "Output" or math.prod(declared) != math.prod(actual):
                    raise FileFormatError(
                        f"node {name!r} ({kind}) declares input shape {declared} but its inputs give {tuple(inp.shape[1:])}"
                    )
        for name in module.names:
            for a, back in module.preds[name]:
                if back:
                    others = [outs[s] for s, bk in module.preds[name] if not bk]
                    if others and outs[a].shape != others[0].shape:
                        raise FileFormatError(
                            f"edge ({a!r}, {name!r}) carries shape {tuple(outs[a].shape[1:])} but {name!r} "
                            f"gets {tuple(others[0].shape[1:])} from its other inputs"
                        )


_MAX_HDF5_DEPTH = 32
"""The deepest group nesting accepted in a ``.nir`` file (a graph nested in a graph is two
levels; a hard-link cycle would otherwise never end)."""

_HDF5_SLACK = 64 * 1024
"""Bytes a small dataset may claim beyond what it stores (fill values, compact layouts)."""

_HDF5_ERRORS = (OSError, KeyError, ValueError, TypeError, AttributeError, RuntimeError, IndexError, OverflowError)
"""What h5py raises on a damaged file (its C errors arrive as OSError, KeyError, ValueError,
RuntimeError or TypeError); each becomes a FileFormatError naming the file."""


def _scan_hdf5(path: Path) -> None:
    """Check a ``.nir`` (HDF5) file before nir reads it: every dataset is read in full by
    ``nir.read``, so each dataset's size is checked against the bytes it stores (a
    ``FileFormatError``: a few KB claiming terabytes) and their sum against the free memory (a
    ``ResourceLimitError``). Links to other files, virtual and external datasets, and groups
    nested deeper than :data:`_MAX_HDF5_DEPTH` are refused."""
    import h5py

    where = f"NIR file {str(path)!r}"
    total = 0
    try:
        with h5py.File(path, "r") as f:
            stack: list[tuple[Any, str, int]] = [(f, "", 0)]
            while stack:
                group, prefix, depth = stack.pop()
                if depth > _MAX_HDF5_DEPTH:
                    raise FileFormatError(f"{where}: groups nested deeper than {_MAX_HDF5_DEPTH} at {prefix!r}")
                for key in group.keys():
                    name = f"{prefix}/{key}"
                    link = group.get(key, getlink=True)
                    if not isinstance(link, h5py.HardLink):
                        raise FileFormatError(f"{where}: {name!r} is a {type(link).__name__}; a NIR file holds no links")
                    obj = group[key]
                    if isinstance(obj, h5py.Group):
                        stack.append((obj, name, depth + 1))
                        continue
                    if not isinstance(obj, h5py.Dataset):
                        raise FileFormatError(f"{where}: {name!r} is a {type(obj).__name__}, not a group or dataset")
                    if obj.is_virtual or obj.id.get_create_plist().get_external_count():
                        raise FileFormatError(f"{where}: dataset {name!r} keeps its data outside the file")
                    shape = obj.shape or ()
                    claimed = math.prod(shape) * obj.dtype.itemsize
                    stored = obj.id.get_storage_size()
                    if claimed > _DEFLATE_MAX_RATIO * stored + _HDF5_SLACK:
                        raise FileFormatError(
                            f"{where}: dataset {name!r} claims shape {shape} of {obj.dtype} ({format_bytes(claimed)}) "
                            f"but stores {format_bytes(stored)}; the file is corrupt"
                        )
                    total += claimed
    except AxonalError:
        raise
    except _HDF5_ERRORS as err:
        raise FileFormatError(f"{str(path)!r} is not a readable NIR file ({type(err).__name__}: {err})") from None
    check_allocation(2 * total, "reading its datasets", where)


_DEFLATE_MAX_RATIO = 1032
"""At most this many bytes come out of one byte of DEFLATE (gzip) data, HDF5's usual filter."""

_NIR_READ_ERRORS = _HDF5_ERRORS + (AssertionError, NotImplementedError, RecursionError)
"""What ``nir.read`` raises on a well-formed HDF5 file that is not a valid NIR graph."""


def load_nir_file(path: PathLike) -> Any:
    """Read a ``.nir`` file with ``nir.read``; errors name the file.

    The HDF5 structure is checked first (dataset sizes against the bytes stored and the free
    memory, no links or external data), so nothing large is allocated for a corrupt file.

    Raises:
        ValueError: the path is not an existing file.
        FileFormatError: the file is not HDF5, not a NIR graph, or corrupt.
        ResourceLimitError: its datasets would not fit in the free memory.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"NIR file {str(p)!r} does not exist")
    _scan_hdf5(p)
    try:
        # axonal checks shapes itself (see _probe): nir's check rejects grouped convolutions
        return nir.read(str(p), type_check=False)
    except AxonalError:
        raise
    except ValueError as err:
        raise FileFormatError(f"{str(p)!r}: invalid NIR graph: {err}") from None
    except _NIR_READ_ERRORS as err:
        raise FileFormatError(f"{str(p)!r} is not a readable NIR file ({type(err).__name__}: {err})") from None


def read_nir(
    path: PathLike, dt: float, discretisation: Discretisation = "exact", *, as_graph: bool = False
) -> nn.Module:
    """:func:`load_nir_file` then :func:`from_nir`; errors in the graph name the file too."""
    dt = check_dt(dt)
    if discretisation not in ("exact", "euler"):
        raise ValueError(f"discretisation must be 'exact' or 'euler', got {discretisation!r}")
    graph = load_nir_file(path)
    try:
        return from_nir(graph, dt, discretisation, as_graph=as_graph)
    except AxonalError as err:
        raise type(err)(f"NIR file {str(path)!r}: {err}") from None
