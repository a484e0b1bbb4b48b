import dataclasses
import math

import numpy as np
import pytest
import torch

from axonal.errors import NonFiniteError
from axonal.events import (
    EVENT_DTYPE,
    NMNIST_SACCADES,
    DVSEmulator,
    SaccadePath,
    check_events,
    saccade_recording,
    saccade_recordings,
)

CLEAN = dict(mismatch=0.0, leak_rate=0.0, shot_noise_rate=0.0, random_reference=False)


def _digit() -> np.ndarray:
    """A 28x28 ring (a zero) with soft edges."""
    yy, xx = np.mgrid[0:28, 0:28]
    r = np.hypot(yy - 13.5, (xx - 13.5) * 1.3)
    return np.clip(1.5 - np.abs(r - 8) / 1.5, 0, 1).astype(np.float32)


def _video(rng: np.random.Generator, t: int = 40, b: int | None = None, h: int = 5, w: int = 6) -> np.ndarray:
    shape = (t, h, w) if b is None else (t, b, h, w)
    base = rng.random(shape[1:]).astype(np.float32)
    phase = np.linspace(0, 4 * np.pi, t).reshape((t,) + (1,) * (len(shape) - 1))
    return np.clip(base * (0.6 + 0.4 * np.sin(phase + 3 * base)), 0, 1).astype(np.float32)


def test_step_gives_floor_of_log_change_over_threshold_on_and_off():
    emu = DVSEmulator(threshold_on=0.2, threshold_off=0.3, refractory=0.0, **CLEAN)
    frames = np.full((3, 1, 1), 0.1, np.float32)
    frames[2] = 0.7
    times = [0.0, 0.010, 0.020]
    ev = emu.emulate(frames, times)
    change = math.log(0.7 + emu.log_eps) - math.log(0.1 + emu.log_eps)
    n = math.floor(change / 0.2)
    assert ev.dtype == EVENT_DTYPE and ev.size == n and set(ev["p"].tolist()) == {1}
    # each event sits where the straight line between the two frames crosses its level
    expected = [round((0.010 + 0.010 * k * 0.2 / change) * 1e6) for k in range(1, n + 1)]
    assert np.abs(ev["t"] - np.asarray(expected)).max() <= 2  # float32 levels: within 2 us
    down = emu.emulate(frames[::-1].copy(), times)
    assert down.size == math.floor(change / 0.3) and set(down["p"].tolist()) == {0}


def test_several_pixels_and_frames_count_every_crossing():
    emu = DVSEmulator(threshold_on=0.25, threshold_off=0.25, refractory=0.0, **CLEAN)
    rng = np.random.default_rng(3)
    frames = rng.uniform(0.05, 1.0, (6, 3, 4)).astype(np.float32)
    ev = emu.emulate(frames, np.arange(6) * 1e-3)
    level = np.log(frames.astype(np.float64) + emu.log_eps)
    for y in range(3):
        for x in range(4):
            mine = ev[(ev["x"] == x) & (ev["y"] == y)]
            # walk the reference by hand: it moves one threshold per event
            ref, on, off = level[0, y, x], 0, 0
            for k in range(1, 6):
                while level[k, y, x] - ref >= 0.25:
                    ref += 0.25
                    on += 1
                while ref - level[k, y, x] >= 0.25:
                    ref -= 0.25
                    off += 1
            assert int((mine["p"] == 1).sum()) == on and int((mine["p"] == 0).sum()) == off


def test_seed_makes_it_deterministic():
    rng = np.random.default_rng(0)
    frames = _video(rng)
    times = np.arange(frames.shape[0]) * 2e-3
    emu = DVSEmulator(leak_rate=20.0, shot_noise_rate=5.0, mismatch=0.1, seed=7)
    a, b = emu.emulate(frames, times), emu.emulate(frames, times)
    assert a.size > 0 and np.array_equal(a, b)
    c = emu.emulate(frames, times, seed=8)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("reset", ["level", "threshold"])
