"""Exact operation counts of one inference: synaptic operations, MACs, neuron updates, spikes.

How it counts (no change to any layer is needed):

* A ``TorchDispatchMode`` sees every ATen operation the model runs. Synaptic operations
  (``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``, ``addmv``, ``dot``, ``convolution``, and
  the ``embedding_bag`` sums of the event-driven :mod:`axonal.nn.event` layers) are
  counted from their operands: the weight is the operand whose storage is one of the model's
  parameters or buffers; the other operand is the input. When the input is event-valued
  (every element in {-1, 0, 1}: spikes), each non-zero element costs one accumulate per
  outgoing connection it really has (``synops``; for convolutions this honours padding, stride,
  dilation and groups exactly). Otherwise the SNN does the dense multiply-accumulates itself
  (``macs``: e.g. a first layer fed with analog pixels). Either way the op's dense MAC count
  (``dense_macs``: ``N*K*M`` for a matrix product, ``out * C_in/groups * prod(kernel)`` for a
  convolution) is the ANN-equivalent work.
* Pooling is not synaptic: each output element costs one comparison or addition per element
  of its window (``pool_ops`` = outputs x window size, padding included), in the SNN at every
  step and in the ANN once.
* Element-wise arithmetic, reductions, normalisation, copies and views cost nothing here: bias
  and current summation fold into the neuron update, normalisation folds into the weights at
  inference. Any other operation that touches floating-point data outside a neuron layer is
  reported by layer and name in :attr:`OpCounts.unknown` (with ``strict=True`` it raises).
* Neuron layers (every :class:`~axonal.nn.NeuronLayer`, whatever its family) are observed
  from outside: the outermost of ``forward`` / ``run`` / ``step`` on the layer counts one
  neuron update per output element (neurons x steps x batch) and its output spikes. Operations
  inside a neuron layer other than synaptic ones (its equations, or a fused kernel such as a
  custom ``axonal::`` op) are the neuron update and are not counted again.
* Synaptic units (any module with a ``count_synaptic`` method, the :class:`SynapticUnit`
  protocol, e.g. :class:`~axonal.nn.DelayedLinear`) declare their own work and are counted as
  one unit: the outermost of ``forward`` / ``step`` on the module asks it, for its input ``x``,
  each input element's fan-out (its synapses) and the op's dense MACs, and the counter applies
  the same rule as to a matrix product (events x fan-out as ``synops``; on non-event input the
  dense MACs as ``macs``). Operations inside the unit (its own implementation: a delay layer's
  training-time convolution, its per-delay branches) are not counted again.

The ANN equivalent runs the same architecture once per sample (``ann_steps=1``): its MACs are
the dense MACs of one time step. For a recurrent model compared against an RNN unrolled for
``T`` steps, pass ``ann_steps=T``.

Delays: a :class:`~axonal.nn.DelayedLinear` costs what the plain ``Linear`` with the same weights
costs. Each input event reaches each of its ``out_features`` synapses exactly once, at its
delay (``synops = events x out_features``, charged when the event enters the layer, zero
weights included as for ``Linear``), and its ANN equivalent is the linear map
(``in x out`` MACs per step and sample): a delay line is memory, not arithmetic. A layer that
is not frozen (its delays real-valued, spread over the taps by its interpolation kernel) is
counted as its frozen copy would be: the spread is a training device, and the layer deployed
for inference is the frozen one.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from axonal.nn.neuron import NeuronLayer

__all__ = ["LayerCount", "OpCounts", "SynapticUnit", "count_ops", "event_count"]

aten = torch.ops.aten


@dataclass
class LayerCount:
    """Counts of one layer over the whole input (all steps, all samples).

    Attributes:
        name: qualified module name (``""`` is the model itself).
        kind: the module's class name; ``family`` for neuron layers.
        synops: spike-driven accumulates (input events x their real fan-out).
        macs: dense multiply-accumulates the SNN performs on non-event input.
        dense_macs: dense MACs of the same operations (the ANN basis, all steps).
        pool_ops: pooling comparisons/additions (outputs x window).
        spikes_in: non-zero events that entered this layer's synaptic operations.
        inputs_in: elements that entered this layer's synaptic operations.
        neuron_updates: neuron state updates (neurons x steps x batch).
        spikes_out: spikes emitted (``None`` where the output is not event-valued, e.g. a
            membrane readout).
        dt: the neuron layer's time step in seconds (``None`` elsewhere).
    """

    name: str
    kind: str
    synops: int = 0
    macs: int = 0
    dense_macs: int = 0
    pool_ops: int = 0
    spikes_in: int = 0
    inputs_in: int = 0
    neuron_updates: int = 0
    spikes_out: int | None = None
    dt: float | None = None

    @property
    def is_neuron(self) -> bool:
        return self.neuron_updates > 0

    @property
    def rate_in(self) -> float | None:
        """Fraction of input elements that were events (spikes per input per step)."""
        return self.spikes_in / self.inputs_in if self.inputs_in else None

    @property
    def rate_out(self) -> float | None:
        """Spikes per neuron per step."""
        if self.spikes_out is None or not self.neuron_updates:
            return None
        return self.spikes_out / self.neuron_updates


@dataclass(frozen=True)
class OpCounts:
    """What :func:`count_ops` measured.

    ``layers`` hold exact totals over the whole ``[T, B, ...]`` input; the ``*_per_sample``
    properties divide by the batch size ``B`` (and the ANN figures by ``T`` for one step).

    Attributes:
        layers: one entry per layer that did counted work, in first-use order.
        steps: ``T``. batch: ``B``.
        input_spikes: events in the model input (``None`` if the input is not event-valued).
        unknown: ``"layer: op"`` for every operation the counter does not understand.
        ann_steps: how many steps the ANN equivalent runs per sample.
    """

    layers: tuple[LayerCount, ...]
    steps: int
    batch: int
    input_spikes: int | None
    unknown: tuple[str, ...]
    ann_steps: int = 1

    def total(self, name: str) -> int:
        """Sum of one integer field (e.g. ``"synops"``) over all layers."""
        return sum(int(getattr(layer, name) or 0) for layer in self.layers)

    def layer(self, name: str) -> LayerCount:
        for entry in self.layers:
            if entry.name == name:
                return entry
        raise ValueError(f"no counted layer named {name!r}; have {[e.name for e in self.layers]}")

    @property
    def spikes_routed(self) -> int:
        """Spikes that travel between layers: the input's events plus every emitted spike."""
        return (self.input_spikes or 0) + self.total("spikes_out")

    def _per_sample(self, value: float) -> float:
        return value / self.batch

    @property
    def synops_per_sample(self) -> float:
        return self._per_sample(self.total("synops"))

    @property
    def macs_per_sample(self) -> float:
        return self._per_sample(self.total("macs"))

    @property
    def pool_ops_per_sample(self) -> float:
        return self._per_sample(self.total("pool_ops"))

    @property
    def neuron_updates_per_sample(self) -> float:
        return self._per_sample(self.total("neuron_updates"))

    @property
    def spikes_routed_per_sample(self) -> float:
        return self._per_sample(self.spikes_routed)

    @property
    def ann_macs_per_sample(self) -> float:
        """Dense MACs of one time step of the same graph, times ``ann_steps``."""
        return self.total("dense_macs") / (self.steps * self.batch) * self.ann_steps

    @property
    def ann_pool_ops_per_sample(self) -> float:
        return self.total("pool_ops") / (self.steps * self.batch) * self.ann_steps


