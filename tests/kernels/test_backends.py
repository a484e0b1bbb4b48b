"""Every registered kernel backend against the functional reference (forward and backward)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import Tensor

from axonal.functional import surrogate as sg
from axonal.functional.neurons import ResetMode
from axonal.kernels import kernels
from axonal.nn import ALIF, LIF, CubaLIF
from axonal.nn.neuron import NeuronLayer

LAYERS: dict[str, type[NeuronLayer[Any, Any]]] = {"lif": LIF, "alif": ALIF, "cuba_lif": CubaLIF}
LEARN = {
    "lif": ("tau_mem", "v_th"),
    "alif": ("tau_mem", "tau_adapt", "v_th", "delta_th"),
    "cuba_lif": ("tau_syn", "tau_mem", "v_th"),
}
STATE_SCALE = {"lif": (1.0, 0.0), "alif": (1.0, 0.3), "cuba_lif": (1.0, 2.0)}


def _backend_params() -> list[Any]:
    out = []
    for k in kernels():
        marks = [pytest.mark.gpu] if k.device == "cuda" else []
        out.append(pytest.param(k, marks=marks, id=f"{k.family}-{k.backend}-{k.device}"))
    return out


def _usable(kernel: Any) -> None:
    if kernel.device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    if not kernel.available():
        pytest.skip(f"backend {kernel.backend} not available here")


def _surrogates() -> list[sg.Surrogate]:
    # every registered surrogate, with a non-default slope so the slope is really passed on
    return [sg.get(name, slope=1.5 * sg.get(name).slope) for name in sg.names()]


def _run(
    kernel: Any,
    backend: str,
    surrogate: sg.Surrogate,
    reset: ResetMode,
    detach: bool,
    dtype: torch.dtype,
    shape: tuple[int, ...] = (7,),
    seed: int = 0,
    sum_loss: bool = False,
    t_ref: float = 0.0,
    size: tuple[int, int, int] = (71, 3, 7),
) -> tuple[Tensor, tuple[Tensor, ...], list[Tensor]]:
    device = torch.device(kernel.device)
    family = kernel.family
    gen = torch.Generator().manual_seed(seed)
    T, B, n = size  # by default three checkpoint segments of the fused backward, the last partial
    x = (torch.randn(T, B, n, generator=gen, dtype=dtype) * 1.5 + 0.8).to(device)
    x.requires_grad_(True)
    layer = LAYERS[family](
        learn=LEARN[family], shape=shape, backend=backend, surrogate=surrogate, reset=reset,
        detach_reset=detach, dt=1e-3, tau_mem=8e-3, r=5.0, t_ref=t_ref,
    ).to(dtype=dtype, device=device)
    with torch.no_grad():  # spread the per-neuron values so broadcasting is exercised
        layer.v_th.mul_(1.0 + 0.4 * torch.rand(shape, generator=gen, dtype=dtype).to(device))
    v_scale, s_scale = STATE_SCALE[family]
    init = layer.initial_state(x[0])
    scales = {"v": v_scale, "refractory": t_ref}  # some neurons start refractory
    state = type(init)(
        *(
            (torch.rand(B, n, generator=gen, dtype=dtype).to(device)
             * scales.get(name, s_scale)).requires_grad_()
            for name in init._fields
        )
    )
    out, final = layer(x, state)
    weights = torch.randn(T, B, n, generator=gen, dtype=dtype).to(device)
    # a plain sum hands the op a gradient broadcast over time (stride 0)
    loss = (out.sum() if sum_loss else (out * weights).sum()) + sum(((f * (k + 1)) ** 2).sum() for k, f in enumerate(final))
    params = [p for _, p in sorted(layer.named_parameters())]
    wrt = [x, *state, *params]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return out, tuple(final), [g if g is not None else torch.zeros_like(w) for g, w in zip(grads, wrt)]


def _assert_close(a: Tensor, b: Tensor, dtype: torch.dtype, what: str) -> None:
    rtol, atol = (1e-4, 1e-5) if dtype == torch.float32 else (1e-10, 1e-12)
    scale = float(b.detach().abs().max()) if b.numel() else 1.0
    torch.testing.assert_close(
        a.cpu(), b.cpu(), rtol=rtol, atol=atol * max(scale, 1.0), msg=lambda m: f"{what}: {m}"
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("detach", [True, False], ids=["detach", "attached"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("surrogate", _surrogates(), ids=lambda s: s.name)
@pytest.mark.parametrize("kernel", _backend_params())
def test_backend_matches_reference(
    kernel: Any, surrogate: sg.Surrogate, reset: ResetMode, detach: bool, dtype: torch.dtype
) -> None:
    _usable(kernel)
    ref = _run(kernel, "reference", surrogate, reset, detach, dtype)
    fused = _run(kernel, kernel.backend, surrogate, reset, detach, dtype)
    assert ref[0].sum() > 0 and ref[0].sum() < ref[0].numel()  # some spikes, not all
    # same spikes exactly (the kernels mirror the reference's arithmetic)
    assert torch.equal(ref[0].cpu(), fused[0].cpu())
    for k, (a, b) in enumerate(zip(fused[1], ref[1])):
        _assert_close(a, b, dtype, f"final state field {k}")
    assert len(ref[2]) == len(fused[2])
    for k, (a, b) in enumerate(zip(fused[2], ref[2])):
        _assert_close(a, b, dtype, f"gradient {k}")
    assert any(float(g.abs().max()) > 0 for g in ref[2][1:])  # parameter grads are exercised


@pytest.mark.parametrize("kernel", _backend_params())
def test_scalar_parameters_match_reference(kernel: Any) -> None:
    _usable(kernel)
    args = (sg.FastSigmoid(), ResetMode.SUBTRACT, True, torch.float64)
    ref = _run(kernel, "reference", *args, shape=())
    fused = _run(kernel, kernel.backend, *args, shape=())
    assert torch.equal(ref[0].cpu(), fused[0].cpu())
    for a, b in zip(fused[2], ref[2]):
        _assert_close(a, b, torch.float64, "gradient")
    assert fused[2][-1].shape == ()


@pytest.mark.parametrize("kernel", _backend_params())
def test_broadcast_output_gradient_matches_reference(kernel: Any) -> None:
    _usable(kernel)
    args = (sg.ArcTan(), ResetMode.ZERO, False, torch.float64)
    ref = _run(kernel, "reference", *args, sum_loss=True)
    fused = _run(kernel, kernel.backend, *args, sum_loss=True)
    for k, (a, b) in enumerate(zip(fused[2], ref[2])):
        _assert_close(a, b, torch.float64, f"gradient {k}")
    assert float(fused[2][0].abs().max()) > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("detach", [True, False], ids=["detach", "attached"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("kernel", _backend_params())
def test_backend_matches_reference_with_refractory_period(
    kernel: Any, reset: ResetMode, detach: bool, dtype: torch.dtype
) -> None:
    """t_ref > 0 (2.5 steps, off the grid: Brian2's rounding down is part of the test):
    spikes and final states identical, gradients (the countdown's included) to rounding."""
    _usable(kernel)
    surrogate = _surrogates()[(len(ResetMode) * int(detach) + reset.code) % len(_surrogates())]
    args = (surrogate, reset, detach, dtype)
    ref = _run(kernel, "reference", *args, t_ref=2.5e-3)
    fused = _run(kernel, kernel.backend, *args, t_ref=2.5e-3)
    assert 0 < ref[0].sum() < ref[0].numel()
    assert torch.equal(ref[0].cpu(), fused[0].cpu())
    for k, (a, b) in enumerate(zip(fused[1], ref[1])):
        assert torch.equal(a.cpu(), b.cpu()), f"final state field {k}"
    for k, (a, b) in enumerate(zip(fused[2], ref[2])):
        _assert_close(a, b, dtype, f"gradient {k}")
    # refractory steps happen: the final countdown is not all zero
    assert float(ref[1][-1].detach().max()) > 0


def _cpu_kernels() -> list[Any]:
    return [pytest.param(k, id=k.family) for k in kernels() if k.device == "cpu"]


@pytest.mark.parametrize("t_ref", [0.0, 2e-3], ids=["noref", "ref"])
@pytest.mark.parametrize("kernel", _cpu_kernels())
def test_fused_results_do_not_depend_on_the_thread_count(kernel: Any, t_ref: float) -> None:
    """Forward and backward of every fused CPU family are bit-identical with 1, 2 and 3
    threads (3: uneven splits), for per-neuron parameters and for scalar ones, whose gradient
    sums over more than 2^15 neurons (where torch's own sum splits the work by thread)."""
    _usable(kernel)
    threads = torch.get_num_threads()
    runs: dict[tuple[int, ...], list[Any]] = {}
    try:
        for n_threads in (1, 2, 3):
            torch.set_num_threads(n_threads)
            for shape in ((), (700,)):
                result = _run(kernel, kernel.backend, sg.FastSigmoid(), ResetMode.SUBTRACT, False,
                              torch.float32, shape=shape, t_ref=t_ref, size=(3, 48, 700))
                runs.setdefault(shape, []).append(result)
    finally:
        torch.set_num_threads(threads)
    for shape, results in runs.items():
        first = results[0]
        assert 0 < first[0].sum() < first[0].numel()
        for other in results[1:]:
            assert torch.equal(first[0], other[0])
            for a, b in zip(first[1], other[1]):
                assert torch.equal(a, b), f"final state, shape {shape}"
            for k, (a, b) in enumerate(zip(first[2], other[2])):
                assert torch.equal(a, b), f"gradient {k}, shape {shape}"
