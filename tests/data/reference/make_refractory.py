"""Make ``refractory_<family>.npz``: Brian2 traces of single neurons with a refractory period.

Run with a Python that has Brian2 (2.9.0 was used; numpy code-generation target, float64)::

    python tests/data/reference/make_refractory.py            # writes the five files here
    python tests/data/reference/make_refractory.py --check    # compares with the stored files

Deterministic: the cases come from ``numpy.random.default_rng(SEED)`` and Brian2 draws no random
numbers. For each family (LIF, CubaLIF, ALIF, IF, AdEx) ``CASES_PER_FAMILY`` random parameter
sets, each with a random refractory period ``t_ref`` (a whole number of steps, or a whole number
plus a fraction of a step above or below one half), hard reset (``v = v_reset``) and
subtractive reset (``v -= v_th - v_reset``; ALIF: ``v -= v_th + a - v_reset``, the effective
threshold) in turn (AdEx: hard only), and a random input that is constant over each step
(a ``TimedArray`` on the step grid, marked ``constant over dt``): mostly above threshold, with
a few quiet windows of negative input, ``STEPS`` steps.

Conventions are axonal's (and those of the project's shared ``reference/README.md``): Brian2
clock-driven order (update, threshold on the updated value, reset at once), sample ``k`` of a
trace is the state before the update of step ``k`` (``STEPS + 1`` samples, the last one the
final state), a spike is stored as the index ``k`` of the step whose update crossed threshold.
The equations are written without Brian2 units, in axonal's (mV, nA, MOhm, s; AdEx: mV, pA, nS,
pF), so that no unit conversion changes the arithmetic; time constants and ``dt`` are in
seconds. ``refractory=t_ref`` with ``(unless refractory)`` on ``dv/dt`` only: the synaptic
current (CubaLIF) and the adaptation (ALIF, AdEx) keep evolving while the membrane is held.
Exact integration (``method='exact'``) for LIF, CubaLIF and ALIF, forward Euler for IF (exact:
no leak) and AdEx.

Stored per family (``refractory_<family>.npz``): ``cases_json`` (a JSON list with, per case,
``params``: the axonal parameter fields, ``reset``: ``"ZERO"`` or ``"SUBTRACT"``, ``dt``,
``steps``), and per case ``k``: ``c<k>_x`` (float32, the per-step input; its float64 value is
what Brian2 used), ``c<k>_spikes`` (int32 step indices), ``c<k>_v`` and the second state
variable ``c<k>_i`` / ``c<k>_a`` / ``c<k>_w`` (float64, ``STEPS + 1`` samples).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20250613
STEPS = 1500
CASES_PER_FAMILY = 4
FAMILIES = ("lif", "cuba_lif", "alif", "if", "adex")
SECOND_STATE = {"cuba_lif": "i", "alif": "a", "adex": "w"}
"""The state variable besides ``v`` that each family stores (LIF and IF have none)."""
HERE = Path(__file__).resolve().parent

# ----------------------------------------------------------------------------- the cases


def _t_ref(rng: np.random.Generator, dt: float, j: int) -> float:
    """Case ``j``'s refractory period: a whole number of steps (j = 0), that plus a fraction
    above one half (j = 1, 3: Brian2 truncates, rounding would not), or below (j = 2)."""
    whole = int(rng.integers(3, 40))
    frac = (0.0, rng.uniform(0.55, 0.95), rng.uniform(0.05, 0.45), rng.uniform(0.55, 0.95))[j % 4]
    return round((whole + frac) * dt, 12)


def _input(rng: np.random.Generator, scale: float, mean: float, sd: float) -> np.ndarray:
    """``scale (mean + sd N(0, 1))`` per step, with three quiet windows of negative input;
    rounded to float32 (stored as float32, used by Brian2 as the same float64 values)."""
    x = scale * (mean + sd * rng.standard_normal(STEPS))
    for _ in range(3):
        start, length = int(rng.integers(0, STEPS - 150)), int(rng.integers(40, 150))
        x[start:start + length] = -0.3 * scale * rng.uniform(0.2, 1.0)
    return x.astype(np.float32)


def _r(x: float) -> float:
    """Six significant digits (readable parameters; the stored values are the ones used)."""
    return float(f"{x:.6g}")


def draw_cases(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """The cases of every family (parameters, reset, dt, steps, input), deterministically."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for family in FAMILIES:
        cases = []
        for j in range(CASES_PER_FAMILY):
            dt = (1e-4, 5e-5, 1e-4, 1e-4)[j]
            reset = "ZERO" if j % 2 == 0 or family == "adex" else "SUBTRACT"
            t_ref = _t_ref(rng, dt, j)
            p: dict[str, float]
            if family in ("lif", "cuba_lif", "alif"):
                v_leak = _r(rng.uniform(-75.0, -55.0))
                gap = _r(rng.uniform(8.0, 20.0))
                p = {"tau_mem": _r(rng.uniform(5e-3, 30e-3)), "v_leak": v_leak,
                     "v_th": _r(v_leak + gap), "v_reset": _r(v_leak + rng.uniform(-5.0, 5.0)),
                     "r": _r(rng.uniform(10.0, 100.0)), "t_ref": t_ref}
                mean = rng.uniform(3.0, 8.0)
                if family == "cuba_lif":
                    # tau_syn at least 1.5x away from tau_mem (Brian2's exact solution divides
                    # by their difference)
                    ratio = rng.uniform(1.5, 4.0)
                    p["tau_syn"] = _r(p["tau_mem"] / ratio if j % 2 else p["tau_mem"] * ratio)
                if family == "alif":
                    p["tau_adapt"] = _r(rng.uniform(30e-3, 300e-3))
                    p["delta_th"] = _r(rng.uniform(0.5, 4.0))
                    mean = rng.uniform(4.0, 9.0)
                x = _input(rng, gap / p["r"], mean, rng.uniform(0.3, 0.8))
            elif family == "if":
                tau_mem, r = _r(rng.uniform(1e-3, 10e-3)), _r(rng.uniform(1.0, 10.0))
                v_reset = _r(rng.uniform(-70.0, -50.0))
                gap = _r(rng.uniform(5.0, 20.0))
                p = {"tau_mem": tau_mem, "v_th": _r(v_reset + gap), "v_reset": v_reset,
                     "r": r, "t_ref": t_ref}
                # from reset to threshold in 5-40 steps on average
                per_step = gap / rng.uniform(5.0, 40.0)
                x = _input(rng, per_step * tau_mem / (dt * r), 1.0, rng.uniform(0.3, 0.8))
            else:
                g_leak = _r(rng.uniform(8.0, 30.0))
                v_leak = _r(rng.uniform(-72.0, -62.0))
                v_th = _r(rng.uniform(-55.0, -48.0))
                delta_t = _r(rng.uniform(1.0, 3.0))
                p = {"c_mem": _r(rng.uniform(100.0, 300.0)), "g_leak": g_leak, "v_leak": v_leak,
                     "v_th": v_th, "delta_t": delta_t, "a": _r(rng.uniform(0.0, 5.0)),
                     "tau_w": _r(rng.uniform(30e-3, 300e-3)), "b": _r(rng.uniform(0.0, 60.0)),
                     "v_reset": _r(rng.uniform(-65.0, -52.0)),
                     "v_peak": _r(v_th + 5.0 * delta_t), "t_ref": t_ref}
                rheobase = g_leak * (v_th - v_leak - delta_t)
                x = _input(rng, rheobase, rng.uniform(3.0, 6.0), rng.uniform(0.3, 0.8))
            cases.append({"params": p, "reset": reset, "dt": dt, "steps": STEPS, "x": x})
        out[family] = cases
    return out


