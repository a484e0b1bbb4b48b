"""Hardware energy profiles: energy per operation, as data, each with its published source.

A profile prices the counts of :mod:`axonal.energy.counting`:

* ``e_mac``: one multiply-accumulate (the ANN's work, and the SNN's work on non-spike input);
  ``None`` for hardware that has no dense MAC datapath (a neuromorphic chip);
* ``e_ac``: one accumulate (add) -- a synaptic operation driven by a spike, or one pooling
  comparison/addition;
* ``e_neuron``: one neuron state update (one neuron, one time step);
* ``e_spike``: routing one spike from its neuron to its target core or tile.

All energies are in joules. Profiles are compute-only: memory traffic (weight fetches) is not
modelled by the built-in profiles; add it to ``e_ac`` / ``e_mac`` in a profile of your own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

__all__ = [
    "HardwareProfile",
    "CMOS45_FP32",
    "CMOS45_INT8",
    "LOIHI",
    "register_profile",
    "get_profile",
    "profile_names",
]

_ENERGY_FIELDS = ("e_mac", "e_ac", "e_neuron", "e_spike")


def _check_energy(name: str, value: Any, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "a float in joules or None" if allow_none else "a float in joules"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 J, got {value}")


@dataclass(frozen=True)
class HardwareProfile:
    """Energy per operation of one kind of hardware (all four energies must be given).

    Units: joules per operation.

    Attributes:
        name: registry key, e.g. ``"cmos45-fp32"``.
        e_mac: per multiply-accumulate, or ``None`` where the hardware has no MAC datapath.
        e_ac: per accumulate (spike-driven synaptic operation; pooling comparison or add).
        e_neuron: per neuron state update.
        e_spike: per spike routed.
        source: the published source of the numbers.
    """

    name: str
    e_mac: float | None
    e_ac: float
    e_neuron: float
    e_spike: float
    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(f"source must name the published source of the numbers, got {self.source!r}")
        for field in _ENERGY_FIELDS:
            _check_energy(field, getattr(self, field), allow_none=field == "e_mac")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> HardwareProfile:
        """Build a profile from a plain mapping (e.g. parsed JSON); every field is required."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"hardware profile is missing {missing}; every one of {names} is required")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"hardware profile has unknown keys {unknown}; expected {names}")
        return cls(**{n: data[n] for n in names})


_PJ = 1e-12

CMOS45_FP32 = HardwareProfile(
    name="cmos45-fp32",
    e_mac=(3.7 + 0.9) * _PJ,
    e_ac=0.9 * _PJ,
    e_neuron=(3.7 + 0.9 + 0.9) * _PJ,
    e_spike=0.0,
    source=(
        "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
        "45 nm, 0.9 V: 32-bit float multiply 3.7 pJ, add 0.9 pJ"
    ),
)
"""45 nm CMOS, 32-bit floating point (Horowitz, ISSCC 2014, 45 nm at 0.9 V).

Published: float32 multiply 3.7 pJ, float32 add 0.9 pJ. Derived here: MAC = multiply + add =
4.6 pJ; accumulate = add = 0.9 pJ; a neuron update = one leak multiply-add plus one threshold
comparison (counted as an add) = 5.5 pJ. Spike routing is not modelled (0 J): on a
conventional processor a spike is a memory write, and memory is outside this profile.
"""

CMOS45_INT8 = HardwareProfile(
    name="cmos45-int8",
    e_mac=(0.2 + 0.03) * _PJ,
    e_ac=0.03 * _PJ,
    e_neuron=(0.2 + 0.03 + 0.03) * _PJ,
    e_spike=0.0,
    source=(
        "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
        "45 nm, 0.9 V: 8-bit integer multiply 0.2 pJ, add 0.03 pJ"
    ),
)
"""45 nm CMOS, 8-bit integer (Horowitz, ISSCC 2014, 45 nm at 0.9 V).

Published: int8 multiply 0.2 pJ, int8 add 0.03 pJ. Derived: MAC 0.23 pJ, accumulate 0.03 pJ,
neuron update (multiply-add + compare) 0.26 pJ; spike routing not modelled (0 J).
"""

LOIHI = HardwareProfile(
    name="loihi",
    e_mac=None,
    e_ac=23.6 * _PJ,
    e_neuron=81.0 * _PJ,
    e_spike=1.7 * _PJ,
    source=(
        "M. Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', "
        "IEEE Micro 38(1), 2018, Table 1: synaptic spike op 23.6 pJ (minimum), neuron update "
        "81 pJ (active), within-tile spike energy 1.7 pJ"
    ),
)
"""Intel Loihi (Davies et al., IEEE Micro 38(1):82-99, 2018, Table 1).

Energy per synaptic spike operation 23.6 pJ (the published minimum), per active neuron update
81 pJ, per spike sent within a tile 1.7 pJ (hops between tiles cost more and are not modelled).
Loihi has no dense MAC datapath (``e_mac=None``): an ANN comparison is priced on a CMOS
profile, and an SNN's MACs on non-spike input are priced on that same baseline (the host).
"""

_PROFILES: dict[str, HardwareProfile] = {}


def register_profile(profile: HardwareProfile, replace: bool = False) -> HardwareProfile:
    """Add ``profile`` to the registry under ``profile.name`` and return it."""
    if not isinstance(profile, HardwareProfile):
        raise TypeError(f"profile must be a HardwareProfile, got {type(profile).__name__}")
    if not replace and profile.name in _PROFILES and _PROFILES[profile.name] != profile:
        raise ValueError(f"a hardware profile named {profile.name!r} is already registered (use replace=True)")
    _PROFILES[profile.name] = profile
    return profile


def get_profile(name: str) -> HardwareProfile:
    """Look up a registered profile by name."""
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown hardware profile {name!r}; expected one of {profile_names()}") from None


def profile_names() -> list[str]:
    return sorted(_PROFILES)


for _p in (CMOS45_FP32, CMOS45_INT8, LOIHI):
    register_profile(_p)
