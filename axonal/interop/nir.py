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


def _array(value: float | Tensor, shape: Sequence[int]) -> np.ndarray:
    t = torch.as_tensor(value).detach().to("cpu", torch.float32)
    return np.ascontiguousarray(np.broadcast_to(t.numpy(), tuple(shape)).astype(np.float32))


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
    fields: dict[str, Any] = {key: _array(value, shape) for key, value in mapping.to_node(p).items()}
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
        w = inner.weight.detach().cpu().numpy().astype(np.float32)
        if inner.bias is None:
            return nir.Linear(weight=w)
        return nir.Affine(weight=w, bias=inner.bias.detach().cpu().numpy().astype(np.float32))
    if isinstance(inner, (nn.Conv1d, nn.Conv2d)):
        if inner.padding_mode != "zeros":
            raise ValueError(f"{where}: NIR convolutions pad with zeros, got padding_mode={inner.padding_mode!r}")
        w = inner.weight.detach().cpu().numpy().astype(np.float32)
        bias = np.zeros(w.shape[0], np.float32) if inner.bias is None else inner.bias.detach().cpu().numpy().astype(np.float32)
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
        return nir.Scale(scale=_array(inner.scale, in_shape))
    if isinstance(inner, Threshold):
        return nir.Threshold(threshold=_array(inner.threshold, in_shape))
    raise ValueError(f"{where}: {type(inner).__name__} has no NIR node; supported: {', '.join(SUPPORTED_NODES)}")


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
            Flatten, Delay, Recurrent; Dropout/Identity are skipped).
        input_shape: shape of one sample at one time step (without ``T`` and ``B``).
        keep_subtract_reset: allow ``ResetMode.SUBTRACT`` neurons, recorded in node metadata.

    Node ids are the layer indices (``"0"``, ``"1"``, ...; ``"i.j"`` for layer ``j`` of a nested
    Sequential ``i``; a Recurrent layer ``k`` gives ``"k.neuron"`` and ``"k.rec"``, or a
    self-loop on ``"k.neuron"`` when ``rec`` is ``nn.Identity``).
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
        last = "input"
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
                    neuron = dataclasses.replace(neuron, w_in=_array(w_in.scale, out_shape))
                rec = _stateless_node(layer.rec, out_shape, where + ".rec")
                a, b = f"{i}.neuron", f"{i}.rec"
                nodes[a] = neuron
                if rec is None:  # identity feedback: a self-loop
                    edges += [(last, a), (a, a)]
                else:
                    nodes[b] = rec
                    edges += [(last, a), (a, b), (b, a)]
                last = a
                continue
            if isinstance(layer, NeuronLayer):
                node = _neuron_node(layer, out_shape, where, keep_subtract_reset)
            elif isinstance(layer, Delay):
                node = nir.Delay(delay=_array(layer.delay, out_shape))
            else:
                node = _stateless_node(layer, in_shape, where)
                if node is None:
                    continue
                if type(node).__name__ in ("Conv1d", "Conv2d"):  # nir derives C_in/groups here
                    node.input_type = {"input": np.array(in_shape)}
            nodes[i] = node
            edges.append((last, i))
            last = i
        nodes["output"] = nir.Output(output_type={"output": np.array(tuple(x.shape[2:]))})
        edges.append((last, "output"))
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


def _t(value: Any) -> Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=torch.get_default_dtype())


def _shape_of(node: Any, key: str) -> tuple[int, ...] | None:
    types = node.input_type if key == "input" else node.output_type
    value = None if types is None else types.get(key)
    if value is None or np.asarray(value).size == 0:  # scalar parameters: shape not declared
        return None
    return tuple(int(s) for s in np.asarray(value).reshape(-1))


def _reset_of(node: Any, name: str) -> ResetMode:
    mode = (node.metadata or {}).get(RESET_KEY, "zero")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode not in ("zero", "subtract"):
        raise ValueError(f"node {name!r}: metadata {RESET_KEY}={mode!r} must be 'zero' or 'subtract'")
    return ResetMode.ZERO if mode == "zero" else ResetMode.SUBTRACT


