"""The state contract every stateful module of axonal keeps.

A module that carries state across time steps (a neuron layer, :class:`~axonal.nn.Delay`,
:class:`~axonal.nn.Recurrent`, :class:`~axonal.nn.Sequential`, an imported NIR
:class:`~axonal.interop.GraphModule`) offers three methods with one meaning:

* ``initial_state(x_t)``: the resting state for a single-step input ``x_t [B, ...]``
  (only its shape, dtype and device matter);
* ``forward(x, state=None) -> (out, state)``: a run over time-major ``x [T, B, ...]``;
  ``state=None`` starts from ``initial_state(x[0])``; the returned state is the state after
  the last step;
* ``step(x_t, state=None) -> (out_t, state)``: one step on ``x_t [B, ...]``.

The three agree: running ``x[:k]`` and then ``x[k:]`` from the returned state gives the same
outputs and final state as one run over ``x``, and ``T`` calls of ``step`` give the same as
one ``forward``. States are opaque values (tensors, tuples, dicts) to pass back unchanged.

Every other module (``nn.Linear``, ``TimeDistributed(nn.Conv2d(...))``, ``Flatten``, ...) is
*stateless*: it maps ``[T, B, ...]`` to ``[T, B, ...]`` with every step alike, its state is
``None``, and :func:`step_module` applies it to one step as a sequence of length 1.
:func:`run_module`, :func:`step_module` and :func:`initial_state_of` treat both kinds alike;
:class:`~axonal.nn.Sequential` is built on them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = ["Stateful", "initial_state_of", "is_stateful", "run_module", "step_module"]


@runtime_checkable
class Stateful(Protocol):
    """A module that carries state over time (see the module docstring for the contract)."""

    def initial_state(self, x: Tensor) -> Any:
        """Resting state for a single-step input ``x [B, ...]``."""
        ...

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Run over ``x [T, B, ...]`` from ``state`` (``None``: rest); returns ``(out, state)``."""
        ...

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One step on ``x [B, ...]``; returns ``(out [B, ...], state)``."""
        ...


def is_stateful(module: object) -> bool:
    """Whether ``module`` keeps the state contract (has ``initial_state`` and ``step``)."""
    return isinstance(module, nn.Module) and isinstance(module, Stateful)


def initial_state_of(module: nn.Module, x: Tensor) -> Any:
    """``module.initial_state(x)`` for a stateful module, ``None`` for a stateless one."""
    if is_stateful(module):
        return module.initial_state(x)  # type: ignore[operator]
    return None


def run_module(module: nn.Module, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """Run ``module`` over ``x [T, B, ...]``: ``(out, state)``; a stateless module gets and
    returns ``None`` (and refuses any other state)."""
    if is_stateful(module):
        out, new_state = module(x, state)
        return out, new_state
    if state is not None:
        raise ValueError(
            f"{type(module).__name__} is stateless: its state must be None, got {type(state).__name__}"
        )
    y: Tensor = module(x)
    return y, None


def step_module(module: nn.Module, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """One step of ``module`` on ``x [B, ...]``: ``(out [B, ...], state)``.

    A stateless module is applied to ``x`` as a sequence of one step (``[1, B, ...]``), so
    modules written for ``[T, B, ...]`` (``TimeDistributed``, ``Flatten``) act on a step
    exactly as they act on each step of a run.
    """
    if is_stateful(module):
        out, new_state = module.step(x, state)  # type: ignore[operator]
        return out, new_state
    if state is not None:
        raise ValueError(
            f"{type(module).__name__} is stateless: its state must be None, got {type(state).__name__}"
        )
    y: Tensor = module(x.unsqueeze(0))
    return y.squeeze(0), None
