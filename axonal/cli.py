"""The ``axonal`` command line (thin: parses arguments and calls the recipes)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import torch

    from axonal.tasks.digits import DemoConfig, run_demo

    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {k: getattr(args, k) for k in ("coding", "epochs", "steps", "hidden", "seed")}
    config = DemoConfig(**{k: v for k, v in chosen.items() if v is not None})
    print(
        f"axonal demo: spiking classifier on scikit-learn digits ({config.coding} coding, "
        f"{config.steps} steps of {config.dt * 1e3:g} ms, fixed split 1347 train / 450 test)"
    )
    report = run_demo(config, args.out, progress=not args.no_progress)
    print(f"test accuracy: {report.test_accuracy * 100:.2f}%")
    print("mean firing rate per layer:")
    for name, hz in report.rates_hz.items():
        print(f"  {name:<12} {hz:7.1f} Hz  ({hz * config.dt:.3f} spikes/step)")
    print(f"time: {report.seconds:.1f} s")
    print(f"wrote: {', '.join(str(p) for p in report.files)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="axonal", description="Spiking neural networks on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a spiking classifier on scikit-learn's digits")
    demo.add_argument("--coding", choices=["rate", "latency"], default="rate", help="input/output spike coding")
    demo.add_argument("--out", default="axonal-demo", help="output folder for figures and checkpoint")
    demo.add_argument("--epochs", type=int, help="training epochs (default 80)")
    demo.add_argument("--steps", type=int, help="time steps per sample (default 25)")
    demo.add_argument("--hidden", type=int, help="hidden LIF neurons (default 256)")
    demo.add_argument("--seed", type=int, help="seed of initialisation, shuffling and encoding (default 0)")
    demo.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (ValueError, TypeError) as err:
        print(f"axonal {args.command}: error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
