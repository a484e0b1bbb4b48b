"""Generic ``nn.Module`` over a registered neuron family.

A layer holds a frozen parameter object and, for each name in ``learn``, an
``nn.Parameter`` that replaces that field at every call. It holds no state: ``forward`` takes
and returns it explicitly.

Validation happens when values are set (construction, ``load_state_dict``, assigning ``dt``,
or an explicit :meth:`NeuronLayer.validate`), not per call: the per-call path only swaps the
learnable values into the validated record (:func:`~axonal.functional.neurons.replace_unchecked`).
What each call does check, once at its boundary and never per time step: the input, a given
state (shapes; NaN/inf raise :class:`~axonal.errors.NonFiniteError` naming the field), the
learnable values (finite), and that tensor parameters fit the input's neuron axes. A
``[T, B]`` input to :meth:`NeuronLayer.forward` (no neuron axis) warns
:class:`~axonal.errors.PlausibilityWarning`: it is often one step ``[B, F]`` by mistake.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Generic, Sequence, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from axonal.errors import AxonalError
from axonal.functional.validate import all_finite, check_all_finite, warn_plausibility
from axonal.functional.neurons import NeuronFamily, replace_unchecked, validate_params
from axonal.functional.neurons.family import check_param_shapes
from axonal.kernels import check_backend, select
from axonal.functional.scan import ScanResult, check_sequence, check_step_inputs, multi_step

__all__ = ["NeuronLayer"]

S = TypeVar("S", bound=tuple[Tensor, ...])
P = TypeVar("P")


class _Exp(nn.Module):
    """Parametrisation ``raw -> exp(raw)`` for learnable positive parameters."""

    def forward(self, raw: Tensor) -> Tensor:
        return torch.exp(raw)

    def right_inverse(self, value: Tensor) -> Tensor:
        return torch.log(value)


class NeuronLayer(nn.Module, Generic[S, P]):
    """A population of spiking neurons of one family, run over time-major input.

    Args:
        params: the family's parameter object (``None``: its defaults).
        dt: simulation step in seconds.
        learn: names of parameter fields to make learnable (e.g. ``("tau_mem", "v_th")``).
            Fields the family lists as ``positive`` are trained in log space.
        shape: shape of each learnable parameter, e.g. ``(n,)`` for one value per neuron;
            ``()`` (default) shares one value across the layer.
        backend: ``"auto"`` (default: a fused kernel from :mod:`axonal.kernels` when one is
            registered for the family and the input's device and supports the parameters,
            else the reference loop), ``"reference"`` (always the functional step function
            under ``scan``), or a kernel backend to force (``"cpp"``, ``"triton"``).
        **overrides: parameter fields to change from ``params``, e.g. ``tau_mem=5e-3``.

    Shapes:
        forward: ``x [T, B, ...] -> (out [T, B, ...], state)``; a rank-2 ``x`` is read as
        ``[T, B]`` (one neuron per sample) and warns, since it is often one step ``[B, F]``
        (give ``[T, B, 1]`` to mean it, or call :meth:`step`). Tensor parameters take the
        shape of the neuron axes ``[...]`` (or broadcast to it); one lining up with ``B``, or
        not broadcasting, is an error naming both shapes.
        step: ``x [B, ...] -> (out [B, ...], state)``.
    """

    family: ClassVar[NeuronFamily[Any, Any]]

    def __init__(
        self,
        params: P | None = None,
        *,
        dt: float = 1e-3,
        learn: Sequence[str] = (),
        shape: Sequence[int] = (),
        backend: str = "auto",
        **overrides: Any,
    ) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        ptype = self.family.params_type
        if params is None:
            params = ptype(**overrides)
        elif not isinstance(params, ptype):
            raise TypeError(
                f"params must be {ptype.__name__}, got {type(params).__name__}"
            )
        elif overrides:
            params = dataclasses.replace(params, **overrides)
        self._dt = self.family.validate_dt(params, dt)
        self.base_params: P = params
        if isinstance(learn, str):
            raise TypeError(f"learn must be a sequence of field names, got the string {learn!r}")
        fields = {f.name for f in dataclasses.fields(ptype)}
        self.learn: tuple[str, ...] = tuple(learn)
        shape = tuple(int(s) for s in shape)
        for name in self.learn:
            if name not in fields:
                raise ValueError(
                    f"learn names unknown parameter {name!r}; {ptype.__name__} has {sorted(fields)}"
                )
            value = getattr(params, name)
            if isinstance(value, Tensor):
                init = value.detach().clone().float().expand(shape).clone()
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                init = torch.full(shape, float(value))
            else:
                raise TypeError(f"parameter {name!r} is not numeric and cannot be learned")
            self.register_parameter(name, nn.Parameter(init))
            if name in self.family.positive:
                # trained in log space (right_inverse stores log(init)); reads give exp(raw) > 0
                parametrize.register_parametrization(self, name, _Exp())
        if self.learn:
            self.validate()  # the learnable values as the layer stores them (e.g. the shape)
            self.register_load_state_dict_post_hook(_validate_after_load)

    @property
    def dt(self) -> float:
        """The simulation step (s); assigning it validates it (finite, > 0, the family's
        stability limit) against the current parameters."""
        dt = self.__dict__.get("_dt", self.__dict__.get("dt"))  # "dt": layers pickled before
        assert isinstance(dt, float)
        return dt

    @dt.setter
    def dt(self, value: float) -> None:
        with torch.no_grad():
            self._dt = self.family.validate_dt(self.params(), value)

    def validate(self) -> None:
        """Check the current parameter record in full (rules, orderings, plausibility and
        ``dt``); call it after setting learnable values by hand (``load_state_dict`` calls
        it)."""
        with torch.no_grad():
            params = self.params()
            validate_params(params)
            self.family.validate_dt(params, self.dt)

    def params(self) -> P:
        """The parameter object with the current values of the learnable fields."""
        if not self.learn:
            return self.base_params
        values = {name: getattr(self, name) for name in self.learn}
        return replace_unchecked(self.base_params, values)

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``.to()`` / ``.double()`` also move tensor-valued fields of ``base_params``."""
        out = super()._apply(fn, *args, **kwargs)
        moved = {
            f.name: fn(v)
            for f in dataclasses.fields(self.base_params)  # type: ignore[arg-type]
            if isinstance(v := getattr(self.base_params, f.name), Tensor)
        }
        if moved:
            self.base_params = dataclasses.replace(self.base_params, **moved)  # type: ignore[type-var]
        return out

    def initial_state(self, x: Tensor) -> S:
        """Resting state for a single-step input ``x [B, ...]``."""
        state: S = self.family.initial_state(x, self.params())
        return state

    def _learned(self, params: P) -> list[tuple[str, Tensor]]:
        return [(f"learnable parameter {n}", getattr(params, n)) for n in self.learn]

    def _check_params(self, params: P, x: Tensor) -> None:
        """Learnable values finite (and within the family's ``dt`` limit); tensor parameters
        fit the neuron axes of ``x [T, B, ...]``."""
        if self.learn:
            check_all_finite(self._learned(params), type(self).__name__)
            if self.family.check_dt is not None:
                # a stability bound on learned values that training may have moved (a max)
                self.family.check_dt(params, self.dt)
        check_param_shapes(params, tuple(x.shape[1:]), 1, tuple(x.shape), "[T, B, *neurons]")

    def run(self, x: Tensor, state: S | None = None, record: bool = False) -> ScanResult[S]:
        """Run over ``x [T, B, ...]``; with ``record`` the result holds the state trace.

        Checked once per call, before any step: ``x``, ``state`` (shapes, finite), the
        learnable values (finite) and the parameter shapes against the neuron axes.
        """
        params = self.params()
        if isinstance(x, Tensor) and x.dim() >= 2 and x.is_floating_point():
            if x.dim() == 2:
                t, b = x.shape
                warn_plausibility(
                    f"x of shape {tuple(x.shape)} has no neuron axis: "
                    f"{type(self).__name__}.forward reads it as [T, B] = {t} steps of a batch of "
                    f"{b} samples with one neuron each. If it is one step of a batch [B, F], "
                    f"call .step(x) or pass x.unsqueeze(0) ([1, B, F]); if [T, B] is meant, "
                    f"pass x.unsqueeze(-1) ([T, B, 1])"
                )
            self._check_params(params, x)
        elif self.learn:
            check_all_finite(self._learned(params), type(self).__name__)
        if not record and isinstance(x, Tensor):
            kernel = select(self.family.name, self.backend, params, x)
            if kernel is not None:
                try:
                    fused: ScanResult[S] = kernel.run(x, state, params, self.dt)
                except ValueError as err:
                    # the compiled kernels test x's finiteness as they read it and raise a plain
                    # ValueError: name the count and raise NonFiniteError as the reference does
                    if not isinstance(err, AxonalError) and not all_finite((x,)):
                        check_sequence(x, "x")
                    raise
                return fused
        elif record and self.backend not in ("auto", "reference"):
            raise ValueError(
                f"record=True needs the reference loop; backend={self.backend!r} keeps no trace"
            )
        result: ScanResult[S] = multi_step(
            self.family.step, self.family.initial_state, x, state, params, self.dt, record
        )
        return result

    def forward(self, x: Tensor, state: S | None = None) -> tuple[Tensor, S]:
        result = self.run(x, state)
        return result.out, result.state

    def step(self, x: Tensor, state: S | None = None) -> tuple[Tensor, S]:
        """One step on ``x [B, ...]`` (for closed-loop use).

        Checks ``x``, ``state`` and the learnable values with one synchronisation (and the
        parameter shapes, in Python), so a loop of steps stays cheap.
        """
        params = self.params()
        check_step_inputs(x, state, self._learned(params), type(self).__name__)
        check_param_shapes(params, tuple(x.shape), 1, tuple(x.shape), "[B, *neurons]")
        return self._step(x, state, params)

    def _step(self, x: Tensor, state: S | None, params: P | None = None) -> tuple[Tensor, S]:
        """:meth:`step` without its checks, for loops whose caller checked the inputs once
        (:class:`~axonal.nn.Recurrent`)."""
        if params is None:
            params = self.params()
        if state is None:
            state = self.family.initial_state(x, params)
        out, new_state = self.family.step(x, state, params, self.dt)
        return out, new_state

    def extra_repr(self) -> str:
        learn = f", learn={self.learn}" if self.learn else ""
        backend = f", backend={self.backend!r}" if self.backend != "auto" else ""
        return f"{self.base_params!r}, dt={self.dt:g}{learn}{backend}"


def _validate_after_load(module: nn.Module, incompatible_keys: Any) -> None:
    if isinstance(module, NeuronLayer):
        module.validate()
