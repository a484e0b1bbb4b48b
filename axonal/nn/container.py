"""Containers that thread explicit state through a stack of layers over time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from axonal.errors import AxonalError
from axonal.nn.neuron import NeuronLayer
from axonal.nn.protocol import initial_state_of, run_module, step_module
from axonal.functional.scan import check_sequence

__all__ = ["Sequential", "SequentialResult"]


def _in_layer(i: int, layer: nn.Module, err: ValueError) -> ValueError:
    """``err`` with the layer's index and type in front, of the same class when it is one of
    axonal's own (a :class:`~axonal.errors.NonFiniteError` stays one), else ``ValueError``."""
    kind = type(err) if isinstance(err, AxonalError) else ValueError
    return kind(f"layer {i} ({type(layer).__name__}): {err}")


class SequentialResult(NamedTuple):
    """Everything one pass of :class:`Sequential` produced.

    Attributes:
        out: output of the last layer, ``[T, B, ...]``.
        state: one entry per layer (``None`` for stateless layers); pass it back to continue.
        outputs: the output of every layer, ``[T, B, ...]`` each.
        traces: per layer, the recorded state trace of neuron layers (``None`` elsewhere or
            when ``record=False``).
    """

    out: Tensor
    state: tuple[Any, ...]
    outputs: tuple[Tensor, ...]
    traces: tuple[Any, ...]


class Sequential(nn.Module):
    """A stack of layers run over time-major input with explicit state.

    Stateless layers (``nn.Linear``, ``TimeDistributed(...)``, :class:`~axonal.nn.Flatten`, ...)
    act on the whole ``[T, B, ...]`` tensor at once; stateful layers (neuron layers,
    :class:`~axonal.nn.Delay`, :class:`~axonal.nn.Recurrent`, a nested ``Sequential``, anything
    keeping :mod:`axonal.nn.protocol`) run over time with their own state. ``Sequential``
    keeps the same contract: ``forward(x, state=None) -> (out, state)`` where ``state`` holds
    one entry per layer (``None`` for stateless ones), ``initial_state(x_t)`` and ``step``; a
    run split into chunks, each continuing from the state the previous one returned, gives the
    same outputs as one run. ``run`` also returns every layer's output and, with
    ``record=True``, the neuron layers' state traces (for rasters and membrane plots).

    Args:
        *layers: the modules, first to last.
        input_shape: optionally the shape of one sample at one step (without ``T`` and ``B``);
            when given, inputs of another shape are refused with a message saying so.
    """

    def __init__(self, *layers: nn.Module, input_shape: Sequence[int] | None = None) -> None:
        super().__init__()
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Module):
                raise TypeError(f"layer {i} must be an nn.Module, got {type(layer).__name__}")
        self.layers = nn.ModuleList(layers)
        if input_shape is not None:
            if isinstance(input_shape, (str, bytes)) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in input_shape
            ):
                raise ValueError(f"input_shape must be a sequence of positive ints, got {input_shape!r}")
            input_shape = tuple(input_shape)
        self.input_shape: tuple[int, ...] | None = input_shape

    def _check_input(self, x: Tensor, lead: str) -> None:
        shape = getattr(self, "input_shape", None)  # absent in models pickled before it existed
        if shape is not None and tuple(x.shape[len(lead.split(",")):]) != shape:
            dims = ", ".join([lead, *map(str, shape)])
            raise ValueError(f"x must have shape [{dims}], got {tuple(x.shape)}")

    def _check_state(self, state: Sequence[Any] | None) -> None:
        if state is None:
            return
        if not isinstance(state, (tuple, list)):
            raise TypeError(
                f"state must be a tuple with one entry per layer ({len(self.layers)}), got {type(state).__name__}"
            )
        if len(state) != len(self.layers):
            raise ValueError(
                f"state must have one entry per layer ({len(self.layers)}), got {len(state)}"
            )

    def run(
        self, x: Tensor, state: Sequence[Any] | None = None, record: bool = False
    ) -> SequentialResult:
        check_sequence(x, "x")
        self._check_input(x, "T, B")
        self._check_state(state)
        states: list[Any] = []
        outputs: list[Tensor] = []
        traces: list[Any] = []
        for i, layer in enumerate(self.layers):
            layer_state = None if state is None else state[i]
            if isinstance(layer, NeuronLayer):
                try:
                    result = layer.run(x, layer_state, record)
                except AxonalError as err:  # e.g. a NaN in this layer's state: say which layer
                    assert isinstance(err, ValueError)
                    raise _in_layer(i, layer, err) from None
                x = result.out
                states.append(result.state)
                traces.append(result.trace)
            else:
                try:
                    x, new_state = run_module(layer, x, layer_state)
                except ValueError as err:
                    raise _in_layer(i, layer, err) from None
                states.append(new_state)
                traces.append(None)
            outputs.append(x)
        return SequentialResult(x, tuple(states), tuple(outputs), tuple(traces))

    def forward(self, x: Tensor, state: Sequence[Any] | None = None) -> tuple[Tensor, tuple[Any, ...]]:
        result = self.run(x, state)
        return result.out, result.state

    def initial_state(self, x: Tensor) -> tuple[Any, ...]:
        """Resting state of every layer for a single-step input ``x [B, ...]``.

        The input shape of each layer is found by one probe step (without gradient)."""
        check_sequence(x, "x", min_rank=1)
        self._check_input(x, "B")
        states: list[Any] = []
        with torch.no_grad():
            for layer in self.layers:
                layer_state = initial_state_of(layer, x)
                states.append(layer_state)
                x, _ = step_module(layer, x, layer_state)
        return tuple(states)

    def step(self, x: Tensor, state: Sequence[Any] | None = None) -> tuple[Tensor, tuple[Any, ...]]:
        """One step on ``x [B, ...]``: ``(out [B, ...], state)``."""
        check_sequence(x, "x", min_rank=1)
        self._check_input(x, "B")
        self._check_state(state)
        states: list[Any] = []
        for i, layer in enumerate(self.layers):
            try:
                x, layer_state = step_module(layer, x, None if state is None else state[i])
            except ValueError as err:
                raise _in_layer(i, layer, err) from None
            states.append(layer_state)
        return x, tuple(states)

    def extra_repr(self) -> str:
        shape = getattr(self, "input_shape", None)
        return "" if shape is None else f"input_shape={shape}"

    def neuron_layers(self) -> list[tuple[int, NeuronLayer[Any, Any]]]:
        """(index, layer) of every neuron layer."""
        return [(i, m) for i, m in enumerate(self.layers) if isinstance(m, NeuronLayer)]
