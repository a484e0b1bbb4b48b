"""Synapse equations: exact decay, conductance current, validation."""

from __future__ import annotations

import math

import pytest
import torch

from axonal.functional.synapses import check_synapse_params, conductance_current, exp_synapse_step


def test_exp_synapse_step_is_the_exact_solution() -> None:
    g = torch.tensor([2.0, 0.0], dtype=torch.float64)
    out = exp_synapse_step(g, torch.tensor([0.0, 1.5], dtype=torch.float64), 5e-3, 1e-3)
    assert out.tolist() == pytest.approx([2.0 * math.exp(-0.2), 1.5], abs=1e-15)
    # halving dt and doubling the steps gives the same decay
    h = g
    for _ in range(20):
        h = exp_synapse_step(h, torch.zeros(2, dtype=torch.float64), 5e-3, 0.5e-3)
    k = g
    for _ in range(10):
        k = exp_synapse_step(k, torch.zeros(2, dtype=torch.float64), 5e-3, 1e-3)
    assert torch.allclose(h, k, rtol=1e-13, atol=0)


def test_conductance_current_sign_and_units() -> None:
    g = torch.tensor([0.01, 0.01])  # uS
    v = torch.tensor([-60.0, 10.0])  # mV
    assert conductance_current(g, v, 0.0).tolist() == pytest.approx([0.6, -0.1])  # nA
    assert conductance_current(g, v, -80.0).tolist() == pytest.approx([-0.2, -0.9])


def test_bad_synapse_params() -> None:
    with pytest.raises(ValueError, match="tau"):
        check_synapse_params(0.0)
    with pytest.raises(ValueError, match="e_rev"):
        check_synapse_params(1e-3, float("nan"))
    with pytest.raises(ValueError, match="dt"):
        exp_synapse_step(torch.zeros(1), torch.zeros(1), 1e-3, -1.0)
