"""Exact operation counts of small networks whose counts are worked out by hand."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor, nn

from axonal.energy import count_ops, event_count
from axonal.functional.neurons import ResetMode
from axonal.nn import LI, LIF, DelayedLinear, Sequential, TimeDistributed
from axonal.functional.scan import ScanResult


def spikes(row: list[int]) -> Tensor:
    return torch.tensor(row, dtype=torch.float32)


def test_event_count_accepts_only_minus_one_zero_one() -> None:
    assert event_count(torch.tensor([0.0, 1.0, 1.0, -1.0])) == 3
    assert event_count(torch.tensor([0.0, 0.5])) is None
    assert event_count(torch.tensor([2.0])) is None
    assert event_count(torch.zeros(0)) == 0


def test_linear_on_spikes_counts_each_spike_times_its_fan_out() -> None:
    # T=2, B=1, 3 inputs -> 4 outputs; 3 spikes in total
    x = torch.stack([spikes([1, 0, 1]), spikes([0, 1, 0])]).unsqueeze(1)
    counts = count_ops(nn.Linear(3, 4), x)
    layer = counts.layer("")
    assert layer.synops == 3 * 4
    assert layer.macs == 0
    assert layer.dense_macs == 2 * 3 * 4
    assert (layer.spikes_in, layer.inputs_in) == (3, 6)
    assert counts.ann_macs_per_sample == 12
    assert counts.input_spikes == 3 and counts.unknown == ()


def test_linear_on_analog_input_does_dense_macs_in_the_snn_too() -> None:
    x = torch.full((2, 3, 5), 0.5)
    counts = count_ops(nn.Linear(5, 7), x)
    layer = counts.layer("")
    assert layer.synops == 0 and layer.macs == 2 * 3 * 5 * 7 == layer.dense_macs
    assert counts.input_spikes is None
    assert counts.macs_per_sample == 2 * 5 * 7


def test_linear_on_a_non_contiguous_input_counts_the_same() -> None:
    # [B, T, F] transposed to [T, B, F] takes the mm + add path instead of addmm
    x = (torch.rand(3, 4, 6, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    lin = nn.Linear(6, 5)
    a = count_ops(lin, x.transpose(0, 1)).layer("")
    b = count_ops(lin, x.transpose(0, 1).contiguous()).layer("")
    assert a.synops == b.synops == int(x.sum()) * 5
    assert a.dense_macs == b.dense_macs == 3 * 4 * 6 * 5


def test_conv_with_padding_and_stride_counts_only_real_connections() -> None:
    # 1 -> 2 channels, 3x3 kernel, padding 1, stride 2 on 4x4: output 2x2; output (i, j) sees
    # input rows/cols 2i-1 .. 2i+1. Spike at (0,0): only output (0,0) -> 1 position x 2 channels.
    # Spike at (1,1): all four outputs -> 8. Spike at (3,3): only output (1,1) -> 2.
    conv = nn.Conv2d(1, 2, 3, padding=1, stride=2)
    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 1, 1] = x[0, 0, 0, 3, 3] = 1.0
    counts = count_ops(TimeDistributed(conv), x)
    layer = counts.layer("module")
    assert layer.synops == 2 + 8 + 2
    assert layer.dense_macs == (2 * 2 * 2) * 9
    assert layer.spikes_in == 3 and layer.inputs_in == 16


def _brute_force_conv_synops(x: Tensor, conv: nn.Conv2d) -> int:
    """Count (event, output) pairs by walking every output position and kernel tap."""
    assert not isinstance(conv.padding, str)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    g = conv.groups
    cin_g, cout_g = conv.in_channels // g, conv.out_channels // g
    _, _, h, w = x.shape
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    total = 0
    for b, co, i, j in itertools.product(range(x.shape[0]), range(conv.out_channels), range(oh), range(ow)):
        group = co // cout_g
        for ci, u, v in itertools.product(range(cin_g), range(kh), range(kw)):
            r, c = i * sh - ph + u * dh, j * sw - pw + v * dw
            if 0 <= r < h and 0 <= c < w and x[b, group * cin_g + ci, r, c] != 0:
                total += 1
    return total


@pytest.mark.parametrize("groups,dilation,stride,padding", [(1, 1, 1, 0), (2, 2, 2, 1), (1, 1, 3, 2)])
def test_conv_synops_match_a_brute_force_count(groups: int, dilation: int, stride: int, padding: int) -> None:
    gen = torch.Generator().manual_seed(groups + 10 * stride)
    conv = nn.Conv2d(4, 6, 3, stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = (torch.rand(2, 4, 7, 6, generator=gen) < 0.3).float()
    counts = count_ops(TimeDistributed(conv), x.unsqueeze(0))
    assert counts.layer("module").synops == _brute_force_conv_synops(x, conv)


def test_transposed_conv_counts_every_landing_contribution() -> None:
    # one spike in the middle of a 3x3 input, 2x2 kernel, stride 2: it scatters to 2x2 outputs
    # for each of the 3 output channels; a corner spike with padding 1 loses the cropped taps
    deconv = nn.ConvTranspose2d(1, 3, 2, stride=2, padding=1)
    x = torch.zeros(1, 1, 1, 3, 3)
    x[..., 1, 1] = 1.0  # output rows/cols 2*1-1 .. 2*1 = 1..2: all inside the 4x4 output
    x[..., 0, 0] = 1.0  # output rows/cols -1..0: only (0, 0) inside
    layer = count_ops(TimeDistributed(deconv), x).layer("module")
    assert layer.synops == 3 * 4 + 3 * 1
    assert layer.dense_macs == 9 * 3 * 4


def test_pooling_counts_window_operations_not_synops() -> None:
    x = (torch.rand(2, 3, 2, 4, 4, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    model = Sequential(
        TimeDistributed(nn.MaxPool2d(2)),  # 2x2 outputs per channel, window 4
    )
    counts = count_ops(model, x)
    layer = counts.layer("layers.0.module")
    assert layer.pool_ops == 2 * 3 * (2 * 2 * 2) * 4
    assert layer.synops == layer.dense_macs == 0
    assert counts.ann_pool_ops_per_sample == 2 * 2 * 2 * 4

    avg = count_ops(TimeDistributed(nn.AvgPool2d(3, stride=1, padding=1)), x).layer("module")
    assert avg.pool_ops == 2 * 3 * (2 * 4 * 4) * 9
    # adaptive 5 -> 2: windows [0, 3) and [2, 5), 3 + 3 = 6 per axis, 36 per channel
    adaptive = count_ops(TimeDistributed(nn.AdaptiveAvgPool2d(2)), torch.rand(1, 1, 2, 5, 5)).layer("module")
    assert adaptive.pool_ops == 2 * 36


def test_feed_forward_snn_counts_neurons_spikes_and_rates() -> None:
    torch.manual_seed(0)
    model = Sequential(nn.Linear(8, 6), LIF(r=20.0, tau_mem=20e-3), nn.Dropout(0.5), nn.Linear(6, 3), LI())
    model.train()
    x = (torch.rand(5, 2, 8) < 0.4).float()
    counts = count_ops(model, x)
    assert model.training  # restored
    with torch.no_grad():
        model.eval()
        result = model.run(x)
    hidden = result.outputs[1]
    lif, readout = counts.layer("layers.1"), counts.layer("layers.4")
    assert lif.kind == "lif" and lif.neuron_updates == 5 * 2 * 6
    assert lif.spikes_out == int(hidden.sum())
    assert lif.rate_out == pytest.approx(float(hidden.mean()))
    assert readout.spikes_out is None and readout.neuron_updates == 5 * 2 * 3
    assert counts.layer("layers.0").synops == int(x.sum()) * 6
    assert counts.layer("layers.3").synops == int(hidden.sum()) * 3
    assert counts.spikes_routed == int(x.sum()) + int(hidden.sum())
    assert counts.ann_macs_per_sample == 8 * 6 + 6 * 3
    assert counts.unknown == ()
    # calling run directly (no forward) counts the same
    again = count_ops(model, x, forward=lambda m, inp: m.run(inp))  # type: ignore[operator]
    assert again.layers == counts.layers


class Recurrent(nn.Module):
    """4 inputs -> 3 LIF neurons with all-to-all recurrent weights, stepped in a custom loop."""

    def __init__(self) -> None:
        super().__init__()
        self.ff = nn.Linear(4, 3, bias=False)
        self.rec = nn.Linear(3, 3, bias=False)
        self.lif = LIF(r=20.0, tau_mem=20e-3, reset=ResetMode.ZERO)
        nn.init.constant_(self.ff.weight, 10.0)
        nn.init.constant_(self.rec.weight, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        z = torch.zeros(x.shape[1], 3)
        state = None
        outs = []
        for t in range(x.shape[0]):
            z, state = self.lif.step(self.ff(x[t]) + self.rec(z), state)
            outs.append(z)
        return torch.stack(outs)


def test_recurrent_loop_counts_the_previous_steps_spikes() -> None:
    # t0: input 0 spikes -> drive 10 * 20 * (1 - e^-0.05) = 9.75 mV > 1: all 3 fire, reset to 0
    # t1: no input, recurrent 3 spikes x 0.1 -> 0.29 mV: silent. t2: inputs 0, 1 -> all 3 fire
    x = torch.stack([spikes([1, 0, 0, 0]), spikes([0, 0, 0, 0]), spikes([1, 1, 0, 0])]).unsqueeze(1)
    model = Recurrent()
    with torch.no_grad():
        out = model(x)
    assert out[:, 0].sum(dim=1).tolist() == [3.0, 0.0, 3.0]
    counts = count_ops(model, x)
    assert counts.layer("ff").synops == 3 * 3
    assert counts.layer("rec").synops == 3 * 3  # only the t0 spikes reach it (at t1)
    assert counts.layer("rec").spikes_in == 3 and counts.layer("rec").inputs_in == 3 * 3
    assert counts.layer("lif").neuron_updates == 3 * 3 and counts.layer("lif").spikes_out == 6
    assert counts.ann_macs_per_sample == 4 * 3 + 3 * 3
    assert count_ops(model, x, ann_steps=3).ann_macs_per_sample == 3 * (4 * 3 + 3 * 3)


@torch.library.custom_op("axonal_energy_test::passthrough", mutates_args=())
def _passthrough(x: Tensor) -> Tensor:
    return x.clone()


@_passthrough.register_fake
def _(x: Tensor) -> Tensor:
    return torch.empty_like(x)


class FusedLIF(LIF):
    """A LIF whose run ends in a custom op, as a fused kernel would."""

    def run(self, x: Tensor, state=None, record: bool = False) -> ScanResult:  # type: ignore[no-untyped-def,type-arg]
        result = super().run(x, state, record)
        return result._replace(out=torch.ops.axonal_energy_test.passthrough(result.out))


def test_custom_op_inside_a_neuron_layer_is_neither_reported_nor_double_counted() -> None:
    torch.manual_seed(0)
    x = (torch.rand(4, 2, 5) < 0.5).float()
    lin = nn.Linear(5, 3)
    plain = count_ops(Sequential(lin, LIF(r=20.0, tau_mem=20e-3)), x)
    fused = count_ops(Sequential(lin, FusedLIF(r=20.0, tau_mem=20e-3)), x)
    assert fused.unknown == ()
    assert [(e.synops, e.neuron_updates, e.spikes_out) for e in fused.layers] == [
        (e.synops, e.neuron_updates, e.spikes_out) for e in plain.layers
    ]


class Upsampler(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.ops.axonal_energy_test.passthrough(self.lin(x))
        return nn.functional.interpolate(y, scale_factor=2.0)


def test_unknown_operations_are_reported_by_layer_and_name() -> None:
    x = (torch.rand(2, 3, 4) < 0.5).float()
    with pytest.warns(UserWarning, match="upsample"):
        counts = count_ops(Upsampler(), x)
    assert any("axonal_energy_test.passthrough" in u for u in counts.unknown)
    assert any("upsample_nearest1d" in u for u in counts.unknown)
    with pytest.raises(ValueError, match="does not understand"):
        count_ops(Upsampler(), x, strict=True)


def test_hooks_and_wrappers_are_removed_afterwards() -> None:
    model = Sequential(nn.Linear(3, 2), LIF())
    count_ops(model, torch.zeros(2, 1, 3))
    lif = model.layers[1]
    assert "run" not in lif.__dict__ and "step" not in lif.__dict__
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(TypeError, match="model"):
        count_ops("net", torch.zeros(2, 1, 3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="x must"):
        count_ops(nn.Linear(3, 2), [0.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time-major"):
        count_ops(nn.Linear(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="ann_steps"):
        count_ops(nn.Linear(3, 2), torch.zeros(2, 1, 3), ann_steps=0)


# ---------------------------------------------------------------------------------------------
# synaptic units: DelayedLinear and the count_synaptic protocol


def _delayed(mode: str, frozen: bool, kernel: str = "gaussian") -> DelayedLinear:
    """3 -> 4 synapses, max delay 3 steps, delays spread over every tap, one weight exactly 0."""
    torch.manual_seed(0)
    layer = DelayedLinear(3, 4, max_delay=3, dt=1e-3, mode=mode, kernel=kernel)  # type: ignore[arg-type]
    with torch.no_grad():
        if mode == "synapse":
            layer.delay.copy_(torch.tensor([[0.0, 1.2, 3.0], [2.0, 0.4, 1.0], [3.0, 2.7, 0.0], [1.0, 1.0, 2.2]]))
        else:
            layer.delay.copy_(torch.tensor([0.3, 2.0, 3.0]))
        layer.weight[1, 2] = 0.0
    return layer.freeze() if frozen else layer


# T=4, B=2, 3 inputs: 5 events in sample 0, 2 in sample 1, one of them a -1
SPIKES = torch.tensor(
    [
        [[1, 0, 1], [0, 0, 0]],
        [[0, 1, 0], [0, 0, -1]],
        [[0, 0, 0], [1, 0, 0]],
        [[1, 1, 0], [0, 0, 0]],
    ],
    dtype=torch.float32,
)


def _fields(counts: object, name: str) -> tuple[int, ...]:
    layer = counts.layer(name)  # type: ignore[attr-defined]
    return (layer.synops, layer.macs, layer.dense_macs, layer.spikes_in, layer.inputs_in)


@pytest.mark.parametrize("mode", ["synapse", "channel"])
def test_frozen_delayed_linear_costs_each_event_its_fan_out_once(mode: str) -> None:
    layer = _delayed(mode, frozen=True)
    counts = count_ops(layer, SPIKES, strict=True)
    # 7 events x 4 synapses each (the zero weight is a synapse, as for nn.Linear); the ANN runs
    # the plain 3 x 4 map once per step: 4 steps x 2 samples x 12 MACs
    assert _fields(counts, "") == (7 * 4, 0, 4 * 2 * 12, 7, 4 * 2 * 3)
    assert counts.layer("").kind == "DelayedLinear"
    assert counts.ann_macs_per_sample == 12
    assert counts.synops_per_sample == 14
    assert counts.unknown == ()


@pytest.mark.parametrize("mode", ["synapse", "channel"])
def test_frozen_delayed_linear_counts_as_the_linear_with_the_same_weights(mode: str) -> None:
    layer = _delayed(mode, frozen=True)
    assert len(torch.unique(layer.integer_delays())) >= 3  # several shift branches really ran
    linear = nn.Linear(3, 4)
    with torch.no_grad():
        linear.weight.copy_(layer.weight)
        assert layer.bias is not None
        linear.bias.copy_(layer.bias)
    x = (torch.rand(6, 3, 3, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    assert _fields(count_ops(layer, x), "") == _fields(count_ops(linear, x), "")
    # analog input: the SNN does the dense MACs of the linear map, not of the delay kernel
    analog = torch.rand(6, 3, 3, generator=torch.Generator().manual_seed(4))
    assert _fields(count_ops(layer, analog), "") == _fields(count_ops(linear, analog), "") == (
        0, 6 * 3 * 12, 6 * 3 * 12, 0, 0,
    )


@pytest.mark.parametrize("kernel", ["gaussian", "linear"])
@pytest.mark.parametrize("mode", ["synapse", "channel"])
def test_a_delayed_linear_in_training_form_is_counted_as_its_frozen_copy(mode: str, kernel: str) -> None:
    layer = _delayed(mode, frozen=False, kernel=kernel)
    assert not layer.frozen
    counts = count_ops(layer, SPIKES, strict=True)  # the D-tap convolution is not charged
    assert _fields(counts, "") == _fields(count_ops(layer.rounded(), SPIKES), "") == (28, 0, 96, 7, 24)
    assert not layer.frozen and "forward" not in layer.__dict__ and "step" not in layer.__dict__


def test_a_delayed_linear_stepped_in_a_loop_inside_a_network_counts_the_same() -> None:
    layer = _delayed("synapse", frozen=True)
    model = Sequential(layer, LIF(r=20.0, tau_mem=5e-3))

    def stepped(m: nn.Module, x: Tensor) -> Tensor:
        state: object = None
        outs = []
        for t in range(x.shape[0]):
            y, state = m.step(x[t], state)  # type: ignore[operator]
            outs.append(y)
        return torch.stack(outs)

    whole = count_ops(model, SPIKES, strict=True)
    steps = count_ops(model, SPIKES, forward=stepped, strict=True)
    assert _fields(whole, "layers.0") == _fields(steps, "layers.0") == (28, 0, 96, 7, 24)
    assert whole.layer("layers.1").neuron_updates == steps.layer("layers.1").neuron_updates == 4 * 2 * 4
    assert all("forward" not in m.__dict__ and "step" not in m.__dict__ for m in model.modules())


class Sparse(nn.Module):
    """A unit whose inputs have different fan-outs (2, 0 and 3 synapses) and 5 dense MACs."""

    def __init__(self, reply: object = None) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))
        self.reply = reply

    def count_synaptic(self, x: Tensor) -> object:
        if self.reply is not None:
            return self.reply
        return torch.tensor([2, 0, 3]), (x.numel() // 3) * 5

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([x[..., 0] * 2.0 + x[..., 2], x[..., 2] * 2.0], dim=-1) * self.w[0]


def test_a_unit_may_declare_a_fan_out_per_input_element() -> None:
    counts = count_ops(Sparse(), SPIKES, strict=True)  # elementwise ops inside are not reported
    # events per input channel: 3, 2 and 2 -> 3*2 + 2*0 + 2*3
    assert _fields(counts, "") == (12, 0, 8 * 5, 7, 24)


@pytest.mark.parametrize(
    "reply, match",
    [
        (5, "layers.0.count_synaptic must return \\(fan_out, dense_macs\\)"),
        ((1.5, 3), "fan_out must be an int >= 0"),
        ((2, -1), "dense_macs must be an int >= 0"),
        ((torch.tensor([0.5]), 3), "integers >= 0"),
        ((torch.tensor([1, 2]), 3), "does not broadcast"),
    ],
)
def test_a_unit_that_declares_nonsense_is_refused_by_name(reply: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        count_ops(Sequential(Sparse(reply)), SPIKES)
