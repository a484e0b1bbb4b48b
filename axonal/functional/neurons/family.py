"""Shared pieces of the neuron families: reset modes, declared parameter rules and their one
validator, decay, the family facets and the family registry.

Units used by every family in this package:

* time in **seconds** (time constants, refractory periods, ``dt``);
* voltage in **millivolts** (mV);
* for the linear families (IF, LIF, CubaLIF, ALIF, LI) the input ``x`` is a current in
  nanoamperes and ``r`` a resistance in megaohms, so ``r * x`` is a voltage in mV
  (with the default ``r = 1`` the input is simply "mV of drive");
* Izhikevich and AdEx keep the units of their papers (stated in their modules).

Every field declares its unit (:func:`param`), and :func:`validate_params` reads it for a
plausibility pass after the rules: a valid value that is most likely typed in the wrong unit
gives a :class:`~axonal.errors.PlausibilityWarning` (see :func:`check_plausible`;
:meth:`NeuronFamily.validate_dt` adds the check of ``dt`` against the time constants). Silence
them with ``warnings.filterwarnings("ignore", category=axonal.errors.PlausibilityWarning)``.
"""

from __future__ import annotations

import copy
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Generic, TypeVar

import torch
from torch import Tensor

from axonal.functional.validate import (
    check_bool,
    check_dt,
    check_finite_scalar,
    check_positive,
    warn_plausibility,
)
from axonal.functional.surrogate import Surrogate
from axonal.functional.scan import ScanResult, check_sequence, check_state, multi_step

__all__ = [
    "ResetMode",
    "Scalar",
    "Rule",
    "param",
    "param_rules",
    "validate_params",
    "check_plausible",
    "check_dt_plausible",
    "plausibility_issues",
    "check_param_shapes",
    "PLAUSIBLE_TIME_S",
    "PLAUSIBLE_VOLTAGE_MV",
    "PLAUSIBLE_RESISTANCE_MOHM",
    "FamilyParams",
    "replace_unchecked",
    "NirMapping",
    "FusedSpec",
    "field_coefficients",
    "NeuronFamily",
    "register_family",
    "get_family",
    "family_names",
    "families",
    "family_for_nir",
    "apply_reset",
    "check_below",
    "reset_to",
    "check_reset",
    "check_bool",
    "check_dt",
    "check_finite_scalar",
    "check_positive",
    "exp_decay",
    "full_like",
]

Scalar = float | Tensor
"""A parameter value: a Python float, or a tensor broadcastable to the neuron shape."""


class ResetMode(enum.Enum):
    """What happens to the membrane after a spike.

    * ``SUBTRACT``: ``v <- v - (v_th - v_reset)`` (keeps the overshoot; "soft" reset).
    * ``ZERO``: ``v <- v_reset`` ("hard" reset; called zero reset because v_reset = 0 by default).
    * ``NONE``: no reset (the threshold only emits spikes).
    """

    SUBTRACT = ("subtract", 0)
    ZERO = ("zero", 1)
    NONE = ("none", 2)

    _value_: str
    code: int
    """The mode's integer code in the compiled kernels (``axonal/csrc/codes.h`` is generated
    from these; never re-encode them elsewhere)."""

    def __new__(cls, value: str, code: int) -> ResetMode:
        member = object.__new__(cls)
        member._value_ = value
        member.code = code
        return member


def check_reset(value: object) -> None:
    """Raise unless ``value`` is a :class:`ResetMode` member."""
    if not isinstance(value, ResetMode):
        raise TypeError(f"reset must be a ResetMode, got {value!r}")


def apply_reset(
    v: Tensor, z: Tensor, v_th: Scalar, v_reset: Scalar, mode: ResetMode, detach: bool
) -> Tensor:
    """Apply ``mode`` to membrane ``v`` where spikes ``z`` (0/1, surrogate-differentiable) fired.

    With ``detach=True`` no gradient flows through the reset (Zenke & Vogels 2021 found this
    helps training); the forward value is the same either way.
    """
    zr = z.detach() if detach else z
    if mode is ResetMode.SUBTRACT:
        return v - zr * (v_th - v_reset)
    if mode is ResetMode.ZERO:
        return reset_to(v, z, v_reset, detach)
    return v


