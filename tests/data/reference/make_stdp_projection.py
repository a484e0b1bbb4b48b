"""Make ``stdp_projection.npz``: Brian2's plastic synapses with per-synapse delays.

Run with a Python that has Brian2 (2.9.0 was used, numpy target)::

    python tests/data/reference/make_stdp_projection.py

Two spike generator groups (4 presynaptic, 3 postsynaptic neurons) with seeded random trains
on the 0.1 ms grid, connected by 10 synapses (one pair twice, with different delays), each
with its own delay of 1-7 steps on the ``on_pre`` pathway. Event-driven traces, as in Brian2's
STDP examples; bounds wide enough never to be reached (so clipping per event, as Brian2 does,
and per step, as axonal does, agree). Four rules: pair STDP with all-to-all and with nearest
traces, triplet STDP (Pfister & Gerstner 2006) visual-cortex all-to-all and hippocampal
nearest parameter sets. Stored: the trains (``pre_ids``, ``pre_steps``, ``post_ids``,
``post_steps``), the synapses (``syn_i``, ``syn_j``, ``syn_delay_steps``), ``w0`` and the final
weights ``w_<rule>`` after ``steps`` steps, in synapse order.
"""

from __future__ import annotations

import json
from pathlib import Path

import brian2 as b2
import numpy as np

DT_MS = 0.1
STEPS = 1200
N_PRE, N_POST = 4, 3
SYN_I = [0, 0, 1, 1, 2, 2, 3, 3, 0, 2]
SYN_J = [0, 1, 1, 2, 0, 2, 1, 0, 1, 2]
SYN_D = [1, 3, 2, 7, 1, 4, 5, 2, 6, 1]
PAIR = {"tau_plus_ms": 20.0, "tau_minus_ms": 20.0, "a_plus": 0.01, "a_minus": 0.0105}
TRIPLET = {
    "visual_all": {"tau_plus_ms": 16.8, "tau_minus_ms": 33.7, "tau_x_ms": 101.0,
                   "tau_y_ms": 125.0, "a2_plus": 5e-10, "a3_plus": 6.2e-3, "a2_minus": 7e-3,
                   "a3_minus": 2.3e-4},
    "hippocampal_nearest": {"tau_plus_ms": 16.8, "tau_minus_ms": 33.7, "tau_x_ms": 575.0,
                            "tau_y_ms": 47.0, "a2_plus": 4.6e-3, "a3_plus": 9.1e-3,
                            "a2_minus": 3e-3, "a3_minus": 7.5e-9},
}


def trains(seed: int, n: int, low: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    z = rng.random_sample((STEPS, n)) < p
    z[:low] = False
    steps, ids = np.nonzero(z)
    return ids.astype(np.int64), steps.astype(np.int64)


def simulate(model: str, on_pre: str, on_post: str, params: dict[str, float],
             data: dict[str, np.ndarray]) -> np.ndarray:
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = DT_MS * b2.ms
    pre = b2.SpikeGeneratorGroup(N_PRE, data["pre_ids"], data["pre_steps"] * DT_MS * b2.ms)
    post = b2.SpikeGeneratorGroup(N_POST, data["post_ids"], data["post_steps"] * DT_MS * b2.ms)
    ns = {k[:-3]: v * b2.ms for k, v in params.items() if k.endswith("_ms")}
    ns.update({k: v for k, v in params.items() if not k.endswith("_ms")})
    syn = b2.Synapses(pre, post, model, on_pre=on_pre, on_post=on_post, namespace=ns)
    syn.connect(i=np.array(SYN_I), j=np.array(SYN_J))
    syn.w = data["w0"]
    syn.pre.delay = np.array(SYN_D) * DT_MS * b2.ms
    b2.run(STEPS * DT_MS * b2.ms)
    return np.asarray(syn.w[:], dtype=np.float64)


PAIR_MODEL = """w : 1
da/dt = -a / tau_plus : 1 (event-driven)
dy/dt = -y / tau_minus : 1 (event-driven)"""
TRIPLET_MODEL = """w : 1
dr1/dt = -r1 / tau_plus : 1 (event-driven)
dr2/dt = -r2 / tau_x : 1 (event-driven)
do1/dt = -o1 / tau_minus : 1 (event-driven)
do2/dt = -o2 / tau_y : 1 (event-driven)"""


def main() -> None:
    pre_ids, pre_steps = trains(11, N_PRE, 0, 0.02)
    post_ids, post_steps = trains(12, N_POST, 2, 0.02)
    data = {"pre_ids": pre_ids, "pre_steps": pre_steps, "post_ids": post_ids,
            "post_steps": post_steps, "w0": np.linspace(-0.05, 0.05, len(SYN_I))}
    out: dict[str, np.ndarray] = dict(data)
    for mode, op in (("all_to_all", "+="), ("nearest", "=")):
        out[f"w_pair_{mode}"] = simulate(
            PAIR_MODEL, f"a {op} 1\nw = clip(w - a_minus * y, -10, 10)",
            f"y {op} 1\nw = clip(w + a_plus * a, -10, 10)", PAIR, data)
    for name, prm in TRIPLET.items():
        op = "=" if name.endswith("nearest") else "+="
        out[f"w_triplet_{name}"] = simulate(
            TRIPLET_MODEL,
            f"w = clip(w - o1 * (a2_minus + a3_minus * r2), -10, 10)\nr1 {op} 1\nr2 {op} 1",
            f"w = clip(w + r1 * (a2_plus + a3_plus * o2), -10, 10)\no1 {op} 1\no2 {op} 1",
            prm, data)
    out["syn_i"] = np.array(SYN_I)
    out["syn_j"] = np.array(SYN_J)
    out["syn_delay_steps"] = np.array(SYN_D)
    out["params_json"] = np.array(json.dumps({
        "dt_ms": DT_MS, "steps": STEPS, "pair": PAIR, "triplet": TRIPLET,
        "brian2": b2.__version__, "bounds": [-10, 10]}))
    target = Path(__file__).with_name("stdp_projection.npz")
    np.savez(target, **out)  # type: ignore[arg-type]
    print(target, {k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
