"""Layer learners: Linear and Conv2d contractions, application, optimiser hand-off, debug NaN
checks and unsupported layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from axonal.errors import NonFiniteError
from axonal.functional import plasticity as P
from axonal.plasticity import RSTDPLearner, STDPLearner, conv2d_contraction

F64 = torch.float64


def _spikes(shape: tuple[int, ...], p: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < p).to(F64)


def test_linear_learner_matches_the_pure_rule_and_applies_bounds() -> None:
    layer = nn.Linear(6, 3, bias=False).double()
    params = P.STDPParams(a_plus=0.2, a_minus=0.1, w_min=-0.3, w_max=0.3)
    learner = STDPLearner(layer, params, 1e-3)
    pre, post = _spikes((20, 2, 6), 0.3, 0), _spikes((20, 2, 3), 0.3, 1)
    state = learner.initial_state(pre[0], post[0])
    ref = P.stdp_initial_state(pre[0], post[0])
    total = torch.zeros(3, 6, dtype=F64)
    for t in range(20):
        dw, state = learner.step(pre[t], post[t], state)
        dw_ref, ref = P.stdp_step(pre[t], post[t], ref, params, 1e-3)
        torch.testing.assert_close(dw, dw_ref)
        total += dw
    before = layer.weight.detach().clone()
    learner.apply(total)
    torch.testing.assert_close(layer.weight.detach(), (before + total).clamp(-0.3, 0.3))
    assert float(layer.weight.detach().abs().max()) <= 0.3


def test_to_grad_lets_an_optimiser_follow_dw() -> None:
    layer = nn.Linear(4, 2, bias=False)
    learner = STDPLearner(layer, P.STDPParams(), 1e-3)
    dw = torch.randn(2, 4)
    before = layer.weight.detach().clone()
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    learner.to_grad(dw)
    opt.step()
    torch.testing.assert_close(layer.weight.detach(), before + 0.5 * dw)


def _conv_bruteforce(layer: nn.Conv2d, post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """Sum over batch and output positions of post[b,o,y,x] * pre_padded[b,i,y*s+ky*d, x*s+kx*d]."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel_size, layer.stride, layer.padding, layer.dilation  # type: ignore[misc]
    padded = F.pad(pre, (pw, pw, ph, ph))
    out = torch.zeros(layer.weight.shape, dtype=pre.dtype)
    for y in range(post.shape[2]):
        for x in range(post.shape[3]):
            for ky in range(kh):
                for kx in range(kw):
                    patch = padded[:, :, y * sh + ky * dh, x * sw + kx * dw]  # [B, Cin]
                    out[:, :, ky, kx] += post[:, :, y, x].t() @ patch
    return out


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv2d_contraction_matches_bruteforce(stride: int, padding: int, dilation: int) -> None:
    layer = nn.Conv2d(2, 3, 3, stride=stride, padding=padding, dilation=dilation).double()
    pre = torch.rand(2, 2, 7, 7, dtype=F64)
    post = (layer(pre) > 0).to(F64)
    got = conv2d_contraction(layer)(post, pre)
    torch.testing.assert_close(got, _conv_bruteforce(layer, post, pre))
    per = conv2d_contraction(layer, per_sample=True)(post, pre)
    torch.testing.assert_close(per.sum(0), got)


def test_conv2d_learner_and_triplet() -> None:
    layer = nn.Conv2d(1, 2, 3, padding=1).double()
    learner = STDPLearner(layer, P.TRIPLET_VISUAL_CORTEX_ALL_TO_ALL, 1e-3)
    pre = _spikes((10, 2, 1, 5, 5), 0.3, 3)
    post = _spikes((10, 2, 2, 5, 5), 0.3, 4)
    state = None
    total = torch.zeros_like(layer.weight)
    for t in range(10):
        dw, state = learner.step(pre[t], post[t], state)
        total += dw
    assert total.shape == layer.weight.shape
    assert float(total.abs().sum()) > 0
    with pytest.raises(ValueError, match="positions"):
        learner.step(pre[0], post[0][:, :, :4], None)


