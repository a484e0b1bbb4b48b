"""Event-driven inference for linear layers fed by spikes: touch only the weights of inputs that fired.

A dense layer computes ``x @ W.T`` for every input, spiking or not. When ``x`` holds spikes
(every element -1, 0 or 1) the product is a sum of the weight columns of the inputs that fired:
:func:`spike_linear` adds up only those columns, stored as rows of a contiguous ``W.T`` so each
is one contiguous read. On CPU this is the compiled kernel ``axonal/kernels/sparse_cpu.cpp``
(built at first use, :func:`axonal.native_build.load_extension`): one scan of each input row
finds the events and adds their weight rows into the output row, starting from the bias.
Elsewhere (other devices, ``AXONAL_NO_KERNELS=1``, no compiler) the torch path runs:
``nonzero`` gives the events, and ``embedding_bag`` in ``sum`` mode (a CSR sparse-dense
product) adds their rows. Work and memory traffic scale with the number of spikes instead of
the number of inputs.

The result equals the dense path up to float rounding (the same weights are summed in another
order; the tests check it against ``F.linear`` in float32 and float64). Inference only: when
autograd needs a gradient the layer takes the dense path.

:class:`SpikeConv2d` does the same for 2-D convolutions on the unfolded input (each output
position sums the kernel weights under the events in its receptive field).

:class:`EventNetwork` runs a whole :class:`~axonal.nn.Sequential` of linear layers and LIF / LI
populations in one compiled call: each layer's input currents come from the events of the
layer below, and the neuron updates run in the same call (no per-step Python), so the time of
an inference follows the number of spikes. LIF populations with a refractory period (``t_ref >
0``) run there too, with Brian2's rule as :func:`~axonal.functional.neurons.lif_step`.

Shapes:
    x: ``[..., in_features]`` (e.g. time-major ``[T, B, in]``); output ``[..., out_features]``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from axonal.functional.neurons.family import ResetMode, exp_decay
from axonal.functional.neurons.li import LIState
from axonal.functional.neurons.lif import LIFState
from axonal.functional.neurons.refractory import refractory_limit
from axonal.functional.surrogate import Surrogate
from axonal.native_build import load_extension
from axonal.nn.container import Sequential
from axonal.nn.neuron import NeuronLayer
from axonal.functional.scan import check_state

__all__ = ["EventNetwork", "SpikeConv2d", "SpikeLinear", "sparse_kernel", "sparsify", "spike_linear"]

_DTYPES = (torch.float32, torch.float64)
_EXT: list[ModuleType | None] = []


def sparse_kernel() -> ModuleType | None:
    """The compiled spike-indexed accumulation (``sparse_cpu.cpp``), built on first call;
    ``None`` when it cannot be built or ``AXONAL_NO_KERNELS`` is set (warned once)."""
    if not _EXT:
        _EXT.append(load_extension("sparse"))
    return _EXT[0]


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _observed() -> bool:
    """Whether a ``TorchDispatchMode`` (e.g. the counter of :mod:`axonal.energy`) is watching
    the ATen operations: the compiled kernel is one opaque call, so the torch path runs then."""
    return is_in_torch_dispatch_mode()


def spike_linear(x: Tensor, weight_t: Tensor, bias: Tensor | None = None) -> Tensor | None:
    """Event-driven ``x @ weight_t + bias`` for spike input, or ``None`` if ``x`` is not spikes.

    Args:
        x: ``[..., K]``; spikes are elements in {-1, 0, 1} (signed events are allowed).
        weight_t: ``[K, M]`` contiguous (the transpose of an ``nn.Linear`` weight).
        bias: ``[M]`` or ``None``.

    Returns:
        ``[..., M]``, or ``None`` when some non-zero element of ``x`` is not -1 or 1 (the caller
        then runs the dense product).

    CPU tensors of one dtype (float32 / float64) with a ``[M]`` bias or none, when no gradient
    is needed, take the compiled kernel; everything else the torch path (same results).
    """
    if not isinstance(x, Tensor) or not isinstance(weight_t, Tensor):
        raise TypeError("x and weight_t must be tensors")
    if weight_t.dim() != 2 or x.dim() < 1 or x.shape[-1] != weight_t.shape[0]:
        raise ValueError(
            f"weight_t must be [K, M] with K = x.shape[-1]; got x {tuple(x.shape)}, "
            f"weight_t {tuple(weight_t.shape)}"
        )
    k, m = weight_t.shape
    if (
        x.device.type == "cpu"
        and weight_t.device.type == "cpu"
        and x.dtype in _DTYPES
        and weight_t.dtype == x.dtype
        and (bias is None or (bias.shape == (m,) and bias.dtype == x.dtype and bias.device.type == "cpu"))
        and not _needs_grad(x, weight_t, bias)
        and not _observed()
    ):
        ext = sparse_kernel()
        if ext is not None:
            out, ok = ext.spike_linear(
                x.reshape(-1, k).contiguous(), weight_t.contiguous(), None if bias is None else bias.contiguous()
            )
            return out.reshape(*x.shape[:-1], m) if ok else None
    return _spike_linear_torch(x, weight_t, bias)


def _spike_linear_torch(x: Tensor, weight_t: Tensor, bias: Tensor | None) -> Tensor | None:
    """The torch path of :func:`spike_linear` (``nonzero`` + CSR ``embedding_bag``)."""
    k, m = weight_t.shape
    rows_x = x.reshape(-1, k)
    n = rows_x.shape[0]
    flat_x = rows_x.reshape(-1)
    flat = flat_x.nonzero().squeeze(1)  # row-major positions of the events, ascending
    values = flat_x[flat]
    signed = False
    if values.numel():
        positive = values == 1
        if not bool(positive.all()):
            if not bool((positive | (values == -1)).all()):
                return None
            signed = True
    cols = flat % k
    # CSR row pointers: where each row's first position k * row falls among the sorted events
    offsets = torch.searchsorted(flat, torch.arange(0, (n + 1) * k, k, device=x.device))
    out = F.embedding_bag(
        cols,
        weight_t,
        offsets,
        mode="sum",
        per_sample_weights=values.to(weight_t.dtype) if signed else None,
        include_last_offset=True,
    )
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], m).to(torch.result_type(x, weight_t))


class SpikeLinear(nn.Linear):
    """``nn.Linear`` with the event-driven path of :func:`spike_linear` at inference.

    Same parameters and state-dict keys as ``nn.Linear`` (a drop-in replacement; see
    :func:`sparsify`). Per call: when autograd needs gradients, or the input is not spikes, the
    dense ``F.linear`` runs; otherwise only the weights of the inputs that fired are read. A
    transposed copy of the weight is cached and refreshed whenever the weight changes.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self._cache: tuple[int, int, Tensor] | None = None

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> SpikeLinear:
        """A ``SpikeLinear`` sharing ``linear``'s parameters (no copy)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = linear.in_features, linear.out_features
        layer.weight = linear.weight
        layer.bias = linear.bias  # type: ignore[assignment]
        layer._cache = None
        layer.train(linear.training)
        return layer

    def weight_t(self) -> Tensor:
        """The weight transposed to ``[in, out]``, contiguous (cached)."""
        w = self.weight
        key = (w.data_ptr(), w._version)
        if self._cache is None or self._cache[:2] != key:
            self._cache = (key[0], key[1], w.detach().t().contiguous())
        return self._cache[2]

    def forward(self, x: Tensor) -> Tensor:
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        if not needs_grad and x.is_floating_point() and x.dtype == self.weight.dtype:
            bias = None if self.bias is None else self.bias.detach()
            out = spike_linear(x, self.weight_t(), bias)
            if out is not None:
                return out
        return F.linear(x, self.weight, self.bias)


def _weight_rows(cache: list[tuple[int, int, Tensor]], weight: Tensor) -> Tensor:
    """``weight`` flattened to ``[out, -1]`` and transposed, contiguous; cached in ``cache``."""
    key = (weight.data_ptr(), weight._version)
    if not cache or cache[0][:2] != key:
        cache[:] = [(key[0], key[1], weight.detach().reshape(weight.shape[0], -1).t().contiguous())]
    return cache[0][2]


class SpikeConv2d(nn.Conv2d):
    """``nn.Conv2d`` with an event-driven path at inference (``groups=1``, zero padding given as
    numbers): the input is unfolded into receptive-field rows (``F.unfold``) and each output
    position sums only the kernel weights under the events in its field (:func:`spike_linear`
    on ``[N * positions, C_in * kh * kw]``). Same parameters as ``nn.Conv2d``; otherwise, or
    when gradients are needed or the input is not spikes, the dense convolution runs.

    Shapes:
        ``x [N, C_in, H, W] -> [N, C_out, H_out, W_out]`` (wrap in ``TimeDistributed`` for
        ``[T, B, ...]``).
    """

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> SpikeConv2d:
        """A ``SpikeConv2d`` sharing ``conv``'s parameters (no copy)."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
        layer = cls.__new__(cls)
        # same attributes; parameter, buffer and hook dicts copied, the tensors themselves shared
        layer.__dict__.update({k: v.copy() if isinstance(v, dict) else v for k, v in conv.__dict__.items()})
        layer.__dict__.pop("_rows_cache", None)
        return layer

    def _event_path(self, x: Tensor) -> Tensor | None:
        if (
            self.groups != 1
            or self.padding_mode != "zeros"
            or isinstance(self.padding, str)
            or x.dim() != 4
            or x.dtype != self.weight.dtype
        ):
            return None
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)  # [N, CKK, L]
        positions = cols.shape[2]
        rows = cols.transpose(1, 2).reshape(n * positions, -1)
        cache: list[tuple[int, int, Tensor]] = self.__dict__.setdefault("_rows_cache", [])
        bias = None if self.bias is None else self.bias.detach()
        out = spike_linear(rows, _weight_rows(cache, self.weight), bias)
        if out is None:
            return None
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        return out.reshape(n, oh, ow, -1).permute(0, 3, 1, 2)

    def forward(self, x: Tensor) -> Tensor:
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        if not needs_grad and x.is_floating_point():
            out = self._event_path(x)
            if out is not None:
                return out
        return super().forward(x)


