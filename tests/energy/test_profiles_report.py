"""Hardware profiles (validation, registry) and the energy report (estimate, table, chart)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from axonal.energy import (
    CMOS45_FP32,
    CMOS45_INT8,
    LOIHI,
    HardwareProfile,
    count_ops,
    energy_chart,
    energy_table,
    estimate,
    estimate_all,
    get_profile,
    profile_names,
    register_profile,
)
from axonal.nn import LI, LIF, Sequential

UNIT = HardwareProfile("unit-test", e_mac=10.0, e_ac=1.0, e_neuron=100.0, e_spike=1000.0, source="made up for a test")


def test_published_numbers() -> None:
    pj = dict(rel=1e-9, abs=0)
    assert CMOS45_FP32.e_mac == pytest.approx(4.6e-12, **pj) and CMOS45_FP32.e_ac == pytest.approx(0.9e-12, **pj)
    assert CMOS45_INT8.e_mac == pytest.approx(0.23e-12, **pj) and CMOS45_INT8.e_ac == pytest.approx(0.03e-12, **pj)
    assert LOIHI.e_mac is None and LOIHI.e_ac == pytest.approx(23.6e-12, **pj)
    assert {"cmos45-fp32", "cmos45-int8", "loihi"} <= set(profile_names())
    assert "Horowitz" in CMOS45_FP32.source and "Davies" in LOIHI.source


@pytest.mark.parametrize("field", ["e_mac", "e_ac", "e_neuron", "e_spike"])
def test_negative_or_non_finite_energies_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(UNIT, **{field: -1e-12})
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(UNIT, **{field: float("nan")})
    with pytest.raises(TypeError, match=field):
        dataclasses.replace(UNIT, **{field: "1 pJ"})


def test_missing_energies_are_rejected() -> None:
    for field in ("e_ac", "e_neuron", "e_spike"):
        with pytest.raises(TypeError, match=field):
            dataclasses.replace(UNIT, **{field: None})
    data = {"name": "mine", "e_mac": 1e-12, "e_ac": 1e-13, "e_neuron": 1e-12, "source": "my chip"}
    with pytest.raises(ValueError, match="e_spike"):
        HardwareProfile.from_mapping(data)
    with pytest.raises(ValueError, match="unknown keys"):
        HardwareProfile.from_mapping({**data, "e_spike": 0.0, "e_sram": 1.0})
    with pytest.raises(ValueError, match="source"):
        HardwareProfile.from_mapping({**data, "e_spike": 0.0, "source": ""})
    assert HardwareProfile.from_mapping({**data, "e_spike": 0.0}).e_spike == 0.0


def test_users_register_their_own_profiles() -> None:
    mine = register_profile(dataclasses.replace(UNIT, name="test-registered"))
    assert get_profile("test-registered") is mine
    with pytest.raises(ValueError, match="already registered"):
        register_profile(dataclasses.replace(UNIT, name="test-registered", e_ac=2.0))
    with pytest.raises(ValueError, match="unknown hardware profile"):
        get_profile("no-such-chip")
    with pytest.raises(TypeError, match="profile"):
        register_profile({"name": "x"})  # type: ignore[arg-type]


def small_counts() -> tuple[nn.Module, object]:
    torch.manual_seed(0)
    model = Sequential(nn.Linear(6, 4), LIF(r=20.0, tau_mem=20e-3), nn.Linear(4, 2), LI())
    x = (torch.rand(5, 3, 6) < 0.5).float()
    return model, count_ops(model, x)


def test_estimate_prices_every_count() -> None:
    _, counts = small_counts()
    e = estimate(counts, UNIT)  # type: ignore[arg-type]
    c = counts
    expected = (
        c.synops_per_sample * 1.0 + c.macs_per_sample * 10.0 + c.pool_ops_per_sample * 1.0  # type: ignore[attr-defined]
        + c.neuron_updates_per_sample * 100.0 + c.spikes_routed_per_sample * 1000.0  # type: ignore[attr-defined]
    )
    assert e.snn_joules == pytest.approx(expected)
    assert e.ann_joules == pytest.approx((6 * 4 + 4 * 2) * 10.0)
    assert e.ratio == pytest.approx(expected / e.ann_joules)
    assert sum(e.snn_parts.values()) == pytest.approx(e.snn_joules)


def test_a_profile_without_macs_needs_a_baseline_and_says_how_it_priced_macs() -> None:
    _, counts = small_counts()
    with pytest.raises(ValueError, match="ann_profile"):
        estimate(counts, LOIHI)  # type: ignore[arg-type]
    analog = count_ops(nn.Linear(3, 2), torch.full((2, 1, 3), 0.5))
    e = estimate(analog, LOIHI, CMOS45_INT8)
    assert e.snn_parts["macs"] == pytest.approx(2 * 3 * 2 * 0.23e-12, rel=1e-9, abs=0)
    assert any("priced on cmos45-int8" in n for n in e.notes)


def test_table_and_chart(tmp_path: Path) -> None:
    _, counts = small_counts()
    estimates = estimate_all(counts)  # type: ignore[arg-type]
    text = energy_table(counts, estimates)  # type: ignore[arg-type]
    assert "layers.0" in text and "lif" in text and "SNN/ANN" in text
    for e in estimates:
        assert e.profile.name in text and f"{e.ratio:.3g}" in text
    path = energy_chart(estimates, tmp_path / "energy.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="estimates"):
        energy_chart([], tmp_path / "empty.png")
    with pytest.raises(TypeError, match="counts"):
        energy_table("counts")  # type: ignore[arg-type]
