"""Neuron layers: one class per registered family, binding it to :class:`~axonal.nn.NeuronLayer`.

The equations, parameters and state live in :mod:`axonal.functional.neurons` (one file per
family); a class here only names the family, so adding a family's layer is four lines. The
``Euler*`` classes are the leaky layers integrated with forward Euler (the discretisation
snnTorch and Norse use when they import NIR graphs): ``axonal.interop.from_nir(...,
discretisation="euler")`` builds them, they export to NIR as their base class, and they always
run the reference loop (no fused kernel implements the Euler steps).

Units: see each family's module (seconds and mV for the linear families; Izhikevich in mV/ms
input, AdEx in pA).
"""

from __future__ import annotations

import dataclasses

from axonal.functional.neurons.adex import ADEX_FAMILY, AdExParams, AdExState
from axonal.functional.neurons.alif import ALIF_FAMILY, ALIFParams, ALIFState
from axonal.functional.neurons.cuba_li import (
    CUBA_LI_FAMILY,
    INTEGRATOR_FAMILY,
    CubaLIParams,
    CubaLIState,
    IntegratorParams,
    IntegratorState,
)
from axonal.functional.neurons.cuba_lif import CUBA_LIF_FAMILY, CubaLIFParams, CubaLIFState
from axonal.functional.neurons.euler import (
    cuba_li_euler_step,
    cuba_lif_euler_step,
    li_euler_step,
    lif_euler_step,
)
from axonal.functional.neurons.if_ import IF_FAMILY, IFParams, IFState
from axonal.functional.neurons.izhikevich import (
    IZHIKEVICH_FAMILY,
    IzhikevichParams,
    IzhikevichState,
)
from axonal.functional.neurons.li import LI_FAMILY, LIParams, LIState
from axonal.functional.neurons.lif import LIF_FAMILY, LIFParams, LIFState
from axonal.functional.neurons.resonate import RF_FAMILY, RFParams, RFState
from axonal.nn.neuron import NeuronLayer

__all__ = [
    "ALIF",
    "AdEx",
    "CubaLI",
    "CubaLIF",
    "EulerCubaLI",
    "EulerCubaLIF",
    "EulerLI",
    "EulerLIF",
    "IF",
    "Integrator",
    "Izhikevich",
    "LI",
    "LIF",
    "ResonateAndFire",
]


# ------------------------------------------------------------------------------ spiking
class LIF(NeuronLayer[LIFState, LIFParams]):
    """Leaky integrate-and-fire layer, e.g. ``LIF(tau_mem=5e-3, learn=("tau_mem", "v_th"))``."""

    family = LIF_FAMILY


class IF(NeuronLayer[IFState, IFParams]):
    """Integrate-and-fire layer (no leak), e.g. ``IF(v_th=1.0, learn=("v_th",))``."""

    family = IF_FAMILY


class CubaLIF(NeuronLayer[CubaLIFState, CubaLIFParams]):
    """Current-based LIF layer, e.g. ``CubaLIF(tau_syn=5e-3, learn=("tau_syn", "tau_mem"))``."""

    family = CUBA_LIF_FAMILY


class ALIF(NeuronLayer[ALIFState, ALIFParams]):
    """Adaptive-threshold LIF layer, e.g. ``ALIF(tau_adapt=0.5, delta_th=0.05)``."""

    family = ALIF_FAMILY


class ResonateAndFire(NeuronLayer[RFState, RFParams]):
    """Resonate-and-fire layer (Izhikevich 2001), e.g.
    ``ResonateAndFire(omega=2 * math.pi * 40, b=-20.0, learn=("omega", "b"))``."""

    family = RF_FAMILY


class Izhikevich(NeuronLayer[IzhikevichState, IzhikevichParams]):
    """Izhikevich (2003) layer, forward Euler; input in mV/ms, e.g.
    ``Izhikevich(a=0.1, d=2.0, dt=1e-4, learn=("a", "b"))``."""

    family = IZHIKEVICH_FAMILY


class AdEx(NeuronLayer[AdExState, AdExParams]):
    """Adaptive exponential IF layer, forward Euler; input in pA, e.g.
    ``AdEx(tau_w=0.1, dt=1e-4, learn=("a", "b", "tau_w"))``."""

    family = ADEX_FAMILY


# ------------------------------------------------------------------------------ readouts
class LI(NeuronLayer[LIState, LIParams]):
    """Leaky-integrator readout layer: outputs the membrane ``[T, B, ...]`` (mV), no spikes."""

    family = LI_FAMILY


class CubaLI(NeuronLayer[CubaLIState, CubaLIParams]):
    """Current-based leaky integrator readout: outputs the membrane ``[T, B, ...]`` (mV)."""

    family = CUBA_LI_FAMILY


class Integrator(NeuronLayer[IntegratorState, IntegratorParams]):
    """Perfect integrator ``dv/dt = r x`` (NIR ``I``): outputs ``v`` ``[T, B, ...]``."""

    family = INTEGRATOR_FAMILY


# ------------------------------------------------------------------------ forward Euler
class EulerLIF(LIF):
    """:class:`LIF` integrated with forward Euler."""

    family = dataclasses.replace(LIF_FAMILY, name="lif_euler", step=lif_euler_step)


class EulerLI(LI):
    """:class:`LI` integrated with forward Euler."""

    family = dataclasses.replace(LI_FAMILY, name="li_euler", step=li_euler_step)


class EulerCubaLIF(CubaLIF):
    """:class:`CubaLIF` integrated with forward Euler (current first)."""

    family = dataclasses.replace(CUBA_LIF_FAMILY, name="cuba_lif_euler", step=cuba_lif_euler_step)


class EulerCubaLI(CubaLI):
    """:class:`CubaLI` integrated with forward Euler (current first)."""

    family = dataclasses.replace(CUBA_LI_FAMILY, name="cuba_li_euler", step=cuba_li_euler_step)
