"""Issue 13 (items 2 and 7) for ``axonal.nn``: states, learnable values, ``dt`` and shapes given
to layers and containers are checked once per call, at the boundary, with errors naming the
tensor; ambiguous or implausible inputs warn. And the checks stay off the per-step path: the
number of checks a forward makes does not grow with the number of steps (fused kernel,
reference loop, containers).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections import Counter
from types import FrameType
from typing import Any, Callable

import pytest
import torch
from torch import nn

import axonal.functional.neurons.family as family_module
import axonal.functional.scan as scan_module
import axonal.functional.validate as validate_module
import axonal.nn as ann
from axonal.errors import NonFiniteError, PlausibilityWarning
from axonal.functional.neurons import LIFState
from axonal.kernels import select
from axonal.kernels.cpu import cpu_available

NAN, INF = math.nan, math.inf
T, B, N = 6, 2, 4
X = torch.rand(T, B, N)


def _with(value: float, shape: tuple[int, ...] = (B, N), at: tuple[int, ...] = (1, 2)) -> torch.Tensor:
    t = torch.zeros(shape)
    t[at] = value
    return t


def _nan_state() -> LIFState:
    return LIFState(v=_with(NAN), refractory=torch.zeros(B, N))


def _nan_learned() -> ann.LIF:
    layer = ann.LIF(learn=("v_th",), shape=(N,))
    with torch.no_grad():
        layer.v_th[1] = NAN
    return layer


def _set_dt(value: float) -> None:
    ann.LIF().dt = value


def _inf_weight_model() -> ann.Sequential:
    linear = nn.Linear(N, N)
    with torch.no_grad():
        linear.weight[0, 0] = INF
    return ann.Sequential(linear, ann.LIF())


# (kind of bad input, entry point, call, error type, message pattern)
ERRORS: list[tuple[str, str, Callable[[], Any], type[Exception], str]] = [
    ("NaN in a state", "NeuronLayer.forward",
     lambda: ann.LIF()(X, _nan_state()), NonFiniteError, r"^state\.v of LIF contains NaN at 1 of 8 entries$"),
    ("NaN in a state", "NeuronLayer.forward, reference loop",
     lambda: ann.LIF(backend="reference")(X, _nan_state()), NonFiniteError, r"^state\.v of LIF contains NaN"),
    ("NaN in a state", "NeuronLayer.step",
     lambda: ann.LIF().step(X[0], _nan_state()), NonFiniteError, r"^state\.v of LIF contains NaN at 1 of 8"),
    ("inf in the input", "NeuronLayer.step",
     lambda: ann.LIF().step(_with(INF)), NonFiniteError, r"^x contains inf or nan \(inf at 1 of 8 entries\)"),
    ("NaN in a learnable parameter", "NeuronLayer.forward",
     lambda: _nan_learned()(X), NonFiniteError, r"^learnable parameter v_th of LIF contains NaN at 1 of 4"),
    ("NaN in a learnable parameter", "NeuronLayer.step",
     lambda: _nan_learned().step(X[0]), NonFiniteError, r"^learnable parameter v_th of LIF contains NaN"),
    ("NaN in a parameter", "NeuronLayer(...)",
     lambda: ann.CubaLIF(tau_syn=NAN), NonFiniteError, r"tau_syn must be finite, got nan"),
    ("negative dt", "NeuronLayer(dt=...)",
     lambda: ann.LIF(dt=-1e-3), ValueError, r"dt must be finite and > 0 s, got -0\.001"),
    ("negative dt", "NeuronLayer.dt = ... (then step)",
     lambda: _set_dt(-1e-3), ValueError, r"dt must be finite and > 0 s, got -0\.001"),
    ("NaN dt", "NeuronLayer.dt = ...", lambda: _set_dt(NAN), NonFiniteError, r"dt must be finite"),
    ("per-neuron parameter of the wrong size", "NeuronLayer.forward",
     lambda: ann.LIF(learn=("v_th",), shape=(5,))(X), ValueError,
     r"LIFParams\.v_th has shape \(5,\), which does not broadcast to the neurons \(x of shape \(6, 2, 4\) "
     r"read as \[T, B, \*neurons\], neurons \(4,\)\)"),
    ("per-neuron parameter that lines up with the batch axis", "NeuronLayer.forward",
     lambda: ann.LIF(tau_mem=torch.full((B, 1), 1e-2))(X), ValueError,
     r"LIFParams\.tau_mem has shape \(2, 1\), which lines up with the batch axis .* neurons \(4,\)"),
    ("parameter that would grow the state", "NeuronLayer.forward",
     lambda: ann.LIF(v_th=torch.ones(3, 1, 1))(X), ValueError, r"LIFParams\.v_th has shape \(3, 1, 1\)"),
    ("per-neuron parameter of the wrong size", "NeuronLayer.step",
     lambda: ann.LIF(learn=("v_th",), shape=(5,)).step(X[0]), ValueError,
     r"v_th has shape \(5,\), which does not broadcast to the neurons"),
    ("NaN in a layer's state", "Sequential.forward",
     lambda: ann.Sequential(nn.Linear(N, N), ann.LIF())(X, (None, _nan_state())), NonFiniteError,
     r"^layer 1 \(LIF\): state\.v of LIF contains NaN at 1 of 8 entries$"),
    ("NaN in a layer's state", "Sequential.step",
     lambda: ann.Sequential(nn.Linear(N, N), ann.LIF()).step(X[0], (None, _nan_state())), NonFiniteError,
     r"^layer 1 \(LIF\): state\.v of LIF contains NaN"),
    ("inf weight in a layer", "Sequential.forward",
     lambda: _inf_weight_model()(X), NonFiniteError, r"^layer 1 \(LIF\): x contains inf or nan"),
    ("NaN in the fed-back state", "Recurrent.forward",
     lambda: ann.Recurrent(ann.LIF(), nn.Linear(N, N))(X, (None, _with(NAN))), NonFiniteError,
     r"^state\[1\] \(the fed-back input\) of Recurrent contains NaN at 1 of 8 entries$"),
    ("NaN in the neuron's state", "Recurrent.forward",
     lambda: ann.Recurrent(ann.LIF(), nn.Linear(N, N))(X, (_nan_state(), torch.zeros(B, N))), NonFiniteError,
     r"^state\.v of LIF contains NaN"),
    ("inf in the line", "Delay.forward",
     lambda: ann.Delay(2e-3, 1e-3)(X, _with(INF, (2, B, N), (0, 0, 0))), NonFiniteError,
     r"^state of Delay contains inf at 1 of 16 entries$"),
]


@pytest.mark.parametrize(
    ("kind", "entry", "call", "error", "pattern"), ERRORS, ids=[f"{k} -> {e}" for k, e, *_ in ERRORS]
)
def test_bad_input_gets_a_clear_error(
    kind: str, entry: str, call: Callable[[], Any], error: type[Exception], pattern: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        with pytest.raises(error, match=pattern):
            call()


# (kind of implausible input, entry point, call, message pattern)
WARNINGS: list[tuple[str, str, Callable[[], Any], str]] = [
    ("[B, F] without a time axis", "NeuronLayer.forward",
     lambda: ann.LIF()(torch.rand(8, N)),
     r"^x of shape \(8, 4\) has no neuron axis: LIF\.forward reads it as \[T, B\] = 8 steps of a batch of 4"),
    ("[B, F] without a time axis", "Sequential.forward",
     lambda: ann.Sequential(ann.LIF())(torch.rand(8, N)), r"^x of shape \(8, 4\) has no neuron axis"),
    ("dt of 10 ms for a 1 ms neuron", "NeuronLayer(...)",
     lambda: ann.LIF(tau_mem=1e-3, dt=10e-3), r"^dt = 0\.01 s is larger than LIFParams\.tau_mem = 0\.001 s"),
    ("time constant of 10 s", "NeuronLayer(...)",
     lambda: ann.ALIF(tau_adapt=12.0), r"^ALIFParams\.tau_adapt = 12 s"),
    ("threshold of 1000 mV", "NeuronLayer(...)",
     lambda: ann.CubaLIF(v_th=1000.0), r"^CubaLIFParams\.v_th = 1000 mV"),
    ("dt assigned larger than a time constant", "NeuronLayer.dt = ...",
     lambda: setattr(ann.LIF(tau_mem=2e-3), "dt", 5e-3), r"^dt = 0\.005 s is larger"),
]


@pytest.mark.parametrize(("kind", "entry", "call", "pattern"), WARNINGS, ids=[f"{k} -> {e}" for k, e, *_ in WARNINGS])
def test_implausible_input_warns_at_the_callers_line(
    kind: str, entry: str, call: Callable[[], Any], pattern: str
) -> None:
    with pytest.warns(PlausibilityWarning, match=pattern) as record:
        call()
    assert len(record) == 1 and record[0].filename == __file__


def test_explicit_layouts_do_not_warn() -> None:
    """The unambiguous spellings the [T, B] warning suggests run silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        x = torch.rand(8, N)
        out, _ = ann.LIF()(x.unsqueeze(0))
        assert out.shape == (1, 8, N)
        out, _ = ann.LIF()(x.unsqueeze(-1))
        assert out.shape == (8, N, 1)
        ann.LIF().step(x)
        ann.LIF(learn=("v_th",), shape=(N,))(X)  # per-neuron values of the neuron axes
        ann.LIF(v_th=torch.ones(1, N))(X)  # a leading 1 is fine


