"""Energy estimates from :class:`~axonal.energy.counting.OpCounts`: SNN vs ANN, table, chart.

Per sample, on a profile ``p`` (the SNN's hardware) and ``q`` (the ANN's hardware)::

    E_snn = synops * p.e_ac + macs * p.e_mac + pool_ops * p.e_ac
            + neuron_updates * p.e_neuron + spikes_routed * p.e_spike
    E_ann = ann_macs * q.e_mac + ann_pool_ops * q.e_ac

``q`` is ``p`` itself unless ``p`` has no MAC datapath (``e_mac=None``, e.g. Loihi), in which
case the comparison names a baseline CMOS profile; the SNN's own MACs on non-spike input are
then priced on that baseline too (a host computes them), and the estimate says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from axonal.energy.counting import OpCounts
from axonal.energy.profiles import CMOS45_FP32, CMOS45_INT8, LOIHI, HardwareProfile

__all__ = [
    "DEFAULT_COMPARISONS",
    "EnergyEstimate",
    "estimate",
    "estimate_all",
    "energy_table",
    "energy_chart",
]

DEFAULT_COMPARISONS: tuple[tuple[HardwareProfile, HardwareProfile | None], ...] = (
    (CMOS45_FP32, None),
    (CMOS45_INT8, None),
    (LOIHI, CMOS45_INT8),
)
"""(SNN hardware, ANN hardware or ``None`` for the same) pairs reported by default."""


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy per sample of the SNN on ``profile`` and of its ANN equivalent on ``ann_profile``.

    Units: joules per sample (one ``[T, ...]`` input).

    Attributes:
        snn_parts: the SNN energy split into ``synops``, ``macs``, ``pool``, ``neurons``,
            ``spikes``.
        notes: caveats of this estimate (e.g. MACs priced on the baseline).
    """

    profile: HardwareProfile
    ann_profile: HardwareProfile
    snn_joules: float
    ann_joules: float
    snn_parts: dict[str, float]
    notes: tuple[str, ...]

    @property
    def ratio(self) -> float:
        """SNN energy / ANN energy (below 1: the SNN is cheaper)."""
        return self.snn_joules / self.ann_joules if self.ann_joules > 0 else float("inf")


def estimate(
    counts: OpCounts, profile: HardwareProfile, ann_profile: HardwareProfile | None = None
) -> EnergyEstimate:
    """Price ``counts`` on ``profile`` (SNN) and ``ann_profile`` (ANN; default: ``profile``)."""
    if not isinstance(counts, OpCounts):
        raise TypeError(f"counts must be OpCounts (from count_ops), got {type(counts).__name__}")
    if not isinstance(profile, HardwareProfile):
        raise TypeError(f"profile must be a HardwareProfile, got {type(profile).__name__}")
    ann = profile if ann_profile is None else ann_profile
    if not isinstance(ann, HardwareProfile):
        raise TypeError(f"ann_profile must be a HardwareProfile or None, got {type(ann).__name__}")
    if ann.e_mac is None:
        raise ValueError(
            f"ann_profile {ann.name!r} has no MAC energy (e_mac=None); "
            "name a profile that runs dense MACs for the ANN"
        )
    notes: list[str] = []
    e_mac = profile.e_mac
    if e_mac is None:
        e_mac = ann.e_mac
        if counts.macs_per_sample:
            notes.append(
                f"{counts.macs_per_sample:.4g} MACs/sample on non-spike input priced on {ann.name} "
                f"({profile.name} has no MAC datapath)"
            )
    parts = {
        "synops": counts.synops_per_sample * profile.e_ac,
        "macs": counts.macs_per_sample * e_mac,
        "pool": counts.pool_ops_per_sample * profile.e_ac,
        "neurons": counts.neuron_updates_per_sample * profile.e_neuron,
        "spikes": counts.spikes_routed_per_sample * profile.e_spike,
    }
    ann_joules = counts.ann_macs_per_sample * ann.e_mac + counts.ann_pool_ops_per_sample * ann.e_ac
    if counts.unknown:
        notes.append(f"{len(counts.unknown)} operation(s) not understood and not counted")
    return EnergyEstimate(profile, ann, sum(parts.values()), ann_joules, parts, tuple(notes))


def estimate_all(
    counts: OpCounts,
    comparisons: Sequence[tuple[HardwareProfile, HardwareProfile | None]] = DEFAULT_COMPARISONS,
) -> list[EnergyEstimate]:
    """:func:`estimate` for each (SNN profile, ANN profile or ``None``) pair."""
    return [estimate(counts, snn, ann) for snn, ann in comparisons]


def _si(joules: float) -> str:
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ"), (1e-12, "pJ")):
        if abs(joules) >= scale:
            return f"{joules / scale:.3g} {unit}"
    return f"{joules / 1e-15:.3g} fJ"


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return f"{int(value):,}"