def event_count(t: Tensor) -> int | None:
    """Number of non-zero elements if every element of ``t`` is -1, 0 or 1, else ``None``."""
    if t.numel() == 0:
        return 0
    if t.is_complex():
        return None
    if t.dtype == torch.bool:
        return int(torch.count_nonzero(t))
    if not bool(((t == 0) | (t == 1) | (t == -1)).all()):
        return None
    return int(torch.count_nonzero(t))


@runtime_checkable
class SynapticUnit(Protocol):
    """A module that declares its own synaptic work to :func:`count_ops`.

    ``count_synaptic(x)`` gets the input of one call of the module's ``forward`` or ``step``
    (any shape) and returns ``(fan_out, dense_macs)``:

    * ``fan_out``: the synapses each input element reaches, one accumulate each per event: an
      ``int`` (every element alike) or an integer tensor broadcastable to ``x``'s shape;
    * ``dense_macs``: the multiply-accumulates of the same map done densely (the ANN basis, and
      what the SNN itself does when ``x`` is not event-valued).

    The method must not depend on the counter (``axonal.nn`` does not import the energy
    package); it should only look at ``x``'s shape, not run the layer.
    """

    def count_synaptic(self, x: Tensor) -> tuple[int | Tensor, int]: ...


def _is_unit(module: nn.Module) -> bool:
    return not isinstance(module, NeuronLayer) and callable(getattr(module, "count_synaptic", None))