def test_checked_step_and_forward_agree_with_the_unchecked_loop() -> None:
    """Recurrent checks its first step and runs the others unchecked: same result as steps."""
    torch.manual_seed(0)
    rec = ann.Recurrent(ann.LIF(learn=("tau_mem",), shape=(N,)), nn.Linear(N, N))
    out, (state, fed) = rec(X * 3)
    s = None
    outs = []
    for t in range(T):
        z, s = rec.step(X[t] * 3, s)
        outs.append(z)
    assert torch.equal(out, torch.stack(outs))
    assert torch.equal(fed, s[1])


# ------------------------------------------------------------------ no per-step Python check

_WATCHED = {
    validate_module.__file__: None,  # every function of the validators
    scan_module.__file__: ("check_", "_check_"),
    family_module.__file__: ("check_", "_check_", "validate_dt"),
}


def _checks_made(call: Callable[[], Any]) -> Counter[str]:
    """How many times each check function ran during ``call`` (Python-level profile)."""
    counts: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        if code.co_filename in _WATCHED:
            prefixes = _WATCHED[code.co_filename]
            if prefixes is None or code.co_name.startswith(prefixes):
                counts[code.co_name] += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return counts


def _forward(make: Callable[[], nn.Module], steps: int, with_state: bool) -> Callable[[], Any]:
    module = make()
    x = torch.rand(steps, B, N)

    def call() -> Any:
        state = None
        if with_state:
            state = module.initial_state(x[0])  # type: ignore[operator]
        return module(x, state)

    return call


