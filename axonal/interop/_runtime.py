"""Runnable graph of step nodes: what an imported NIR graph becomes (no ``nir`` import here).

Every node is a :class:`StepNode` with ``step(x_t, state) -> (y_t, state)`` on one time step
``[B, ...]``. :class:`GraphModule` runs them in topological order at every step; the input of
a node is the sum over its incoming edges. Edges that close a cycle (found by depth-first
search from the input) carry the source's output of the previous step, so a recurrent
connection acts with one step of delay, as in snnTorch's and Norse's recurrent layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from axonal.errors import NonFiniteError
from axonal.functional.validate import check_dt
from axonal.nn.protocol import is_stateful
from axonal.functional.scan import check_sequence

__all__ = ["GraphModule", "ModuleNode", "NeuronNode", "StatelessNode", "StepNode", "check_graph_state", "graph_order"]


class StepNode(nn.Module):
    """One graph node advanced one step at a time."""

    def initial_state(self, x: Tensor) -> Any:
        return None

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        raise NotImplementedError


class StatelessNode(StepNode):
    """Wraps a stateless module acting on ``[B, ...]`` (Affine, Conv, pooling, Flatten, ...)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        y: Tensor = self.module(x)
        return y, None


class NeuronNode(StepNode):
    """A neuron population: a pure step function with parameters rebuilt from buffers.

    Args:
        step_fn: ``step(x, state, params, dt) -> (out, state)``.
        init_fn: ``initial_state(x, params) -> state``.
        make_params: builds the parameter record from a dict of tensors.
        tensors: the per-neuron parameter tensors (registered as buffers, so ``.to()`` moves them).
        dt: step in seconds.
        w_in: optional elementwise input weight applied before the step (NIR ``w_in``).
    """

    w_in: Tensor

    def __init__(
        self,
        step_fn: Callable[[Tensor, Any, Any, float], tuple[Tensor, Any]],
        init_fn: Callable[[Tensor, Any], Any],
        make_params: Callable[[dict[str, Any]], Any],
        tensors: Mapping[str, Tensor],
        dt: float,
        w_in: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.step_fn = step_fn
        self.init_fn = init_fn
        self.make_params = make_params
        self.names = tuple(tensors)
        for name, value in tensors.items():
            self.register_buffer(name, value)
        self.has_w_in = w_in is not None
        if w_in is not None:
            self.register_buffer("w_in", w_in)
        self.dt = check_dt(dt)
        self.params = make_params(self._tensors())  # validates once at build time

    def _tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in self.names}

    def refresh(self) -> None:
        """Rebuild the parameter record (after ``.to()`` or editing a buffer)."""
        self.params = self.make_params(self._tensors())

    def initial_state(self, x: Tensor) -> Any:
        return self.init_fn(x, self.params)

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        if self.has_w_in:
            x = x * self.w_in
        out, new_state = self.step_fn(x, state, self.params, self.dt)
        return out, new_state


