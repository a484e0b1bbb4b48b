"""Neuron populations: ``n`` neurons of one registered family, their synapse channels and
injected currents. :data:`Source` is anything a projection can start from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Union

import torch
from torch import Tensor

from axonal.functional.validate import check_int
from axonal.functional.neurons import NeuronFamily, family_names, get_family
from axonal.functional.synapses import conductance_current
from axonal.sim.delivery import RingBuffer
from axonal.sim.draws import Draw, check_finite_values
from axonal.sim.inputs import CurrentInput, PoissonSource, SpikeGenerator
from axonal.sim.synapses import Conductance, Exponential, Synapse

__all__ = ["Population", "Source", "Channel"]


def _family_of(params: object) -> NeuronFamily[Any, Any]:
    matches = [get_family(n) for n in family_names() if isinstance(params, get_family(n).params_type)]
    if len(matches) != 1:
        raise TypeError(f"params must be the parameters of one registered neuron family "
                        f"({family_names()}), got {type(params).__name__}")
    return matches[0]


@dataclass
class Channel:
    """A population's input of one synapse model: ``g`` per neuron, its ring buffer, and (for
    an :class:`~axonal.sim.synapses.Exponential` channel) the factor on ``g`` in the held
    input, :meth:`Exponential.input_factor <axonal.sim.synapses.Exponential.input_factor>`
    (a 0-d or ``[n]`` tensor of the network's dtype, set when the run's ``dt`` is known)."""

    synapse: Synapse
    g: Tensor
    ring: RingBuffer
    factor: Tensor | None = None


class Population:
    """``n`` neurons of one family (found from the type of ``params``).

    Args:
        params: a family's parameter record (e.g. ``LIFParams``); tensor fields broadcast to
            ``[n]``.
        n: number of neurons.
        name: label for monitors and saved files.
        init: initial values of state fields: a float, an ``[n]`` tensor, or
            ``draw(generator, n)`` (e.g. random initial membranes); all finite (NaN or inf
            raise :class:`~axonal.errors.NonFiniteError`, values now, draws when drawn).
    """

    def __init__(self, params: object, n: int, name: str | None = None,
                 init: Mapping[str, float | Tensor | Draw] | None = None) -> None:
        self.family = _family_of(params)
        self.params = params
        self.n = check_int("n", n)
        self.name = name or f"{self.family.name}{id(self) % 10000}"
        fields = self.family.state_type._fields
        for key, value in (init or {}).items():
            if key not in fields and not key.startswith("g_"):
                raise ValueError(f"init: {key!r} is not a state field of {self.family.name} "
                                 f"({fields})")
            if callable(value):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
                raise TypeError(f"population {self.name!r}: init[{key!r}] must be a float, a "
                                f"tensor or a draw function, got {type(value).__name__}")
            check_finite_values(f"population {self.name!r}: init[{key!r}]",
                                value.detach() if isinstance(value, Tensor) else float(value))
        self.init = dict(init or {})
        self.state: Any = None
        self.channels: dict[Synapse, Channel] = {}
        self.currents: list[CurrentInput] = []

    def variable(self, name: str) -> Tensor:
        """A state field (``v``, ...) or a channel's ``g`` (``"g_" + synapse.name``)."""
        if self.state is not None and name in self.state._fields:
            return getattr(self.state, name)  # type: ignore[no-any-return]
        for syn, ch in self.channels.items():
            if name == f"g_{syn.name}":
                return ch.g
        raise ValueError(f"{self.name} has no variable {name!r}")

    def unit(self, name: str) -> str | None:
        """The unit of :meth:`variable` ``name`` where the simulator knows it: ``v`` in mV,
        ``refractory`` in s, a channel's ``g`` in nA (uS for a conductance synapse); ``None``
        for other state fields (their units are the family's)."""
        for syn in self.channels:
            if name == f"g_{syn.name}":
                return "uS" if isinstance(syn, Conductance) else "nA"
        return {"v": "mV", "refractory": "s"}.get(name)

    def _initialise(self, generator: torch.Generator, dtype: torch.dtype) -> None:
        state = self.family.initial_state(torch.zeros(self.n, dtype=dtype), self.params)
        values: dict[str, Tensor] = {}
        for key, value in self.init.items():
            if key.startswith("g_") and key not in state._fields:
                continue  # a synapse channel's initial value: set once channels exist
            if callable(value):
                t = torch.as_tensor(value(generator, self.n), dtype=dtype)
            else:
                t = torch.as_tensor(value, dtype=dtype)
            if t.ndim > 1 or (t.ndim == 1 and t.numel() != self.n):
                raise ValueError(f"init[{key!r}] must be a scalar or [{self.n}], got "
                                 f"{tuple(t.shape)}")
            check_finite_values(f"population {self.name!r}: init[{key!r}]", t)
            values[key] = torch.zeros(self.n, dtype=dtype) + t
        self.state = state._replace(**values)

    def _initialise_channels(self, generator: torch.Generator, dtype: torch.dtype) -> None:
        names = {f"g_{syn.name}": ch for syn, ch in self.channels.items()}
        for key, value in self.init.items():
            if key in self.state._fields:
                continue
            if key not in names:
                raise ValueError(f"init: {key!r} is neither a state field of {self.family.name} "
                                 f"nor a synapse channel of {self.name} ({sorted(names)})")
            t = value(generator, self.n) if callable(value) else value
            t = torch.as_tensor(t, dtype=dtype)
            if t.ndim > 1 or (t.ndim == 1 and t.numel() != self.n):
                raise ValueError(f"init[{key!r}] must be a scalar or [{self.n}]")
            check_finite_values(f"population {self.name!r}: init[{key!r}]", t)
            names[key].g = torch.zeros(self.n, dtype=dtype) + t

    def _set_channel_factors(self, dt: float, dtype: torch.dtype) -> None:
        """Each exponential channel's factor on ``g`` for steps of ``dt`` (see
        :class:`Channel`): one value, or ``[n]`` when it differs between neurons."""
        for syn, ch in self.channels.items():
            if not isinstance(syn, Exponential):
                continue
            f = torch.as_tensor(syn.input_factor(dt, self.family.name, self.params),
                                dtype=torch.float64)
            if f.numel() > 1:
                f = f.expand(self.n).contiguous()
                if bool((f == f[0]).all()):
                    f = f[0]
            ch.factor = f.reshape(()).to(dtype) if f.numel() == 1 else f.to(dtype)

    def _input(self, step: int, dt: float) -> Tensor:
        x = torch.zeros(self.n, dtype=self.state.v.dtype)
        for syn, ch in self.channels.items():
            if isinstance(syn, Conductance):
                x += conductance_current(ch.g, self.state.v, syn.e_rev)
            elif ch.factor is not None:
                x += ch.g * ch.factor
            else:
                x += ch.g
        for cur in self.currents:
            x += cur.value(step, dt, self.n, x.dtype)
        return x


Source = Union[Population, PoissonSource, SpikeGenerator]
"""What a projection starts from: a neuron population or a spike source."""
