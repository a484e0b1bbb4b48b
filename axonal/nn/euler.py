"""Forward-Euler variants of the leaky layers: LIF, LI, CubaLIF and CubaLI.

The same parameters and state as the exact layers they derive from, integrated with one
forward-Euler step of ``dt`` (:mod:`axonal.functional.neurons.euler`), the discretisation
snnTorch and Norse use when they import NIR graphs. ``axonal.interop.from_nir(...,
discretisation="euler")`` builds them; they export to NIR as their base class. They always
run the reference loop (no fused kernel implements the Euler steps).
"""

from __future__ import annotations

import dataclasses

from axonal.functional.neurons.cuba_li import CUBA_LI_FAMILY
from axonal.functional.neurons.cuba_lif import CUBA_LIF_FAMILY
from axonal.functional.neurons.euler import (
    cuba_li_euler_step,
    cuba_lif_euler_step,
    li_euler_step,
    lif_euler_step,
)
from axonal.functional.neurons.li import LI_FAMILY
from axonal.functional.neurons.lif import LIF_FAMILY
from axonal.nn.lif import LIF
from axonal.nn.neurons_linear import LI, CubaLIF
from axonal.nn.nir_pieces import CubaLI

__all__ = ["EulerCubaLI", "EulerCubaLIF", "EulerLI", "EulerLIF"]


class EulerLIF(LIF):
    """:class:`~axonal.nn.LIF` integrated with forward Euler."""

    family = dataclasses.replace(LIF_FAMILY, name="lif_euler", step=lif_euler_step)


class EulerLI(LI):
    """:class:`~axonal.nn.LI` integrated with forward Euler."""

    family = dataclasses.replace(LI_FAMILY, name="li_euler", step=li_euler_step)


class EulerCubaLIF(CubaLIF):
    """:class:`~axonal.nn.CubaLIF` integrated with forward Euler (current first)."""

    family = dataclasses.replace(CUBA_LIF_FAMILY, name="cuba_lif_euler", step=cuba_lif_euler_step)


class EulerCubaLI(CubaLI):
    """:class:`~axonal.nn.CubaLI` integrated with forward Euler (current first)."""

    family = dataclasses.replace(CUBA_LI_FAMILY, name="cuba_li_euler", step=cuba_li_euler_step)