def check_below(low_name: str, low: Scalar, high_name: str, high: Scalar) -> None:
    """Raise ``ValueError`` unless ``low < high`` everywhere (floats or broadcastable tensors)."""
    with torch.no_grad():
        gap = torch.as_tensor(high) - torch.as_tensor(low)
        if not bool((gap > 0).all()):
            raise ValueError(
                f"{low_name} must be below {high_name}, got {low_name}={low!r} "
                f"and {high_name}={high!r}"
            )


def reset_to(v: Tensor, z: Tensor, value: Scalar, detach: bool) -> Tensor:
    """Hard reset: ``value`` where ``z == 1``, ``v`` where ``z == 0``, the blend otherwise.

    The forward value is exact whatever the size of ``v`` (the blend ``v + z (value - v)``
    loses the low digits when ``v`` is far above threshold, as on an exponential or quadratic
    upstroke). The gradient is that of the blend; ``detach`` stops it through ``z``.
    """
    zr = z.detach() if detach else z
    blend = v + zr * (value - v)
    if not zr.requires_grad:
        return torch.where(z == 1, value, blend)
    # zero in the forward pass; carries d(blend)/dz
    fired = torch.as_tensor(value, dtype=v.dtype, device=v.device) + (zr - zr.detach()) * (value - v)
    return torch.where(z == 1, fired, blend)


def exp_decay(dt: float, tau: Scalar) -> Scalar:
    """Per-step decay factor ``exp(-dt / tau)`` for a float or tensor time constant."""
    if isinstance(tau, Tensor):
        return torch.exp(-dt / tau)
    return math.exp(-dt / tau)


def full_like(x: Tensor, value: Scalar) -> Tensor:
    """A tensor shaped like ``x`` filled with ``value`` (float or broadcastable tensor)."""
    if isinstance(value, Tensor):
        return torch.zeros_like(x) + value.to(dtype=x.dtype, device=x.device)
    return torch.full_like(x, float(value))


# --------------------------------------------------------------------------- parameter rules


class Rule(enum.Enum):
    """What a parameter field accepts; declared on the field with :func:`param`.

    * ``FINITE``: a finite float or floating tensor (broadcastable to the neuron shape).
    * ``POSITIVE`` / ``NEGATIVE`` / ``NON_NEGATIVE``: finite and ``> 0`` / ``< 0`` / ``>= 0``.
      Learnable ``POSITIVE`` fields are trained in log space.
    * ``NON_NEGATIVE_FLOAT``: a Python float ``>= 0`` (no tensor; e.g. a refractory period
      that sets the number of skipped steps).
    * ``BOOL``, ``RESET`` (a :class:`ResetMode`), ``SURROGATE`` (a
      :class:`~axonal.functional.surrogate.Surrogate`).
    """

    FINITE = "finite"
    POSITIVE = "positive"
    NEGATIVE = "negative"
    NON_NEGATIVE = "non_negative"
    NON_NEGATIVE_FLOAT = "non_negative_float"
    BOOL = "bool"
    RESET = "reset"
    SURROGATE = "surrogate"


_RULE = "axonal.rule"
_UNIT = "axonal.unit"


def param(default: Any, rule: Rule, unit: str = "") -> Any:
    """A parameter field with its declared :class:`Rule` and unit, e.g.
    ``tau_mem: Scalar = param(10e-3, Rule.POSITIVE, "s")``."""
    return field(default=default, metadata={_RULE: rule, _UNIT: unit})


def _check_sign(name: str, value: Any, unit: str, ok: Callable[[Tensor], Tensor], what: str) -> None:
    check_finite_scalar(name, value)
    with torch.no_grad():
        if not bool(ok(torch.as_tensor(value)).all()):
            shown = f"a tensor with values {value.min()!r}..{value.max()!r}" if isinstance(
                value, Tensor
            ) else repr(value)
            raise ValueError(f"{name} must be {what}{' ' + unit if unit else ''}, got {shown}")