def test_refractory_spacing(reset):
    refractory = 2e-3
    emu = DVSEmulator(threshold_on=0.05, threshold_off=0.05, refractory=refractory, reset=reset, **CLEAN)
    t = np.arange(21) * 1e-3
    frames = np.linspace(0.05, 1.0, 21, dtype=np.float32).reshape(-1, 1, 1)
    ev = emu.emulate(frames, t)
    gaps = np.diff(ev["t"])
    assert ev.size >= 5 and gaps.min() >= refractory * 1e6 - 1
    free = DVSEmulator(threshold_on=0.05, threshold_off=0.05, refractory=0.0, **CLEAN).emulate(frames, t)
    # the ramp crosses more levels than a 2 ms refractory lets through
    assert free.size > ev.size


def test_reset_modes_differ_in_what_the_refractory_period_loses():
    # a fast step: 'threshold' keeps every crossing (paced by the refractory period),
    # 'level' loses the change that happens while the pixel is in reset
    frames = np.full((15, 1, 1), 1.0, np.float32)
    frames[0] = 0.05
    t = np.arange(15) * 1e-3
    kept = DVSEmulator(threshold_on=0.2, refractory=1e-3, reset="threshold", log_eps=0.1, **CLEAN).emulate(frames, t)
    lost = DVSEmulator(threshold_on=0.2, refractory=1e-3, reset="level", log_eps=0.1, **CLEAN).emulate(frames, t)
    change = math.log(1.1) - math.log(0.15)
    assert kept.size == math.floor(change / 0.2)
    assert np.array_equal(np.diff(kept["t"]), np.full(kept.size - 1, 1000))
    assert lost.size == 1
    # the same downwards: the OFF events of a fall keep coming on the flat frames after it
    falling = np.full((15, 1, 1), 0.05, np.float32)
    falling[0] = 1.0
    fall = DVSEmulator(threshold_off=0.2, refractory=1e-3, reset="threshold", log_eps=0.1, **CLEAN).emulate(falling, t)
    assert fall.size == math.floor(change / 0.2) and set(fall["p"].tolist()) == {0}


def test_leak_events_are_poisson_and_on():
    rate, n_pix, duration = 25.0, 20 * 20, 1.0
    emu = DVSEmulator(leak_rate=rate, mismatch=0.0, shot_noise_rate=0.0, random_reference=False, refractory=0.0)
    frames = np.full((101, 20, 20), 0.5, np.float32)
    ev = emu.emulate(frames, np.linspace(0, duration, 101), seed=1)
    expected = rate * n_pix * duration
    assert abs(ev.size - expected) < 4 * math.sqrt(expected)
    assert set(ev["p"].tolist()) == {1}
    # spread over the recording, not bunched at frame times
    assert np.unique(ev["t"] % 10_000).size > 100


def test_shot_noise_rate_and_polarity_balance():
    rate, n_pix, duration = 40.0, 16 * 16, 0.5
    emu = DVSEmulator(shot_noise_rate=rate, leak_rate=0.0, mismatch=0.0)
    frames = np.full((11, 16, 16), 0.3, np.float32)
    ev = emu.emulate(frames, np.linspace(0, duration, 11), seed=2)
    expected = rate * n_pix * duration
    assert abs(ev.size - expected) < 4 * math.sqrt(expected)
    on = int(ev["p"].sum())
    assert abs(on - ev.size / 2) < 4 * math.sqrt(ev.size / 4)


def test_mismatch_spreads_the_counts():
    frames = np.full((2, 30, 30), 0.1, np.float32)
    frames[1] = 0.9
    ev = DVSEmulator(threshold_on=0.3, mismatch=0.15, leak_rate=0.0, shot_noise_rate=0.0, random_reference=False,
                     refractory=0.0, log_eps=0.1).emulate(frames, [0.0, 0.01], seed=4)
    counts = np.bincount(ev["y"].astype(int) * 30 + ev["x"], minlength=900)
    ratio = (math.log(1.0) - math.log(0.2)) / 0.3  # 5.36 thresholds at the nominal value
    assert counts.min() < math.floor(ratio) < counts.max()
    # floor(ratio * 0.3 / threshold) averages about ratio * (1 + mismatch^2) - 1/2
    assert abs(counts.mean() - (ratio * (1 + 0.15**2) - 0.5)) < 0.3


