"""Refractory periods of LIF, CubaLIF, ALIF, IF and AdEx against Brian2, on every backend.

The traces (``tests/data/reference/refractory_<family>.npz``) are single Brian2 2.9.0 neurons
(numpy target, float64) with random parameters, random per-step input and a random ``t_ref``
(also off the step grid, where Brian2 truncates ``t_ref / dt``), hard and subtractive reset;
``tests/data/reference/make_refractory.py`` made them and states the conventions. Every
backend in :data:`BACKENDS` must give the same spike steps and voltages within 1e-9 mV (the
other state variables within 1e-9 of their unit) in float64.

Regenerate the traces (Brian2 2.9.0 installed)::

    python tests/data/reference/make_refractory.py          # rewrites the five files
    python tests/data/reference/make_refractory.py --check  # fresh Brian2 run vs stored files

``test_stored_traces_are_brian2s`` reruns Brian2 live on one short case, so the stored files
cannot drift from what the generator makes.

A backend is one entry of :data:`BACKENDS`: a function ``(family, params, x, dt) -> Run`` that
runs one neuron over the per-step input ``x`` (``[T]``, float64) from the family's initial
state. A backend that keeps no trace returns ``traces=None`` and is held to the spikes and the
final state.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, NamedTuple

import numpy as np
import pytest
import torch

import axonal.nn as ann
from axonal.functional.neurons import ResetMode, get_family
from axonal.functional.neurons.refractory import refractory_gate, refractory_steps
from axonal.sim import ArrayCurrent, Network, Population, SpikeMonitor, StateMonitor

GENERATOR = Path(__file__).resolve().parents[2] / "data" / "reference" / "make_refractory.py"
TOLERANCE = 1e-9
"""Largest difference allowed on any sample of any state variable (mV, nA, pA)."""


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_refractory", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _load_generator()
FAMILIES: tuple[str, ...] = MAKE.FAMILIES
CASES = {family: MAKE.load(family) for family in FAMILIES}


class Run(NamedTuple):
    """One backend's run: spike steps, the state variables (``[T + 1]`` samples, sample ``k``
    before the update of step ``k``) or ``None``, and the final state."""

    spikes: np.ndarray
    traces: dict[str, np.ndarray] | None
    final: dict[str, float]


Runner = Callable[[str, Any, torch.Tensor, float], Run]


def variables(family: str) -> list[str]:
    """The state variables compared: ``v`` and the family's second one, if any."""
    return ["v"] + ([MAKE.SECOND_STATE[family]] if family in MAKE.SECOND_STATE else [])


def params_of(family: str, case: dict[str, Any]) -> Any:
    fields = dict(case["params"])
    if family != "adex":
        fields["reset"] = ResetMode[case["reset"]]
    return get_family(family).params_type(**fields)


def run_reference(family: str, params: Any, x: torch.Tensor, dt: float) -> Run:
    """The family's step function in a Python loop."""
    fam = get_family(family)
    state = fam.initial_state(x[:1], params)
    names = variables(family)
    traces: dict[str, list[float]] = {n: [float(getattr(state, n))] for n in names}
    spikes = []
    for k in range(x.shape[0]):
        z, state = fam.step(x[k:k + 1], state, params, dt)
        if float(z) > 0:
            spikes.append(k)
        for n in names:
            traces[n].append(float(getattr(state, n)))
    arrays = {n: np.array(v) for n, v in traces.items()}
    return Run(np.array(spikes, dtype=np.int64), arrays, {n: a[-1] for n, a in arrays.items()})


NN_LAYERS: dict[str, type[ann.NeuronLayer[Any, Any]]] = {
    "lif": ann.LIF, "cuba_lif": ann.CubaLIF, "alif": ann.ALIF, "if": ann.IF, "adex": ann.AdEx,
}


def run_nn(family: str, params: Any, x: torch.Tensor, dt: float) -> Run:
    """The ``axonal.nn`` layer with the reference backend, one forward over ``[T, 1, 1]``."""
    layer = NN_LAYERS[family](params, dt=dt, backend="reference")
    xs = x.reshape(-1, 1, 1)
    result = layer.run(xs, record=True)
    assert result.trace is not None
    initial = layer.initial_state(xs[0])
    arrays = {n: np.concatenate([getattr(initial, n).reshape(1).numpy(),
                                 getattr(result.trace, n).reshape(-1).numpy()])
              for n in variables(family)}
    spikes = np.nonzero(result.out.reshape(-1).numpy() > 0)[0].astype(np.int64)
    return Run(spikes, arrays, {n: a[-1] for n, a in arrays.items()})