def _check_rule(name: str, value: Any, rule: Rule, unit: str) -> None:
    if rule is Rule.FINITE:
        check_finite_scalar(name, value)
    elif rule is Rule.POSITIVE:
        check_positive(name, value, unit)
    elif rule is Rule.NEGATIVE:
        _check_sign(name, value, unit, lambda t: t < 0, "< 0")
    elif rule is Rule.NON_NEGATIVE:
        _check_sign(name, value, unit, lambda t: t >= 0, ">= 0")
    elif rule is Rule.NON_NEGATIVE_FLOAT:
        check_finite_scalar(name, value)
        if isinstance(value, Tensor) or value < 0:
            raise ValueError(f"{name} must be a float >= 0 {unit}, got {value!r}")
    elif rule is Rule.BOOL:
        check_bool(name, value)
    elif rule is Rule.RESET:
        check_reset(value)
    else:  # Rule.SURROGATE
        if not isinstance(value, Surrogate):
            raise TypeError(f"{name} must be a Surrogate, got {type(value).__name__}")


_RULES: dict[type, Mapping[str, tuple[Rule, str]]] = {}


def param_rules(params_type: type) -> Mapping[str, tuple[Rule, str]]:
    """Field name -> (rule, unit) as declared with :func:`param`, in declaration order
    (computed once per parameter class)."""
    cached = _RULES.get(params_type)
    if cached is not None:
        return cached
    rules: dict[str, tuple[Rule, str]] = {}
    for f in fields(params_type):
        if _RULE not in f.metadata:
            raise TypeError(
                f"{params_type.__name__}.{f.name} declares no Rule; build the field with param()"
            )
        rules[f.name] = (f.metadata[_RULE], f.metadata[_UNIT])
    _RULES[params_type] = MappingProxyType(rules)
    return _RULES[params_type]


def validate_params(params: Any) -> None:
    """The one validator of parameter records: every field against its declared rule, then
    every declared ordering (``ORDER``: pairs ``(low, high)`` that must satisfy ``low < high``),
    then the plausibility of the values by their declared units (:func:`check_plausible`).

    Raises ``TypeError`` / ``ValueError`` (:class:`~axonal.errors.NonFiniteError` for NaN or
    inf) naming the field, what it expects and what came; warns
    :class:`~axonal.errors.PlausibilityWarning` for a likely unit mistake.
    """
    for name, (rule, unit) in param_rules(type(params)).items():
        _check_rule(name, getattr(params, name), rule, unit)
    for low, high in getattr(params, "ORDER", ()):
        check_below(low, getattr(params, low), high, getattr(params, high))
    check_plausible(params)


# --------------------------------------------------------------------------- plausibility

PLAUSIBLE_TIME_S = (10e-6, 10.0)
"""Times (fields declared in ``"s"``) below 10 us or of 10 s and more warn: a time constant of
10 s is most likely milliseconds typed as seconds, one below 10 us a time converted twice.
Zero (a disabled refractory period) is not checked."""

PLAUSIBLE_VOLTAGE_MV = 1000.0
"""Voltages (fields declared in ``"mV"``) of magnitude 1000 mV (1 V) and more warn."""

PLAUSIBLE_RESISTANCE_MOHM = 1e5
"""Resistances (fields declared in ``"MOhm"``) of magnitude 1e5 MOhm (100 GOhm) and more warn:
most likely ohms or kiloohms typed as megaohms."""


def _abs_range(value: Scalar) -> tuple[float, float] | None:
    """(smallest non-zero, largest) magnitude of a float or tensor; ``None`` if all zero."""
    if isinstance(value, Tensor):
        with torch.no_grad():
            a = value.detach().abs()
            nonzero = a[a > 0]
            if nonzero.numel() == 0:
                return None
            return float(nonzero.min()), float(nonzero.max())
    magnitude = abs(float(value))
    return None if magnitude == 0 else (magnitude, magnitude)


def _shown(value: Scalar, extreme: float, unit: str) -> str:
    if isinstance(value, Tensor) and value.numel() > 1:
        return f"holds {extreme:g} {unit}"
    return f"= {extreme:g} {unit}"


