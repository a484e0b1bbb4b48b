"""The speech recipe's accuracy table: official split over seeds, leave-one-speaker-out folds,
learnable against fixed delays, each run as a fresh ``axonal train speech`` process.

Every run is the command line a user types (``axonal train speech --split ... --seed ...
--delays ... --out DIR --no-progress``, plus ``--speaker`` for one LOSO fold), on one thread;
``--jobs 2`` runs two at a time (one per core of the 2-core machine; each run's training time
is then measured while the other run uses the other core, as stated in the table). The table
(accuracy per run, per speaker, training seconds from each run's ``report.json``) is printed
and written as markdown to ``--output``.

    python benchmarks/speech_table.py --seeds 0 1 2 --loso --delays learn fixed --jobs 2
    (LOSO folds with learnable delays only unless --loso-delays learn fixed)
    python benchmarks/speech_table.py --seeds 0 --delays learn --jobs 1      # one run

Needs the FSDD recordings (``--data``, default: ``$AXONAL_DATA/fsdd`` or ``../shared/data/fsdd``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from statistics import mean
from typing import Any

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def _run(args: list[str], out: Path, log: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "axonal.cli", "train", "speech", *args, "--out", str(out), "--no-progress",
           "--threads", "1"]
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}")
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    report["wall_s"] = wall
    report["command"] = "axonal train speech " + " ".join(args)
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="official-split seeds")
    ap.add_argument("--loso", action="store_true", help="also the six leave-one-speaker-out folds (seed 0)")
    ap.add_argument("--loso-delays", nargs="+", choices=("learn", "fixed", "off"), default=["learn"],
                    help="the --delays choices the LOSO folds run with (default: learn only)")
    ap.add_argument("--delays", nargs="+", choices=("learn", "fixed", "off"), default=["learn"])
    ap.add_argument("--extra", default="", help="more arguments for every run (e.g. '--epochs 40')")
    ap.add_argument("--data", help="FSDD folder")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--work", default="/tmp/axonal-speech-table", help="folder for the runs' outputs")
    ap.add_argument("--output", default="benchmarks/results/speech.md")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    common = args.extra.split() + (["--data", args.data] if args.data else [])
    jobs: list[tuple[str, str, list[str]]] = []
    for delays in args.delays:
        for seed in args.seeds:
            jobs.append((delays, f"official seed {seed}", ["--split", "official", "--seed", str(seed),
                                                           "--delays", delays, *common]))
        if args.loso and delays in args.loso_delays:
            for speaker in SPEAKERS:
                jobs.append((delays, f"loso {speaker}", ["--split", "loso", "--speaker", speaker, "--seed", "0",
                                                         "--delays", delays, *common]))

    def one(job: tuple[str, str, list[str]]) -> tuple[str, str, dict[str, Any]]:
        delays, name, run_args = job
        tag = f"{delays}-{name.replace(' ', '-')}"
        report = _run(run_args, work / tag, work / f"{tag}.log")
        fold = report["folds"][0]
        print(f"{delays:6} {name:22} {fold['accuracy'] * 100:6.2f}%  train {fold['seconds']:.0f} s", flush=True)
        return delays, name, report

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: list[tuple[str, str, dict[str, Any]]] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for done in as_completed([pool.submit(one, job) for job in jobs]):
            results.append(done.result())
            # the table so far, rewritten after every run (a long table survives an interruption)
            _write(results, args, started, [j[1] for j in jobs])
    print(Path(args.output).read_text())
    return 0


def _write(results: list[tuple[str, str, dict[str, Any]]], args: argparse.Namespace, started: str,
           order: list[str]) -> None:
    lines = [f"# Speech recipe: FSDD accuracy table ({started})", "",
             f"`python benchmarks/speech_table.py {' '.join(sys.argv[1:])}`; each row one fresh "
             f"`axonal train speech` process on 1 thread, {args.jobs} run(s) at a time on this 2-core machine. "
             "Accuracy on the test takes with the delays rounded to whole steps (the figure before "
             "rounding in brackets); training time is `fit`'s (features and evaluation excluded).", ""]
    for delays in args.delays:
        rows = sorted([(n, r) for d, n, r in results if d == delays], key=lambda nr: order.index(nr[0]))
        if not rows:
            continue
        lines += [f"## delays: {delays}", "", "| run | accuracy | per speaker | train s | command |",
                  "|---|---|---|---|---|"]
        for name, r in rows:
            f = r["folds"][0]
            unrounded = "" if f["accuracy_unrounded"] is None else f" ({f['accuracy_unrounded'] * 100:.2f}%)"
            speakers = ", ".join(f"{k} {v * 100:.0f}" for k, v in sorted(f["per_speaker"].items()))
            lines.append(f"| {name} | {f['accuracy'] * 100:.2f}%{unrounded} | {speakers} | {f['seconds']:.0f} | "
                         f"`{r['command']}` |")
        official = [r["folds"][0]["accuracy"] for n, r in rows if n.startswith("official")]
        loso = [r["folds"][0]["accuracy"] for n, r in rows if n.startswith("loso")]
        lines.append("")
        if official:
            lines.append(f"official split, mean over {len(official)} seeds: **{mean(official) * 100:.2f}%** "
                         f"(min {min(official) * 100:.2f}%, max {max(official) * 100:.2f}%)")
        if loso:
            lines.append(f"leave-one-speaker-out, mean over {len(loso)} speakers: **{mean(loso) * 100:.2f}%**")
        lines.append("")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