# ------------------------------------------------------------------------------- Brian2

_EQUATIONS = {
    "lif": """
        dv/dt = (v_leak - v + r * I) / tau_mem : 1 (unless refractory)
    """,
    "cuba_lif": """
        dv/dt = (v_leak - v + r * I_syn) / tau_mem : 1 (unless refractory)
        dI_syn/dt = (I - I_syn) / tau_syn : 1
    """,
    "alif": """
        dv/dt = (v_leak - v + r * I) / tau_mem : 1 (unless refractory)
        da/dt = -a / tau_adapt : 1
    """,
    "if": """
        dv/dt = r * I / tau_mem : 1 (unless refractory)
    """,
    "adex": """
        dv/dt = (-g_leak * (v - v_leak) + g_leak * delta_t * exp((v - v_th) / delta_t)
                 + I - w) / c_mem / ms : 1 (unless refractory)
        dw/dt = (a * (v - v_leak) - w) / tau_w : 1
    """,
}
_METHOD = {"lif": "exact", "cuba_lif": "exact", "alif": "exact", "if": "euler", "adex": "euler"}
_TIMES = ("tau_mem", "tau_syn", "tau_adapt", "tau_w")
"""Parameters that are times (s); the others are plain numbers in axonal's units."""


def _threshold_reset(family: str, reset: str) -> tuple[str, str]:
    if family == "alif":
        v = "v = v_reset" if reset == "ZERO" else "v -= (v_th + a - v_reset)"
        return "v > v_th + a", f"{v}; a += delta_th"
    if family == "adex":
        return "v > v_peak", "v = v_reset; w += b"
    return "v > v_th", "v = v_reset" if reset == "ZERO" else "v -= (v_th - v_reset)"


def initial_v(family: str, params: dict[str, float]) -> float:
    """axonal's resting state: ``v_leak`` (IF: ``v_reset``); the other variables start at 0."""
    return params["v_reset"] if family == "if" else params["v_leak"]