PATHS: list[tuple[str, Callable[[], nn.Module]]] = [
    ("reference loop", lambda: ann.LIF(backend="reference", learn=("tau_mem",), shape=(N,))),
    ("auto (fused where built)", lambda: ann.LIF(learn=("tau_mem", "v_th"), shape=(N,))),
    ("CubaLIF auto", lambda: ann.CubaLIF()),
    ("Sequential", lambda: ann.Sequential(nn.Linear(N, N), ann.LIF(), ann.Delay(1e-3, 1e-3))),
    ("Recurrent", lambda: ann.Recurrent(ann.LIF(learn=("v_th",), shape=(N,)), nn.Linear(N, N))),
]


@pytest.mark.parametrize(("name", "make"), PATHS, ids=[p[0] for p in PATHS])
def test_checks_run_once_per_call_not_per_step(name: str, make: Callable[[], nn.Module]) -> None:
    short = _checks_made(_forward(make, 3, with_state=True))
    long = _checks_made(_forward(make, 40, with_state=True))
    assert short == long, f"checks grew with the number of steps: {short} vs {long}"
    assert short, "the forward checked nothing"
    assert short["check_state"] <= 1  # (Recurrent: its first step checks the neuron's state)


@pytest.mark.skipif(not cpu_available(), reason="fused CPU kernels not built here")
def test_fused_kernel_path_checks_the_state_once() -> None:
    """The kernel benchmark's path (``LIF`` on the fused CPU op): one state check and one check
    of the learnable values per forward, whatever ``T``; the input's finiteness is checked by
    the kernel while it reads it (no Python pass)."""
    layer = ann.LIF(learn=("tau_mem", "v_th"), shape=(N,), backend="cpp")
    assert select("lif", "auto", layer.params(), X) is not None
    for steps in (3, 200):
        x = torch.rand(steps, B, N)
        counts = _checks_made(lambda: layer(x, layer.initial_state(x[0])))
        assert counts["check_state"] == 1, counts
        assert counts["check_all_finite"] == 2, counts  # the state, the learnable values
        assert counts["check_sequence"] == 0, counts  # the kernel tests x as it reads it
    with pytest.raises(NonFiniteError, match=r"^state\.v of LIF contains NaN"):
        layer(X, _nan_state())