def _neuron(kind: str, node: Any, name: str, dt: float, disc: str) -> NeuronNode:
    family = family_for_nir(kind)
    if family is None or family.nir is None:  # pragma: no cover - _check_graph rejects it first
        raise ValueError(f"node {name!r}: no neuron family maps to NIR {kind}")
    mapping = family.nir
    fixed: dict[str, Any] = dict(mapping.constants)
    if mapping.resets:
        fixed["reset"] = _reset_of(node, name)
    make: Callable[[dict[str, Any]], Any] = lambda d: family.params_type(**fixed, **d)
    w_in = getattr(node, "w_in", None)
    w = None if w_in is None or bool(np.all(np.asarray(w_in) == 1.0)) else _t(w_in)
    converted = {ours: _t(getattr(node, theirs)) for ours, theirs in mapping.from_node.items()}
    try:
        return NeuronNode(family.stepper(disc), family.initial_state, make, converted, dt, w_in=w)
    except (ValueError, TypeError) as err:
        raise ValueError(f"node {name!r} ({kind}): {err}") from None


def _ints(value: Any, n: int) -> tuple[int, ...]:
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        return (int(arr[0]),) * n
    return tuple(int(v) for v in arr)


def _stateless(kind: str, node: Any, name: str) -> nn.Module:
    if kind in ("Affine", "Linear"):
        w = _t(node.weight)
        if w.dim() != 2:
            raise ValueError(f"node {name!r} ({kind}): weight must be 2-D [out, in], got shape {tuple(w.shape)}")
        lin = nn.Linear(w.shape[1], w.shape[0], bias=kind == "Affine")
        with torch.no_grad():
            lin.weight.copy_(w)
            if kind == "Affine":
                b = _t(node.bias)
                if tuple(b.shape) != (w.shape[0],):
                    raise ValueError(f"node {name!r} (Affine): bias must have shape ({w.shape[0]},), got {tuple(b.shape)}")
                lin.bias.copy_(b)
        return lin
    if kind in ("Conv1d", "Conv2d"):
        w = _t(node.weight)
        n = 1 if kind == "Conv1d" else 2
        if w.dim() != n + 2:
            raise ValueError(f"node {name!r} ({kind}): weight must be {n + 2}-D, got shape {tuple(w.shape)}")
        groups = int(np.asarray(node.groups))
        pad = node.padding if isinstance(node.padding, str) else _ints(node.padding, n)
        cls = nn.Conv1d if n == 1 else nn.Conv2d
        kw: dict[str, Any] = {"stride": _ints(node.stride, n), "padding": pad, "dilation": _ints(node.dilation, n)}
        kw["kernel_size"] = tuple(w.shape[2:])
        conv: nn.Conv1d | nn.Conv2d = cls(w.shape[1] * groups, w.shape[0], groups=groups, bias=True, **kw)
        bias = _t(node.bias).reshape(-1)
        if tuple(bias.shape) != (w.shape[0],):
            raise ValueError(f"bias must have shape ({w.shape[0]},), got {tuple(bias.shape)}")
        with torch.no_grad():
            conv.weight.copy_(w)
            conv.bias.copy_(bias)  # type: ignore[union-attr]
        return conv
    if kind == "SumPool2d":
        return SumPool2d(_ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2))
    if kind == "AvgPool2d":
        pool: dict[str, Any] = {
            "kernel_size": _ints(node.kernel_size, 2), "stride": _ints(node.stride, 2), "padding": _ints(node.padding, 2)
        }
        return nn.AvgPool2d(**pool)
    if kind == "Flatten":
        start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
        # NIR dims exclude the batch; ours include it at position 0
        return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
    if kind == "Scale":
        return Scale(_t(node.scale))
    if kind == "Threshold":
        return Threshold(_t(node.threshold))
    raise AssertionError(kind)  # pragma: no cover


