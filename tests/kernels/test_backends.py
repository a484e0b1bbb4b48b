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
) -> tuple[Tensor, tuple[Tensor, ...], list[Tensor]]:
    device = torch.device(kernel.device)
    family = kernel.family
    gen = torch.Generator().manual_seed(seed)
    T, B, n = 71, 3, 7  # three checkpoint segments of the fused backward, the last partial
    x = (torch.randn(T, B, n, generator=gen, dtype=dtype) * 1.5 + 0.8).to(device)
    x.requires_grad_(True)
    layer = LAYERS[family](
        learn=LEARN[family], shape=shape, backend=backend, surrogate=surrogate, reset=reset,
        detach_reset=detach, dt=1e-3, tau_mem=8e-3, r=5.0,
    ).to(dtype=dtype, device=device)
    with torch.no_grad():  # spread the per-neuron values so broadcasting is exercised
        layer.v_th.mul_(1.0 + 0.4 * torch.rand(shape, generator=gen, dtype=dtype).to(device))
    v_scale, s_scale = STATE_SCALE[family]
    init = layer.initial_state(x[0])
    scales = {"v": v_scale, "refractory": 0.0}
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
    wrt = [x, state[0], *([state[1]] if family != "lif" else []), *params]
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
