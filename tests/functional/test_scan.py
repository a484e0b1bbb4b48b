"""The single time loop: shapes, recorded traces and boundary errors."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import Tensor

from axonal.functional.neurons import LIFParams, LIFState, lif_initial_state, lif_step
from axonal.functional.scan import check_sequence, check_state, multi_step, scan


class Acc(NamedTuple):
    total: Tensor
    steps: Tensor


def acc_step(x: Tensor, state: Acc, params: float, dt: float) -> tuple[Tensor, Acc]:
    total = state.total + params * dt * x
    return total * 2.0, Acc(total=total, steps=state.steps + 1.0)


def acc_init(x: Tensor, params: float) -> Acc:
    return Acc(total=torch.zeros_like(x), steps=torch.zeros_like(x))


def test_scan_threads_state_and_stacks_outputs() -> None:
    xs = torch.arange(12, dtype=torch.float64).view(4, 3)
    result = scan(acc_step, xs, acc_init(xs[0], 1.0), 1.0, 0.5)
    assert result.out.shape == (4, 3)
    assert result.trace is None
    expected_total = 0.5 * xs.cumsum(0)
    torch.testing.assert_close(result.out, 2.0 * expected_total)
    torch.testing.assert_close(result.state.total, expected_total[-1])
    assert torch.equal(result.state.steps, torch.full((3,), 4.0, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(5, 2), (5, 2, 3), (5, 1, 2, 2)])
def test_multi_step_record_shapes_and_last_trace(shape: tuple[int, ...]) -> None:
    xs = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 3
    params = LIFParams(t_ref=2e-3)
    result = multi_step(lif_step, lif_initial_state, xs, None, params, 1e-3, record=True)
    assert result.out.shape == shape
    assert result.trace is not None
    assert isinstance(result.trace, LIFState)
    for traced, final in zip(result.trace, result.state):
        assert traced.shape == shape
        assert torch.equal(traced[-1], final)
    assert result.state.v.shape == shape[1:]


def test_multi_step_accepts_broadcastable_state() -> None:
    xs = torch.ones(3, 2, 4)
    state = LIFState(v=torch.zeros(4), refractory=torch.zeros(1))
    result = multi_step(lif_step, lif_initial_state, xs, state, LIFParams(), 1e-3)
    assert result.state.v.shape == (2, 4)


def test_check_sequence_errors() -> None:
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        check_sequence([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"rank >= 2.*got shape \(3,\)"):
        check_sequence(torch.ones(3))
    with pytest.raises(TypeError, match="floating-point.*int64"):
        check_sequence(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="at least one time step"):
        check_sequence(torch.ones(0, 2))
    with pytest.raises(ValueError, match="inf or nan"):
        check_sequence(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="inf or nan"):
        check_sequence(torch.tensor([[float("inf")]]))
    xs = torch.ones(2, 3)
    assert check_sequence(xs) is xs
    assert check_sequence(torch.ones(3), min_rank=1).shape == (3,)


@pytest.mark.parametrize("runner", ["scan", "multi_step"])
def test_loops_reject_bad_input_and_dt(runner: str) -> None:
    params = LIFParams()
    state = LIFState(v=torch.zeros(2), refractory=torch.zeros(2))

    def run(xs: object, dt: object = 1e-3) -> None:
        if runner == "scan":
            scan(lif_step, xs, state, params, dt)  # type: ignore[arg-type]
        else:
            multi_step(lif_step, lif_initial_state, xs, None, params, dt)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="rank"):
        run(torch.ones(2))
    with pytest.raises(TypeError, match="floating-point"):
        run(torch.ones(3, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="inf or nan"):
        run(torch.full((3, 2), float("nan")))
    for bad in (0.0, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="dt"):
            run(torch.ones(3, 2), bad)
    for wrong in ("1e-3", None, True):
        with pytest.raises(TypeError, match="dt"):
            run(torch.ones(3, 2), wrong)


def test_wrong_state_shape_and_type_raise() -> None:
    xs = torch.ones(3, 2, 4)
    params = LIFParams()
    bad = LIFState(v=torch.zeros(2, 5), refractory=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"state.v has shape \(2, 5\)"):
        multi_step(lif_step, lif_initial_state, xs, bad, params, 1e-3)
    too_big = LIFState(v=torch.zeros(3, 2, 4), refractory=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="state.v"):
        multi_step(lif_step, lif_initial_state, xs, too_big, params, 1e-3)
    not_tensor = LIFState(v=torch.zeros(2, 4), refractory=0.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="state.refractory must be a tensor"):
        multi_step(lif_step, lif_initial_state, xs, not_tensor, params, 1e-3)
    with pytest.raises(TypeError, match="state must be a state NamedTuple"):
        check_state([torch.zeros(2)], torch.Size([2]))  # type: ignore[arg-type]
