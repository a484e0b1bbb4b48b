"""The declared facets of every registered family, checked through the registry: parameter
rules (one validator), discretisations, the NIR mapping and the fused spec."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
import torch

from axonal.functional.neurons import (
    FamilyParams,
    NeuronFamily,
    Rule,
    family_for_nir,
    family_names,
    get_family,
    param,
    param_rules,
    register_family,
    replace_unchecked,
    validate_params,
)

FAMILIES = family_names()

# A value each rule rejects, and the exception it raises.
BAD: dict[Rule, tuple[Any, type[Exception]]] = {
    Rule.FINITE: (math.nan, ValueError),
    Rule.POSITIVE: (0.0, ValueError),
    Rule.NEGATIVE: (0.0, ValueError),
    Rule.NON_NEGATIVE: (-1.0, ValueError),
    Rule.NON_NEGATIVE_FLOAT: (torch.tensor(0.5), ValueError),
    Rule.BOOL: (1, TypeError),
    Rule.RESET: ("zero", TypeError),
    Rule.SURROGATE: ("fast_sigmoid", TypeError),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_field_declares_a_rule_that_the_one_validator_enforces(name: str) -> None:
    family = get_family(name)
    assert issubclass(family.params_type, FamilyParams)
    default = family.params_type()
    rules = family.constraints
    assert set(rules) == {f.name for f in dataclasses.fields(family.params_type)}
    validate_params(default)  # the defaults are valid
    for field, (rule, _) in rules.items():
        value, error = BAD[rule]
        with pytest.raises(error, match=field):
            dataclasses.replace(default, **{field: value})


@pytest.mark.parametrize("name", [n for n in FAMILIES if get_family(n).params_type.ORDER])
def test_declared_orderings_are_enforced(name: str) -> None:
    family = get_family(name)
    default = family.params_type()
    for low, high in family.params_type.ORDER:
        with pytest.raises(ValueError, match=f"{low} must be below {high}"):
            dataclasses.replace(default, **{low: float(getattr(default, high)) + 1.0})
        with pytest.raises(ValueError, match=f"{low} must be below {high}"):  # tensors too
            above = torch.tensor([float(getattr(default, high)) - 1.0, float(getattr(default, high))])
            dataclasses.replace(default, **{low: above})


def test_positive_fields_are_the_declared_positive_rules() -> None:
    assert get_family("lif").positive == ("tau_mem",)
    assert get_family("cuba_li").positive == ("tau_syn", "tau_mem")
    assert get_family("adex").positive == ("c_mem", "g_leak", "delta_t", "tau_w")
    assert get_family("integrator").positive == ()


def test_replace_unchecked_skips_validation_and_keeps_the_original() -> None:
    p = get_family("lif").params_type()
    q = replace_unchecked(p, {"tau_mem": -1.0})
    assert q.tau_mem == -1.0 and p.tau_mem == 10e-3
    with pytest.raises(ValueError, match="tau_mem must be > 0"):
        validate_params(q)


def test_a_field_without_a_rule_is_refused_at_registration() -> None:
    @dataclasses.dataclass(frozen=True)
    class Bad(FamilyParams):
        ok: float = param(1.0, Rule.FINITE)
        missing: float = 2.0

    with pytest.raises(TypeError, match="Bad.missing declares no Rule"):
        param_rules(Bad)
    lif = get_family("lif")
    family: NeuronFamily[Any, Any] = NeuronFamily(
        "bad_family", Bad, lif.state_type, lif.step, lif.initial_state
    )
    with pytest.raises(TypeError, match="declares no Rule"):
        register_family(family)
    assert "bad_family" not in family_names()


@pytest.mark.parametrize("name", FAMILIES)
def test_every_discretisation_runs_and_the_reference_is_first(name: str) -> None:
    family = get_family(name)
    steps = family.steps()
    assert next(iter(steps)) == family.method and steps[family.method] is family.step
    x = torch.full((2, 3), 0.5, dtype=torch.float64)
    params = family.params_type()
    for disc, step in steps.items():
        out, state = step(x, family.initial_state(x, params), params, 1e-4)
        assert out.shape == x.shape and type(state) is family.state_type, disc
        assert family.stepper(disc) is step
    with pytest.raises(ValueError, match="no 'nope' discretisation"):
        family.stepper("nope")


NIR_FAMILIES = [n for n in FAMILIES if get_family(n).nir is not None]


def test_nir_kinds_map_back_to_their_family() -> None:
    assert {get_family(n).nir.kind for n in NIR_FAMILIES} == {  # type: ignore[union-attr]
        "LIF", "IF", "LI", "CubaLIF", "CubaLI", "I"
    }
    for name in NIR_FAMILIES:
        family = get_family(name)
        assert family_for_nir(family.nir.kind) is family  # type: ignore[union-attr]
        # NIR imports both discretisations
        assert {"exact", "euler"} <= set(family.steps())
    assert family_for_nir("Threshold") is None


@pytest.mark.parametrize("name", NIR_FAMILIES)
def test_nir_mapping_inverts(name: str) -> None:
    """Export then import gives back the same parameters (IF: through ``r / tau_mem``, with
    the import's fixed ``tau_mem = 1 s``, the same dynamics)."""
    family = get_family(name)
    mapping = family.nir
    assert mapping is not None
    numeric = [f for f, (rule, _) in family.constraints.items() if rule in (Rule.FINITE, Rule.POSITIVE)]
    values = {f: 0.5 + 0.25 * i for i, f in enumerate(numeric)}
    if "v_reset" in values:
        values["v_reset"] = -1.0
    params = family.params_type(**values)
    node = mapping.to_node(params)
    back = family.params_type(**mapping.constants, **{ours: node[theirs] for ours, theirs in mapping.from_node.items()})
    x = torch.linspace(-1.0, 3.0, 6, dtype=torch.float64).reshape(2, 3)
    state = family.initial_state(x, params)
    out_a, _ = family.step(x, state, params, 1e-3)
    out_b, _ = family.step(x, state, back, 1e-3)
    torch.testing.assert_close(out_a, out_b, rtol=1e-12, atol=1e-12)
    for ours in mapping.from_node:
        if ours not in mapping.constants and name != "if":
            assert getattr(back, ours) == getattr(params, ours)


@pytest.mark.parametrize("name", [n for n in FAMILIES if get_family(n).fused is not None])
def test_fused_spec_coefficients_are_computed_from_params_and_dt(name: str) -> None:
    family = get_family(name)
    spec = family.fused
    assert spec is not None
    params = family.params_type()
    assert set(spec.states) <= set(family.state_type._fields)
    assert set(spec.differentiable) <= set(spec.coefficients)
    assert set(spec.fixed) <= set(family.constraints)
    for coefficient in spec.coefficients.values():
        value = coefficient(params, 1e-3)
        assert math.isfinite(float(value))
    assert spec.coefficients["alpha"](params, 1e-3) == pytest.approx(math.exp(-1e-3 / params.tau_mem))
