"""Layers that carry state over time besides the neurons: :class:`Delay` and :class:`Recurrent`.

Both keep the contract of :mod:`axonal.nn.protocol` (``initial_state``,
``forward(x, state) -> (out, state)``, ``step``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import _get_current_dispatch_mode

from axonal.functional.neurons.family import check_param_shapes
from axonal.kernels.recurrent import recurrent_available, recurrent_run, recurrent_unsupported
from axonal.nn.neuron import NeuronLayer
from axonal.nn.protocol import is_stateful
from axonal.nn.shape import _as_tensor
from axonal.functional.scan import check_sequence
from axonal.functional.validate import check_all_finite, check_finite

__all__ = ["Delay", "Recurrent"]


class Delay(nn.Module):
    """Pure transmission delay ``y(t) = x(t - delay)`` (NIR ``Delay``), zero before the start.

    Args:
        delay: seconds, float or tensor broadcastable to ``[...]`` (one per element); each must
            be a whole number of steps of ``dt`` (within 1e-6 relative).
        dt: step in seconds.

    Shapes:
        forward: ``x [T, B, ...] -> (y [T, B, ...], state [D, B, ...])``, ``D`` the longest
        delay in steps; ``step``: ``x [B, ...] -> (y [B, ...], state)``.
    """

    delay: Tensor
    steps: Tensor

    def __init__(self, delay: float | Tensor, dt: float) -> None:
        super().__init__()
        from axonal.functional.validate import check_dt

        self.dt = check_dt(dt)
        d = _as_tensor("delay", delay)
        if bool((d < 0).any()):
            raise ValueError("delay must be >= 0 s")
        steps = torch.round(d / self.dt)
        if not bool(torch.allclose(steps * self.dt, d, rtol=1e-6, atol=1e-12)):
            raise ValueError(f"delay must be a whole number of steps of dt={self.dt:g} s, got {d.tolist()}")
        self.delay = d
        self.register_buffer("steps", steps.to(torch.long))
        self.max_steps = int(steps.max()) if steps.numel() else 0

    def initial_state(self, x: Tensor) -> Tensor:
        """The empty line ``[D, B, ...]`` (zeros) for a single-step input ``x [B, ...]``."""
        check_sequence(x, "x", min_rank=1)
        return x.new_zeros((self.max_steps, *x.shape))

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Delay ``x [T, B, ...]``; ``state`` holds the last ``D`` inputs, oldest first."""
        check_sequence(x, "x")
        n = self.max_steps
        if state is None:
            state = self.initial_state(x[0])
        elif not isinstance(state, Tensor) or state.shape != (n, *x.shape[1:]):
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"Delay state must be a tensor of shape {(n, *x.shape[1:])} ([D, B, ...]), got {got}")
        else:
            check_finite("state", state, "Delay")
        padded = torch.cat([state, x])
        t = torch.arange(x.shape[0], device=x.device).reshape(-1, *([1] * (x.dim() - 1)))
        index = (t + n - self.steps).expand(x.shape)
        return padded.gather(0, index), padded[padded.shape[0] - n :]

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step on ``x [B, ...]``: ``(y [B, ...], state)``."""
        check_sequence(x, "x", min_rank=1)
        y, new_state = self.forward(x.unsqueeze(0), state)
        return y[0], new_state

    def extra_repr(self) -> str:
        return f"max_steps={self.max_steps}, dt={self.dt:g}"


class Recurrent(nn.Module):
    """A stateful layer with a recurrent projection: ``z[t] = neuron(x[t] + rec(z[t-1]))``.

    Exported to NIR as a graph cycle (neuron -> rec -> neuron). ``neuron`` is usually a neuron
    layer (any module keeping :mod:`axonal.nn.protocol` runs); ``rec`` a stateless module on
    one step ``[B, n]``, usually an ``nn.Linear(n, n)``. Nothing is fed back before the first
    step (the recurrent input at ``t = 0`` is zero, not ``rec(0)``), as in a NIR graph whose
    edges carry the previous step.

    Fused: when ``neuron`` is a neuron layer of a family with a fused spec (LIF, ALIF,
    CubaLIF) whose backend is ``"auto"`` or ``"cpp"``, ``rec`` is an ``nn.Linear(n, n)`` (with
    or without bias) and ``x [T, B, n]`` is a float32/float64 CPU tensor the fused kernel
    accepts, :meth:`forward` runs the whole time loop in C++
    (:mod:`axonal.kernels.recurrent`): same spikes and states as the Python loop, gradients
    to rounding. Otherwise, and while a ``rec`` hook or a Python dispatch mode (e.g. the
    energy counter) watches the per-step calls, it runs the Python loop.

    Shapes:
        forward: ``x [T, B, n] -> (z [T, B, n], (neuron_state, rec(z_last)))``.
        step: ``x [B, n] -> (z [B, n], state)``.
    """

    def __init__(self, neuron: nn.Module, rec: nn.Module) -> None:
        super().__init__()
        if not is_stateful(neuron):
            raise TypeError(
                f"neuron must be a stateful module (a NeuronLayer or another module with "
                f"initial_state and step), got {type(neuron).__name__}"
            )
        if not isinstance(rec, nn.Module):
            raise TypeError(f"rec must be an nn.Module, got {type(rec).__name__}")
        if is_stateful(rec):
            raise TypeError(f"rec must be a stateless module (e.g. nn.Linear), got the stateful {type(rec).__name__}")
        self.neuron = neuron
        self.rec = rec

    def initial_state(self, x: Tensor) -> tuple[Any, Tensor]:
        """Resting state for a single-step input ``x [B, n]``: nothing fed back yet."""
        check_sequence(x, "x", min_rank=1)
        return self.neuron.initial_state(x), torch.zeros_like(x)  # type: ignore[operator]

    def _unpack(self, x: Tensor, state: tuple[Any, Tensor] | None) -> tuple[Any, Tensor]:
        if state is None:  # the neuron starts from its own rest on its first step
            return None, torch.zeros_like(x)
        if not isinstance(state, tuple) or len(state) != 2 or not isinstance(state[1], Tensor):
            raise ValueError("Recurrent state must be a pair (neuron_state, fed_back tensor)")
        check_finite("state[1] (the fed-back input)", state[1], "Recurrent")
        return state

    def step(self, x: Tensor, state: tuple[Any, Tensor] | None = None) -> tuple[Tensor, tuple[Any, Tensor]]:
        """One step on ``x [B, n]``: ``(z [B, n], (neuron_state, rec(z)))``."""
        check_sequence(x, "x", min_rank=1)
        nstate, fed_back = self._unpack(x, state)
        z, nstate = self.neuron.step(x + fed_back, nstate)  # type: ignore[operator]
        out: Tensor = self.rec(z)
        return z, (nstate, out)

    def forward(self, x: Tensor, state: tuple[Any, Tensor] | None = None) -> tuple[Tensor, tuple[Any, Tensor]]:
        """Run over ``x [T, B, n]``. The input and the state are checked once, by the first
        step; a neuron layer then runs its later steps unchecked."""
        check_sequence(x, "x")
        nstate, fed_back = self._unpack(x[0], state)
        layer = self.neuron if isinstance(self.neuron, NeuronLayer) else None
        if layer is not None:
            fused = self._fused(layer, x, nstate, fed_back)
            if fused is not None:
                return fused
        outs = []
        params = None if layer is None else layer.params()
        for t in range(x.shape[0]):
            if t > 0 and layer is not None:
                z, nstate = layer._step(x[t] + fed_back, nstate, params)
            else:
                z, nstate = self.neuron.step(x[t] + fed_back, nstate)  # type: ignore[operator]
            fed_back = self.rec(z)
            outs.append(z)
        return torch.stack(outs), (nstate, fed_back)

    def _fused(
        self, layer: NeuronLayer[Any, Any], x: Tensor, nstate: Any, fed_back: Tensor
    ) -> tuple[Tensor, tuple[Any, Tensor]] | None:
        """The run with the fused recurrent kernel, or ``None`` where it cannot run (the
        Python loop then runs). Checks what the loop's first step checks, once."""
        rec = self.rec
        if layer.backend not in ("auto", "cpp") or type(rec) is not nn.Linear:
            return None
        hooks = (rec._forward_hooks, rec._forward_pre_hooks, rec._backward_hooks,
                 rec._backward_pre_hooks)
        if any(hooks) or _get_current_dispatch_mode() is not None:
            return None  # someone watches the per-step calls (the energy counter, a hook)
        params = layer.params()
        if recurrent_unsupported(layer.family, params, x, fed_back, rec.weight, rec.bias) is not None:
            return None
        if not recurrent_available():
            return None
        if layer.learn:
            check_all_finite(layer._learned(params), type(layer).__name__)
        check_param_shapes(params, tuple(x.shape[1:]), 1, tuple(x.shape[1:]), "[B, *neurons]")
        out, nstate = recurrent_run(layer.family, x, nstate, fed_back, rec.weight, rec.bias,
                                    params, layer.dt)
        fed: Tensor = rec(out[-1])
        return out, (nstate, fed)