def _check_graph(graph: Any) -> tuple[str, str]:
    names = set(graph.nodes)
    for edge in graph.edges:
        if len(edge) != 2:
            raise ValueError(f"edge {edge!r} must be a (source, target) pair")
        a, b = edge
        for end, what in ((a, "source"), (b, "target")):
            if end not in names:
                raise ValueError(f"edge ({a!r}, {b!r}) is dangling: its {what} {end!r} is not a node of the graph")
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED_NODES:
            raise ValueError(
                f"node {name!r} has type {kind}, which axonal does not import; supported: {', '.join(SUPPORTED_NODES)}"
            )
    inputs = [n for n, v in graph.nodes.items() if type(v).__name__ == "Input"]
    outputs = [n for n, v in graph.nodes.items() if type(v).__name__ == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"the graph must have exactly one Input and one Output node, got inputs {inputs} and outputs {outputs}")
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

    Args:
        graph: a ``nir.NIRGraph``, or a path to a ``.nir`` file.
        dt: step in seconds (NIR parameters are continuous-time).
        discretisation: ``"exact"`` (exponential integration, input held over each step) or
            ``"euler"`` (forward Euler, synapse first).
        as_graph: always return the :class:`~axonal.interop.GraphModule` (the graph as
            imported, node by node), even for a chain.

    Raises:
        ValueError: naming the node or edge for unsupported nodes, dangling edges, shape
        mismatches, bad parameters; nothing is returned half-built.
    """
    dt = check_dt(dt)
    if discretisation not in ("exact", "euler"):
        raise ValueError(f"discretisation must be 'exact' or 'euler', got {discretisation!r}")
    if isinstance(graph, (str, os.PathLike)):
        graph = load_nir_file(graph)
    if type(graph).__name__ != "NIRGraph" or not hasattr(graph, "nodes"):
        raise TypeError(f"graph must be a nir.NIRGraph or a path, got {type(graph).__name__}")
    input_name, output_name = _check_graph(graph)
    in_shape = _shape_of(graph.nodes[input_name], "input")
    if in_shape is None:
        raise ValueError(f"Input node {input_name!r} has no shape")
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
            d = np.asarray(node.delay, dtype=np.float64)
            steps = np.round(d / dt)
            if np.any(d < 0) or not np.allclose(steps * dt, d, rtol=1e-6, atol=1e-12):
                raise ValueError(f"node {name!r} (Delay): delays {d.tolist()} s are not whole steps of dt={dt:g} s")
            nodes[name] = ModuleNode(Delay(torch.as_tensor(d), dt))
        else:
            try:
                nodes[name] = StatelessNode(_stateless(kind, node, name))
            except (ValueError, TypeError, RuntimeError) as err:
                raise ValueError(f"node {name!r} ({kind}): {err}") from None
    out_shape = _shape_of(graph.nodes[output_name], "output") or ()
    module = GraphModule(nodes, list(graph.edges), input_name, output_name, in_shape, out_shape, dt, types)
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



def _probe(module: GraphModule, graph: Any) -> None:
    """Run one zero step, checking every edge's shape; errors name the node and its inputs."""
    outs: dict[str, Tensor] = {}
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
                    raise ValueError(f"node {name!r} gets inputs of different shapes: {shapes}")
                inp = parts[0]
            kind = module.node_types[name]
            try:
                state = module.node(name).initial_state(inp)
                outs[name], _ = module.node(name).step(inp, state)
            except RuntimeError as err:
                raise ValueError(
                    f"node {name!r} ({kind}) cannot take input of shape {tuple(inp.shape[1:])} "
                    f"from {[a for a, _ in module.preds[name]]}: {err}"
                ) from None
            declared = _shape_of(graph.nodes[name], "input")
            actual = tuple(inp.shape[1:])
            if kind in ("Conv1d", "Conv2d") and declared is not None:  # nir declares C_in / groups
                declared, actual = declared[1:], actual[1:]
            if declared is not None and kind != "Input" and declared != actual:
                if kind != "Output" or int(np.prod(declared)) != int(np.prod(actual)):
                    raise ValueError(
                        f"node {name!r} ({kind}) declares input shape {declared} but its inputs give {tuple(inp.shape[1:])}"
                    )
        for name in module.names:
            for a, back in module.preds[name]:
                if back:
                    others = [outs[s] for s, bk in module.preds[name] if not bk]
                    if others and outs[a].shape != others[0].shape:
                        raise ValueError(
                            f"edge ({a!r}, {name!r}) carries shape {tuple(outs[a].shape[1:])} but {name!r} "
                            f"gets {tuple(others[0].shape[1:])} from its other inputs"
                        )


def load_nir_file(path: PathLike) -> Any:
    """Read a ``.nir`` file with ``nir.read``; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"NIR file {str(p)!r} does not exist")
    try:
        # axonal checks shapes itself (see _probe): nir's check rejects grouped convolutions
        return nir.read(str(p), type_check=False)
    except (OSError, KeyError, AssertionError, TypeError, AttributeError) as err:
        raise ValueError(f"{str(p)!r} is not a readable NIR file ({type(err).__name__}: {err})") from None
    except ValueError as err:
        raise ValueError(f"{str(p)!r}: invalid NIR graph: {err}") from None


def read_nir(
    path: PathLike, dt: float, discretisation: Discretisation = "exact", *, as_graph: bool = False
) -> nn.Module:
    """:func:`load_nir_file` then :func:`from_nir`."""
    return from_nir(load_nir_file(path), dt, discretisation, as_graph=as_graph)