def plausibility_issues(params: Any) -> list[str]:
    """What :func:`check_plausible` would warn about, one message per field (empty: none).

    Only numeric fields are read, by their declared unit: ``"s"`` against
    :data:`PLAUSIBLE_TIME_S`, ``"mV"`` against :data:`PLAUSIBLE_VOLTAGE_MV`, ``"MOhm"`` against
    :data:`PLAUSIBLE_RESISTANCE_MOHM`. Fields in other units (pF, nS, pA, 1/ms, rad/s...) are
    not checked.
    """
    owner = type(params).__name__
    issues: list[str] = []
    for name, (rule, unit) in param_rules(type(params)).items():
        if unit not in ("s", "mV", "MOhm"):
            continue
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
            continue
        extremes = _abs_range(value)
        if extremes is None:
            continue
        low, high = extremes
        field_name = f"{owner}.{name}"
        if unit == "s":
            lo_ok, hi_ok = PLAUSIBLE_TIME_S
            if high >= hi_ok:
                issues.append(
                    f"{field_name} {_shown(value, high, 's')}: a time of {hi_ok:g} s or more is "
                    f"most likely milliseconds typed as seconds (times are in seconds: "
                    f"20 ms is 20e-3)"
                )
            elif low < lo_ok:
                issues.append(
                    f"{field_name} {_shown(value, low, 's')}: a time below {lo_ok * 1e6:g} us is "
                    f"most likely a unit mistake (times are in seconds: 20 ms is 20e-3)"
                )
        elif unit == "mV" and high >= PLAUSIBLE_VOLTAGE_MV:
            issues.append(
                f"{field_name} {_shown(value, high, 'mV')}: a voltage of magnitude "
                f"{PLAUSIBLE_VOLTAGE_MV:g} mV or more is most likely a unit mistake (voltages are "
                f"in mV: a -50 mV threshold is -50.0)"
            )
        elif unit == "MOhm" and high >= PLAUSIBLE_RESISTANCE_MOHM:
            issues.append(
                f"{field_name} {_shown(value, high, 'MOhm')}: a resistance of "
                f"{PLAUSIBLE_RESISTANCE_MOHM:g} MOhm or more is most likely ohms or kiloohms "
                f"typed as megaohms (resistances are in MOhm: 100 MOhm is 100.0)"
            )
    return issues


def check_plausible(params: Any) -> None:
    """Warn :class:`~axonal.errors.PlausibilityWarning` for each field whose value is valid but
    most likely in the wrong unit (:func:`plausibility_issues`); the warning points at the
    user's call."""
    for issue in plausibility_issues(params):
        warn_plausibility(issue)


def _time_constants(params: Any) -> list[tuple[str, float]]:
    """(field, smallest value) of every positive time field (declared ``Rule.POSITIVE, "s"``)."""
    out: list[tuple[str, float]] = []
    for name, (rule, unit) in param_rules(type(params)).items():
        if unit != "s" or rule is not Rule.POSITIVE:
            continue
        value = getattr(params, name)
        if isinstance(value, Tensor):
            if value.numel() == 0:
                continue
            with torch.no_grad():
                out.append((name, float(value.detach().min())))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((name, float(value)))
    return out


def check_dt_plausible(params: Any, dt: float) -> None:
    """Warn :class:`~axonal.errors.PlausibilityWarning` when ``dt`` exceeds the smallest time
    constant of ``params`` (e.g. ``dt = 10 ms`` for a ``1 ms`` membrane: one step skips over
    the whole decay, most likely a unit mistake in one of them). Families whose scheme is
    unstable there refuse such a ``dt`` in their own ``check_dt`` first."""
    taus = _time_constants(params)
    if not taus:
        return
    name, tau = min(taus, key=lambda item: item[1])
    if dt > tau * (1.0 + 1e-5):  # the margin: a learned tau stored as log, read back in float32
        warn_plausibility(
            f"dt = {dt:g} s is larger than {type(params).__name__}.{name} = {tau:g} s, the "
            f"smallest time constant: most likely a unit mistake in one of them (both are in "
            f"seconds)"
        )