def test_unsupported_layers_and_params_rejected() -> None:
    with pytest.raises(TypeError, match="layer must be nn.Linear or nn.Conv2d"):
        STDPLearner(nn.Conv1d(1, 1, 3), P.STDPParams(), 1e-3)
    with pytest.raises(TypeError, match="layer"):
        RSTDPLearner(nn.LSTM(2, 2), P.RSTDPParams(), 1e-3)
    with pytest.raises(ValueError, match="groups"):
        STDPLearner(nn.Conv2d(2, 2, 3, groups=2), P.STDPParams(), 1e-3)
    with pytest.raises(ValueError, match="padding"):
        STDPLearner(nn.Conv2d(1, 1, 3, padding="same"), P.STDPParams(), 1e-3)
    with pytest.raises(TypeError, match="params"):
        STDPLearner(nn.Linear(2, 2), P.RSTDPParams(), 1e-3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dt"):
        STDPLearner(nn.Linear(2, 2), P.STDPParams(), 0.0)
    learner = STDPLearner(nn.Linear(2, 2), P.STDPParams(), 1e-3)
    with pytest.raises(ValueError, match="dw must have the weight's shape"):
        learner.apply(torch.zeros(3, 3))


def test_non_finite_inputs_are_refused_and_debug_checks_the_result() -> None:
    """Issue 13: a NaN or inf going into a rule or an update is refused (it used to pass
    through the rule silently unless ``debug`` was on); ``debug`` still checks what an update
    of finite values produced (an overflow, a weight corrupted outside the learner)."""
    inf, nan = float("inf"), float("nan")
    layer = nn.Linear(3, 2, bias=False)
    pre = torch.tensor([[1.0, nan, 0.0]])
    post = torch.ones(1, 2)
    quiet = STDPLearner(layer, P.STDPParams(), 1e-3)
    with pytest.raises(NonFiniteError, match=r"pre_spikes of stdp_step contains NaN at 1 of 3 entries"):
        quiet.step(pre, post)
    bad_dw = torch.tensor([[inf, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(NonFiniteError, match=r"dw of STDPLearner.apply contains inf at 1 of 6"):
        quiet.apply(bad_dw)
    with pytest.raises(NonFiniteError, match=r"dw of STDPLearner.to_grad contains inf"):
        quiet.to_grad(bad_dw)
    with pytest.raises(NonFiniteError, match="lr must be finite"):
        quiet.apply(torch.zeros(2, 3), lr=nan)
    assert bool(torch.isfinite(layer.weight).all())  # nothing was written
    # finite inputs whose change overflows float32: only debug mode looks at the result
    huge = P.STDPParams(a_plus=3e38, a_minus=0.0)
    ones_pre, ones_post = torch.ones(2, 3), torch.ones(2, 2)
    dw, _ = STDPLearner(layer, huge, 1e-3).step(ones_pre, ones_post)
    assert bool(torch.isinf(dw).all())
    strict = STDPLearner(layer, huge, 1e-3, debug=True)
    with pytest.raises(NonFiniteError, match="dw became non-finite"):
        strict.step(ones_pre, ones_post)
    with torch.no_grad():
        layer.weight[0, 0] = nan  # corrupted outside the learner: the update keeps the NaN
    with pytest.raises(NonFiniteError, match="Linear.weight became non-finite"):
        strict.apply(torch.zeros(2, 3))
    with torch.no_grad():
        layer.weight[0, 0] = 0.0
    rl = RSTDPLearner(layer, P.RSTDPParams(), 1e-3, debug=True)
    state = rl.step(torch.ones(1, 3), post)
    with pytest.raises(NonFiniteError, match="reward of reward_dw contains NaN"):
        rl.reward(state, nan)
    with pytest.raises(NonFiniteError, match="state.eligibility of rstdp_step contains inf"):
        rl.step(torch.ones(1, 3), post, state._replace(eligibility=state.eligibility + inf))
