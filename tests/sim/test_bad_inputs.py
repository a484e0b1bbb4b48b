"""Bad input to the simulator is refused at the boundary, naming what is wrong: non-finite
initial values, weights and delays (given or drawn), each family's own dt limit, runs too long
to finish and delays too long to hold."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from axonal.errors import NonFiniteError, ResourceLimitError
from axonal.functional.neurons import AdExParams, IzhikevichParams, LIFParams
from axonal.sim import (
    AllToAll,
    ConstantCurrent,
    Exponential,
    FromArrays,
    Network,
    Population,
    Projection,
    SpikeGenerator,
)

DT = 1e-4


def const(value: float) -> Callable[[torch.Generator, int], torch.Tensor]:
    def draw(generator: torch.Generator, n: int) -> torch.Tensor:
        out = torch.rand(n, generator=generator, dtype=torch.float64)
        out[n // 2] = value
        return out

    return draw


@pytest.mark.parametrize("value", [float("nan"), float("inf"), torch.tensor([0.0, float("-inf"),
                                                                              1.0])])
def test_initial_values_given_are_refused_at_once(value: Any) -> None:
    with pytest.raises(NonFiniteError, match=r"population 'E': init\['v'\] must be finite"):
        Population(LIFParams(), 3, name="E", init={"v": value})
    with pytest.raises(NonFiniteError, match=r"population 'E': init\['g_e'\]"):
        Population(LIFParams(), 3, name="E", init={"g_e": value})
    with pytest.raises(TypeError, match=r"init\['v'\] must be a float, a tensor or a draw"):
        Population(LIFParams(), 3, name="E", init={"v": "-65"})


@pytest.mark.parametrize("field", ["v", "refractory", "g_e"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_initial_values_drawn_are_refused_before_the_run(field: str, value: float) -> None:
    net = Network()
    pop = net.add(Population(LIFParams(), 4, name="E", init={field: const(value)}))
    gen = net.add(SpikeGenerator(1, [0], [0.0]))
    net.add(Projection(gen, pop, AllToAll(), weight=1.0, synapse=Exponential(5e-3, "e")))
    with pytest.raises(NonFiniteError, match=rf"population 'E': init\['{field}'\] must be "
                                             rf"finite, got"):
        net.run(1e-3, DT, progress=False)
    assert net.step == 0


def test_initial_value_that_overflows_the_dtype_is_refused() -> None:
    net = Network(dtype=torch.float32)
    net.add(Population(LIFParams(), 2, name="E", init={"v": 1e39}))
    with pytest.raises(NonFiniteError, match=r"init\['v'\].*1 inf|init\['v'\].*inf"):
        net.run(1e-3, DT, progress=False)


@pytest.mark.parametrize("arg", ["weight", "delay"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"),
                                   torch.tensor([1e-4, float("nan")])])
def test_weights_and_delays_given_are_refused_at_once(arg: str, value: Any) -> None:
    gen = SpikeGenerator(2, [0], [0.0], name="in")
    pop = Population(LIFParams(), 2, name="E")
    rule = FromArrays(torch.tensor([0, 1]), torch.tensor([1, 0]))
    kwargs: dict[str, Any] = {"weight": 1.0, "delay": DT, arg: value}
    with pytest.raises(NonFiniteError, match=rf"projection 'in->E': {arg} must be finite"):
        Projection(gen, pop, rule, **kwargs)


@pytest.mark.parametrize("arg", ["weight", "delay"])
@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_weight_and_delay_draws_are_refused_before_the_run(arg: str, value: float) -> None:
    net = Network()
    gen = net.add(SpikeGenerator(3, [0], [0.0], name="in"))
    pop = net.add(Population(LIFParams(), 4, name="E"))
    ok: dict[str, Any] = {"weight": 0.5, "delay": lambda g, n: DT + 0 * torch.rand(n)}
    ok[arg] = (lambda g, n: DT + const(value)(g, n) * 1e-4) if arg == "delay" else const(value)
    net.add(Projection(gen, pop, AllToAll(), name="feed", **ok))
    with pytest.raises(NonFiniteError, match=rf"projection 'feed': {arg} \(drawn\) must be finite"):
        net.run(1e-3, DT, progress=False)


def test_weight_that_overflows_the_dtype_is_refused() -> None:
    net = Network(dtype=torch.float32)
    gen = net.add(SpikeGenerator(1, [0], [0.0], name="in"))
    pop = net.add(Population(LIFParams(), 1, name="E"))
    net.add(Projection(gen, pop, AllToAll(), weight=1e39))
    with pytest.raises(NonFiniteError, match=r"projection 'in->E': weight \(as built, "
                                             r"torch.float32\) must be finite"):
        net.run(1e-3, DT, progress=False)


def test_injected_currents_must_be_finite() -> None:
    with pytest.raises(NonFiniteError, match="amplitude must be finite"):
        ConstantCurrent(float("nan"))
    with pytest.raises(NonFiniteError, match="amplitude must be finite, got 0 NaN and 1 inf"):
        ConstantCurrent(torch.tensor([1.0, float("inf")]))


def test_each_family_applies_its_own_dt_limit() -> None:
    izh = Network()
    izh.add(Population(IzhikevichParams(), 2))
    with pytest.raises(ValueError, match=r"dt must be <= 0.001 s for the Izhikevich model"):
        izh.run(4e-3, 2e-3, progress=False)
    izh.run(2e-3, 1e-3, progress=False)  # the paper's step is allowed
    adex = Network()
    adex.add(Population(AdExParams(tau_w=5e-4), 2))
    with pytest.raises(ValueError, match="dt must be < tau_w"):
        adex.run(1e-3, 5e-4, progress=False)
    assert adex.dt is None  # refused before anything was built


@pytest.mark.parametrize("duration", [2e6, 1e300])
def test_runs_of_more_than_1e10_steps_are_refused_before_they_start(duration: float) -> None:
    net = Network()
    net.add(Population(LIFParams(), 1))
    with pytest.raises(ResourceLimitError, match=r"at most 1e\+10 are allowed"):
        net.run(duration, DT, progress=False)
    assert net.dt is None and net.step == 0
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="duration must be finite and >= 0"):
            net.run(bad, DT, progress=False)
    with pytest.raises(TypeError, match="duration must be a float"):
        net.run("1.0", DT, progress=False)  # type: ignore[arg-type]


def test_delays_too_long_to_hold_are_refused() -> None:
    net = Network()
    gen = net.add(SpikeGenerator(1, [0], [0.0], name="in"))
    pop = net.add(Population(LIFParams(), 100, name="E"))
    net.add(Projection(gen, pop, AllToAll(), weight=1.0, delay=1e6))  # 1e10 steps
    with pytest.raises(ResourceLimitError, match=r"projection 'in->E': delay of 1e\+06 s"):
        net.run(1e-3, DT, progress=False)
    small = Network(memory_limit=2_000_000)
    gen = small.add(SpikeGenerator(1, [0], [0.0], name="in"))
    pop = small.add(Population(LIFParams(), 100, name="E"))
    small.add(Projection(gen, pop, AllToAll(), weight=1.0, delay=1.0))  # 10^4 rows x 100
    with pytest.raises(ResourceLimitError, match="ring buffers of the synaptic delays need"):
        small.run(1e-3, DT, progress=False)
