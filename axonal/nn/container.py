"""Containers that thread explicit state through a stack of layers over time."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from axonal.nn.neuron import NeuronLayer
from axonal.scan import check_sequence

__all__ = ["Sequential", "SequentialResult", "TimeDistributed"]


class TimeDistributed(nn.Module):
    """Apply a stateless module once to ``[T*B, ...]`` and restore ``[T, B, ...]``.

    Use it for layers that expect a single batch dimension (``nn.Conv2d``, ``nn.MaxPool2d``);
    ``nn.Linear`` already accepts ``[T, B, F]``.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, "x")
        t, b = x.shape[:2]
        y: Tensor = self.module(x.flatten(0, 1))
        out: Tensor = y.unflatten(0, (t, b))
        return out


class SequentialResult(NamedTuple):
    """Everything one pass of :class:`Sequential` produced.

    Attributes:
        out: output of the last layer, ``[T, B, ...]``.
        state: one entry per layer (``None`` for stateless layers).
        outputs: the output of every layer, ``[T, B, ...]`` each.
        traces: per layer, the recorded state trace of neuron layers (``None`` elsewhere or
            when ``record=False``).
    """

    out: Tensor
    state: tuple[Any, ...]
    outputs: tuple[Tensor, ...]
    traces: tuple[Any, ...]


class Sequential(nn.Module):
    """A stack of stateless layers (applied to the whole ``[T, B, ...]`` tensor) and
    :class:`~axonal.nn.neuron.NeuronLayer` s (run over time with explicit state).

    ``forward(x, state=None) -> (out, state)``; ``run`` also returns every layer's output and,
    with ``record=True``, the neuron layers' state traces (for rasters and membrane plots).
    """

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Module):
                raise TypeError(f"layer {i} must be an nn.Module, got {type(layer).__name__}")
        self.layers = nn.ModuleList(layers)

    def run(
        self, x: Tensor, state: tuple[Any, ...] | None = None, record: bool = False
    ) -> SequentialResult:
        check_sequence(x, "x")
        if state is not None and len(state) != len(self.layers):
            raise ValueError(
                f"state must have one entry per layer ({len(self.layers)}), got {len(state)}"
            )
        states: list[Any] = []
        outputs: list[Tensor] = []
        traces: list[Any] = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, NeuronLayer):
                result = layer.run(x, None if state is None else state[i], record)
                x = result.out
                states.append(result.state)
                traces.append(result.trace)
            else:
                x = layer(x)
                states.append(None)
                traces.append(None)
            outputs.append(x)
        return SequentialResult(x, tuple(states), tuple(outputs), tuple(traces))

    def forward(self, x: Tensor, state: tuple[Any, ...] | None = None) -> tuple[Tensor, tuple[Any, ...]]:
        result = self.run(x, state)
        return result.out, result.state

    def neuron_layers(self) -> list[tuple[int, NeuronLayer[Any, Any]]]:
        """(index, layer) of every neuron layer."""
        return [(i, m) for i, m in enumerate(self.layers) if isinstance(m, NeuronLayer)]