def energy_table(counts: OpCounts, estimates: Sequence[EnergyEstimate] = ()) -> str:
    """Per-layer counts (per sample) and, for each estimate, SNN / ANN energy and ratio."""
    if not isinstance(counts, OpCounts):
        raise TypeError(f"counts must be OpCounts, got {type(counts).__name__}")
    b = counts.batch
    header = ("layer", "kind", "rate in", "rate out", "synops", "SNN MACs", "ANN MACs", "pool ops", "neuron upd")
    rows: list[tuple[str, ...]] = []
    for layer in counts.layers:
        rate_in = layer.rate_in
        rate_out = layer.rate_out
        hz = f" ({rate_out / layer.dt:.1f} Hz)" if rate_out is not None and layer.dt else ""
        rows.append(
            (
                layer.name or "(model)",
                layer.kind,
                "-" if rate_in is None else f"{rate_in:.3f}",
                "-" if rate_out is None else f"{rate_out:.3f}{hz}",
                _fmt(layer.synops / b),
                _fmt(layer.macs / b),
                _fmt(layer.dense_macs / (counts.steps * b) * counts.ann_steps),
                _fmt(layer.pool_ops / b),
                _fmt(layer.neuron_updates / b),
            )
        )
    rows.append(
        (
            "total",
            "",
            "-" if counts.input_spikes is None else f"input {counts.input_spikes / b:.4g} spikes",
            f"{counts.spikes_routed_per_sample:.4g} spikes routed",
            _fmt(counts.synops_per_sample),
            _fmt(counts.macs_per_sample),
            _fmt(counts.ann_macs_per_sample),
            _fmt(counts.pool_ops_per_sample),
            _fmt(counts.neuron_updates_per_sample),
        )
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [
        f"operations per sample ({counts.steps} steps; ANN: {counts.ann_steps} step(s); "
        f"rates are spikes per element per step)",
        line(header),
        line(["-" * w for w in widths]),
        *[line(r) for r in rows],
    ]
    if counts.unknown:
        out.append("NOT COUNTED (operations the counter does not understand): " + "; ".join(counts.unknown))
    if estimates:
        out.append("")
        out.append("energy per sample (compute only; memory traffic not modelled)")
        eh = ("SNN on", "SNN energy", "ANN on", "ANN energy", "SNN/ANN")
        erows = [
            (e.profile.name, _si(e.snn_joules), e.ann_profile.name, _si(e.ann_joules), f"{e.ratio:.3g}")
            for e in estimates
        ]
        ew = [max(len(r[i]) for r in [eh, *erows]) for i in range(len(eh))]
        out.append("  ".join(c.ljust(w) for c, w in zip(eh, ew)))
        out.append("  ".join("-" * w for w in ew))
        out.extend("  ".join(c.ljust(w) for c, w in zip(r, ew)) for r in erows)
        for e in estimates:
            out.extend(f"note ({e.profile.name}): {n}" for n in e.notes)
        sources = {e.profile.name: e.profile.source for e in estimates}
        sources.update({e.ann_profile.name: e.ann_profile.source for e in estimates})
        out.extend(f"source ({name}): {src}" for name, src in sources.items())
    return "\n".join(out)


def energy_chart(estimates: Sequence[EnergyEstimate], path: str | Path, title: str = "") -> Path:
    """Bar chart (log scale) of SNN and ANN energy per sample for each estimate; PNG."""
    from axonal.plot import pyplot

    if not estimates:
        raise ValueError("estimates must hold at least one EnergyEstimate")
    for i, e in enumerate(estimates):
        if not isinstance(e, EnergyEstimate):
            raise TypeError(f"estimates[{i}] must be an EnergyEstimate, got {type(e).__name__}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.8 + 1.9 * len(estimates), 4.2))
    xs = range(len(estimates))
    width = 0.38
    snn = [max(e.snn_joules, 1e-18) for e in estimates]
    ann = [max(e.ann_joules, 1e-18) for e in estimates]
    ax.bar([x - width / 2 for x in xs], snn, width, label="SNN", color="tab:blue")
    ax.bar([x + width / 2 for x in xs], ann, width, label="ANN", color="tab:gray")
    for x, e in zip(xs, estimates):
        ax.annotate(
            f"SNN/ANN {e.ratio:.3g}", (x, max(snn[x], ann[x])), textcoords="offset points", xytext=(0, 4), ha="center"
        )
    ax.set_xticks(list(xs))
    ax.set_xticklabels([f"{e.profile.name}\nvs {e.ann_profile.name}" for e in estimates], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("energy per sample (J)")
    ax.legend()
    ax.set_title(title or "SNN vs ANN energy per sample")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