def run_sim(family: str, params: Any, x: torch.Tensor, dt: float) -> Run:
    """A one-neuron population of the simulator (float64: the torch loop), the input injected
    as an ``ArrayCurrent``."""
    net = Network(dtype=torch.float64)
    pop = net.add(Population(params, 1, name="p"))
    net.inject(pop, ArrayCurrent(x))
    names = variables(family)
    states = net.add(StateMonitor(pop, names))  # after each step
    spikes = net.add(SpikeMonitor(pop))
    initial = get_family(family).initial_state(torch.zeros(1, dtype=torch.float64), params)
    net.run(x.shape[0] * dt, dt, progress=False)
    arrays = {n: np.concatenate([[float(getattr(initial, n))], states.values(n)[:, 0]])
              for n in names}
    return Run(spikes.steps.astype(np.int64), arrays, {n: a[-1] for n, a in arrays.items()})


BACKENDS: dict[str, Runner] = {
    "reference": run_reference,
    "nn": run_nn,
    "sim": run_sim,
}
"""Backend name -> runner. One line per backend; each is checked on every stored case."""


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("family", FAMILIES)
def test_backend_matches_brian2(family: str, backend: str) -> None:
    runner = BACKENDS[backend]
    for k, case in enumerate(CASES[family]):
        where = f"{family} case {k} on {backend} (t_ref = {case['params']['t_ref']:g} s)"
        params = params_of(family, case)
        x = torch.tensor(case["x"], dtype=torch.float64)
        run = runner(family, params, x, case["dt"])
        assert case["spikes"].size >= 8, where  # the case exercises many refractory periods
        np.testing.assert_array_equal(run.spikes, case["spikes"], err_msg=where)
        for name in variables(family):
            if run.traces is not None:
                err = np.abs(run.traces[name] - case[name]).max()
                assert err <= TOLERANCE, (where, name, err)
            assert abs(run.final[name] - case[name][-1]) <= TOLERANCE, (where, name)


def test_cases_cover_the_rule() -> None:
    """The stored cases hold ``t_ref`` on the grid and off it both ways (where truncating and
    rounding differ), and neurons that fire again soon after their refractory period."""
    fractions = []
    for family in FAMILIES:
        for case in CASES[family]:
            steps = case["params"]["t_ref"] / case["dt"]
            fractions.append(steps - np.floor(steps + 1e-3))
            shortest = int(np.diff(case["spikes"]).min())
            assert shortest < 6 * refractory_steps(case["params"]["t_ref"], case["dt"]) + 60
    fractions_a = np.array(fractions)
    assert (fractions_a < 1e-6).sum() >= 5
    assert (fractions_a > 0.5).sum() >= 10 and ((fractions_a > 0.01) & (fractions_a < 0.5)).sum() >= 5


def test_gate_holds_for_brian2s_truncated_count() -> None:
    """``t_ref = 2.7 dt`` holds the membrane for 2 samples (Brian2), ``3 dt`` for 3, ``0.7 dt``
    for none beyond the reset."""
    dt = 1e-4
    for t_ref, held in ((2.7 * dt, 2), (3 * dt, 3), (0.7 * dt, 1), (2.9995 * dt, 3)):
        refr = torch.tensor([t_ref], dtype=torch.float64)  # just spiked
        steps = 0
        while True:
            v, z, refr = refractory_gate(torch.ones(1), torch.zeros(1), refr, t_ref, dt,
                                         lambda u: torch.zeros_like(u))
            steps += 1
            if float(v) == 1.0:
                break
        assert steps == held == max(refractory_steps(t_ref, dt), 1), (t_ref / dt, steps)


def test_stored_traces_are_brian2s() -> None:
    """Brian2, live, on the first 300 steps of one case (CubaLIF, subtractive reset, t_ref off
    the grid) gives the stored spikes and traces."""
    pytest.importorskip("brian2")
    case = CASES["cuba_lif"][1]
    assert case["reset"] == "SUBTRACT"
    steps = 300
    live = MAKE.simulate("cuba_lif", case, steps=steps)
    stored_spikes = case["spikes"][case["spikes"] < steps]
    assert stored_spikes.size >= 2
    np.testing.assert_array_equal(live["spikes"], stored_spikes)
    for name in ("v", "i"):
        np.testing.assert_allclose(live[name], case[name][:steps + 1], rtol=0, atol=1e-12)
