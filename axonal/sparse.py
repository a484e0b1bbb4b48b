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

Shapes:
    x: ``[..., in_features]`` (e.g. time-major ``[T, B, in]``); output ``[..., out_features]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SpikeLinear", "spike_linear", "sparsify"]


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


def sparsify(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` inside ``model`` (in place) by a :class:`SpikeLinear` that
    shares its parameters; returns ``model``. Layers fed by non-spike input keep computing
    densely (each call checks its input), so this is safe on a whole network."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if type(model) is nn.Linear:
        raise TypeError("model is itself an nn.Linear; use SpikeLinear.from_linear(model)")
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, SpikeLinear.from_linear(child))
    return model