def check_param_shapes(
    params: Any,
    step_shape: tuple[int, ...],
    batch_axes: int,
    x_shape: tuple[int, ...],
    layout: str,
) -> None:
    """Raise ``ValueError`` unless every tensor parameter fits the per-step input shape.

    A tensor field must broadcast to ``step_shape`` (one step of the input, ``[B, ...]``)
    without growing it (a larger result would silently grow the state beyond the input), and
    must not vary along the first ``batch_axes`` axes of ``step_shape`` (a per-neuron
    parameter that lines up with the batch axis broadcasts silently, but over the samples
    instead of the neurons). The message names the field's shape, the input's shape and how
    the input's axes were read (``layout``, e.g. ``"[T, B, *neurons]"``).
    """
    neurons = tuple(step_shape[batch_axes:])
    for name in param_rules(type(params)):
        value = getattr(params, name)
        if not isinstance(value, Tensor) or value.dim() == 0:
            continue
        shape = tuple(value.shape)
        where = (
            f"x of shape {tuple(x_shape)} read as {layout}, neurons {neurons}"
            if batch_axes else f"per-step input shape {tuple(step_shape)} of x {tuple(x_shape)}"
        )
        try:
            fits = tuple(torch.broadcast_shapes(shape, tuple(step_shape))) == tuple(step_shape)
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"{type(params).__name__}.{name} has shape {shape}, which does not broadcast to "
                f"the {'neurons' if batch_axes else 'input'} ({where}); a per-neuron parameter "
                f"takes the shape of the neuron axes {neurons} (or () for one shared value)"
            )
        offset = len(step_shape) - len(shape)
        for axis in range(batch_axes):
            j = axis - offset
            if j >= 0 and shape[j] != 1:
                raise ValueError(
                    f"{type(params).__name__}.{name} has shape {shape}, which lines up with the "
                    f"batch axis ({where}) and would broadcast over the samples instead of the "
                    f"neurons; a per-neuron parameter takes the shape of the neuron axes "
                    f"{neurons} (or () for one shared value)"
                )


class FamilyParams:
    """Base of the frozen parameter dataclasses: validation comes from the declarations.

    A subclass is a ``@dataclass(frozen=True)`` whose fields are built with :func:`param`;
    ``ORDER`` lists the pairs of fields that must stay strictly ordered (e.g.
    ``(("v_reset", "v_th"),)``). Construction and :func:`dataclasses.replace` validate.
    """

    ORDER: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __post_init__(self) -> None:
        validate_params(self)


FP = TypeVar("FP")


def replace_unchecked(params: FP, values: Mapping[str, Any]) -> FP:
    """A copy of ``params`` with ``values`` set, *without* validation.

    For per-call paths that swap in values that were validated when they were set (the
    learnable fields of a layer); everything else should use :func:`dataclasses.replace`.
    """
    out = copy.copy(params)
    for name, value in values.items():
        object.__setattr__(out, name, value)
    return out


# --------------------------------------------------------------------------- facets

P = TypeVar("P")
S = TypeVar("S", bound=tuple[Tensor, ...])

StepFn = Callable[[Tensor, S, P, float], tuple[Tensor, S]]


@dataclass(frozen=True)
class NirMapping(Generic[P]):
    """How a family maps to a NIR node (plain data and functions: NIR stays optional).

    NIR's equations are continuous-time: the mapping does not depend on ``dt``; the
    discretisation a NIR import asks for (``"exact"`` / ``"euler"``) picks the family's step
    from :attr:`NeuronFamily.discretisations`.

    Attributes:
        kind: NIR node class name, e.g. ``"LIF"``.
        to_node: parameters -> NIR node fields (floats or tensors; the exporter broadcasts
            them to the layer shape), without the reset metadata.
        from_node: parameter field <- NIR node field, for the import.
        constants: parameter fields fixed on import (e.g. IF's ``tau_mem = 1 s``).
        resets: the node has a threshold and a reset (NIR's hard reset is
            :attr:`ResetMode.ZERO`; a subtractive reset is kept in node metadata).
        refuse: what a parameter record has that the NIR node has not (``None``: nothing),
            e.g. ``"refractory period ..."`` (the error reads "NIR's LIF has no ...").
    """

    kind: str
    to_node: Callable[[P], dict[str, Scalar]]
    from_node: Mapping[str, str]
    constants: Mapping[str, Any] = field(default_factory=dict)
    resets: bool = False
    refuse: Callable[[P], str | None] | None = None


