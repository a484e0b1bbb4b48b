"""Graphs exported by Sinabs, Norse, Rockpool and snnTorch (skipped without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from axonal.data.events import events_to_frames, read_label_list  # noqa: E402
from axonal.events import read_nmnist  # noqa: E402
from axonal.interop import read_nir, write_nir  # noqa: E402
from axonal.nn import Sequential  # noqa: E402

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
NIR_DIR = DATA / "nir"
pytestmark = pytest.mark.skipif(not NIR_DIR.is_dir(), reason="../shared/data/nir is absent")


@pytest.mark.parametrize("disc", ["exact", "euler"])
def test_norse_lif_reproduces_the_exact_spike_times_within_one_step(disc: str) -> None:
    ref = np.loadtxt(NIR_DIR / "reference_outputs" / "lif_exact.csv", delimiter=",")
    net = read_nir(NIR_DIR / "lif_norse.nir", dt=1e-4, discretisation=disc)  # type: ignore[arg-type]
    x = torch.as_tensor(ref[:, 0], dtype=torch.float32).reshape(-1, 1, 1)
    with torch.no_grad():
        z, _ = net(x)
    ours = np.flatnonzero(z.reshape(-1).numpy())
    exact = np.flatnonzero(ref[:, 2])
    assert exact.size == 4 and ours.size == exact.size
    assert np.abs(ours - exact).max() <= 1


def test_sinabs_cnn_classifies_real_nmnist_recordings() -> None:
    """First 20 of the 100 test recordings here (the full 100: benchmarks/nir_real_graphs.py)."""
    folder = DATA / "nmnist_small"
    labels = read_label_list(folder / "test100.txt")
    samples = list(labels)[:20]
    net = read_nir(NIR_DIR / "cnn_sinabs.nir", dt=1.0)  # Sinabs' IF: one step is one time unit
    frames = [events_to_frames(read_nmnist(folder / f"{k}.bs2")) for k in samples]
    x = torch.zeros(max(f.shape[0] for f in frames), len(frames), 2, 34, 34)
    for b, f in enumerate(frames):
        x[: f.shape[0], b] = f
    with torch.no_grad():
        out, _ = net(x)
    pred = out.sum(0).argmax(1)
    truth = torch.tensor([labels[k] for k in samples])
    assert float((pred == truth).float().mean()) >= 0.95


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_snntorch_recurrent_braille_graphs_import_with_their_cycle(name: str) -> None:
    graph = read_nir(NIR_DIR / f"{name}.nir", dt=1e-4, discretisation="euler", as_graph=True)
    assert graph.back_edges == {("lif1.w_rec", "lif1.lif")}
    net = read_nir(NIR_DIR / f"{name}.nir", dt=1e-4, discretisation="euler")
    # a chain with one recurrence: ordinary layers, the recurrent CubaLIF (w_in as a Scale) in a Recurrent
    assert isinstance(net, Sequential) and [type(m).__name__ for m in net.layers] == [
        "Linear", "Recurrent", "Linear", "Scale", "EulerCubaLIF"
    ]
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(200, 4, 12, generator=gen) < 0.3).float()
    with torch.no_grad():
        z, state = net(x)
        zg, gstate = graph(x)
    assert z.shape == (200, 4, 7)
    assert set(torch.unique(z).tolist()) <= {0.0, 1.0}
    assert z.sum() > 0 and torch.equal(z, zg)
    assert "lif1.w_rec" in gstate["prev"]


def test_two_lif_and_rockpool_graphs_run() -> None:
    two = read_nir(NIR_DIR / "two_lif_neurons.nir", dt=1e-4)
    z, _ = two(torch.zeros(500, 1, 1))
    assert z.shape == (500, 1, 1)
    # lif1 has v_leak = 1.2 > v_threshold = 1: it fires on its own and drives lif2's membrane
    assert isinstance(two, Sequential)
    assert two.initial_state(torch.zeros(1, 1))[1].v.item() == pytest.approx(1.2)
    graph = read_nir(NIR_DIR / "two_lif_neurons.nir", dt=1e-4, as_graph=True)
    assert graph.initial_state(torch.zeros(1, 1))["nodes"]["lif1"].v.item() == pytest.approx(1.2)
    assert torch.equal(graph(torch.zeros(500, 1, 1))[0], z)
    rock = read_nir(NIR_DIR / "lif_rockpool.nir", dt=1e-4)  # its Output declares [1, 1, 1]
    ref = np.loadtxt(NIR_DIR / "reference_outputs" / "lif_exact.csv", delimiter=",")
    z, _ = rock(torch.as_tensor(ref[:, 0], dtype=torch.float32).reshape(-1, 1, 1))
    assert int(z.sum()) >= 1


@pytest.mark.parametrize("name", ["cnn_sinabs", "lif_norse", "braille_noDelay_bias_zero"])
def test_real_chains_import_as_layers_that_match_the_graph_and_export_again(name: str, tmp_path: Path) -> None:
    dt = 1.0 if name == "cnn_sinabs" else 1e-4
    net = read_nir(NIR_DIR / f"{name}.nir", dt=dt)
    graph = read_nir(NIR_DIR / f"{name}.nir", dt=dt, as_graph=True)
    assert isinstance(net, Sequential)
    shape = graph.input_shape
    gen = torch.Generator().manual_seed(3)
    x = (torch.rand(12, 2, *shape, generator=gen) < 0.3).float()
    with torch.no_grad():
        out = net(x)[0]
        assert torch.equal(out, graph(x)[0])
        # export the imported layers and import them again: the same outputs
        again = read_nir(_written(tmp_path, net, shape), dt=dt)
        assert torch.equal(again(x)[0], out)


def _written(tmp_path: Path, model: torch.nn.Module, shape: tuple[int, ...]) -> Path:
    path = tmp_path / "again.nir"
    write_nir(path, model, shape)
    return path