# ---------------------------------------------------------------------------------------------
# operation classification

_SYNAPTIC = {
    aten.mm, aten.addmm, aten.bmm, aten.baddbmm, aten.mv, aten.addmv, aten.dot, aten.convolution,
    aten._embedding_bag, aten._embedding_bag_forward_only,
}
_POOL = {
    aten.max_pool1d, aten.max_pool2d, aten.max_pool3d, aten.max_pool2d_with_indices,
    aten.max_pool3d_with_indices, aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d,
    aten.adaptive_avg_pool1d, aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d,
    aten.adaptive_max_pool1d, aten.adaptive_max_pool2d, aten.adaptive_max_pool3d,
}
_ADAPTIVE = {
    aten.adaptive_avg_pool1d, aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d,
    aten.adaptive_max_pool1d, aten.adaptive_max_pool2d, aten.adaptive_max_pool3d,
}
_FREE_NAMES = {
    # copies, layout, creation, indexing
    "stack", "cat", "clone", "copy_", "_to_copy", "_local_scalar_dense", "constant_pad_nd",
    "index_select", "gather", "scatter", "scatter_add", "index", "index_put", "index_put_",
    "masked_select", "nonzero", "split", "split_with_sizes", "unbind", "empty", "zeros",
    "ones", "full", "arange", "empty_like", "zeros_like", "ones_like", "full_like", "rand_like",
    "fill_", "zero_", "new_zeros", "new_empty", "new_full", "new_ones", "scalar_tensor",
    "lift_fresh", "flip", "roll", "repeat", "cumsum", "sort", "topk", "embedding",
    "empty_strided", "resize_", "set_", "_unsafe_view", "expand_copy", "view_copy", "im2col",
    # normalisation and probability readouts (fold into the weights or happen off-chip)
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "native_layer_norm", "native_group_norm", "_softmax", "_log_softmax", "native_dropout",
}