@dataclass(frozen=True)
class FusedSpec(Generic[P]):
    """What a fused multi-step kernel of a family takes (``axonal::<name>_forward`` op).

    Attributes:
        states: state fields the kernel carries, in the op's order (the others pass through).
        coefficients: per-step coefficient name -> ``f(params, dt)``, in the op's argument
            order; each is expanded to one value per neuron.
        differentiable: coefficients the backward op returns gradients for, in its order.
        fixed: parameter fields the kernel has no gradient for (a tensor that requires one
            sends the run to the reference loop).
        unsupported: why a parameter record cannot run fused at all (``None``: it can).

    Every kernel also takes the reset mode, ``detach_reset`` and the surrogate (by their
    integer codes) from the parameter record.
    """

    states: tuple[str, ...]
    coefficients: Mapping[str, Callable[[P, float], Scalar]]
    differentiable: tuple[str, ...]
    fixed: tuple[str, ...] = ()
    unsupported: Callable[[P], str | None] | None = None


def field_coefficients(*names: str) -> dict[str, Callable[[Any, float], Scalar]]:
    """Fused-spec coefficients that are parameter fields as they are (``v_th``, ``r``...)."""

    def read(name: str) -> Callable[[Any, float], Scalar]:
        return lambda p, dt: getattr(p, name)  # type: ignore[no-any-return]

    return {name: read(name) for name in names}


@dataclass(frozen=True, eq=False)
class NeuronFamily(Generic[S, P]):
    """Everything generic code needs to run a neuron family: its facets.

    Attributes:
        name: registry key, e.g. ``"lif"``.
        params_type: the frozen parameter dataclass (a :class:`FamilyParams`; its fields
            declare their rules, see :attr:`constraints`).
        state_type: the state NamedTuple.
        step: the reference single-step function ``step(x, state, params, dt) -> (out, state)``.
        initial_state: ``initial_state(x_t, params) -> state`` for a single-step input ``x_t``.
        method: the name of the discretisation ``step`` implements (``"exact"``, ``"euler"``).
        discretisations: the other step functions by name (e.g. ``{"euler": lif_euler_step}``).
        check_dt: optional ``check_dt(params, dt)`` raising ``ValueError`` where the
            integration scheme is unstable for that ``dt``.
        spiking: the step's output is spikes (``False``: the membrane, e.g. a readout).
        nir: the NIR node mapping, or ``None``.
        fused: the fused-kernel spec, or ``None``.
    """

    name: str
    params_type: type[P]
    state_type: type[S]
    step: Callable[[Tensor, S, P, float], tuple[Tensor, S]]
    initial_state: Callable[[Tensor, P], S]
    method: str = "exact"
    discretisations: Mapping[str, Callable[[Tensor, S, P, float], tuple[Tensor, S]]] = field(
        default_factory=dict
    )
    check_dt: Callable[[P, float], None] | None = None
    spiking: bool = True
    nir: NirMapping[P] | None = None
    fused: FusedSpec[P] | None = None

    @property
    def constraints(self) -> Mapping[str, tuple[Rule, str]]:
        """Field -> (rule, unit), as the parameter dataclass declares them."""
        return param_rules(self.params_type)

    @property
    def positive(self) -> tuple[str, ...]:
        """Fields that must stay > 0 (learnable ones are trained in log space)."""
        return tuple(n for n, (rule, _) in self.constraints.items() if rule is Rule.POSITIVE)

    def steps(self) -> dict[str, Callable[[Tensor, S, P, float], tuple[Tensor, S]]]:
        """Every discretisation by name, ``method`` (the reference step) first."""
        return {self.method: self.step, **self.discretisations}

    def stepper(self, discretisation: str | None = None) -> Callable[[Tensor, S, P, float], tuple[Tensor, S]]:
        """The step function of ``discretisation`` (``None``: the reference step)."""
        if discretisation is None:
            return self.step
        steps = self.steps()
        if discretisation not in steps:
            raise ValueError(
                f"family {self.name!r} has no {discretisation!r} discretisation; "
                f"expected one of {sorted(steps)}"
            )
        return steps[discretisation]

    def validate_dt(self, params: P, dt: Any) -> float:
        """Validate ``dt`` for ``params`` and return it as a float: ``dt`` itself
        (:func:`~axonal.functional.validate.check_dt`: finite, > 0), the family's stability
        limit (``check_dt``, which refuses), then the plausibility warning of a ``dt`` larger
        than the smallest time constant (:func:`check_dt_plausible`)."""
        checked = check_dt(dt)
        if self.check_dt is not None:
            self.check_dt(params, checked)
        check_dt_plausible(params, checked)
        return checked

    def multi_step(
        self,
        xs: Tensor,
        state: S | None,
        params: P,
        dt: float,
        record: bool = False,
        discretisation: str | None = None,
    ) -> ScanResult[S]:
        """Run the family over ``xs [T, B, ...]`` (state ``None``: the initial state).

        Validates once, before the loop: ``dt`` (:meth:`validate_dt`), ``xs`` (finite),
        ``state`` (shapes, finite) and the shapes of tensor parameters (they must broadcast to
        one step ``[B, ...]`` without growing it); with ``record`` the result holds the state
        after every step.
        """
        step = self.stepper(discretisation)
        dt = self.validate_dt(params, dt)
        if isinstance(xs, Tensor) and xs.dim() >= 2:
            check_param_shapes(params, tuple(xs.shape[1:]), 0, tuple(xs.shape), "[T, B, ...]")
        return multi_step(step, self.initial_state, xs, state, params, dt, record)

    def single_step(
        self,
        x: Tensor,
        state: S | None,
        params: P,
        dt: float,
        discretisation: str | None = None,
    ) -> tuple[Tensor, S]:
        """One *checked* step on ``x [B, ...]`` (state ``None``: the initial state).

        Validates what :meth:`multi_step` validates (``dt`` > 0 and the family's limit, ``x``
        and ``state`` finite and shaped, parameter shapes), then calls the step. The step
        functions themselves (``family.step``, ``lif_step``...) do not validate: they run
        inside loops that validated once; call this from code that takes one step at a time
        from a user.
        """
        step = self.stepper(discretisation)
        check_sequence(x, "x", min_rank=1)
        dt = self.validate_dt(params, dt)
        check_param_shapes(params, tuple(x.shape), 0, tuple(x.shape), "[B, ...]")
        if state is None:
            state = self.initial_state(x, params)
        else:
            check_state(state, x.shape)
        return step(x, state, params, dt)