def sparsify(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` / ``nn.Conv2d`` inside ``model`` (in place) by a
    :class:`SpikeLinear` / :class:`SpikeConv2d` sharing its parameters; returns ``model``.
    Layers fed by non-spike input keep computing densely (each call checks its input), so this
    is safe on a whole network."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if type(model) in (nn.Linear, nn.Conv2d):
        raise TypeError(f"model is itself an {type(model).__name__}; use SpikeLinear.from_linear / SpikeConv2d.from_conv")
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, SpikeLinear.from_linear(child))
            elif type(child) is nn.Conv2d:
                setattr(parent, name, SpikeConv2d.from_conv(child))
    return model


_LI_KIND = len(ResetMode)
"""Neuron kind of an LI population in ``event_network``; a LIF population's kind is its reset
code (``ResetMode.code``; ``AXONAL_EVENT_LI`` of ``axonal/csrc/codes.h``)."""
_COEF_FIELDS = ("tau_mem", "v_leak", "r", "v_th", "v_reset", "t_ref", "reset", "surrogate")


class EventNetwork(nn.Module):
    """Event-driven inference of a whole :class:`~axonal.nn.Sequential` in one compiled call.

    The model must alternate linear layers and neuron layers, ``Linear, LIF, Linear, LIF, ...``,
    ending with a LIF or an LI population (``Linear(784, 1000), LIF, Linear(1000, 10), LI``).
    Per call, layer by layer over the whole sequence, the compiled kernel adds the weight rows
    of the events of the layer below (the network input, then each LIF's spikes) into that
    layer's input currents and runs the neuron update over time in the same call: no dense
    product and no per-step Python. The linear layers are converted in place by
    :func:`sparsify` (parameters shared), so the model stays usable on its own.

    It is :meth:`Sequential.forward <axonal.nn.Sequential.forward>` with the same results (up to
    float rounding of the currents; the neuron updates, refractory periods included, are the
    reference steps' arithmetic). An initial state holding inf or nan is refused
    (:class:`~axonal.errors.NonFiniteError` naming it, e.g. ``state[1].v of LIF``). The model's
    own path runs instead (dense products where the input is not spikes, the reference loop
    where needed) when: gradients are needed, the input is not all -1 / 0 / 1 (inf and nan
    included: the model then validates and raises), the input is not a ``[T, B, K]`` CPU tensor
    of the weights' dtype (float32 / float64), a LIF has a surrogate whose forward pass is not
    the step, a neuron parameter is not a float or a tensor broadcastable to ``[N]``, a
    ``TorchDispatchMode`` observes the operations (the counter of :mod:`axonal.energy` then sees
    the per-layer work), or the compiled kernel is unavailable. The model's layers are taken at
    construction: build a new ``EventNetwork`` after replacing one of them.

    Args:
        model: the network (converted in place; see above).

    Shapes:
        ``x [T, B, K] -> (out [T, B, N_last], state)``; ``state`` as the model's (``None`` per
        linear layer, ``LIFState`` / ``LIState`` per population).
    """

    def __init__(self, model: Sequential) -> None:
        super().__init__()
        if not isinstance(model, Sequential):
            raise TypeError(f"model must be an axonal.nn.Sequential, got {type(model).__name__}")
        layers = list(model.layers)
        if len(layers) % 2:
            raise ValueError(
                f"model must alternate linear and neuron layers (an even count), got {len(layers)} layers"
            )
        for i, layer in enumerate(layers):
            if i % 2 == 0 and not (type(layer) is nn.Linear or isinstance(layer, SpikeLinear)):
                raise TypeError(f"model layer {i} must be an nn.Linear or SpikeLinear, got {type(layer).__name__}")
            if i % 2 == 1:
                family = layer.family.name if isinstance(layer, NeuronLayer) else None
                if family not in ("lif", "li"):
                    raise TypeError(f"model layer {i} must be a LIF or LI population, got {type(layer).__name__}")
                if family == "li" and i != len(layers) - 1:
                    raise ValueError(f"model layer {i} is an LI population (no spikes): it can only be the last layer")
        self.model = sparsify(model)
        # the (linear, population) pairs, fixed at construction (plain tuple: not re-registered)
        self._pairs: tuple[tuple[SpikeLinear, NeuronLayer[Any, Any]], ...] = tuple(
            (model.layers[i], model.layers[i + 1]) for i in range(0, len(layers), 2)  # type: ignore[misc]
        )
        self._coef_cache: dict[int, tuple[tuple[Any, ...], Tensor, int, float]] = {}

    def _coefficients(
        self, index: int, layer: NeuronLayer[Any, Any], n: int, dtype: torch.dtype
    ) -> tuple[Tensor, int, float] | None:
        """``[6, n]`` (decay, v_leak, r, v_th, v_reset, v_th - v_reset), the kernel's neuron
        kind and the refractory period (s; 0 for none) for ``layer``; ``None`` when the kernel
        cannot run its parameters. Cached while the parameter object (kept alive by the cache,
        so its identity is not reused), ``dt`` and the versions of its tensors stay the same."""
        p = layer.params()
        tensors = tuple(v._version for v in p.__dict__.values() if isinstance(v, Tensor))
        key = (p, layer.dt, dtype, n, tensors)
        cached = self._coef_cache.get(index)
        if cached is not None and cached[0][0] is p and cached[0][1:] == key[1:]:
            return cached[1], cached[2], cached[3]
        t_ref = 0.0
        if layer.family.name == "li":
            kind, v_th, v_reset = _LI_KIND, 0.0, 0.0
        else:
            if type(p.surrogate).__call__ is not Surrogate.__call__:
                return None
            kind, v_th, v_reset, t_ref = p.reset.code, p.v_th, p.v_reset, float(p.t_ref)
        rows = (exp_decay(layer.dt, p.tau_mem), p.v_leak, p.r, v_th, v_reset, v_th - v_reset)
        coef = torch.empty(6, n, dtype=dtype)
        with torch.no_grad():
            for i, value in enumerate(rows):
                if isinstance(value, Tensor):
                    if value.device.type != "cpu" or value.dim() > 1 or value.numel() not in (1, n):
                        return None
                    coef[i] = value.to(dtype)
                else:
                    coef[i] = float(value)
        self._coef_cache[index] = (key, coef, kind, t_ref)
        return coef, kind, t_ref

    def forward(self, x: Tensor, state: tuple[Any, ...] | None = None) -> tuple[Tensor, tuple[Any, ...]]:
        out = self._event_forward(x, state)
        if out is not None:
            return out
        result: tuple[Tensor, tuple[Any, ...]] = self.model(x, state)
        return result

    def _event_forward(self, x: Tensor, state: tuple[Any, ...] | None) -> tuple[Tensor, tuple[Any, ...]] | None:
        """The compiled path, or ``None`` where the model's own path must run."""
        pairs = self._pairs
        if (
            not isinstance(x, Tensor)
            or x.dim() != 3
            or x.shape[0] == 0
            or x.device.type != "cpu"
            or x.dtype not in _DTYPES
            or (state is not None and (not isinstance(state, tuple) or len(state) != 2 * len(pairs)))
            or (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.model.parameters())))
            or _observed()
        ):
            return None
        ext = sparse_kernel()
        if ext is None:
            return None
        b = x.shape[1]
        weights, biases, coefs, kinds, initial, refractory = [], [], [], [], [], []
        t_refs, dts, limits = [], [], []
        for i, (linear, neuron) in enumerate(pairs):
            n = linear.out_features
            found = self._coefficients(i, neuron, n, x.dtype)
            if (
                found is None
                or linear.weight.dtype != x.dtype
                or linear.weight.device.type != "cpu"
                or (linear.bias is not None and linear.bias.dtype != x.dtype)
            ):
                return None
            v0 = r0 = None
            given = None if state is None else state[2 * i + 1]
            if given is not None:
                check_state(given, torch.Size((b, n)), f"state[{2 * i + 1}]")  # finite too
                v0 = given[0].to(x.dtype).expand(b, n)
                if found[2] > 0:
                    r0 = given.refractory.to(x.dtype).expand(b, n)
            weights.append(linear.weight_t())
            biases.append(linear.bias)
            coefs.append(found[0])
            kinds.append(found[1])
            t_refs.append(found[2])
            dts.append(float(neuron.dt))
            limits.append(refractory_limit(neuron.dt))
            initial.append(v0)
            refractory.append(r0)
        out, finals, finals_ref, ok = ext.event_network(
            x.contiguous(), weights, biases, coefs, kinds, initial, refractory, t_refs, dts, limits
        )
        if not ok:
            return None
        states: list[Any] = []
        for i, ((_, neuron), v, rf) in enumerate(zip(pairs, finals, finals_ref)):
            states.append(None)
            if neuron.family.name == "li":
                states.append(LIState(v=v))
            else:
                if rf is None:  # no refractory period: the countdown passes through
                    given = None if state is None else state[2 * i + 1]
                    rf = torch.zeros_like(v) if given is None else given.refractory
                states.append(LIFState(v=v, refractory=rf))
        return out, tuple(states)
