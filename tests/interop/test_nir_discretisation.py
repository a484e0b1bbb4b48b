"""The two discretisations of NIR's continuous-time nodes (exact and forward Euler), with dt."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from axonal.functional.neurons.family import ResetMode  # noqa: E402
from axonal.functional.neurons.cuba_li import CubaLIParams, cuba_li_initial_state, cuba_li_step  # noqa: E402
from axonal.functional.neurons.cuba_lif import CubaLIFParams, cuba_lif_initial_state  # noqa: E402
from axonal.functional.neurons.euler import (  # noqa: E402
    cuba_li_euler_step,
    cuba_lif_euler_step,
    li_euler_step,
    lif_euler_step,
)
from axonal.functional.neurons.li import LIParams, li_initial_state, li_step  # noqa: E402
from axonal.functional.neurons.lif import LIFParams, lif_initial_state  # noqa: E402
from axonal.interop import from_nir  # noqa: E402


def _lif_graph(tau: float = 2.5e-3, r: float = 1.0, v_th: float = 0.1, v_leak: float = 0.0) -> object:
    a = lambda v: np.array([v], dtype=np.float32)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1])}),
        "lif": nir.LIF(tau=a(tau), r=a(r), v_leak=a(v_leak), v_threshold=a(v_th), v_reset=a(0.0)),
        "output": nir.Output(output_type={"output": np.array([1])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=[("input", "lif"), ("lif", "output")], type_check=False)


def test_lif_euler_step_is_the_forward_euler_formula() -> None:
    p = LIFParams(tau_mem=4e-3, r=2.0, v_leak=0.5, v_th=10.0, reset=ResetMode.ZERO)
    x = torch.tensor([[1.0, -0.5]])
    state = lif_initial_state(x, p)
    v = state.v.clone()
    for _ in range(3):
        _, state = lif_euler_step(x, state, p, 1e-3)
        v = v + 0.25 * ((0.5 - v) + 2.0 * x)
        torch.testing.assert_close(state.v, v)


def test_lif_euler_rejects_a_refractory_period() -> None:
    p = LIFParams(t_ref=2e-3)
    x = torch.zeros(1, 1)
    with pytest.raises(ValueError, match="t_ref"):
        lif_euler_step(x, lif_initial_state(x, p), p, 1e-3)


def test_cuba_euler_updates_the_synapse_first() -> None:
    dt, ts, tm, r = 1e-3, 4e-3, 8e-3, 3.0
    p = CubaLIFParams(tau_syn=ts, tau_mem=tm, r=r, v_th=100.0)
    x = torch.ones(1, 1)
    z, s = cuba_lif_euler_step(x, cuba_lif_initial_state(x, p), p, dt)
    i1 = dt / ts
    assert float(s.i) == pytest.approx(i1)
    assert float(s.v) == pytest.approx(dt / tm * r * i1)  # zero if the membrane went first
    q = CubaLIParams(tau_syn=ts, tau_mem=tm, r=r)
    v, s2 = cuba_li_euler_step(x, cuba_li_initial_state(x, q), q, dt)
    assert float(v) == pytest.approx(float(s.v)) and float(s2.i) == pytest.approx(i1)


@pytest.mark.parametrize("which", ["li", "cuba_li"])
def test_euler_converges_to_the_exact_solution_as_dt_shrinks(which: str) -> None:
    x = torch.ones(1, 1)
    horizon = 10e-3

    def run(dt: float, exact: bool) -> float:
        if which == "li":
            p = LIParams(tau_mem=5e-3, r=2.0)
            step = li_step if exact else li_euler_step
            s = li_initial_state(x, p)
        else:
            p = CubaLIParams(tau_syn=3e-3, tau_mem=5e-3, r=2.0)  # type: ignore[assignment]
            step = cuba_li_step if exact else cuba_li_euler_step
            s = cuba_li_initial_state(x, p)  # type: ignore[arg-type]
        for _ in range(round(horizon / dt)):
            v, s = step(x, s, p, dt)
        return float(v)

    exact = run(1e-3, True)
    if which == "li":
        assert exact == pytest.approx(2.0 * (1 - math.exp(-2.0)), rel=1e-6)
    assert run(1e-4, True) == pytest.approx(exact, rel=1e-6)  # exact: independent of dt
    err_coarse = abs(run(1e-3, False) - exact)
    err_fine = abs(run(1e-5, False) - exact)
    assert err_coarse > 1e-2 * abs(exact)  # the two schemes really differ at dt = 1 ms
    assert err_fine < err_coarse / 50  # first order: 100x smaller step, ~100x smaller error


def test_imported_lif_follows_the_chosen_discretisation() -> None:
    graph = _lif_graph(tau=2e-3, r=1.0, v_th=5.0)
    x = torch.full((4, 1, 1), 2.0)
    dt = 1e-3
    a = math.exp(-dt / 2e-3)
    v = 0.0
    want_exact, want_euler = [], []
    ve = 0.0
    for _ in range(4):
        v = 2.0 + (v - 2.0) * a
        ve = ve + 0.5 * (2.0 - ve)
        want_exact.append(v)
        want_euler.append(ve)
    for disc, want in (("exact", want_exact), ("euler", want_euler)):
        for as_graph in (False, True):
            net = from_nir(graph, dt=dt, discretisation=disc, as_graph=as_graph)  # type: ignore[arg-type]
            state = net.initial_state(x[0])
            got = []
            for t in range(4):
                _, state = net.step(x[t], state)
                got.append(float(_lif_v(state)))
            assert got == pytest.approx(want, rel=1e-5), (disc, as_graph)


def _lif_v(state: object) -> torch.Tensor:
    """The membrane of the graph's only neuron: the GraphModule's node ``lif`` or the chain's
    only layer (from_nir builds ``Sequential(LIF)``)."""
    if isinstance(state, dict):
        return state["nodes"]["lif"].v
    assert isinstance(state, tuple) and len(state) == 1
    return state[0].v


def test_imported_lif_resets_to_v_reset_and_spikes_strictly_above_threshold() -> None:
    for as_graph in (False, True):
        net = from_nir(_lif_graph(tau=1.0, r=1.0, v_th=0.1), dt=1.0, discretisation="euler", as_graph=as_graph)
        # Euler with dt = tau: v <- r x exactly; x = 0.1 is not above threshold, 0.2 is
        z, state = net(torch.tensor([0.1, 0.2, 0.0]).reshape(3, 1, 1))
        assert z.reshape(-1).tolist() == [0.0, 1.0, 0.0]
        assert float(_lif_v(state)) == 0.0


def test_delay_node_shifts_each_element_by_its_own_number_of_steps() -> None:
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "d": nir.Delay(delay=np.array([0.0, 1e-3, 3e-3])),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "d"), ("d", "output")], type_check=False)
    x = torch.arange(1.0, 6.0).reshape(5, 1, 1).expand(5, 1, 3).contiguous()
    for as_graph in (False, True):
        net = from_nir(graph, dt=1e-3, as_graph=as_graph)
        y, _ = net(x)
        assert y[:, 0, 0].tolist() == [1, 2, 3, 4, 5]
        assert y[:, 0, 1].tolist() == [0, 1, 2, 3, 4]
        assert y[:, 0, 2].tolist() == [0, 0, 0, 1, 2]
    with pytest.raises(ValueError, match=r"node 'd' \(Delay\).*not whole steps of dt=0.002"):
        from_nir(graph, dt=2e-3)
