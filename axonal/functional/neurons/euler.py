"""Forward-Euler steps of the leaky NIR neuron equations (the discretisation snnTorch and Norse
use when they import NIR graphs).

Each step lives in its family's own module and is that family's ``"euler"`` discretisation
(``family.stepper("euler")``); this module gathers them under one name::

    LIF / LI:  v <- v + (dt / tau_mem) ((v_leak - v) + r x)
    CubaLIF / CubaLI (synaptic current updated first, then the membrane sees the new current):
               i <- i + (dt / tau_syn) (x - i)
               v <- v + (dt / tau_mem) ((v_leak - v) + r i)

The spiking ones then fire where ``v > v_th`` and reset with the parameter object's
:class:`ResetMode`. IF and the integrator have no leak, so forward Euler equals their exact
step. Refractory periods are not part of NIR and are rejected by the LIF Euler step.

Units: time in s, voltage in mV, ``x`` in nA, ``r`` in MOhm.
"""

from __future__ import annotations

from axonal.functional.neurons.cuba_li import cuba_li_euler_step
from axonal.functional.neurons.cuba_lif import cuba_lif_euler_step
from axonal.functional.neurons.li import euler_membrane, li_euler_step
from axonal.functional.neurons.lif import lif_euler_step

__all__ = [
    "cuba_li_euler_step",
    "cuba_lif_euler_step",
    "euler_membrane",
    "li_euler_step",
    "lif_euler_step",
]
