"""axonal <-> snnTorch 1.0.0 / Norse 1.1.0 through NIR (skipped when they are absent).

Both libraries import NIR with forward Euler (CubaLIF: synapse first); snnTorch fixes
dt = 1e-4 s, Norse takes ``dt`` (default 1e-3 s). So axonal's side uses
``discretisation="euler"`` with the same ``dt``. Where the other library departs from NIR's
equations, a strict xfail names the defect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from axonal.functional.neurons.family import ResetMode  # noqa: E402
from axonal.interop import from_nir, to_nir  # noqa: E402
from axonal.nn import LIF, CubaLIF, Sequential  # noqa: E402

DT = 1e-4  # snnTorch's fixed import step
ZERO = ResetMode.ZERO


def _input(n_in: int, steps: int = 80, scale: float = 0.6) -> torch.Tensor:
    return torch.rand(steps, 3, n_in, generator=torch.Generator().manual_seed(2)) * scale


def _run_stepwise(net: Any, x: torch.Tensor) -> torch.Tensor:
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = net(x[t]) if state is None else net(x[t], state)
            outs.append(y)
    return torch.stack(outs)


def _lif_model(tau: float, r: float) -> Sequential:
    torch.manual_seed(0)
    return Sequential(nn.Linear(4, 6), LIF(tau_mem=tau, r=r, v_th=1.0, reset=ZERO, dt=DT))


def _axonal_euler(graph: Any, x: torch.Tensor, dt: float = DT) -> torch.Tensor:
    with torch.no_grad():
        return from_nir(graph, dt=dt, discretisation="euler")(x)[0]


# ----------------------------------------------------------------------------- snnTorch


def test_axonal_lif_runs_identically_in_snntorch() -> None:
    si = pytest.importorskip("snntorch.import_nir")
    tau = 5e-3
    graph = to_nir(_lif_model(tau, r=tau / DT), (4,))  # snnTorch requires r = tau / dt
    x = _input(4)
    theirs = _run_stepwise(si.import_from_nir(graph), x)
    ours = _axonal_euler(graph, x)
    assert ours.sum() > 10
    assert torch.equal(theirs, ours)


def _snntorch_net() -> tuple[nn.Module, Any]:
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    leaky = snn.Leaky(beta=0.95, threshold=1.0, reset_mechanism="zero", init_hidden=True, output=True)
    return nn.Sequential(nn.Linear(4, 6), leaky), leaky


def test_snntorch_exported_leaky_runs_identically_in_axonal() -> None:
    se = pytest.importorskip("snntorch.export_nir")
    net, leaky = _snntorch_net()
    # snnTorch's own node converter (export_to_nir itself fails with nir 1.0.8: see below)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4])}),
        "0": se._extract_snntorch_module(net[0]),
        "1": se._extract_snntorch_module(leaky),
        "output": nir.Output(output_type={"output": np.array([6])}),
    }
    assert type(nodes["1"]).__name__ == "LIF" and float(nodes["1"].tau) == pytest.approx(DT / 0.05)
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "0"), ("0", "1"), ("1", "output")], type_check=False)
    x = _input(4)
    theirs = []
    with torch.no_grad():
        leaky.reset_hidden()
        for t in range(x.shape[0]):
            z, _ = net(x[t])
            theirs.append(z)
    ours = _axonal_euler(graph, x)
    assert ours.sum() > 10
    assert torch.equal(torch.stack(theirs), ours)


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="snnTorch 1.0.0 export_to_nir writes 0-d LIF parameters, so nir 1.0.8 type inference rejects Linear -> Leaky",
)
def test_snntorch_export_to_nir_of_linear_leaky() -> None:
    se = pytest.importorskip("snntorch.export_nir")
    net, _ = _snntorch_net()
    se.export_to_nir(net, torch.zeros(1, 4))


# ----------------------------------------------------------------------------- Norse


def _norse(graph: Any, dt: float) -> Any:
    nt = pytest.importorskip("norse.torch")
    return nt.from_nir(graph, dt=dt)


def test_axonal_lif_runs_identically_in_norse() -> None:
    graph = to_nir(_lif_model(5e-3, r=1.0), (4,))  # Norse assumes r = 1
    x = _input(4, scale=30.0)
    theirs = _run_stepwise(_norse(graph, DT), x)
    ours = _axonal_euler(graph, x)
    assert ours.sum() > 10
    assert torch.equal(theirs, ours)


def test_axonal_cuba_lif_runs_identically_in_norse() -> None:
    torch.manual_seed(0)
    model = Sequential(nn.Linear(4, 6), CubaLIF(tau_syn=2e-3, tau_mem=5e-3, r=2.0, v_th=1.0, reset=ZERO, dt=DT))
    graph = to_nir(model, (4,))
    x = _input(4, scale=40.0)
    theirs = _run_stepwise(_norse(graph, DT), x)
    ours = _axonal_euler(graph, x)
    assert ours.sum() > 10
    assert torch.equal(theirs, ours)


@pytest.mark.xfail(strict=True, reason="Norse 1.1.0 from_nir ignores the LIF resistance r (it only logs a warning)")
def test_norse_honours_lif_resistance() -> None:
    graph = to_nir(_lif_model(5e-3, r=3.0), (4,))
    x = _input(4, scale=10.0)
    assert torch.equal(_run_stepwise(_norse(graph, DT), x), _axonal_euler(graph, x))


@pytest.mark.xfail(strict=True, reason="Norse 1.1.0 from_nir ignores v_reset and resets LIF to 0")
def test_norse_honours_v_reset() -> None:
    torch.manual_seed(0)
    model = Sequential(nn.Linear(4, 6), LIF(tau_mem=5e-3, r=1.0, v_th=1.0, v_reset=-0.5, reset=ZERO, dt=DT))
    graph = to_nir(model, (4,))
    x = _input(4, scale=30.0)
    assert torch.equal(_run_stepwise(_norse(graph, DT), x), _axonal_euler(graph, x))


def _recurrent_model(r: float) -> Sequential:
    from axonal.nn import Recurrent

    torch.manual_seed(0)
    return Sequential(nn.Linear(4, 5), Recurrent(LIF(tau_mem=5e-3, r=r, reset=ZERO, dt=DT), nn.Linear(5, 5)))


def test_axonal_recurrent_lif_runs_identically_in_norse() -> None:
    graph = to_nir(_recurrent_model(r=1.0), (4,))
    x = _input(4, scale=30.0)
    ours = _axonal_euler(graph, x)
    assert ours.sum() > 10
    assert torch.equal(_run_stepwise(_norse(graph, DT), x), ours)


@pytest.mark.xfail(
    strict=True,
    reason="snnTorch 1.0.0 imports the LIF -> Affine cycle as RLeaky, whose spikes differ from the graph "
    "(axonal and Norse agree) from the second step on",
)
def test_snntorch_recurrent_lif_matches() -> None:
    si = pytest.importorskip("snntorch.import_nir")
    graph = to_nir(_recurrent_model(r=5e-3 / DT), (4,))
    x = _input(4)
    assert torch.equal(_run_stepwise(si.import_from_nir(graph), x), _axonal_euler(graph, x))


@pytest.mark.xfail(strict=True, reason="Norse 1.1.0 IAFCell adds the input to v every step (v += x), ignoring dt and r")
def test_norse_if_integrates_with_dt() -> None:
    from axonal.nn import IF

    torch.manual_seed(0)
    graph = to_nir(Sequential(nn.Linear(4, 5), IF(tau_mem=1.0, r=1.0, v_th=0.5, reset=ZERO, dt=DT)), (4,))
    x = _input(4, scale=100.0)
    assert torch.equal(_run_stepwise(_norse(graph, DT), x), _axonal_euler(graph, x))


@pytest.mark.xfail(strict=True, reason="Norse 1.1.0 from_nir has no mapping for LI: the node is not run as a leaky integrator")
def test_norse_runs_li() -> None:
    from axonal.nn import LI

    torch.manual_seed(0)
    graph = to_nir(Sequential(nn.Linear(4, 5), LI(tau_mem=5e-3, r=1.0, dt=DT)), (4,))
    x = _input(4, scale=30.0)
    torch.testing.assert_close(_run_stepwise(_norse(graph, DT), x), _axonal_euler(graph, x))


@pytest.mark.xfail(strict=True, raises=ValueError, reason="snnTorch 1.0.0 import_from_nir has no mapping for LI")
def test_snntorch_imports_li() -> None:
    si = pytest.importorskip("snntorch.import_nir")
    from axonal.nn import LI

    graph = to_nir(Sequential(nn.Linear(4, 5), LI(tau_mem=5e-3, r=1.0, dt=DT)), (4,))
    si.import_from_nir(graph)
