"""Backend selection, fallbacks, validation, op registrations and the memory kept for backward."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from axonal.errors import NonFiniteError
from axonal.functional import surrogate as sg
from axonal.functional.neurons import LIFParams, lif_multi_step
from axonal.functional.neurons.refractory import refractory_limit
from axonal.kernels import get_kernel, ops, select
from axonal.kernels.cpu import cpu_available
from axonal.kernels.linear import nonfinite_report
from axonal.nn import ALIF, LIF, CubaLIF
from axonal.nn.neuron import NeuronLayer

needs_cpp = pytest.mark.skipif(not cpu_available(), reason="fused CPU kernels not built here")


def _x(T: int = 15, B: int = 2, n: int = 5, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, n, generator=gen) * 2.0 + 1.0


@needs_cpp
def test_auto_selects_registered_kernel() -> None:
    x = _x()
    assert select("lif", "auto", LIFParams(), x) is get_kernel("lif", "cpp", "cpu")
    # refractory periods run fused too (Brian2's rule, as the reference step)
    assert select("lif", "auto", LIFParams(t_ref=2e-3), x) is get_kernel("lif", "cpp", "cpu")
    assert select("lif", "reference", LIFParams(), x) is None
    assert select("izhikevich", "auto", None, x) is None  # no kernel for that family


@pytest.mark.parametrize(
    "params",
    [
        LIFParams(surrogate=sg.Smoothed(sg.FastSigmoid())),
        LIFParams(r=torch.tensor(2.0, requires_grad=True)),
    ],
    ids=["smoothed", "learned_r"],
)
def test_auto_falls_back_to_reference(params: LIFParams) -> None:
    x = _x()
    assert select("lif", "auto", params, x) is None
    layer = LIF(params)
    out, state = layer(x)
    ref = lif_multi_step(x, None, params, layer.dt)
    assert torch.equal(out, ref.out)
    assert torch.equal(state.v, ref.state.v)


def test_parameter_that_grows_the_state_is_refused() -> None:
    """A per-neuron tensor that broadcasts beyond the input would grow the state: an error."""
    with pytest.raises(ValueError, match=r"v_th has shape \(3, 1, 1\)"):
        LIF(LIFParams(v_th=torch.ones(3, 1, 1)))(_x())


def test_forced_backend_errors() -> None:
    x = _x()
    with pytest.raises(ValueError, match="surrogate Smoothed"):
        LIF(surrogate=sg.Smoothed(sg.FastSigmoid()), backend="cpp")(x)
    with pytest.raises(ValueError, match="triton"):
        LIF(backend="triton")(x)  # registered for cuda only
    with pytest.raises(ValueError, match="backend"):
        LIF(backend="fast")
    with pytest.raises(TypeError, match="backend"):
        LIF(backend=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="record"):
        LIF(backend="cpp").run(x, record=True)


@needs_cpp
def test_record_uses_reference_and_matches_kernel() -> None:
    x = _x()
    layer = LIF(r=3.0)
    recorded = layer.run(x, record=True)
    fused = layer.run(x)
    assert recorded.trace is not None and fused.trace is None
    assert torch.equal(recorded.out, fused.out)
    assert torch.equal(recorded.trace.v[-1], fused.state.v)


@needs_cpp
def test_kernel_path_validates_input() -> None:
    layer = LIF(backend="cpp")
    x = _x()
    x[3, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="inf or nan"):
        layer(x)
    big = torch.full((4, 2, 3), 3e38)  # finite, but its sum overflows: must still run
    out, _ = layer(big)
    assert out.shape == big.shape
    with pytest.raises(ValueError, match="rank"):
        layer(torch.ones(5))
    with pytest.raises(TypeError, match="floating"):
        layer(torch.ones(5, 2, dtype=torch.int64))


@needs_cpp
@pytest.mark.parametrize("layer_type", [LIF, ALIF, CubaLIF], ids=lambda c: c.__name__)
def test_kernel_path_refuses_nonfinite_state(layer_type: type[NeuronLayer[Any, Any]]) -> None:
    """A NaN or inf in any initial state field, or in the input, is refused by the fused run
    with the reference path's NonFiniteError and message (the state by ``check_state``, the
    input by the kernel as it reads it, then named with its count)."""
    layer = layer_type(backend="cpp", t_ref=2e-3)
    x = _x()
    state = layer.initial_state(x[0])
    owner = layer_type.__name__
    for field in state._fields:
        for bad, what in ((float("nan"), "NaN"), (float("inf"), "inf")):
            value = getattr(state, field).clone()
            value[1, 3] = bad
            with pytest.raises(NonFiniteError,
                               match=rf"^state\.{field} of {owner} contains {what} at 1 of 10"):
                layer(x, state._replace(**{field: value}))
    x[2, 0, 1] = float("inf")
    with pytest.raises(NonFiniteError, match=r"^x contains inf or nan \(inf at 1 of 150"):
        layer(x, state)
    x[2, 0, 1] = 0.0
    out, _ = layer(x, state)  # the layer is left usable
    assert out.shape == x.shape


@needs_cpp
def test_fused_op_names_a_nonfinite_state_or_coefficient() -> None:
    """Called directly, the op itself refuses inf / nan in its state and coefficient arguments
    (found in the kernel's first pass), naming them."""
    T, N = 4, 6
    x = torch.rand(T, N)

    def full(v: float) -> torch.Tensor:
        return torch.full((N,), v)

    args = [x, full(0.0), full(0.0), full(0.9), full(1.0), full(0.0), full(10.0), full(0.0)]
    codes = (0, True, 0, 25.0, 32, 2e-3, 1e-3, refractory_limit(1e-3))
    ops.lif_forward(*args, *codes)
    for k, name in ((1, "state.v"), (2, "state.refractory"),
                    (3, r"coefficient alpha \(from the parameters\)"),
                    (6, r"coefficient r \(from the parameters\)")):
        bad = [a.clone() for a in args]
        bad[k][2] = float("nan")
        with pytest.raises(NonFiniteError, match=rf"^{name} contains inf or nan"):
            ops.lif_forward(*bad, *codes)
    bad = [a.clone() for a in args]
    bad[0][1, 1] = bad[1][0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"^x, state.v contain inf or nan"):
        ops.lif_forward(*bad, *codes)


def test_nonfinite_report_of_the_other_devices() -> None:
    """The check fused_run makes where no compiled kernel checks (CUDA): one sum per tensor,
    the elementwise test only when a sum is not finite (a finite sum that overflows included)."""
    ok, nan, big = torch.ones(4, 3), torch.ones(5), torch.full((2, 2), 3e38)
    nan[2] = float("nan")
    assert nonfinite_report([ok, big]) == 0
    assert nonfinite_report([ok, nan, big, nan]) == 0b1010
    assert nonfinite_report([torch.tensor([float("-inf")]), ok]) == 0b1


def _saved_bytes(layer: LIF, x: torch.Tensor) -> int:
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return sum(storages.values())


@needs_cpp
def test_backward_keeps_input_and_byte_spikes_only() -> None:
    T, B, n = 200, 4, 64
    x = (torch.randn(T, B, n) + 1.0).requires_grad_()
    kernel_bytes = _saved_bytes(LIF(learn=("tau_mem", "v_th"), shape=(n,), backend="cpp"), x)
    ref_bytes = _saved_bytes(LIF(learn=("tau_mem", "v_th"), shape=(n,), backend="reference"), x)
    input_bytes = x.numel() * x.element_size()
    # the input, uint8 spikes (a quarter of it) and a few [B, n] vectors: no T x state copies
    assert kernel_bytes <= 1.25 * input_bytes + 20 * B * n * 4
    assert ref_bytes > 2 * kernel_bytes


@needs_cpp
@pytest.mark.parametrize("t_ref", [0.0, 2.5e-3], ids=["noref", "ref"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ops_pass_opcheck(dtype: torch.dtype, t_ref: float) -> None:
    gen = torch.Generator().manual_seed(3)
    T, N = 6, 5

    def vec(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(N, generator=gen, dtype=dtype)).requires_grad_()

    x = (torch.randn(T, N, generator=gen, dtype=dtype) * 2).requires_grad_()
    fixed = [torch.zeros(N, dtype=dtype), torch.ones(N, dtype=dtype), torch.zeros(N, dtype=dtype)]
    # seg = 4: two checkpoints, the last segment partial
    codes = (0, False, 1, 2.0, 4, t_ref, 1e-3, refractory_limit(1e-3))
    refr = torch.tensor([0.0, 1e-3, 2e-3, 0.0, 3e-3], dtype=dtype)
    torch.library.opcheck(
        torch.ops.axonal.lif_forward.default,
        (x, vec(0, 0.5), refr, vec(0.8, 0.95), vec(0.5, 1.0), *fixed, *codes),
    )
    torch.library.opcheck(
        torch.ops.axonal.alif_forward.default,
        (x, vec(0, 0.5), vec(0, 0.2), refr, vec(0.8, 0.95), vec(0.9, 0.99), vec(0.5, 1.0),
         *fixed, vec(0.05, 0.1), *codes),
    )
    torch.library.opcheck(
        torch.ops.axonal.cuba_lif_forward.default,
        (x, vec(0, 0.5), vec(0, 1.0), refr, vec(0.8, 0.95), vec(0.7, 0.9), vec(0.05, 0.1),
         vec(0.5, 1.0), *fixed, *codes),
    )


def test_without_compiler_warns_once_and_runs_reference(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import warnings
        import torch
        from axonal.functional.neurons import LIFParams, lif_multi_step
        from axonal.nn import LIF
        x = torch.randn(10, 2, 3) * 2 + 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out1, _ = LIF()(x)
            out2, _ = LIF()(x)
        msgs = [str(w.message) for w in caught if "fused CPU kernels" in str(w.message)]
        assert len(msgs) == 1, msgs
        assert torch.equal(out1, lif_multi_step(x, None, LIFParams(), 1e-3).out)
        assert torch.equal(out1, out2)
        print("fallback ok")
        """
    )
    env = dict(os.environ, CXX=str(tmp_path / "no-such-compiler"),
               AXONAL_KERNEL_CACHE=str(tmp_path / "cache"))
    env.pop("AXONAL_NO_KERNELS", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fallback ok" in done.stdout


def test_load_extension_rejects_unknown_names() -> None:
    from axonal.native_build import load_extension

    with pytest.raises(ValueError, match="unknown extension 'nope'"):
        load_extension("nope")
