"""axonal.events.transforms against tonic 1.7 on a real event-camera recording.

Input: ``sample.aedat4`` (tonic's test fixture: a DVXplorer, 320x240, 111,954 events over
0.59 s; see ``shared/data/event_samples/SOURCE.md``), read with ``axonal.events.read_events``
when axonal has it, else with the PyPI ``aedat`` package (2.3.0). Both libraries get the same
array (axonal's 16-byte record; tonic accepts any structured array with x, y, t, p).

For each transform, ``--repeats`` interleaved rounds (axonal then tonic, the order flipping
every round) each time one call on the whole recording; reported: the median per call
(``--clock cpu``, the default: this thread's CPU time, which leaves out the time other
processes hold the core; ``--clock wall``: elapsed) and tonic / axonal. The tonic side is the
transform class a tonic user calls (``tonic.transforms.ToFrame(...)(events)``); the random
ones run with probability 1, and each of their timings is the mean of 10 calls (a random
crop's work depends on the window drawn). Before timing, the outputs of the deterministic transforms are
compared (``same``: equal; frames compared after tonic's int16 -> float32; time surface and
voxel grid to 1e-5).

The batched row bins the recording cut into 32 consecutive samples of equal event count
(like a batch of N-MNIST-sized samples): axonal's ``frames_batch`` against tonic's
``ToFrame`` per sample then ``tonic.collation.PadTensors(batch_first=False)``.

Usage:  python benchmarks/event_transforms.py [--data sample.aedat4] [--repeats 7] [--clock cpu|wall] [--out FILE]
Needs tonic (``pip install --no-deps tonic==1.7.0 importRosbag`` plus ``requests``, which
tonic imports without declaring it; or the ``bench`` extra). The load average is printed
before and after: measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import axonal.events as events_mod
from axonal.events import make_events
from axonal.events import transforms as T



def default_sample() -> Path:
    """``$AXONAL_DATA/event_samples/sample.aedat4``, else ``../shared/data/...`` next to the checkout."""
    rel = Path("event_samples") / "sample.aedat4"
    if os.environ.get("AXONAL_DATA"):
        return Path(os.environ["AXONAL_DATA"]) / rel
    return Path(__file__).resolve().parents[2] / "shared" / "data" / rel

SENSOR = (320, 240, 2)
RANDOM_CALLS = 10
"""Calls per timing of a random transform (each draws its own crop, events, noise: the work
varies from call to call; the mean of 10 is timed, then the median of those is reported)."""


def load(path: Path) -> tuple[np.ndarray, str]:
    reader = getattr(events_mod, "read_events", None)
    if reader is not None:
        result = reader(path)
        if isinstance(result, tuple):  # (events, metadata...) if the reader returns more
            result = result[0]
        ev = events_mod.as_events(result)
        return ev[np.argsort(ev["t"], kind="stable")], "axonal.events.read_events"
    import aedat  # PyPI aedat 2.3.0, for this benchmark only

    parts = [p["events"] for p in aedat.Decoder(str(path)) if "events" in p]
    raw = np.concatenate(parts)
    ev = make_events(raw["x"], raw["y"], raw["t"].astype(np.int64), raw["on"].astype(np.int8))
    order = np.argsort(ev["t"], kind="stable")
    return ev[order], "aedat 2.3.0"


def cases(ev: np.ndarray) -> list[tuple[str, Callable[[], Any], Callable[[], Any], str]]:
    """(name, axonal call, tonic call, comparison) per transform."""
    import tonic.transforms as tt
    from tonic.collation import PadTensors

    S = SENSOR
    rng = np.random.default_rng(0)
    chunks = np.array_split(ev, 32)
    pad = PadTensors(batch_first=False)

    def tonic_batch() -> Any:
        to_frame = tt.ToFrame(S, n_time_bins=10)
        return pad([(to_frame(c), 0) for c in chunks])[0]

    return [
        ("to_frames time_window=10 ms", lambda: T.to_frames(ev, S, time_window=10e-3),
         lambda: tt.ToFrame(S, time_window=10_000)(ev), "equal"),
        ("to_frames time_window=10 ms, overlap=5 ms", lambda: T.to_frames(ev, S, time_window=10e-3, overlap=5e-3),
         lambda: tt.ToFrame(S, time_window=10_000, overlap=5_000)(ev), "equal"),
        ("to_frames n_time_bins=20", lambda: T.to_frames(ev, S, n_time_bins=20),
         lambda: tt.ToFrame(S, n_time_bins=20)(ev), "equal"),
        ("to_frames event_count=5000, overlap=1000", lambda: T.to_frames(ev, S, event_count=5000, overlap=1000),
         lambda: tt.ToFrame(S, event_count=5000, overlap=1000)(ev), "equal"),
        ("frames_batch 32 samples, n_time_bins=10", lambda: T.frames_batch(chunks, S, n_time_bins=10),
         tonic_batch, "equal"),
        ("to_time_surface dt=10 ms, tau=5 ms", lambda: T.to_time_surface(ev, S, 5e-3, dt=10e-3),
         lambda: tt.ToTimesurface(S, dt=10_000, tau=5_000)(ev), "close"),
        ("to_voxel_grid 10 bins", lambda: T.to_voxel_grid(ev, S, 10),
         lambda: tt.ToVoxelGrid(S, n_time_bins=10)(ev), "close"),
        ("denoise 10 ms", lambda: T.denoise(ev, 10e-3), lambda: tt.Denoise(filter_time=10_000)(ev), "equal"),
        ("refractory 1 ms", lambda: T.refractory(ev, 1e-3), lambda: tt.RefractoryPeriod(delta=1_000)(ev), "equal"),
        ("downsample spatial 0.5", lambda: T.downsample(ev, spatial_factor=0.5),
         lambda: tt.Downsample(spatial_factor=0.5)(ev), "equal"),
        ("spatial_downsample to 80x60", lambda: T.spatial_downsample(ev, S, (80, 60)),
         lambda: tt.Downsample(sensor_size=S, target_size=(80, 60))(ev), "equal"),
        ("spatial_jitter sigma=1 px, clip", lambda: T.spatial_jitter(ev, S, 1.0, rng=rng),
         lambda: tt.SpatialJitter(S, var_x=1, var_y=1, clip_outliers=True)(ev), "random"),
        ("time_jitter std=1 ms, sorted", lambda: T.time_jitter(ev, 1e-3, rng=rng),
         lambda: tt.TimeJitter(std=1_000, clip_negative=True, sort_timestamps=True)(ev), "random"),
        ("flip_lr", lambda: T.flip_lr(ev, S), lambda: tt.RandomFlipLR(S, p=1.0)(ev), "equal"),
        ("flip_ud", lambda: T.flip_ud(ev, S), lambda: tt.RandomFlipUD(S, p=1.0)(ev), "equal"),
        ("flip_polarity", lambda: T.flip_polarity(ev), lambda: tt.RandomFlipPolarity(p=1.0)(ev), "equal"),
        ("time_reverse", lambda: T.time_reverse(ev), lambda: tt.RandomTimeReversal(p=1.0)(ev), "equal"),
        ("random_crop 160x120", lambda: T.random_crop(ev, S, (160, 120), rng=rng),
         lambda: tt.RandomCrop(S, (160, 120))(ev), "random"),
        ("center_crop 160x120", lambda: T.center_crop(ev, S, (160, 120)),
         lambda: tt.CenterCrop(S, (160, 120))(ev), "equal"),
        ("drop_events p=0.2", lambda: T.drop_events(ev, 0.2, rng=rng), lambda: tt.DropEvent(p=0.2)(ev), "random"),
        ("time_skew x1.1 + 100 us", lambda: T.time_skew(ev, 1.1, 100e-6),
         lambda: tt.TimeSkew(coefficient=1.1, offset=100)(ev), "random"),
        ("uniform_noise n=10000", lambda: T.uniform_noise(ev, S, 10_000, rng=rng),
         lambda: tt.UniformNoise(S, n=10_000)(ev), "random"),
    ]


def compare(a: Any, b: Any, how: str) -> str:
    if how == "random":
        return "(random)"
    if isinstance(a, torch.Tensor):
        a_np = a.numpy()
        b_np = b.numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
        if a_np.shape != b_np.shape:
            return f"shape {tuple(a_np.shape)} vs {tuple(b_np.shape)}"
        if how == "equal":
            return "same" if np.array_equal(a_np, b_np.astype(np.float32)) else "DIFFERENT"
        return "same" if np.allclose(a_np, b_np, rtol=1e-5, atol=1e-6) else "DIFFERENT"
    fields = ("x", "y", "p", "t")
    if a.shape != b.shape:
        return f"{a.shape[0]} vs {b.shape[0]} events"
    same = all(np.array_equal(a[f].astype(np.int64), b[f].astype(np.int64)) for f in fields)
    return "same" if same else "DIFFERENT"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--only", default="", help="run the rows whose name contains this text")
    parser.add_argument("--data", type=Path, default=None,
                        help="the AEDAT4 file (default: $AXONAL_DATA/event_samples/sample.aedat4 or "
                             "../shared/data/event_samples/sample.aedat4)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.repeats < 7:
        parser.error("--repeats must be >= 7 (medians of at least 7)")
    import tonic

    torch.set_num_threads(1)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    path = args.data or default_sample()
    if not path.is_file():
        parser.error(f"{path} not found: pass --data PATH to sample.aedat4")
    ev, reader = load(path)
    load_before = os.getloadavg()
    print(f"{ev.size} events, {SENSOR[0]}x{SENSOR[1]}, {(ev['t'][-1] - ev['t'][0]) / 1e6:.3f} s (read with {reader}); "
          f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    np.random.seed(0)
    rows = []
    for name, ours, theirs, how in cases(ev):
        if args.only and args.only not in name:
            continue
        check = compare(ours(), theirs(), how)
        times: dict[str, list[float]] = {"axonal": [], "tonic": []}
        inner = RANDOM_CALLS if how == "random" else 1
        for r in range(args.repeats):
            order = [("axonal", ours), ("tonic", theirs)]
            if r % 2:
                order.reverse()
            for who, fn in order:
                start = clock()
                for _ in range(inner):
                    fn()
                times[who].append((clock() - start) / inner)
        a = statistics.median(times["axonal"]) * 1e3
        b = statistics.median(times["tonic"]) * 1e3
        load1 = os.getloadavg()[0]
        rows.append((name, a, b, b / a, check, load1))
        print(f"{name:44s} axonal {a:9.3f} ms  tonic {b:9.3f} ms  tonic/axonal {b / a:8.1f}x  {check}  "
              f"(load {load1:.2f})", flush=True)
    load_after = os.getloadavg()
    header = (f"{ev.size} events ({SENSOR[0]}x{SENSOR[1]}, {(ev['t'][-1] - ev['t'][0]) / 1e6:.3f} s, "
              f"sample.aedat4 read with {reader}); median of {args.repeats} interleaved calls, {args.clock} time, "
              f"1 thread; load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
              f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} cores); "
              f"tonic {tonic.__version__}, numpy {np.__version__}, torch {torch.__version__}, "
              f"Python {platform.python_version()}")
    lines = [header, "",
             "| transform | axonal (ms) | tonic (ms) | tonic / axonal | output | 1-min load |",
             "|---|---:|---:|---:|---|---:|"]
    lines += [f"| {n} | {a:.3f} | {b:.3f} | {r:.1f}x | {c} | {l:.2f} |" for n, a, b, r, c, l in rows]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
