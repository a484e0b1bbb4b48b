"""The fused kernels and event-driven inference against Brian2's refractory traces.

The traces are the ones ``tests/functional/neurons/test_refractory_brian2.py`` holds the
reference steps, the layers and the simulator to (``tests/data/reference/refractory_<family>
.npz``, made by ``tests/data/reference/make_refractory.py``: single Brian2 neurons, random
parameters, random per-step input, ``t_ref`` also off the step grid, hard and subtractive
reset). Here every compiled path that runs a refractory period is held to them, for the
families it runs: the fused CPU kernels (``backend="cpp"``), the Triton kernels on CUDA, and
the event-driven network (LIF). Spike steps identical; voltages (and the second state
variable) within 1e-9 of their unit, every sample where the path can run step by step.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import axonal.nn as ann
from axonal.functional.neurons import ResetMode, get_family
from axonal.kernels import get_kernel
from axonal.nn.event import EventNetwork, sparse_kernel

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
TOLERANCE = 1e-9
LAYERS: dict[str, type[ann.NeuronLayer[Any, Any]]] = {
    "lif": ann.LIF, "cuba_lif": ann.CubaLIF, "alif": ann.ALIF,
}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_refractory", REFERENCE / "make_refractory.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _load_generator()
FUSED = [f for f in MAKE.FAMILIES if get_family(f).fused is not None]


def _variables(family: str) -> list[str]:
    return ["v"] + ([MAKE.SECOND_STATE[family]] if family in MAKE.SECOND_STATE else [])


def _params(family: str, case: dict[str, Any]) -> Any:
    return get_family(family).params_type(**case["params"], reset=ResetMode[case["reset"]])


def _device_params() -> list[Any]:
    return [pytest.param("cpp", id="cpp"), pytest.param("triton", id="triton", marks=pytest.mark.gpu)]


def _check(where: str, family: str, case: dict[str, Any], spikes: np.ndarray,
           state: Any, traces: dict[str, np.ndarray] | None = None) -> None:
    assert case["spikes"].size >= 8, where  # the case exercises many refractory periods
    np.testing.assert_array_equal(spikes, case["spikes"], err_msg=where)
    for name in _variables(family):
        final = float(getattr(state, name).reshape(-1)[0])
        assert abs(final - case[name][-1]) <= TOLERANCE, (where, name, final - case[name][-1])
        if traces is not None:
            err = np.abs(traces[name] - case[name]).max()
            assert err <= TOLERANCE, (where, name, err)


def test_the_fused_families_are_covered() -> None:
    assert set(FUSED) == {"lif", "cuba_lif", "alif"} == set(LAYERS)


@pytest.mark.parametrize("backend", _device_params())
@pytest.mark.parametrize("family", FUSED)
def test_fused_kernel_matches_brian2(family: str, backend: str) -> None:
    """One forward over each whole case (spikes, final state); on CPU the first case also one
    step per call from the returned state (every sample; the countdown crosses the calls)."""
    device = "cuda" if backend == "triton" else "cpu"
    kernel = get_kernel(family, backend, device)
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    if kernel is None or not kernel.available():
        pytest.skip(f"backend {backend} not available here")
    for k, case in enumerate(MAKE.load(family)):
        where = f"{family} case {k} on {backend} (t_ref = {case['params']['t_ref']:g} s)"
        layer = LAYERS[family](_params(family, case), dt=case["dt"], backend=backend)
        xs = torch.tensor(case["x"], dtype=torch.float64, device=device).reshape(-1, 1, 1)
        with torch.no_grad():
            out, state = layer(xs)
        spikes = np.nonzero(out.reshape(-1).cpu().numpy() > 0)[0]
        _check(where, family, case, spikes, state)
        if backend != "cpp" or k > 0:
            continue
        state = layer.initial_state(xs[0])
        names = _variables(family)
        traces = {n: [float(getattr(state, n))] for n in names}
        steps = []
        with torch.no_grad():
            for t in range(xs.shape[0]):
                z, state = layer(xs[t : t + 1], state)
                if float(z) > 0:
                    steps.append(t)
                for n in names:
                    traces[n].append(float(getattr(state, n)))
        _check(where + ", step by step", family, case, np.array(steps, dtype=np.int64), state,
               {n: np.array(v) for n, v in traces.items()})


@pytest.mark.skipif(sparse_kernel() is None, reason="the sparse C++ extension cannot be built here")
def test_event_network_matches_brian2() -> None:
    """The event-driven network runs each LIF case exactly: input ``t`` fires at step ``t``
    only, and its weight is the case's current of that step (0 + x[t] is exact)."""
    for k, case in enumerate(MAKE.load("lif")):
        where = f"lif case {k} event-driven (t_ref = {case['params']['t_ref']:g} s)"
        x = torch.tensor(case["x"], dtype=torch.float64)
        steps = x.shape[0]
        linear = nn.Linear(steps, 1, bias=False).to(torch.float64)
        with torch.no_grad():
            linear.weight.copy_(x.reshape(1, -1))
        lif = ann.LIF(_params("lif", case), dt=case["dt"], backend="reference")
        event = EventNetwork(ann.Sequential(linear, lif).eval())
        one_hot = torch.eye(steps, dtype=torch.float64).reshape(steps, 1, steps)
        with torch.no_grad():
            assert event._event_forward(one_hot, None) is not None  # the compiled path runs
            out, state = event(one_hot)
        spikes = np.nonzero(out.reshape(-1).numpy() > 0)[0]
        _check(where, "lif", case, spikes, state[1])