_FAMILIES: dict[str, NeuronFamily[Any, Any]] = {}


def register_family(family: NeuronFamily[S, P]) -> NeuronFamily[S, P]:
    """Add a family to the registry (by ``family.name``) and return it.

    Checks the declarations: every parameter field has a rule, the NIR kind and the fused
    spec's names are consistent.
    """
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"a neuron family named {family.name!r} is already registered")
    param_rules(family.params_type)  # raises for a field without a declared rule
    if family.nir is not None:
        other = family_for_nir(family.nir.kind)
        if other is not None and other is not family:
            raise ValueError(f"NIR kind {family.nir.kind!r} is already mapped by {other.name!r}")
    if family.fused is not None:
        states = family.state_type._fields  # type: ignore[attr-defined]
        missing = [s for s in family.fused.states if s not in states]
        extra = [g for g in family.fused.differentiable if g not in family.fused.coefficients]
        if missing or extra:
            raise ValueError(
                f"fused spec of {family.name!r}: unknown states {missing} / coefficients {extra}"
            )
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> NeuronFamily[Any, Any]:
    """Look up a registered family by name."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown neuron family {name!r}; expected one of {family_names()}"
        ) from None


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def families() -> list[NeuronFamily[Any, Any]]:
    """Every registered family, by name."""
    return [_FAMILIES[n] for n in family_names()]


def family_for_nir(kind: str) -> NeuronFamily[Any, Any] | None:
    """The registered family that maps to the NIR node class ``kind``, or ``None``."""
    for family in _FAMILIES.values():
        if family.nir is not None and family.nir.kind == kind:
            return family
    return None