def simulate(family: str, case: dict[str, Any], steps: int | None = None) -> dict[str, np.ndarray]:
    """Run one case in Brian2 (numpy target, float64) for ``steps`` (default: the case's).

    Returns ``spikes`` (int32 step indices) and the traces ``v`` (and ``i``/``a``/``w``),
    ``steps + 1`` samples each.
    """
    import brian2 as b2

    steps = int(case["steps"] if steps is None else steps)
    dt = float(case["dt"])
    params = case["params"]
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = dt * b2.second
    x = np.asarray(case["x"], dtype=np.float32).astype(np.float64)[:steps]
    namespace: dict[str, Any] = {
        k: (v * b2.second if k in _TIMES else v) for k, v in params.items() if k != "t_ref"
    }
    namespace["drive"] = b2.TimedArray(x, dt=dt * b2.second)
    namespace["ms"] = b2.ms
    eqs = _EQUATIONS[family] + "\nI = drive(t) : 1 (constant over dt)\n"
    threshold, reset = _threshold_reset(family, case["reset"])
    group = b2.NeuronGroup(1, eqs, threshold=threshold, reset=reset,
                           refractory=float(params["t_ref"]) * b2.second,
                           method=_METHOD[family], namespace=namespace)
    group.v = initial_v(family, params)
    second = SECOND_STATE.get(family)
    brian_name = {"i": "I_syn"}.get(second or "", second)
    variables = ["v"] + ([brian_name] if brian_name else [])
    states = b2.StateMonitor(group, variables, record=0)  # 'start' slot: before the update
    spikes = b2.SpikeMonitor(group)
    net = b2.Network(group, states, spikes)
    net.run(steps * dt * b2.second, namespace={})
    out = {"spikes": np.round(np.asarray(spikes.t / b2.second) / dt).astype(np.int32)}
    for ours, theirs in zip(["v"] + ([second] if second else []), variables):
        trace = np.asarray(getattr(states, theirs)[0], dtype=np.float64)
        final = float(np.asarray(getattr(group, theirs)[:])[0])
        out[ours] = np.append(trace, final)
        assert out[ours].shape == (steps + 1,)
    return out


# ------------------------------------------------------------------------------- files


def path_of(family: str, folder: Path = HERE) -> Path:
    return folder / f"refractory_{family}.npz"


def load(family: str, folder: Path = HERE) -> list[dict[str, Any]]:
    """The stored cases of ``family``: each case's dict (``params``, ``reset``, ``dt``,
    ``steps``) plus ``x`` (float64), ``spikes`` and the traces."""
    with np.load(path_of(family, folder)) as f:
        cases = json.loads(str(f["cases_json"]))
        for k, case in enumerate(cases):
            case["x"] = f[f"c{k}_x"].astype(np.float64)
            case["spikes"] = f[f"c{k}_spikes"].astype(np.int64)
            for name in ["v"] + ([SECOND_STATE[family]] if family in SECOND_STATE else []):
                case[name] = f[f"c{k}_{name}"]
    return cases  # type: ignore[no-any-return]


def make(folder: Path = HERE) -> dict[str, list[dict[str, Any]]]:
    """Simulate every case and write the files; returns the results per family."""
    results: dict[str, list[dict[str, Any]]] = {}
    for family, cases in draw_cases().items():
        arrays: dict[str, np.ndarray] = {}
        meta = []
        results[family] = []
        for k, case in enumerate(cases):
            res = simulate(family, case)
            results[family].append(res)
            meta.append({key: case[key] for key in ("params", "reset", "dt", "steps")})
            arrays[f"c{k}_x"] = case["x"].astype(np.float32)
            for name, value in res.items():
                arrays[f"c{k}_{name}"] = value
            isi = np.diff(res["spikes"])
            print(f"{family} case {k}: {res['spikes'].size} spikes, t_ref = "
                  f"{case['params']['t_ref'] / case['dt']:.2f} steps, shortest ISI "
                  f"{isi.min() if isi.size else '-'} steps", file=sys.stderr)
        arrays["cases_json"] = np.array(json.dumps(meta))
        np.savez_compressed(path_of(family, folder), **arrays)  # type: ignore[arg-type]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare a fresh Brian2 run with the stored files, write nothing")
    args = parser.parse_args()
    if not args.check:
        make()
        return
    bad = 0
    for family, cases in draw_cases().items():
        stored = load(family)
        for k, case in enumerate(cases):
            res = simulate(family, case)
            same = np.array_equal(res["spikes"], stored[k]["spikes"]) and all(
                np.array_equal(res[n], stored[k][n]) for n in res if n != "spikes")
            bad += not same
            print(f"{family} case {k}: {'same' if same else 'DIFFERENT'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
