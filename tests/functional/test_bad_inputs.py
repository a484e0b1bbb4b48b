"""Issue 13 (items 2 and 7) for the core: every bad input to a public entry point of
``axonal.functional`` gets a clear error naming the tensor, and a valid but implausible value
(a likely unit mistake) a ``PlausibilityWarning`` pointing at the caller's line.

The tables below are the rows of the docs table of bad inputs (kind | entry point | error).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Callable

import pytest
import torch

from axonal.errors import NonFiniteError, PlausibilityWarning
from axonal.functional import decode, encode
from axonal.functional import plasticity as P
from axonal.functional.neurons import (
    ADEX_FAMILY,
    IZHIKEVICH_FAMILY,
    LIF_FAMILY,
    AdExParams,
    CubaLIFParams,
    CubaLIFState,
    IzhikevichParams,
    LIFParams,
    LIFState,
    families,
    cuba_lif_multi_step,
    lif_multi_step,
    lif_step,
    validate_params,
)
from axonal.functional.scan import scan
from axonal.functional.synapses import exp_synapse_step

NAN, INF = math.nan, math.inf
T, B, N = 6, 2, 4
X = torch.rand(T, B, N)


def _with(value: float, shape: tuple[int, ...] = (B, N), at: tuple[int, ...] = (1, 2)) -> torch.Tensor:
    """Zeros of ``shape`` with ``value`` at one entry."""
    t = torch.zeros(shape)
    t[at] = value
    return t


def _lif_state(v: torch.Tensor | None = None, refractory: torch.Tensor | None = None) -> LIFState:
    return LIFState(
        v=torch.zeros(B, N) if v is None else v,
        refractory=torch.zeros(B, N) if refractory is None else refractory,
    )


def _stdp_state(pre: torch.Tensor | None = None) -> P.STDPState:
    return P.STDPState(torch.zeros(B, 3) if pre is None else pre, torch.zeros(B, N))


_SPIKES_PRE, _SPIKES_POST = torch.ones(B, 3), torch.ones(B, N)
_MULT = P.STDPParams(dependence=P.WeightDependence.MULTIPLICATIVE)
_RSTDP = P.RSTDPParams()
_RSTDP_STATE = P.rstdp_initial_state(_SPIKES_PRE, _SPIKES_POST, (N, 3))

# (kind of bad input, entry point, call, error type, message pattern)
ERRORS: list[tuple[str, str, Callable[[], Any], type[Exception], str]] = [
    ("NaN in a state", "lif_multi_step (NeuronFamily.multi_step)",
     lambda: lif_multi_step(X, _lif_state(v=_with(NAN)), LIFParams(), 1e-3),
     NonFiniteError, r"^state\.v of LIF contains NaN at 1 of 8 entries$"),
    ("inf in a state", "scan",
     lambda: scan(lif_step, X, _lif_state(refractory=_with(INF)), LIFParams(), 1e-3),
     NonFiniteError, r"^state\.refractory of LIF contains inf at 1 of 8 entries$"),
    ("NaN in a state", "cuba_lif_multi_step",
     lambda: cuba_lif_multi_step(
         X, CubaLIFState(*(_with(NAN) if i == 0 else torch.zeros(B, N) for i in range(len(CubaLIFState._fields)))),
         CubaLIFParams(), 1e-3),
     NonFiniteError, rf"^state\.{CubaLIFState._fields[0]} of CubaLIF contains NaN at 1 of 8"),
    ("NaN in a state", "NeuronFamily.single_step",
     lambda: LIF_FAMILY.single_step(X[0], _lif_state(v=_with(NAN)), LIFParams(), 1e-3),
     NonFiniteError, r"^state\.v of LIF contains NaN at 1 of 8 entries$"),
    ("NaN in the input", "NeuronFamily.single_step",
     lambda: LIF_FAMILY.single_step(_with(NAN), None, LIFParams(), 1e-3),
     NonFiniteError, r"^x contains inf or nan \(NaN at 1 of 8 entries\)"),
    ("negative dt", "NeuronFamily.single_step",
     lambda: LIF_FAMILY.single_step(X[0], None, LIFParams(), -1e-3),
     ValueError, r"dt must be finite and > 0 s, got -0\.001 \(a step of negative length"),
    ("zero dt", "NeuronFamily.single_step",
     lambda: LIF_FAMILY.single_step(X[0], None, LIFParams(), 0.0),
     ValueError, r"dt must be finite and > 0 s, got 0\.0 \(a step of zero length"),
    ("NaN dt", "NeuronFamily.single_step",
     lambda: LIF_FAMILY.single_step(X[0], None, LIFParams(), NAN),
     NonFiniteError, r"dt must be finite and > 0 s, got nan"),
    ("negative dt", "lif_multi_step",
     lambda: lif_multi_step(X, None, LIFParams(), -1e-3), ValueError, r"dt must be finite and > 0 s"),
    ("dt above the family's stability limit", "izhikevich_multi_step (its check_dt refuses)",
     lambda: IZHIKEVICH_FAMILY.multi_step(X, None, IzhikevichParams(), 2e-3),
     ValueError, r"dt must be <= 0\.001 s for the Izhikevich model"),
    ("dt above the family's stability limit", "NeuronFamily.single_step (AdEx)",
     lambda: ADEX_FAMILY.single_step(X[0], None, AdExParams(), 0.2),
     ValueError, r"dt must be < the membrane time constant"),
    ("NaN in a parameter", "LIFParams(...)",
     lambda: LIFParams(tau_mem=torch.tensor([1e-2, NAN, 1e-2, 1e-2])),
     NonFiniteError, r"tau_mem must be finite, got a tensor with NaN at 1 of 4 entries"),
    ("inf in a parameter", "LIFParams(...)",
     lambda: LIFParams(v_th=INF), NonFiniteError, r"v_th must be finite, got inf"),
    ("per-step parameter shape that grows the state", "lif_multi_step",
     lambda: lif_multi_step(X, None, LIFParams(v_th=torch.ones(3, 1, 1)), 1e-3),
     ValueError, r"LIFParams\.v_th has shape \(3, 1, 1\), which does not broadcast to the input "
                 r"\(per-step input shape \(2, 4\) of x \(6, 2, 4\)\)"),
    ("parameter shape that does not broadcast", "NeuronFamily.single_step",
     lambda: LIF_FAMILY.single_step(X[0], None, LIFParams(tau_mem=torch.full((5,), 1e-2)), 1e-3),
     ValueError, r"LIFParams\.tau_mem has shape \(5,\), which does not broadcast"),
    ("NaN in a trace", "stdp_step",
     lambda: P.stdp_step(_SPIKES_PRE, _SPIKES_POST, _stdp_state(_with(NAN, (B, 3))), P.STDPParams(), 1e-3),
     NonFiniteError, r"^state\.pre of stdp_step contains NaN at 1 of 6 entries$"),
    ("NaN in the spikes", "stdp_step",
     lambda: P.stdp_step(_with(NAN, (B, 3)), _SPIKES_POST, _stdp_state(), P.STDPParams(), 1e-3),
     NonFiniteError, r"^pre_spikes of stdp_step contains NaN at 1 of 6 entries$"),
    ("inf in the weight (multiplicative rule)", "stdp_step",
     lambda: P.stdp_step(_SPIKES_PRE, _SPIKES_POST, _stdp_state(), _MULT, 1e-3, _with(INF, (N, 3))),
     NonFiniteError, r"^weight of stdp_step contains inf at 1 of 12 entries$"),
    ("NaN in the spikes, any step", "stdp_multi_step",
     lambda: P.stdp_multi_step(_with(NAN, (T, B, 3), (5, 1, 2)), torch.ones(T, B, N), _stdp_state(),
                               P.STDPParams(), 1e-3),
     NonFiniteError, r"^pre_spikes of stdp_multi_step contains NaN at 1 of 36 entries$"),
    ("inf in a trace", "triplet_step",
     lambda: P.triplet_step(_SPIKES_PRE, _SPIKES_POST,
                            P.triplet_initial_state(_SPIKES_PRE, _SPIKES_POST)._replace(o2=_with(INF)),
                            P.TripletParams(), 1e-3),
     NonFiniteError, r"^state\.o2 of triplet_step contains inf at 1 of 8 entries$"),
    ("NaN in the eligibility", "rstdp_step",
     lambda: P.rstdp_step(_SPIKES_PRE, _SPIKES_POST,
                          _RSTDP_STATE._replace(eligibility=_with(NAN, (B, N, 3), (0, 0, 0))), _RSTDP, 1e-3),
     NonFiniteError, r"^state\.eligibility of rstdp_step contains NaN at 1 of 24 entries$"),
    ("NaN reward", "reward_dw",
     lambda: P.reward_dw(_RSTDP_STATE, torch.tensor([1.0, NAN]), _RSTDP),
     NonFiniteError, r"^reward of reward_dw contains NaN at 1 of 2 entries$"),
    ("NaN threshold state", "adaptive_threshold_step",
     lambda: P.adaptive_threshold_step(_with(NAN), torch.zeros(B, N), P.ThresholdParams(), 1e-3),
     NonFiniteError, r"^theta of adaptive_threshold_step contains NaN"),
    ("inf in the weight", "normalise_weights",
     lambda: P.normalise_weights(_with(INF, (N, 3)), 1.0),
     NonFiniteError, r"^weight of normalise_weights contains inf at 1 of 12 entries$"),
    ("NaN in a synaptic state", "exp_synapse_step",
     lambda: exp_synapse_step(_with(NAN, (N,), (2,)), torch.zeros(N), 5e-3, 1e-3),
     NonFiniteError, r"^g of exp_synapse_step contains NaN at 1 of 4 entries$"),
    ("negative dt", "exp_synapse_step",
     lambda: exp_synapse_step(torch.zeros(N), torch.zeros(N), 5e-3, -1e-3), ValueError, r"dt must be"),
    ("NaN in the data", "encode.rate",
     lambda: encode.rate(_with(NAN), 5), NonFiniteError, r"x must be finite, got a tensor with NaN at 1 of 8"),
    ("inf in the output", "decode.membrane_max",
     lambda: decode.membrane_max(_with(INF, (T, B, N), (0, 0, 0))), NonFiniteError,
     r"v contains inf or nan \(inf at 1 of 48 entries\)"),
]


@pytest.mark.parametrize(
    ("kind", "entry", "call", "error", "pattern"), ERRORS, ids=[f"{k} -> {e}" for k, e, *_ in ERRORS]
)
def test_bad_input_gets_a_clear_error(
    kind: str, entry: str, call: Callable[[], Any], error: type[Exception], pattern: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)  # an error case warns about nothing
        with pytest.raises(error, match=pattern) as info:
            call()
    assert isinstance(info.value, ValueError)  # callers that catch ValueError keep working


# (kind of implausible value, entry point, call, message pattern)
WARNINGS: list[tuple[str, str, Callable[[], Any], str]] = [
    ("time constant of 10 s (ms typed as s)", "LIFParams(...)",
     lambda: LIFParams(tau_mem=10.0), r"^LIFParams\.tau_mem = 10 s: a time of 10 s or more is most likely milliseconds"),
    ("time constant below 10 us", "CubaLIFParams(...)",
     lambda: CubaLIFParams(tau_syn=5e-6), r"^CubaLIFParams\.tau_syn = 5e-06 s: a time below 10 us"),
    ("refractory period of 10 s", "LIFParams(...)",
     lambda: LIFParams(t_ref=20.0), r"^LIFParams\.t_ref = 20 s"),
    ("threshold of 1000 mV", "LIFParams(...)",
     lambda: LIFParams(v_th=1000.0), r"^LIFParams\.v_th = 1000 mV: a voltage of magnitude 1000 mV or more"),
    ("per-neuron voltage of -1500 mV", "dataclasses.replace",
     lambda: dataclasses.replace(LIFParams(), v_reset=torch.tensor([0.0, -1500.0])),
     r"^LIFParams\.v_reset holds 1500 mV"),
    ("voltage in mV of a paper-unit family", "IzhikevichParams(...)",
     lambda: IzhikevichParams(v_peak=3000.0), r"^IzhikevichParams\.v_peak = 3000 mV"),
    ("resistance of 1e5 MOhm (ohm typed as MOhm)", "LIFParams(...)",
     lambda: LIFParams(r=1e8), r"^LIFParams\.r = 1e\+08 MOhm: a resistance of 100000 MOhm or more"),
    ("dt of 10 ms for a 1 ms neuron", "lif_multi_step",
     lambda: lif_multi_step(X, None, LIFParams(tau_mem=1e-3), 10e-3),
     r"^dt = 0\.01 s is larger than LIFParams\.tau_mem = 0\.001 s, the smallest time constant"),
    ("dt larger than a time constant", "NeuronFamily.single_step",
     lambda: LIF_FAMILY.single_step(X[0], None, LIFParams(tau_mem=1e-3), 2e-3), r"^dt = 0\.002 s is larger"),
]


@pytest.mark.parametrize(("kind", "entry", "call", "pattern"), WARNINGS, ids=[f"{k} -> {e}" for k, e, *_ in WARNINGS])
def test_implausible_value_warns_at_the_callers_line(
    kind: str, entry: str, call: Callable[[], Any], pattern: str
) -> None:
    with pytest.warns(PlausibilityWarning, match=pattern) as record:
        call()
    assert len(record) == 1
    assert record[0].filename == __file__  # attributed to the user's line, not to axonal


def test_plausibility_reads_each_fields_declared_unit() -> None:
    """pF, nS, pA, 1/ms... are not voltages: AdEx's capacitance or jump of 1500 does not warn,
    its voltage of 1500 mV does; zero (a disabled refractory period) is not a time."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        AdExParams(c_mem=1500.0, b=1500.0, g_leak=1500.0)
        IzhikevichParams(d=2000.0)
        LIFParams(t_ref=0.0)
    with pytest.warns(PlausibilityWarning, match=r"AdExParams\.v_peak = 1500 mV"):
        AdExParams(v_peak=1500.0)


def test_defaults_of_every_family_are_plausible() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        for family in families():
            params = family.params_type()
            validate_params(params)
            family.validate_dt(params, 1e-4)


def test_plausibility_warnings_can_be_silenced() -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=PlausibilityWarning)
        LIFParams(tau_mem=10.0, v_th=5000.0)
    assert record == []


def test_finiteness_check_survives_an_overflowing_sum() -> None:
    """The one-sum test of finiteness falls back to the elementwise test when the sum of finite
    values overflows, so large finite states still run."""
    big = torch.full((B, N), 3e38)
    out = lif_multi_step(torch.zeros(T, B, N), _lif_state(v=big), LIFParams(), 1e-3)
    assert out.out.shape == (T, B, N)