def test_random_reference_fires_subthreshold_changes_sometimes():
    frames = np.full((2, 40, 40), 0.2, np.float32)
    frames[1] = 0.26  # log change ~0.18 < threshold 0.3
    fixed = DVSEmulator(threshold_on=0.3, log_eps=0.1, **CLEAN).emulate(frames, [0, 0.01])
    assert fixed.size == 0
    rnd = DVSEmulator(threshold_on=0.3, threshold_off=0.3, mismatch=0.0, leak_rate=0.0, log_eps=0.1).emulate(
        frames, [0, 0.01], seed=0)
    share = rnd.size / 1600
    change = math.log(0.36) - math.log(0.3)
    assert abs(share - change / 0.6) < 0.05  # reference uniform over the 0.6-wide dead zone


def test_lowpass_delays_and_smooths_a_step():
    frames = np.full((201, 1, 1), 0.1, np.float32)
    frames[1:] = 0.9
    t = np.arange(201) * 1e-3
    fast = DVSEmulator(threshold_on=0.1, refractory=0.0, **CLEAN).emulate(frames, t)
    slow = DVSEmulator(threshold_on=0.1, refractory=0.0, cutoff_hz=20.0, **CLEAN).emulate(frames, t)
    assert fast["t"].max() <= 1000
    assert slow["t"].max() > 20_000 and abs(slow.size - fast.size) <= 1


def test_events_sorted_and_inside_the_sensor():
    rng = np.random.default_rng(5)
    frames = _video(rng, t=30, h=7, w=9)
    ev = DVSEmulator(leak_rate=10.0, shot_noise_rate=10.0, seed=3).emulate(frames, np.arange(30) * 1e-3)
    check_events(ev, sensor_size=(9, 7))
    assert ev.size > 50 and np.all(np.diff(ev["t"]) >= 0)


def test_batch_equals_one_by_one():
    rng = np.random.default_rng(6)
    frames = _video(rng, t=25, b=4, h=5, w=6)
    times = np.arange(25) * 1e-3
    emu = DVSEmulator(leak_rate=30.0, shot_noise_rate=10.0, mismatch=0.08, refractory=1e-3)
    seeds = [11, 12, 13, 14]
    batch = emu.emulate_batch(frames, times, seeds=seeds)
    for b in range(4):
        single = emu.emulate(frames[:, b], times, seed=seeds[b])
        assert single.size > 0 and np.array_equal(batch[b], single)
    # default seeds: entry b uses SeedSequence(seed).spawn(B)[b]
    seeded = DVSEmulator(leak_rate=30.0, seed=5)
    default = seeded.emulate_batch(frames, times)
    again = seeded.emulate(frames[:, 2], times, seed=np.random.SeedSequence(5).spawn(4)[2])
    assert np.array_equal(default[2], again)


def test_torch_input_matches_numpy():
    rng = np.random.default_rng(7)
    frames = _video(rng, t=12, h=4, w=4)
    times = np.arange(12) * 1e-3
    emu = DVSEmulator(seed=1)
    a = emu.emulate(frames, times)
    b = emu.emulate(torch.from_numpy(frames), torch.from_numpy(times))
    assert np.array_equal(a, b)


