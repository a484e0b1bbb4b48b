"""Real NIR graphs from other libraries, run in axonal (needs ../shared/data and `nir`).

1. cnn_sinabs.nir (exported by Sinabs) on the 100 N-MNIST test recordings 60001-60100, read
   from their event files and binned into 1 ms frames (tonic ToFrame(time_window=1000 us)),
   network state carried across bins; class = most output spikes (ties: lowest index).
   Sinabs' IF is discrete (``v += x`` per step) and NIR's IF is ``dv/dt = r x`` with r = 1,
   so the graph's time unit is one step: it is imported with dt = 1.0.
2. lif_norse.nir driven by the input column of reference_outputs/lif_exact.csv at
   dt = 1e-4 s: spike times against the exact (event-based) solution and the other simulators.

Usage: python benchmarks/nir_real_graphs.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from axonal.data.events import events_to_frames, read_label_list
from axonal.events import read_nmnist
from axonal.interop import read_nir


def default_data() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def cnn_accuracy(
    data: Path, discretisation: str = "exact", limit: int | None = None, batch: int = 25
) -> tuple[float, int, list[int], list[int]]:
    """Accuracy of cnn_sinabs.nir on the first ``limit`` (default all 100) test recordings."""
    model = read_nir(data / "nir" / "cnn_sinabs.nir", dt=1.0, discretisation=discretisation)  # type: ignore[arg-type]
    labels = read_label_list(data / "nmnist_small" / "test100.txt")
    samples = list(labels)[:limit]
    pred: list[int] = []
    for i in range(0, len(samples), batch):
        chunk = samples[i : i + batch]
        frames = [events_to_frames(read_nmnist(data / "nmnist_small" / f"{k}.bs2")) for k in chunk]
        steps = max(f.shape[0] for f in frames)
        x = torch.zeros(steps, len(frames), 2, 34, 34)  # shorter recordings padded with empty bins
        for b, f in enumerate(frames):
            x[: f.shape[0], b] = f
        with torch.no_grad():
            out, _ = model(x)
        pred += out.sum(0).argmax(1).tolist()
    truth = [labels[k] for k in samples]
    correct = sum(int(p == t) for p, t in zip(pred, truth))
    return correct / len(truth), len(truth), pred, truth


def lif_spike_check(data: Path, discretisation: str = "exact") -> dict[str, object]:
    ref = np.loadtxt(data / "nir" / "reference_outputs" / "lif_exact.csv", delimiter=",")
    model = read_nir(data / "nir" / "lif_norse.nir", dt=1e-4, discretisation=discretisation)  # type: ignore[arg-type]
    x = torch.as_tensor(ref[:, 0], dtype=torch.float32).reshape(-1, 1, 1)
    with torch.no_grad():
        z, _ = model(x)
    ours = np.flatnonzero(z.reshape(-1).numpy())
    result: dict[str, object] = {"axonal": ours.tolist()}
    for name in ("exact", "norse", "snntorch", "rockpool", "sinabs"):
        other = np.loadtxt(data / "nir" / "reference_outputs" / f"lif_{name}.csv", delimiter=",")
        result[name] = np.flatnonzero(other[:, 2]).tolist()
    exact = np.asarray(result["exact"])
    result["max_step_error"] = int(np.abs(ours - exact).max()) if ours.size == exact.size else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    args = parser.parse_args()
    torch.manual_seed(0)
    for disc in ("exact", "euler"):
        spikes = lif_spike_check(args.data, disc)
        print(f"lif_norse.nir ({disc}): spike steps {spikes['axonal']}; exact solution {spikes['exact']}; "
              f"max |step error| {spikes['max_step_error']}")
    print("  other simulators:", {k: spikes[k] for k in ("norse", "snntorch", "rockpool", "sinabs")})
    start = time.perf_counter()
    acc, n, pred, truth = cnn_accuracy(args.data)
    seconds = time.perf_counter() - start
    wrong = [(i + 60001, t, p) for i, (p, t) in enumerate(zip(pred, truth)) if p != t]
    print(f"cnn_sinabs.nir on N-MNIST test 60001-60100: accuracy {acc * 100:.1f}% ({n} recordings, {seconds:.1f} s)")
    print(f"  misclassified (sample, label, predicted): {wrong}")
    ref = args.data / "nir" / "reference_outputs"
    others = {f.stem.split("_")[2]: round(float(np.load(f)), 4) for f in sorted(ref.glob("cnn_nmnist_*_accuracy.npy"))}
    print(f"  other platforms on the full test set: {others}")


if __name__ == "__main__":
    main()
