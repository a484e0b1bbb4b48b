"""Long fuzz run of axonal's file readers and parsers (the CI runs a small budget of the same).

Runs every target of ``tests/test_readers_fuzz.py`` (N-MNIST events, the event files of
``axonal.events`` as bytes: npz, AEDAT 4.0, AEDAT 2.0 in both address layouts, AEDAT 3.1,
Prophesee EVT 2.0 and 3.0; IDX plain and gzip, label lists, ``events_to_frames`` arguments, NIR
files as bytes and as HDF5 datasets claiming terabytes, NIR graph contents, GraphModule states,
WAV files, SHD/SSC spike files as bytes and as impossible contents) for ``--examples`` hypothesis examples each, random (not
derandomized) unless ``--seed`` is given, and prints per target the cases tried, how many were
accepted / refused with axonal's own errors, the failures (any other exception, a broken
promise of an accepted result, or a case slower than ``--deadline``) and
the slowest case. A failure does not stop the run: the first three of each target are printed.

    python benchmarks/fuzz_readers.py --examples 2000
    python benchmarks/fuzz_readers.py --examples 500 --only nir-file-bytes --seed 1

Exit status 1 when any case failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

ROOT = Path(__file__).resolve().parents[1]


def _load_targets() -> dict[str, Any]:
    path = ROOT / "tests" / "test_readers_fuzz.py"
    spec = importlib.util.spec_from_file_location("axonal_fuzz_targets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    targets: dict[str, Any] = module.TARGETS
    return targets


def run_target(name: str, strategy: Any, target: Any, examples: int, deadline: float,
               rng_seed: int | None) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    failures: list[str] = []
    slowest = 0.0

    def case(value: Any) -> None:
        nonlocal slowest
        start = time.perf_counter()
        try:
            outcome = target(value)
        except Exception as err:  # the fuzz failure: record it and keep exploring
            outcome = "failed"
            if len(failures) < 3:
                failures.append(f"{type(err).__name__}: {err}\n    case: {value!r:.300}\n"
                                + "".join(traceback.format_exc(limit=-3)))
        took = time.perf_counter() - start
        slowest = max(slowest, took)
        if outcome != "failed" and took > deadline:
            outcome = "failed"
            if len(failures) < 3:
                failures.append(f"took {took:.2f} s > deadline {deadline} s\n    case: {value!r:.300}")
        counts[outcome] += 1

    run = settings(
        max_examples=examples, deadline=None, database=None, derandomize=False,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck),
    )(given(strategy)(case))
    if rng_seed is not None:
        run = seed(rng_seed)(run)
    start = time.perf_counter()
    run()
    return {"name": name, "counts": counts, "failures": failures, "slowest": slowest,
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples per target (default 1000)")
    parser.add_argument("--deadline", type=float, default=3.0, help="seconds one case may take (default 3)")
    parser.add_argument("--only", action="append", default=None, help="run this target only (repeatable)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = parser.parse_args(argv)
    if args.examples < 1 or not args.deadline > 0:
        parser.error("--examples must be >= 1 and --deadline > 0")
    targets = _load_targets()
    from axonal.errors import PlausibilityWarning

    warnings.simplefilter("ignore", PlausibilityWarning)  # fuzzed values are implausible on purpose
    names = args.only or list(targets)
    unknown = [n for n in names if n not in targets]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(targets)}")
    print(f"{'target':<22}{'cases':>8}{'accepted':>10}{'refused':>9}{'failures':>10}{'slowest s':>11}{'total s':>9}")
    total = Counter[str]()
    reports = []
    for name in names:
        strategy, target = targets[name]
        r = run_target(name, strategy, target, args.examples, args.deadline, args.seed)
        reports.append(r)
        c = r["counts"]
        total.update(c)
        print(f"{name:<22}{sum(c.values()):>8}{c['accepted']:>10}{c['refused']:>9}{c['failed']:>10}"
              f"{r['slowest']:>11.3f}{r['seconds']:>9.1f}", flush=True)
    print(f"{'all':<22}{sum(total.values()):>8}{total['accepted']:>10}{total['refused']:>9}{total['failed']:>10}")
    for r in reports:
        for text in r["failures"]:
            print(f"\n[{r['name']}] {text}")
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