class ModuleNode(StepNode):
    """Wraps a stateful module that keeps the contract of :mod:`axonal.nn.protocol` (e.g. an
    :class:`axonal.nn.Delay`): its ``initial_state`` and ``step`` on ``[B, ...]``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        if not is_stateful(module):
            raise TypeError(f"module must keep the state contract (initial_state, step), got {type(module).__name__}")
        self.module = module

    def initial_state(self, x: Tensor) -> Any:
        return self.module.initial_state(x)  # type: ignore[operator]

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        out, new_state = self.module.step(x, state)  # type: ignore[operator]
        return out, new_state


def graph_order(
    names: Sequence[str], edges: Sequence[tuple[str, str]], start: str
) -> tuple[list[str], set[tuple[str, str]]]:
    """Topological order of the nodes reachable from ``start`` and the cycle-closing edges.

    Raises ``ValueError`` naming a node that the input does not reach.
    """
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
    back: set[tuple[str, str]] = set()
    colour: dict[str, int] = {}
    stack: list[tuple[str, int]] = [(start, 0)]
    colour[start] = 1
    while stack:  # iterative DFS
        node, i = stack[-1]
        if i < len(succ[node]):
            stack[-1] = (node, i + 1)
            nxt = succ[node][i]
            state = colour.get(nxt, 0)
            if state == 1:
                back.add((node, nxt))
            elif state == 0:
                colour[nxt] = 1
                stack.append((nxt, 0))
        else:
            colour[node] = 2
            stack.pop()
    unreached = [n for n in names if n not in colour]
    if unreached:
        raise ValueError(f"node {unreached[0]!r} is not reachable from the input node {start!r}")
    indeg = {n: 0 for n in names}
    for a, b in edges:
        if (a, b) not in back:
            indeg[b] += 1
    ready = [n for n in names if indeg[n] == 0]
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ[n]:
            if (n, m) in back:
                continue
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return order, back


class GraphModule(nn.Module):
    """A runnable graph with one input and one output node, time-major; it keeps the state
    contract of :mod:`axonal.nn.protocol` (``initial_state``, ``forward``, ``step``).

    Shapes:
        forward: ``x [T, B, *input_shape] -> (out [T, B, *output_shape], state)``; ``state``
        is a dict (node name -> node state, plus the previous outputs of cycle sources) that
        can be passed back to continue a run.
    """

    def __init__(
        self,
        nodes: Mapping[str, StepNode],
        edges: Sequence[tuple[str, str]],
        input_name: str,
        output_name: str,
        input_shape: Sequence[int],
        output_shape: Sequence[int],
        dt: float,
        node_types: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.dt = check_dt(dt)
        self.nodes = nn.ModuleDict({_key(k): v for k, v in nodes.items()})
        self.names = list(nodes)
        self.edges = [(str(a), str(b)) for a, b in edges]
        self.input_name = input_name
        self.output_name = output_name
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = tuple(int(s) for s in output_shape)
        self.node_types = dict(node_types or {})
        self.order, self.back_edges = graph_order(self.names, self.edges, input_name)
        self.preds: dict[str, list[tuple[str, bool]]] = {n: [] for n in self.names}
        for a, b in self.edges:
            self.preds[b].append((a, (a, b) in self.back_edges))
        self.cycle_sources = sorted({a for a, _ in self.back_edges})
        self._templates: dict[tuple[Any, ...], Any] = {}

    def node(self, name: str) -> StepNode:
        module = self.nodes[_key(name)]
        assert isinstance(module, StepNode)
        return module

    def refresh(self) -> None:
        """Rebuild neuron parameter records (call after ``.to(device)`` or editing buffers)."""
        self._templates = {}
        for module in self.nodes.values():
            if isinstance(module, NeuronNode):
                module.refresh()

    def _template(self, x: Tensor) -> Any:
        """The shapes of :meth:`initial_state` for a step input like ``x`` (cached per batch
        size, dtype and device): what a state passed in is checked against."""
        key = (x.shape[0], x.dtype, x.device)
        if key not in self._templates:
            self._templates[key] = _shapes(self.initial_state(x))
        return self._templates[key]

    def check_state(self, state: Any, x: Tensor) -> None:
        """Check a state passed in for a step input ``x [B, ...]``: its structure (a dict with
        ``"nodes"``, one entry per node, and ``"prev"``, one per cycle source), every tensor's
        shape (broadcastable to the resting state's) and every value finite. Errors name the
        state, e.g. ``state['nodes']['lif'].v``."""
        check_graph_state(state, self._template(x))

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Any:  # keep params on the new device
        out = super()._apply(fn, *args, **kwargs)
        self.refresh()
        return out

    def step(self, x: Tensor, state: dict[str, Any] | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Advance every node one step: ``x [B, *input_shape]``; ``state`` from :meth:`initial_state`
        or a previous call (``None``: rest)."""
        check_sequence(x, "x", min_rank=1)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"x must have shape [B, {', '.join(map(str, self.input_shape))}], got {tuple(x.shape)}"
            )
        if state is None:
            state = self.initial_state(x)
        else:
            self.check_state(state, x)
        return self._step(x, state)

    def _step(self, x: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        outs: dict[str, Tensor] = {}
        prev: dict[str, Tensor] = state["prev"]
        new_nodes: dict[str, Any] = {}
        new_state: dict[str, Any] = {"nodes": new_nodes, "prev": {}}
        for name in self.order:
            if name == self.input_name:
                inp = x
            else:
                parts = [prev[a] if back else outs[a] for a, back in self.preds[name]]
                inp = parts[0]
                for p in parts[1:]:
                    inp = inp + p
            y, new_nodes[name] = self.node(name).step(inp, state["nodes"][name])
            outs[name] = y
        new_state["prev"] = {a: outs[a] for a in self.cycle_sources}
        return outs[self.output_name], new_state

    def initial_state(self, x: Tensor) -> dict[str, Any]:
        """Resting state for one step of input ``x [B, *input_shape]`` (runs one probe step)."""
        nodes: dict[str, Any] = {}
        outs: dict[str, Tensor] = {}
        zeros_prev: dict[str, Tensor] = {}
        with torch.no_grad():
            for name in self.order:
                if name == self.input_name:
                    inp = torch.zeros_like(x)
                else:
                    # cycle-closing inputs are zero at rest; every node has a forward input
                    parts = [outs[a] for a, back in self.preds[name] if not back]
                    inp = parts[0]
                    for p in parts[1:]:
                        inp = inp + p
                nodes[name] = self.node(name).initial_state(inp)
                outs[name], _ = self.node(name).step(inp, nodes[name])
            for a in self.cycle_sources:
                zeros_prev[a] = torch.zeros_like(outs[a])
        return {"nodes": nodes, "prev": zeros_prev}

    def forward(self, x: Tensor, state: dict[str, Any] | None = None) -> tuple[Tensor, dict[str, Any]]:
        check_sequence(x, "x")
        if tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(
                f"x must have shape [T, B, {', '.join(map(str, self.input_shape))}], got {tuple(x.shape)}"
            )
        if state is None:
            state = self.initial_state(x[0])
        else:
            self.check_state(state, x[0])
        if not self.back_edges:
            return self._forward_layerwise(x, state)
        outs = []
        for t in range(x.shape[0]):
            y, state = self._step(x[t], state)
            outs.append(y)
        return torch.stack(outs), state

    def _forward_layerwise(self, x: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        """Acyclic graphs: each node over the whole sequence (stateless ones once on ``[T*B, ...]``)."""
        seqs: dict[str, Tensor] = {}
        new_nodes: dict[str, Any] = {}
        t_steps, batch = x.shape[:2]
        for name in self.order:
            if name == self.input_name:
                inp = x
            else:
                parts = [seqs[a] for a, _ in self.preds[name]]
                inp = parts[0]
                for p in parts[1:]:
                    inp = inp + p
            node = self.node(name)
            node_state = state["nodes"][name]
            if isinstance(node, StatelessNode):
                y = node.module(inp.flatten(0, 1))
                seqs[name] = y.unflatten(0, (t_steps, batch))
            elif isinstance(node, ModuleNode):  # a whole run, same as step by step (the contract)
                seqs[name], node_state = node.module(inp, node_state)
            else:
                ys = []
                for t in range(t_steps):
                    yt, node_state = node.step(inp[t], node_state)
                    ys.append(yt)
                seqs[name] = torch.stack(ys)
            new_nodes[name] = node_state
        return seqs[self.output_name], {"nodes": new_nodes, "prev": {}}

    def extra_repr(self) -> str:
        return f"input={self.input_name!r}, output={self.output_name!r}, dt={self.dt:g}, cycles={len(self.back_edges)}"


def _shapes(state: Any) -> Any:
    """The structure of a state with each tensor replaced by its shape."""
    if isinstance(state, Tensor):
        return tuple(state.shape)
    if isinstance(state, dict):
        return {k: _shapes(v) for k, v in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_shapes(v) for v in state))
    if isinstance(state, (tuple, list)):
        return type(state)(_shapes(v) for v in state)
    return state


def _label(path: str, key: Any, named: bool) -> str:
    return f"{path}.{key}" if named else f"{path}[{key!r}]"


def _walk(state: Any, template: Any, path: str) -> Iterator[tuple[str, Tensor]]:
    """Yield (name, tensor) of ``state`` after checking its structure against ``template``."""
    if isinstance(template, tuple) and not hasattr(template, "_fields") and all(isinstance(d, int) for d in template):
        if not isinstance(state, Tensor):
            raise TypeError(f"{path} must be a tensor of shape {template}, got {type(state).__name__}")
        try:
            ok = torch.broadcast_shapes(state.shape, torch.Size(template)) == torch.Size(template)
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"{path} has shape {tuple(state.shape)}, expected {template} (or one broadcastable to it)")
        yield path, state
        return
    if isinstance(template, dict):
        if not isinstance(state, dict):
            raise TypeError(f"{path} must be a dict with keys {sorted(template)}, got {type(state).__name__}")
        if set(state) != set(template):
            missing = sorted(set(template) - set(state), key=str)
            extra = sorted(set(state) - set(template), key=str)
            raise ValueError(f"{path} must have the keys {sorted(template, key=str)}; missing {missing}, unexpected {extra}")
        for k in template:
            yield from _walk(state[k], template[k], _label(path, k, False))
        return
    if isinstance(template, (tuple, list)):
        fields = getattr(template, "_fields", None)
        if not isinstance(state, (tuple, list)) or len(state) != len(template):
            what = f"a {type(template).__name__}" + (f" ({', '.join(fields)})" if fields else f" of {len(template)}")
            raise TypeError(f"{path} must be {what}, got {type(state).__name__}")
        for i, (v, t) in enumerate(zip(state, template)):
            yield from _walk(v, t, _label(path, fields[i], True) if fields else f"{path}[{i}]")
        return
    if template is None:
        if state is not None:
            raise TypeError(f"{path} must be None (a stateless node), got {type(state).__name__}")
        return
    yield from ()  # pragma: no cover - states hold only tensors, tuples, dicts and None


def check_graph_state(state: Any, template: Any, name: str = "state") -> None:
    """Check ``state`` against ``template`` (a state's structure with tensor shapes, see
    :meth:`GraphModule.check_state`): structure and shapes first (``TypeError`` /
    ``ValueError``), then every floating tensor finite (:class:`~axonal.errors.NonFiniteError`),
    each error naming the offending entry."""
    for path, tensor in _walk(state, template, name):
        if tensor.is_floating_point() or tensor.is_complex():
            with torch.no_grad():
                if not bool(torch.isfinite(tensor).all()):
                    bad = int((~torch.isfinite(tensor)).sum())
                    raise NonFiniteError(
                        f"{path} holds NaN or inf ({bad} of {tensor.numel()} values); a state must be finite"
                    )


def _key(name: str) -> str:
    """ModuleDict keys may not contain '.'; NIR ids may (e.g. 'lif1.w_rec')."""
    return name.replace(".", "__dot__")
