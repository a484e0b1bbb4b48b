"""Training gives the same bits with 1, 2 and 3 threads, and the same bits run after run; the
thread-count policy of the recipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import torch
from torch import Tensor, nn

import axonal.train.threads as threads
from axonal.data.digits import load_digits_split
from axonal.functional import encode
from axonal.nn import LI, LIF, Sequential, SequentialResult
from axonal.train.losses import membrane_cross_entropy
from axonal.train.loop import TrainConfig, evaluate, fit, seed_everything


WORKER = Path(__file__).with_name("_threads_worker.py")


@pytest.fixture(autouse=True)
def keep_threads() -> Iterator[None]:
    before, chosen = torch.get_num_threads(), threads._chosen
    yield
    torch.set_num_threads(before)
    threads._chosen = chosen


def _train(n_threads: int, samples: int, steps: int, hidden: int, batch: int) -> tuple[dict[str, Tensor], float, list[float]]:
    """A few batches of a digits classifier through ``fit`` with ``n_threads`` intra-op threads.

    The shapes are ones where MKL's threaded products differ in the last bit between 1 and 2
    threads (10 output classes against a small hidden layer), even in MKL's strict CNR mode
    on this project's AMD machine: without :func:`axonal.train.threads.thread_independent_blas`
    this test fails.
    """
    torch.set_num_threads(n_threads)
    data = load_digits_split()
    x, y = data.x_train[:samples], data.y_train[:samples]
    seed_everything(0)
    model = Sequential(
        nn.Linear(64, hidden),
        LIF(tau_mem=10e-3, r=10.0, learn=("tau_mem",), shape=(hidden,)),  # fused CPU kernel
        nn.Linear(hidden, 10),
        LI(tau_mem=20e-3, r=5.0),
    )

    def enc(v: Tensor, gen: torch.Generator) -> Tensor:
        return encode.rate(v, steps, generator=gen)

    def loss(r: SequentialResult, target: Tensor) -> Tensor:
        return membrane_cross_entropy(r.out, target, reduce="mean")

    def predict(r: SequentialResult) -> Tensor:
        return r.out.amax(0).argmax(1)

    config = TrainConfig(epochs=2, batch_size=batch, lr=5e-3, seed=0, progress=False)
    history = fit(model, (x, y), enc, loss, predict, config)
    acc = evaluate(model, (data.x_test, data.y_test), enc, predict, torch.Generator().manual_seed(1))
    return {k: v.clone() for k, v in model.state_dict().items()}, acc, [h.loss for h in history]


@pytest.mark.parametrize(("samples", "steps", "hidden", "batch", "counts"), [(64, 8, 16, 32, (2, 3)), (128, 10, 32, 32, (2,))])
def test_fit_gives_the_same_bits_for_any_thread_count(
    samples: int, steps: int, hidden: int, batch: int, counts: tuple[int, ...]
) -> None:
    one = _train(1, samples, steps, hidden, batch)
    for n in counts:
        other = _train(n, samples, steps, hidden, batch)
        for key, value in one[0].items():
            assert torch.equal(other[0][key], value), f"{key} differs between 1 and {n} threads"
        assert other[1] == one[1]
        assert other[2] == one[2]


def test_fresh_processes_with_1_and_2_threads_give_the_same_bits(tmp_path: Path) -> None:
    """In a fresh process the fused kernels' first parallel loop runs inside ``fit`` and resets
    MKL's thread count; ``fit`` warms up and pins again, so the bits still agree."""
    LIF(r=10.0)(torch.zeros(2, 1, 4))  # build the kernels here first if they are not cached
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    env.pop("OMP_NUM_THREADS", None)
    procs = {n: subprocess.Popen([sys.executable, str(WORKER), str(n), str(tmp_path / f"{n}.pt")], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for n in (1, 2)}
    for n, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out.decode(errors="replace")
    one, two = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in (1, 2))
    for key, value in one["state"].items():
        assert torch.equal(two["state"][key], value), f"{key} differs between fresh 1- and 2-thread runs"
    assert torch.equal(one["accuracy"], two["accuracy"])


def test_same_seed_same_result_across_runs() -> None:
    first = _train(2, 64, 8, 16, 32)
    second = _train(2, 64, 8, 16, 32)
    for key, value in first[0].items():
        assert torch.equal(second[0][key], value), key
    assert (first[1], first[2]) == (second[1], second[2])


def test_blas_is_single_threaded_only_inside_the_block() -> None:
    mkl = threads._mkl()
    if not torch.backends.mkl.is_available():
        assert mkl is None and "not a reachable MKL" in threads.blas_status()
        return
    assert mkl is not None, "torch has MKL but its thread functions were not found"
    torch.set_num_threads(2)
    assert mkl.max_threads() == 2
    with threads.thread_independent_blas() as blas:
        assert blas.status.startswith("MKL products on one thread")
        assert mkl.max_threads() == 1
        assert torch.get_num_threads() == 2  # torch's own loops keep their threads
        torch.set_num_threads(2)  # resets MKL's thread-local count, as a new extension's first loop does
        assert mkl.max_threads() == 2
        blas.pin()
        assert mkl.max_threads() == 1
    assert mkl.max_threads() == 2


def test_resolve_threads_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.resolve_threads(None) == threads.DEFAULT_THREADS == 1
    assert threads.resolve_threads(None, default=3) == 3
    assert threads.resolve_threads(2) == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    assert threads.auto_threads() == 1  # 4 CPUs, 2.5 busy: floor(1.5)
    assert threads.resolve_threads(0) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.auto_threads() == 4
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 2)  # physical cores: never above torch's default
    assert threads.auto_threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert threads.auto_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    torch.set_num_threads(3)
    assert threads.resolve_threads(None) == 3  # the environment wins over the recipe default
    with pytest.raises(ValueError, match=r"threads must be between 0 \(auto: idle CPUs\) and"):
        threads.resolve_threads(-1)
    with pytest.raises(ValueError, match="threads must be between"):
        threads.resolve_threads(10**12)
    with pytest.raises(TypeError, match="threads must be an int"):
        threads.resolve_threads(1.5)  # type: ignore[arg-type]


def test_recipe_threads_keeps_a_chosen_count_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads._chosen = None
    torch.set_num_threads(2)
    with threads.recipe_threads() as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 2
    assert threads.set_threads(2) == 2 and threads.chosen_threads() == 2
    torch.set_num_threads(3)
    with threads.recipe_threads() as n:  # the command line's --threads wins over the default
        assert n == 2 == torch.get_num_threads()
    assert torch.get_num_threads() == 3
    with threads.recipe_threads(1) as n:
        assert n == 1