def test_saccade_recording_has_three_bursts():
    ev = saccade_recording(_digit(), seed=0)
    check_events(ev, sensor_size=(34, 34))
    assert 1000 < ev.size < 20_000
    hist = np.bincount(np.minimum(ev["t"] // 10_000, 29), minlength=30)
    bursts = [hist[0:10].sum(), hist[10:20].sum(), hist[20:30].sum()]
    assert min(bursts) > 0.2 * ev.size
    peaks = [hist[0:10].max(), hist[10:20].max(), hist[20:30].max()]
    # quiet between the saccades (the image stands still near 100 ms and 200-220 ms)
    assert hist[9] < 0.2 * peaks[0] and min(hist[19:22]) < 0.2 * peaks[1]
    assert 0.4 < ev["p"].mean() < 0.6


def test_saccade_batch_equals_single_and_seed_rule():
    images = np.stack([_digit(), _digit()[::-1].copy(), _digit().T.copy()])
    emu = DVSEmulator(leak_rate=1.0)
    batch = saccade_recordings(images, emulator=emu, seed=3, chunk=2)
    for i in range(3):
        one = saccade_recording(images[i], emulator=emu, seed=np.random.SeedSequence(3, spawn_key=(i,)))
        assert np.array_equal(batch[i], one)
    explicit = saccade_recordings(images, emulator=emu, seeds=[1, 2, 3])
    assert np.array_equal(explicit[1], saccade_recording(images[1], emulator=emu, seed=2))


def test_saccade_path_geometry():
    path = dataclasses.replace(NMNIST_SACCADES, overshoot=(), settle=())
    d = path.displacement([0.0, 0.0999, 0.1999, 0.2999], saccades=3)
    v = np.asarray(path.vertices)
    assert np.allclose(d[0], v[0])
    assert np.allclose(d[1], v[1], atol=1e-6) and np.allclose(d[2], v[2], atol=1e-6)
    assert np.allclose(d[3], v[0], atol=0.05)  # the third saccade returns (its offset is the slot's end)
    # with overshoot the image passes the vertex along the saccade and comes back
    bouncy = dataclasses.replace(path, overshoot=(0.1, 0.0, 0.0), settle=(0.1, 0.0, 0.0))
    end = path.offset[0] * path.period
    mid, back = bouncy.displacement([end + 0.005, end + 0.0105], saccades=1)
    assert np.allclose(mid, v[1] + 0.1 * (v[1] - v[0]), atol=1e-6) and np.allclose(back, v[1], atol=1e-6)
    assert math.isclose(path.scaled(2.0).extent(), 2 * path.extent())
    big = saccade_recording(_digit(), amplitude=2 * path.extent(), seed=0)
    small = saccade_recording(_digit(), amplitude=0.0, emulator=DVSEmulator(leak_rate=0.0), seed=0)
    assert small.size == 0 < big.size


def test_validation_messages():
    with pytest.raises(ValueError, match="threshold_on"):
        DVSEmulator(threshold_on=0.0)
    with pytest.raises(NonFiniteError, match="refractory"):
        DVSEmulator(refractory=float("nan"))
    with pytest.raises(ValueError, match="reset"):
        DVSEmulator(reset="never")
    with pytest.raises(TypeError, match="seed"):
        DVSEmulator(seed=1.5)  # type: ignore[arg-type]
    emu = DVSEmulator()
    with pytest.raises(ValueError, match=r"frames must have shape \[T, H, W\]"):
        emu.emulate(np.zeros((3, 4)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        emu.emulate(np.full((2, 2, 2), 2.0), [0, 1])
    with pytest.raises(NonFiniteError, match="frames"):
        emu.emulate(np.full((2, 2, 2), np.nan), [0, 1])
    with pytest.raises(ValueError, match="increase strictly"):
        emu.emulate(np.zeros((3, 2, 2)), [0, 1, 1])
    with pytest.raises(ValueError, match="one time"):
        emu.emulate(np.zeros((3, 2, 2)), [0, 1])
    with pytest.raises(ValueError, match=">= 0 s"):
        emu.emulate(np.zeros((2, 2, 2)), [-1.0, 0.0])
    with pytest.raises(ValueError, match="one seed per batch entry"):
        emu.emulate_batch(np.zeros((2, 3, 2, 2)), [0, 1], seeds=[1, 2])
    with pytest.raises(ValueError, match="do not fit"):
        saccade_recording(np.zeros((40, 40), np.float32))
    with pytest.raises(ValueError, match=r"image must have shape \[h, w\]"):
        saccade_recording(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="onset"):
        SaccadePath(vertices=((0.0, 0.0), (1.0, 1.0)), onset=(0.5, 0.1), offset=(0.4, 0.9), shape=((3.0, 3.0), (3.0, 3.0)))
