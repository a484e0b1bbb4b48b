"""Layers for the NIR node types that the core layers do not cover: Scale, Threshold,
SumPool2d, Flatten, Delay, CubaLI, Integrator, and a Recurrent container (a graph cycle).

All take time-major input ``[T, B, ...]``. Stateless ones act on every time step alike;
:class:`Delay` and :class:`Recurrent` carry state and keep the contract of
:mod:`axonal.nn.protocol` (``initial_state``, ``forward(x, state) -> (out, state)``, ``step``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axonal.functional.neurons.cuba_li import (
    CUBA_LI_FAMILY,
    INTEGRATOR_FAMILY,
    CubaLIParams,
    CubaLIState,
    IntegratorParams,
    IntegratorState,
)
from axonal.functional.surrogate import FastSigmoid, Surrogate
from axonal.nn.neuron import NeuronLayer
from axonal.nn.protocol import is_stateful
from axonal.scan import check_sequence

__all__ = [
    "CubaLI",
    "Delay",
    "Flatten",
    "Integrator",
    "Recurrent",
    "Scale",
    "SumPool2d",
    "Threshold",
]


class CubaLI(NeuronLayer[CubaLIState, CubaLIParams]):
    """Current-based leaky integrator readout: outputs the membrane ``[T, B, ...]`` (mV)."""

    family = CUBA_LI_FAMILY


class Integrator(NeuronLayer[IntegratorState, IntegratorParams]):
    """Perfect integrator ``dv/dt = r x`` (NIR ``I``): outputs ``v`` ``[T, B, ...]``."""

    family = INTEGRATOR_FAMILY


def _as_tensor(name: str, value: float | Tensor) -> Tensor:
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite")
    return t


class Scale(nn.Module):
    """Elementwise ``y = x * scale`` (NIR ``Scale``); ``scale`` broadcasts to ``[...]``."""

    def __init__(self, scale: float | Tensor) -> None:
        super().__init__()
        self.scale = nn.Parameter(_as_tensor("scale", scale))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class Threshold(nn.Module):
    """Heaviside ``y = 1 where x > threshold`` (NIR ``Threshold``), surrogate gradient."""

    threshold: Tensor

    def __init__(self, threshold: float | Tensor, surrogate: Surrogate = FastSigmoid()) -> None:
        super().__init__()
        if not isinstance(surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, got {type(surrogate).__name__}")
        self.register_buffer("threshold", _as_tensor("threshold", threshold))
        self.surrogate = surrogate

    def forward(self, x: Tensor) -> Tensor:
        return self.surrogate(x - self.threshold)


def _pair(name: str, value: int | Sequence[int], minimum: int) -> tuple[int, int]:
    if isinstance(value, bool) or not isinstance(value, (int, Sequence)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {type(value).__name__}")
    out = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(out) != 2 or any(v < minimum for v in out):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return out[0], out[1]


class SumPool2d(nn.Module):
    """Sum over ``kernel_size`` windows (NIR ``SumPool2d``) on ``[T, B, C, H, W]`` or ``[N, C, H, W]``."""

    def __init__(
        self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0
    ) -> None:
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", self.kernel_size if stride is None else stride, 1)
        self.padding = _pair("padding", padding, 0)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-3]
        y = F.avg_pool2d(
            x.reshape(-1, *x.shape[-3:]), self.kernel_size, self.stride, self.padding, divisor_override=1
        )
        return y.reshape(*lead, *y.shape[1:])


class Flatten(nn.Module):
    """Flatten every dimension after time and batch: ``[T, B, ...] -> [T, B, prod(...)]``."""

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, "x")
        return x.flatten(2)


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
        from axonal._validate import check_dt

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
        return state

    def step(self, x: Tensor, state: tuple[Any, Tensor] | None = None) -> tuple[Tensor, tuple[Any, Tensor]]:
        """One step on ``x [B, n]``: ``(z [B, n], (neuron_state, rec(z)))``."""
        check_sequence(x, "x", min_rank=1)
        nstate, fed_back = self._unpack(x, state)
        z, nstate = self.neuron.step(x + fed_back, nstate)  # type: ignore[operator]
        out: Tensor = self.rec(z)
        return z, (nstate, out)

    def forward(self, x: Tensor, state: tuple[Any, Tensor] | None = None) -> tuple[Tensor, tuple[Any, Tensor]]:
        check_sequence(x, "x")
        nstate, fed_back = self._unpack(x[0], state)
        outs = []
        for t in range(x.shape[0]):
            z, nstate = self.neuron.step(x[t] + fed_back, nstate)  # type: ignore[operator]
            fed_back = self.rec(z)
            outs.append(z)
        return torch.stack(outs), (nstate, fed_back)
