"""R-STDP learns a rewarded association from reward alone (and does not without plasticity)."""

from __future__ import annotations

import math

import torch
from torch import nn

from axonal.functional.neurons.li import leaky_membrane
from axonal.functional.plasticity import RSTDPParams, STDPParams
from axonal.plasticity import RSTDPLearner

DT = 1e-3
STEPS = 40
N_IN = 20


def _trials(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Pattern 0 drives inputs 0-9, pattern 1 inputs 10-19 (Poisson, 60 Hz, 2 Hz background)."""
    which = torch.randint(0, 2, (batch,), generator=gen)
    rates = torch.full((batch, N_IN), 2.0)
    rates[which == 0, : N_IN // 2] = 60.0
    rates[which == 1, N_IN // 2 :] = 60.0
    spikes = (torch.rand(STEPS, batch, N_IN, generator=gen) < rates * DT).float()
    return spikes, which


def _run(layer: nn.Linear, learner: RSTDPLearner, spikes: torch.Tensor, learn: bool) -> tuple[torch.Tensor, object]:
    """Two output neurons with mutual inhibition; returns spike counts [B, 2] and the state."""
    batch = spikes.shape[1]
    v = torch.zeros(batch, 2)
    out = torch.zeros(batch, 2)
    counts = torch.zeros(batch, 2)
    r = 1.0 / (1.0 - math.exp(-DT / 20e-3))
    state = learner.initial_state(spikes[0], out) if learn else None
    for t in range(STEPS):
        inhib = 3.0 * (out.sum(1, keepdim=True) - out)
        drive = spikes[t] @ layer.weight.detach().t() - inhib
        v = leaky_membrane(v, drive, 20e-3, 0.0, r, DT)
        out = (v > 1.0).float()
        v = torch.where(out > 0, torch.zeros_like(v), v)
        counts += out
        if state is not None:
            state = learner.step(spikes[t], out, state)
    return counts, state


def _train_and_score(lr: float) -> tuple[float, float]:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    layer = nn.Linear(N_IN, 2, bias=False)
    with torch.no_grad():
        layer.weight.uniform_(0.25, 0.35, generator=gen)
    params = RSTDPParams(STDPParams(20e-3, 20e-3, 1.0, 1.05, w_min=0.0, w_max=1.0), tau_e=0.2, lr=lr)
    learner = RSTDPLearner(layer, params, DT, debug=True)

    def score() -> float:
        spikes, which = _trials(400, gen)
        counts, _ = _run(layer, learner, spikes, learn=False)
        return float((counts.argmax(1) == which).float().mean())

    before = score()
    for _ in range(60):
        spikes, which = _trials(16, gen)
        counts, state = _run(layer, learner, spikes, learn=True)
        correct = counts.argmax(1) == which
        reward = torch.where(correct, 1.0, -1.0) * (counts.sum(1) > 0)
        assert state is not None
        learner.apply(learner.reward(state, reward))  # type: ignore[arg-type]
    return before, score()


def test_rstdp_learns_rewarded_association() -> None:
    before, after = _train_and_score(lr=0.002)
    assert before < 0.7
    assert after > 0.9


def test_rstdp_without_plasticity_stays_at_chance() -> None:
    before, after = _train_and_score(lr=0.0)
    assert after < 0.7
    assert abs(after - before) < 0.1
