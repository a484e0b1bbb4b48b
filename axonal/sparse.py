"""Event-driven inference for linear layers fed by spikes: touch only the weights of inputs that fired.

A dense layer computes ``x @ W.T`` for every input, spiking or not. When ``x`` holds spikes
(every element -1, 0 or 1) the product is a sum of the weight columns of the inputs that fired:
:func:`spike_linear` finds them (``nonzero``), and adds up only those columns, stored as rows of
a contiguous ``W.T`` so each is one contiguous read (``embedding_bag`` in ``sum`` mode: a
CSR sparse-dense product that never forms the dense product). Work and memory traffic scale
with the number of spikes instead of the number of inputs.

The result equals the dense path up to float rounding (the same weights are summed in another
order; the tests check it against ``F.linear`` in float32 and float64). Inference only: when
autograd needs a gradient the layer takes the dense path.

:class:`SpikeConv2d` does the same for 2-D convolutions on the unfolded input (each output
position sums the kernel weights under the events in its receptive field).

Shapes:
    x: ``[..., in_features]`` (e.g. time-major ``[T, B, in]``); output ``[..., out_features]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SpikeConv2d", "SpikeLinear", "spike_linear", "sparsify"]


def spike_linear(x: Tensor, weight_t: Tensor, bias: Tensor | None = None) -> Tensor | None:
    """Event-driven ``x @ weight_t + bias`` for spike input, or ``None`` if ``x`` is not spikes.

    Args:
        x: ``[..., K]``; spikes are elements in {-1, 0, 1} (signed events are allowed).
        weight_t: ``[K, M]`` contiguous (the transpose of an ``nn.Linear`` weight).
        bias: ``[M]`` or ``None``.

    Returns:
        ``[..., M]``, or ``None`` when some non-zero element of ``x`` is not -1 or 1 (the caller
        then runs the dense product).
    """
    if not isinstance(x, Tensor) or not isinstance(weight_t, Tensor):
        raise TypeError("x and weight_t must be tensors")
    if weight_t.dim() != 2 or x.dim() < 1 or x.shape[-1] != weight_t.shape[0]:
        raise ValueError(
            f"weight_t must be [K, M] with K = x.shape[-1]; got x {tuple(x.shape)}, "
            f"weight_t {tuple(weight_t.shape)}"
        )
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