def _floats(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    def walk(value: Any) -> bool:
        if isinstance(value, Tensor):
            return value.is_floating_point()
        if isinstance(value, (list, tuple)):
            return any(walk(v) for v in value)
        return False

    return walk(list(args)) or walk(list(kwargs.values()))


def _is_free(func: Any) -> bool:
    if func.is_view:
        return True
    tags = set(func.tags)
    if tags & {torch.Tag.pointwise, torch.Tag.reduction, torch.Tag.nondeterministic_seeded}:
        return True
    packet = func.overloadpacket
    return func.namespace == "aten" and packet.__name__ in _FREE_NAMES


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    return values * n if len(values) == 1 else values


# ---------------------------------------------------------------------------------------------
# the tally


class _Tally:
    def __init__(self, model: nn.Module) -> None:
        self.names = {id(m): name for name, m in model.named_modules()}
        self.layers: dict[str, LayerCount] = {}
        self.stack: list[nn.Module] = []
        self.depth: dict[int, int] = {}
        self.unknown: list[str] = []
        self.paused = False
        self.units_open = 0  # calls of synaptic units in progress: their inside is not counted
        self.weights = {
            t.untyped_storage().data_ptr()
            for t in list(model.parameters()) + list(model.buffers())
            if t.device.type != "meta"
        }

    def entry(self, module: nn.Module) -> LayerCount:
        name = self.names.get(id(module), type(module).__name__)
        if name not in self.layers:
            kind = module.family.name if isinstance(module, NeuronLayer) else type(module).__name__
            self.layers[name] = LayerCount(name=name, kind=kind)
        return self.layers[name]

    def current(self) -> nn.Module | None:
        return self.stack[-1] if self.stack else None

    def _is_weight(self, t: Tensor) -> bool:
        try:
            return t.untyped_storage().data_ptr() in self.weights
        except (RuntimeError, NotImplementedError):
            return False

    # -- synaptic operations ------------------------------------------------------------------

    def _matmul(self, entry: LayerCount, a: Tensor, b: Tensor, dense: int, fan_a: int, fan_b: int) -> None:
        """``a`` (fan-out ``fan_a`` per element) times ``b`` (fan-out ``fan_b``)."""
        entry.dense_macs += dense
        if self._is_weight(a) and not self._is_weight(b):
            order = [(b, fan_b)]
        elif self._is_weight(b) and not self._is_weight(a):
            order = [(a, fan_a)]
        else:
            order = [(a, fan_a), (b, fan_b)]
        for act, fan in order:
            events = event_count(act)
            if events is not None:
                entry.synops += events * fan
                entry.spikes_in += events
                entry.inputs_in += act.numel()
                return
        entry.macs += dense

    def _convolution(self, entry: LayerCount, args: Sequence[Any], out: Tensor) -> None:
        x, w = args[0], args[1]
        stride, padding, dilation, transposed, output_padding, groups = args[3:9]
        per_out = w.shape[1:].numel()
        dense = (x.numel() if transposed else out.numel()) * per_out
        entry.dense_macs += dense
        events = event_count(x)
        if events is None:
            entry.macs += dense
            return
        # each output element receives one accumulate per event in its receptive field:
        # convolve the event indicator with an all-ones kernel and sum (exact in float64)
        indicator = (x != 0).to(torch.float64)
        ones = torch.ones(w.shape, dtype=torch.float64, device=w.device)
        reach = torch.convolution(
            indicator, ones, None, stride, padding, dilation, transposed, output_padding, groups
        )
        entry.synops += int(round(float(reach.sum())))
        entry.spikes_in += events
        entry.inputs_in += x.numel()

    def _embedding_bag(self, entry: LayerCount, args: Sequence[Any]) -> None:
        # event-driven linear layer (axonal.nn.event): each index is one input event whose
        # weight row (fan-out M) is accumulated into its bag (one output row)
        weight, indices, offsets = args[0], args[1], args[2]
        last = bool(args[7]) if len(args) > 7 else False
        bags = offsets.numel() - 1 if last else offsets.numel()
        k, m = weight.shape
        entry.synops += indices.numel() * m
        entry.spikes_in += indices.numel()
        entry.inputs_in += bags * k
        entry.dense_macs += bags * k * m

    def synaptic(self, func: Any, args: Sequence[Any], out: Tensor) -> None:
        module = self.current()
        if module is None:
            return
        entry = self.entry(module)
        packet = func.overloadpacket
        if packet is aten.convolution:
            self._convolution(entry, args, out)
            return
        if packet in (aten._embedding_bag, aten._embedding_bag_forward_only):
            self._embedding_bag(entry, args)
            return
        if packet in (aten.addmm, aten.baddbmm, aten.addmv):
            args = args[1:]
        a, b = args[0], args[1]
        if packet is aten.mm:
            n, k = a.shape
            m = b.shape[1]
            self._matmul(entry, a, b, n * k * m, m, n)
        elif packet is aten.addmm:
            n, k = a.shape
            m = b.shape[1]
            self._matmul(entry, a, b, n * k * m, m, n)
        elif packet in (aten.bmm, aten.baddbmm):
            batch, n, k = a.shape
            m = b.shape[2]
            self._matmul(entry, a, b, batch * n * k * m, m, n)
        elif packet in (aten.mv, aten.addmv):
            n, k = a.shape
            self._matmul(entry, a, b, n * k, 1, n)
        else:  # dot
            self._matmul(entry, a, b, a.numel(), 1, 1)

    def unit(self, module: nn.Module, x: Tensor) -> None:
        """One call of a :class:`SynapticUnit` on ``x``."""
        name = self.names.get(id(module), type(module).__name__) or type(module).__name__
        declared = module.count_synaptic(x)  # type: ignore[operator]
        if not isinstance(declared, tuple) or len(declared) != 2:
            raise TypeError(f"{name}.count_synaptic must return (fan_out, dense_macs), got {declared!r}")
        fan_out, dense = declared
        if isinstance(dense, bool) or not isinstance(dense, int) or dense < 0:
            raise TypeError(f"{name}.count_synaptic: dense_macs must be an int >= 0, got {dense!r}")
        if isinstance(fan_out, Tensor):
            if fan_out.is_floating_point() or fan_out.is_complex() or bool((fan_out < 0).any()):
                raise TypeError(f"{name}.count_synaptic: a fan_out tensor must hold integers >= 0, got {fan_out!r}")
            try:
                fan = torch.broadcast_to(fan_out.to(torch.int64), x.shape)
            except RuntimeError as err:
                raise TypeError(
                    f"{name}.count_synaptic: fan_out of shape {tuple(fan_out.shape)} does not broadcast "
                    f"to the input's {tuple(x.shape)}"
                ) from err
        elif isinstance(fan_out, bool) or not isinstance(fan_out, int) or fan_out < 0:
            raise TypeError(f"{name}.count_synaptic: fan_out must be an int >= 0 or an integer tensor, got {fan_out!r}")
        entry = self.entry(module)
        entry.dense_macs += dense
        events = event_count(x)
        if events is None:
            entry.macs += dense
            return
        if isinstance(fan_out, Tensor):
            entry.synops += int((fan * (x != 0)).sum())
        else:
            entry.synops += events * fan_out
        entry.spikes_in += events
        entry.inputs_in += x.numel()

    def open_unit(self, module: nn.Module, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        x = args[0] if args else kwargs.get("x")
        # only the outermost call counts (step -> forward is one call of the unit)
        if not self.depth.get(id(module), 0) and isinstance(x, Tensor):
            self.paused = True
            try:
                self.unit(module, x)
            finally:
                self.paused = False
        self.enter(module)
        self.units_open += 1

    def close_unit(self, module: nn.Module) -> None:
        self.units_open -= 1
        self.leave(module, None)

    def pool(self, func: Any, args: Sequence[Any], out: Any) -> None:
        module = self.current()
        if module is None:
            return
        result = out[0] if isinstance(out, (tuple, list)) else out
        x: Tensor = args[0]
        if func.overloadpacket in _ADAPTIVE:
            sizes = _tuple(args[1], 1)
            window_sum = 1
            for size_in, size_out in zip(x.shape[-len(sizes):], sizes):
                # PyTorch's adaptive windows: [floor(i*in/out), ceil((i+1)*in/out))
                window_sum *= sum(
                    -(-(i + 1) * size_in // size_out) - (i * size_in // size_out) for i in range(size_out)
                )
            lead = x.shape[: x.dim() - len(sizes)].numel()
            ops = lead * window_sum
        else:
            found = re.search(r"(\d)d", func.overloadpacket.__name__)
            dims = int(found.group(1)) if found else 1
            kernel = _tuple(args[1], dims)
            ops = result.numel() * math.prod(kernel)
        self.entry(module).pool_ops += ops

    def other(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        module = self.current()
        if isinstance(module, NeuronLayer) or _is_free(func) or not _floats(args, kwargs):
            return
        where = "(model)" if module is None else self.names.get(id(module), type(module).__name__) or "(model)"
        label = f"{where}: {func}"
        if label not in self.unknown:
            self.unknown.append(label)

    # -- neuron layers ------------------------------------------------------------------------

    def enter(self, module: nn.Module) -> None:
        self.stack.append(module)
        self.depth[id(module)] = self.depth.get(id(module), 0) + 1

    def leave(self, module: nn.Module, output: Any) -> None:
        if self.stack and self.stack[-1] is module:
            self.stack.pop()
        self.depth[id(module)] -= 1
        if isinstance(module, NeuronLayer) and self.depth[id(module)] == 0:
            out = output[0] if isinstance(output, tuple) else output
            if isinstance(out, Tensor):
                self.paused = True
                try:
                    self._neuron(module, out)
                finally:
                    self.paused = False

    def _neuron(self, layer: NeuronLayer[Any, Any], out: Tensor) -> None:
        entry = self.entry(layer)
        first = entry.neuron_updates == 0
        entry.neuron_updates += out.numel()
        entry.dt = float(layer.dt)
        spikes = event_count(out)
        if spikes is None:
            entry.spikes_out = None
        elif first or entry.spikes_out is not None:
            entry.spikes_out = (entry.spikes_out or 0) + spikes


class _CountMode(TorchDispatchMode):
    def __init__(self, tally: _Tally) -> None:
        super().__init__()
        self.tally = tally

    def __torch_dispatch__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        tally = self.tally
        if tally.paused or tally.units_open:
            return out
        packet = getattr(func, "overloadpacket", None)
        if packet in _SYNAPTIC:
            tally.synaptic(func, args, out)
        elif packet in _POOL:
            tally.pool(func, args, out)
        else:
            tally.other(func, args, kwargs)
        return out


def _wrap(tally: _Tally, module: nn.Module, method: str) -> None:
    original = getattr(module, method)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tally.enter(module)
        result = None
        try:
            result = original(*args, **kwargs)
            return result
        finally:
            tally.leave(module, result)

    object.__setattr__(module, method, wrapper)


def _wrap_unit(tally: _Tally, module: nn.Module, method: str) -> None:
    original = getattr(module, method)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tally.open_unit(module, args, kwargs)
        try:
            return original(*args, **kwargs)
        finally:
            tally.close_unit(module)

    object.__setattr__(module, method, wrapper)


def count_ops(
    model: nn.Module,
    x: Tensor,
    *,
    forward: Callable[[nn.Module, Tensor], Any] | None = None,
    ann_steps: int = 1,
    strict: bool = False,
) -> OpCounts:
    """Run ``model`` on ``x [T, B, ...]`` once (eval mode, no grad) and count its work.

    Args:
        model: any ``nn.Module`` built from axonal and torch layers.
        x: time-major input (spikes or analog values).
        forward: how to run it (default ``model(x)``).
        ann_steps: steps the ANN equivalent runs per sample (1 for a feed-forward ANN).
        strict: raise ``ValueError`` on operations the counter does not understand instead of
            listing them in :attr:`OpCounts.unknown` (and warning).

    The model's training flag is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor [T, B, ...], got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must be time-major [T, B, ...] with T, B >= 1, got shape {tuple(x.shape)}")
    if isinstance(ann_steps, bool) or not isinstance(ann_steps, int) or ann_steps < 1:
        raise ValueError(f"ann_steps must be an int >= 1, got {ann_steps!r}")
    if forward is not None and not callable(forward):
        raise TypeError(f"forward must be callable, got {type(forward).__name__}")
    tally = _Tally(model)
    handles = []
    wrapped: list[tuple[nn.Module, str]] = []
    for module in model.modules():
        if _is_unit(module):
            # counted as a unit around its own forward / step (which __call__ also reaches)
            for method in ("forward", "step"):
                if callable(getattr(module, method, None)):
                    _wrap_unit(tally, module, method)
                    wrapped.append((module, method))
            continue
        handles.append(module.register_forward_pre_hook(lambda m, _args: tally.enter(m)))
        handles.append(
            module.register_forward_hook(lambda m, _args, out: tally.leave(m, out), always_call=True)
        )
        if isinstance(module, NeuronLayer):
            for method in ("run", "step"):
                _wrap(tally, module, method)
                wrapped.append((module, method))
    training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), _CountMode(tally):
            if forward is None:
                model(x)
            else:
                forward(model, x)
    finally:
        for handle in handles:
            handle.remove()
        for module, method in wrapped:
            module.__dict__.pop(method, None)
        for module, flag in training:
            module.train(flag)
    with torch.no_grad():
        input_spikes = event_count(x)
    counts = OpCounts(
        layers=tuple(tally.layers.values()),
        steps=int(x.shape[0]),
        batch=int(x.shape[1]),
        input_spikes=input_spikes,
        unknown=tuple(tally.unknown),
        ann_steps=ann_steps,
    )
    if counts.unknown:
        message = (
            "the energy counter does not understand these operations (not counted): "
            + "; ".join(counts.unknown)
        )
        if strict:
            raise ValueError(message)
        warnings.warn(message, stacklevel=2)
    return counts
