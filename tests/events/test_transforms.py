"""axonal.events.transforms: each transform against a slow per-event reference written here,
and against tonic 1.7 where tonic is installed (those tests skip without it)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from axonal.errors import ResourceLimitError
from axonal.events import EVENT_DTYPE, make_events
from axonal.events import transforms as T

SENSOR = (7, 5, 2)
TONIC_MISSING = "tonic is not installed (the bench extra; or pip install --no-deps tonic==1.7.0 importRosbag requests)"

# ------------------------------------------------------------------------------------------
# random streams


def random_stream(rng: np.random.Generator, n: int, sensor=SENSOR, t_max: int = 3000) -> np.ndarray:
    t = np.sort(rng.integers(0, max(t_max, 1), n))
    return make_events(rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n), t,
                       rng.integers(0, sensor[2], n))


@st.composite
def streams(draw, max_events: int = 40, sensor=SENSOR, t_max: int = 3000) -> np.ndarray:
    n = draw(st.integers(0, max_events))
    xs = draw(st.lists(st.integers(0, sensor[0] - 1), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(0, sensor[1] - 1), min_size=n, max_size=n))
    ps = draw(st.lists(st.integers(0, sensor[2] - 1), min_size=n, max_size=n))
    ts = sorted(draw(st.lists(st.integers(0, t_max), min_size=n, max_size=n)))
    return make_events(np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64),
                       np.array(ts, dtype=np.int64), np.array(ps, dtype=np.int64))


def tonic_functional():
    return pytest.importorskip("tonic.functional", reason=TONIC_MISSING)


# ------------------------------------------------------------------------------------------
# references: one Python step per event, straight from the documented definitions


def ref_windows(ev, mode, value, overlap=0.0, include_incomplete=False, start=None, end=None):
    """[(lo, hi, key)]: window k holds the events whose key (t, or the index) is in [lo, hi)."""
    n = len(ev)
    t = [int(v) for v in ev["t"]]
    if mode == "time_window":
        stride = value - overlap
        s = t[0] if start is None else start
        e = t[-1] if end is None else end
        span = (e - s - value) / stride
        count = max((math.ceil(span) if include_incomplete else math.floor(span)) + 1, 1)
        return [(k * stride + s, k * stride + s + value, "t") for k in range(count)]
    if mode == "n_time_bins":
        width = ((t[-1] - t[0]) // value) * (1 + overlap)
        stride = width * (1 - overlap)
        return [(k * stride + t[0], k * stride + t[0] + width, "t") for k in range(value)]
    if mode == "event_count":
        width = min(value, n)
        stride = value - overlap
        span = (n - width) / stride
        count = (math.ceil(span) if include_incomplete else math.floor(span)) + 1
        return [(k * stride, k * stride + width, "i") for k in range(count)]
    width = int(n // value * (1 + overlap))
    stride = int(width * (1 - overlap))
    return [(k * stride, k * stride + width, "i") for k in range(value)]


def ref_frames(ev, sensor, mode, value, **kw):
    windows = ref_windows(ev, mode, value, **kw)
    frames = np.zeros((len(windows), sensor[2], sensor[1], sensor[0]), dtype=np.float32)
    for k, (lo, hi, key) in enumerate(windows):
        for i, e in enumerate(ev):
            v = int(e["t"]) if key == "t" else i
            if lo <= v < hi:
                frames[k, int(e["p"]), int(e["y"]), int(e["x"])] += 1
    return frames


def ref_denoise(ev, filter_time_us, connectivity=4):
    width, height = int(ev["x"].max()) + 1, int(ev["y"].max()) + 1
    around = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        around += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    keep = []
    for i, e in enumerate(ev):
        x, y, t = int(e["x"]), int(e["y"]), int(e["t"])
        kept = False
        for dx, dy in around:
            qx, qy = x + dx, y + dy
            if not (0 <= qx < width and 0 <= qy < height):
                continue
            last = 0  # a pixel without events yet counts as one at t = 0
            for j in range(i):
                if int(ev["x"][j]) == qx and int(ev["y"][j]) == qy:
                    last = int(ev["t"][j])
            if last + filter_time_us > t:
                kept = True
        keep.append(kept)
    return ev[np.array(keep, dtype=bool)]


def ref_refractory(ev, period_us):
    last: dict[tuple[int, int], int] = {}
    keep = []
    for e in ev:
        key = (int(e["x"]), int(e["y"]))
        t = int(e["t"])
        keep.append(t - last.get(key, -period_us) > period_us)
        last[key] = t
    return ev[np.array(keep, dtype=bool)]


def ref_time_surface(ev, sensor, tau_us, dt_us, include_incomplete=False):
    windows = ref_windows(ev, "time_window", dt_us, include_incomplete=include_incomplete)
    t0 = int(ev["t"][0])
    out = np.zeros((len(windows), sensor[2], sensor[1], sensor[0]))
    for k, (_, hi, _) in enumerate(windows):
        last: dict[tuple[int, int, int], int] = {}
        for e in ev:
            if int(e["t"]) < hi:
                last[(int(e["p"]), int(e["y"]), int(e["x"]))] = int(e["t"])
        sample = t0 + (k + 1) * dt_us
        for where, t in last.items():
            out[(k, *where)] = math.exp((t - sample) / tau_us)
    return out


def ref_voxel(ev, sensor, n_bins):
    grid = np.zeros((n_bins, 1, sensor[1], sensor[0]))
    t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
    for e in ev:
        u = n_bins * (int(e["t"]) - t0) / (t1 - t0) if t1 > t0 else 0.0
        left = int(u)
        frac = u - left
        sign = 1.0 if int(e["p"]) == 1 else -1.0
        for b, w in ((left, 1.0 - frac), (left + 1, frac)):
            if b < n_bins:
                grid[b, 0, int(e["y"]), int(e["x"])] += sign * w
    return grid


# ------------------------------------------------------------------------------------------
# frames


FRAME_MODES = st.one_of(
    st.tuples(st.just("time_window"), st.integers(1, 800), st.floats(0, 0.9), st.booleans()),
    st.tuples(st.just("event_count"), st.integers(1, 15), st.floats(0, 0.9), st.booleans()),
    st.tuples(st.just("n_time_bins"), st.integers(1, 6), st.sampled_from([0.0, 0.25, 0.5]), st.just(False)),
    st.tuples(st.just("n_event_bins"), st.integers(1, 6), st.sampled_from([0.0, 0.25, 0.5]), st.just(False)),
)


def call_args(mode, value, overlap_share, incomplete):
    """(axonal kwargs, reference/tonic kwargs): time in seconds for axonal, microseconds for the
    others; overlap as a share of the window (times and counts) or a fraction of a bin."""
    if mode == "time_window":
        ov = int(value * overlap_share)
        return (dict(time_window=value * 1e-6, overlap=ov * 1e-6, include_incomplete=incomplete),
                dict(mode=mode, value=value, overlap=ov, include_incomplete=incomplete))
    if mode == "event_count":
        ov = int(value * overlap_share)
        return (dict(event_count=value, overlap=ov, include_incomplete=incomplete),
                dict(mode=mode, value=value, overlap=ov, include_incomplete=incomplete))
    return dict(**{mode: value}, overlap=overlap_share), dict(mode=mode, value=value, overlap=overlap_share)


@settings(max_examples=150, deadline=None)
@given(streams(max_events=30).filter(len), FRAME_MODES)
def test_to_frames_matches_reference(ev, spec):
    ours, ref = call_args(*spec)
    expected = ref_frames(ev, SENSOR, **ref)
    got = T.to_frames(ev, SENSOR, **ours)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected)


@settings(max_examples=60, deadline=None)
@given(streams(max_events=25).filter(len), st.integers(1, 500), st.integers(0, 400), st.integers(0, 3500),
       st.booleans())
def test_to_frames_start_and_end_time(ev, window, start, end, incomplete):
    expected = ref_frames(ev, SENSOR, "time_window", window, include_incomplete=incomplete, start=start, end=end)
    got = T.to_frames(ev, SENSOR, time_window=window * 1e-6, include_incomplete=incomplete,
                      start_time=start * 1e-6, end_time=end * 1e-6)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_to_frames_fractional_windows_match_reference():
    rng = np.random.default_rng(5)
    for _ in range(150):
        ev = random_stream(rng, int(rng.integers(1, 30)), t_max=int(rng.integers(1, 2000)))
        window = round(float(rng.uniform(0.5, 300.0)), 3)
        ov = round(float(rng.uniform(0, window * 0.95)), 3) if rng.random() < 0.6 else 0.0
        incomplete = bool(rng.integers(0, 2))
        expected = ref_frames(ev, SENSOR, "time_window", window, overlap=ov, include_incomplete=incomplete)
        got = T.to_frames(ev, SENSOR, time_window=window * 1e-6, overlap=ov * 1e-6, include_incomplete=incomplete)
        np.testing.assert_array_equal(got.numpy(), expected)


def test_to_frames_documented_edges():
    ev = make_events([0, 1, 2], [0, 0, 0], [0, 50_000, 100_000], [1, 1, 0])
    # 0..100 ms in 50 ms windows: two frames, the event at 100 ms in neither (tonic's rule)
    for incomplete in (False, True):
        frames = T.to_frames(ev, (3, 1, 2), time_window=50e-3, include_incomplete=incomplete)
        assert frames.shape == (2, 2, 1, 3) and frames.sum() == 2
    assert T.to_frames(ev, (3, 1, 2), time_window=40e-3, include_incomplete=True).shape[0] == 3
    # n_time_bins: bins of floor(100000 / 3) us; the last event falls after the last bin
    frames = T.to_frames(ev, (3, 1, 2), n_time_bins=3)
    assert frames.shape == (3, 2, 1, 3) and frames.sum(dim=(1, 2, 3)).tolist() == [1, 1, 0]
    # an empty stream: one empty frame, n for the n_* modes
    empty = make_events([], [], [], [])
    assert T.to_frames(empty, (3, 1, 2), time_window=1e-3).shape == (1, 2, 1, 3)
    assert T.to_frames(empty, (3, 1, 2), event_count=4).shape == (1, 2, 1, 3)
    assert T.to_frames(empty, (3, 1, 2), n_time_bins=4).abs().sum() == 0
    assert T.to_frames(empty, (3, 1, 2), n_event_bins=5).shape == (5, 2, 1, 3)
    # one polarity: a single channel
    one = make_events([0, 2], [0, 0], [0, 10], [0, 0])
    assert T.to_frames(one, (3, 1, 1), event_count=2).tolist() == [[[[1.0, 0.0, 1.0]]]]


@settings(max_examples=40, deadline=None)
@given(st.lists(streams(max_events=20), min_size=1, max_size=6), FRAME_MODES)
def test_frames_batch_is_stacked_to_frames(samples, spec):
    ours, _ = call_args(*spec)
    batch = T.frames_batch(samples, SENSOR, **ours)
    singles = [T.to_frames(s, SENSOR, **ours) for s in samples]
    assert batch.shape == (max(f.shape[0] for f in singles), len(samples), 2, SENSOR[1], SENSOR[0])
    for b, frames in enumerate(singles):
        torch.testing.assert_close(batch[: frames.shape[0], b], frames, rtol=0, atol=0)
        assert not batch[frames.shape[0]:, b].any()


def test_frames_batch_shared_start_time_and_errors():
    rng = np.random.default_rng(3)
    samples = [random_stream(rng, 10), random_stream(rng, 0), random_stream(rng, 12)]
    batch = T.frames_batch(samples, SENSOR, time_window=5e-4, start_time=0.0, end_time=3e-3)
    assert batch.shape[:2] == (6, 3)
    for b, s in enumerate(samples):
        torch.testing.assert_close(batch[:, b], T.to_frames(s, SENSOR, time_window=5e-4, start_time=0.0, end_time=3e-3))
    bad = samples[2].copy()
    bad["t"][3], bad["t"][4] = bad["t"][4] + 1, bad["t"][3]
    with pytest.raises(ValueError, match=r"samples\[2\]\.t must be non-decreasing"):
        T.frames_batch([samples[0], samples[1], bad], SENSOR, n_time_bins=2)
    far = samples[0].copy()
    far["x"][5] = SENSOR[0]
    with pytest.raises(ValueError, match=r"samples\[1\]\.x must be in \[0, 6\]"):
        T.frames_batch([samples[1], far], SENSOR, n_time_bins=2)
    with pytest.raises(TypeError, match="samples must be a list"):
        T.frames_batch(samples[0], SENSOR, n_time_bins=2)
    with pytest.raises(ValueError, match="samples is empty"):
        T.frames_batch([], SENSOR, n_time_bins=2)


def test_to_frames_argument_checks():
    ev = random_stream(np.random.default_rng(0), 20)
    with pytest.raises(ValueError, match="exactly one of time_window, event_count, n_time_bins, n_event_bins"):
        T.to_frames(ev, SENSOR, time_window=1e-3, n_time_bins=3)
    with pytest.raises(ValueError, match="exactly one of .* got none"):
        T.to_frames(ev, SENSOR)
    with pytest.raises(ValueError, match=r"time_window must be > 0 s"):
        T.to_frames(ev, SENSOR, time_window=-1e-3)
    with pytest.raises(TypeError, match="time_window must be a real number"):
        T.to_frames(ev, SENSOR, time_window="1ms")
    with pytest.raises(ValueError, match="time_window must be finite"):
        T.to_frames(ev, SENSOR, time_window=float("nan"))
    with pytest.raises(ValueError, match="overlap must be shorter than time_window"):
        T.to_frames(ev, SENSOR, time_window=1e-3, overlap=1e-3)
    with pytest.raises(ValueError, match="overlap must be fewer events than event_count"):
        T.to_frames(ev, SENSOR, event_count=5, overlap=5)
    with pytest.raises(ValueError, match=r"overlap must be a fraction of a bin in \[0, 1\)"):
        T.to_frames(ev, SENSOR, n_time_bins=3, overlap=1.0)
    with pytest.raises(ValueError, match="include_incomplete applies to time_window and event_count only"):
        T.to_frames(ev, SENSOR, n_event_bins=3, include_incomplete=True)
    with pytest.raises(ValueError, match="start_time and end_time apply to time_window only"):
        T.to_frames(ev, SENSOR, n_time_bins=3, start_time=0.0)
    with pytest.raises(TypeError, match="n_time_bins must be an int"):
        T.to_frames(ev, SENSOR, n_time_bins=2.0)
    with pytest.raises(ValueError, match=r"events\.y must be in \[0, 3\] for sensor \(7, 4, 2\), got 4"):
        T.to_frames(make_events([0, 1], [0, 4], [0, 1], [0, 0]), (7, 4, 2), n_time_bins=2)
    with pytest.raises(ValueError, match=r"events\.p must be in \[0, 0\]"):
        T.to_frames(make_events([0, 1], [0, 0], [0, 1], [0, 1]), (7, 4, 1), n_time_bins=2)
    with pytest.raises(ValueError, match=r"events\.t must be non-decreasing; event 2 at 5 us comes after 9 us"):
        T.to_frames(make_events([0, 1, 2], [0, 0, 0], [3, 9, 5], [0, 0, 0]), SENSOR, n_time_bins=2)
    with pytest.raises(ValueError, match="sensor_size must be"):
        T.to_frames(ev, (7,), n_time_bins=2)
    with pytest.raises(ResourceLimitError, match="frames"):
        T.to_frames(make_events([0, 0], [0, 0], [0, 10**15], [0, 0]), SENSOR, time_window=1e-9)


def test_to_frames_accepts_other_structured_arrays():
    tonic_dtype = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    ev = random_stream(np.random.default_rng(1), 30)
    other = np.zeros(ev.size, dtype=tonic_dtype)
    for f in "xytp":
        other[f] = ev[f]
    torch.testing.assert_close(T.to_frames(other, SENSOR, event_count=7), T.to_frames(ev, SENSOR, event_count=7))


# ------------------------------------------------------------------------------------------
# time surface, voxel grid


@settings(max_examples=80, deadline=None)
@given(streams(max_events=25).filter(len), st.integers(1, 400), st.integers(1, 2000), st.booleans())
def test_time_surface_matches_reference(ev, dt, tau, incomplete):
    expected = ref_time_surface(ev, SENSOR, tau, dt, include_incomplete=incomplete)
    got = T.to_time_surface(ev, SENSOR, tau * 1e-6, dt=dt * 1e-6, include_incomplete=incomplete)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-5, atol=1e-7)


def test_time_surface_long_decay_stays_accurate():
    # many samples between events: the step-by-step decay must not drift
    ev = make_events([0, 1, 0], [0, 0, 0], [0, 3, 5000], [1, 1, 1])
    got = T.to_time_surface(ev, (2, 1, 2), 4e-3, dt=1e-6)
    expected = ref_time_surface(ev, (2, 1, 2), 4000, 1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-5, atol=1e-9)
    assert T.to_time_surface(make_events([], [], [], []), (2, 1, 2), 1e-3, dt=1e-3).shape == (1, 2, 1, 2)
    with pytest.raises(ValueError, match="tau must be > 0 s"):
        T.to_time_surface(ev, (2, 1, 2), 0.0, dt=1e-3)
    with pytest.raises(ValueError, match="dt must be > 0 s"):
        T.to_time_surface(ev, (2, 1, 2), 1e-3, dt=-1.0)


@settings(max_examples=80, deadline=None)
@given(streams(max_events=30).filter(len), st.integers(1, 8))
def test_voxel_grid_matches_reference(ev, n_bins):
    expected = ref_voxel(ev, SENSOR, n_bins)
    got = T.to_voxel_grid(ev, SENSOR, n_bins)
    assert got.dtype == torch.float32 and got.shape == (n_bins, 1, SENSOR[1], SENSOR[0])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_voxel_grid_edges():
    single = make_events([1], [0], [77], [0])
    assert T.to_voxel_grid(single, (2, 1, 2), 3)[:, 0, 0].tolist() == [[0.0, -1.0], [0.0, 0.0], [0.0, 0.0]]
    assert T.to_voxel_grid(make_events([], [], [], []), (2, 1, 2), 3).shape == (3, 1, 1, 2)
    with pytest.raises(ValueError, match="needs a sensor with 2 polarities"):
        T.to_voxel_grid(single, (2, 1, 1), 3)
    with pytest.raises(ValueError, match="n_time_bins must be an int >= 1"):
        T.to_voxel_grid(single, (2, 1, 2), 0)


# ------------------------------------------------------------------------------------------
# filters


@settings(max_examples=120, deadline=None)
@given(streams(max_events=40, t_max=20_000).filter(len), st.integers(1, 6000), st.sampled_from([4, 8]))
def test_denoise_matches_reference(ev, filter_us, connectivity):
    expected = ref_denoise(ev, filter_us, connectivity)
    got = T.denoise(ev, filter_us * 1e-6, connectivity=connectivity)
    assert got.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=120, deadline=None)
@given(streams(max_events=40, t_max=20_000).filter(len), st.integers(0, 6000))
def test_refractory_matches_reference(ev, period_us):
    np.testing.assert_array_equal(T.refractory(ev, period_us * 1e-6), ref_refractory(ev, period_us))


def test_filters_edges_and_checks():
    empty = make_events([], [], [], [])
    assert T.denoise(empty, 1e-3).size == 0 and T.refractory(empty, 1e-3).size == 0
    # a lone event far from the start is noise; its neighbour 1 ms later is kept
    ev = make_events([3, 4, 9], [3, 3, 0], [50_000, 51_000, 52_000], [1, 0, 1])
    assert T.denoise(ev, 5e-3)["x"].tolist() == [4]
    assert T.denoise(ev, 5e-3, connectivity=8)["x"].tolist() == [4]
    diag = make_events([3, 4], [3, 4], [50_000, 51_000], [1, 1])
    assert T.denoise(diag, 5e-3).size == 0 and T.denoise(diag, 5e-3, connectivity=8)["x"].tolist() == [4]
    with pytest.raises(ValueError, match="connectivity must be 4"):
        T.denoise(ev, 1e-3, connectivity=6)
    with pytest.raises(ValueError, match="filter_time must be > 0 s"):
        T.denoise(ev, 0)
    with pytest.raises(ValueError, match="refractory_period must be >= 0 s"):
        T.refractory(ev, -1e-3)
    # 3e-4 s is 300 us exactly (not 299.99999999999994)
    pair = make_events([0, 0, 0], [0, 0, 0], [1000, 1300, 1601], [1, 1, 1])
    assert T.refractory(pair, 3e-4)["t"].tolist() == [1000, 1601]


def test_downsampling():
    ev = make_events([0, 5, 9, 3], [0, 7, 3, 2], [10, 20, 30, 40], [1, 0, 1, 0])
    out = T.downsample(ev, spatial_factor=0.5)
    assert out["x"].tolist() == [0, 2, 4, 1] and out["y"].tolist() == [0, 3, 1, 1]
    out = T.downsample(ev, spatial_factor=(0.5, 0.25), time_factor=0.1)
    assert out["y"].tolist() == [0, 1, 0, 0] and out["t"].tolist() == [1, 2, 3, 4]
    out = T.spatial_downsample(ev, (10, 8, 2), (5, 2))
    assert out["x"].tolist() == [0, 2, 4, 1] and out["y"].tolist() == [0, 1, 0, 0]
    assert out["t"].tolist() == ev["t"].tolist()
    with pytest.raises(ValueError, match=r"spatial_factor must be in \(0, 1\]"):
        T.downsample(ev, spatial_factor=2.0)
    with pytest.raises(ValueError, match="target_size must not exceed"):
        T.spatial_downsample(ev, (10, 8, 2), (11, 2))
    with pytest.raises(ValueError, match="time_factor must be > 0"):
        T.downsample(ev, time_factor=0.0)


# ------------------------------------------------------------------------------------------
# augmentation


def test_flips_and_time_reverse():
    ev = random_stream(np.random.default_rng(2), 50)
    lr = T.flip_lr(ev, SENSOR)
    assert (lr["x"] == SENSOR[0] - 1 - ev["x"]).all() and (lr["t"] == ev["t"]).all()
    np.testing.assert_array_equal(T.flip_lr(lr, SENSOR), ev)
    ud = T.flip_ud(ev, SENSOR)
    assert (ud["y"] == SENSOR[1] - 1 - ev["y"]).all()
    np.testing.assert_array_equal(T.flip_ud(ud, SENSOR), ev)
    fp = T.flip_polarity(ev)
    assert (fp["p"] == 1 - ev["p"]).all()
    rev = T.time_reverse(ev)
    assert (np.diff(rev["t"]) >= 0).all()
    assert (rev["t"] == ev["t"][-1] - ev["t"][::-1]).all() and (rev["p"] == 1 - ev["p"][::-1]).all()
    twice = T.time_reverse(rev)
    assert (twice["t"] == ev["t"] - ev["t"][0]).all() and (twice["p"] == ev["p"]).all()
    assert (T.time_reverse(ev, flip_polarities=False)["p"] == ev["p"][::-1]).all()
    with pytest.raises(ValueError, match=r"events\.x must be in \[0, 2\]"):
        T.flip_lr(ev, (3, 5, 2))


def test_spatial_jitter():
    ev = random_stream(np.random.default_rng(4), 400)
    np.testing.assert_array_equal(T.spatial_jitter(ev, SENSOR, 0.0, rng=1), ev)
    a = T.spatial_jitter(ev, SENSOR, 1.5, rng=np.random.default_rng(7))
    b = T.spatial_jitter(ev, SENSOR, 1.5, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert 0 < a.size < ev.size  # some events moved off the 7x5 sensor and were dropped
    assert a["x"].max() < SENSOR[0] and a["y"].max() < SENSOR[1] and (np.diff(a["t"]) >= 0).all()
    clamped = T.spatial_jitter(ev, SENSOR, (3.0, 0.0), clip=False, rng=3)
    assert clamped.size == ev.size and (clamped["y"] == ev["y"]).all() and clamped["x"].max() == SENSOR[0] - 1
    moved = np.abs(clamped["x"].astype(int) - ev["x"]).mean()
    assert 1.0 < moved < 3.0
    with pytest.raises(ValueError, match="sigma must be >= 0 pixels"):
        T.spatial_jitter(ev, SENSOR, -1.0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        T.spatial_jitter(ev, SENSOR, 1.0, rng=np.random.RandomState(0))


def test_time_jitter_and_skew():
    ev = random_stream(np.random.default_rng(5), 300, t_max=100_000)
    np.testing.assert_array_equal(T.time_jitter(ev, 0.0, rng=0), ev)
    j = T.time_jitter(ev, 2e-3, rng=0)
    assert (np.diff(j["t"]) >= 0).all() and j["t"].min() >= 0 and j.size <= ev.size
    assert abs(float(np.std(np.sort(j["t"]) - np.sort(ev["t"])[: j.size]))) < 10_000
    np.testing.assert_array_equal(j, T.time_jitter(ev, 2e-3, rng=0))
    sk = T.time_skew(ev, 1.5, 1e-3)
    assert (sk["t"] == np.rint(ev["t"] * 1.5 + 1000)).all()
    shifted = T.time_skew(ev, 1.0, -0.05)
    assert (shifted["t"] >= 0).all() and shifted.size == int((ev["t"] >= 50_000).sum())
    with pytest.raises(ValueError, match="coefficient must be > 0"):
        T.time_skew(ev, -1.0)


def test_crops():
    ev = random_stream(np.random.default_rng(6), 300, sensor=(20, 10, 2))
    seen = set()
    for seed in range(60):
        c = T.random_crop(ev, (20, 10, 2), (17, 8), rng=seed)
        assert c["x"].max() < 17 and c["y"].max() < 8
        # the crop is the events of one window, shifted
        for x0 in range(4):
            for y0 in range(3):
                inside = ev[(ev["x"] >= x0) & (ev["x"] < x0 + 17) & (ev["y"] >= y0) & (ev["y"] < y0 + 8)]
                if inside.size == c.size and (inside["x"] - x0 == c["x"]).all() and (inside["y"] - y0 == c["y"]).all():
                    seen.add((x0, y0))
    assert {(0, 0), (3, 2)} <= seen  # both extreme offsets are drawn
    cc = T.center_crop(ev, (20, 10, 2), (10, 4))
    sel = ev[(ev["x"] >= 5) & (ev["x"] < 15) & (ev["y"] >= 3) & (ev["y"] < 7)]
    assert (cc["x"] == sel["x"] - 5).all() and (cc["y"] == sel["y"] - 3).all()
    padded = T.center_crop(ev, (20, 10, 2), 24)
    assert padded.size == ev.size and (padded["x"] == ev["x"] + 2).all() and (padded["y"] == ev["y"] + 7).all()
    with pytest.raises(ValueError, match="target_size must fit in the sensor"):
        T.random_crop(ev, (20, 10, 2), (21, 5))


def test_drop_events_and_uniform_noise():
    ev = random_stream(np.random.default_rng(8), 101)
    d = T.drop_events(ev, 0.3, rng=2)
    assert d.size == 101 - round(0.3 * 101)
    kept = np.isin(np.arange(101), np.flatnonzero(np.isin(ev.view("V16"), d.view("V16"))))
    assert kept.sum() >= d.size and (np.diff(d["t"]) >= 0).all()
    assert T.drop_events(ev, 0.0).size == 101 and T.drop_events(ev, 1.0).size == 0
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        T.drop_events(ev, 1.5)
    noisy = T.uniform_noise(ev, SENSOR, 40, rng=3)
    assert noisy.size == 141 and (np.diff(noisy["t"]) >= 0).all()
    assert noisy["t"].min() >= ev["t"][0] and noisy["t"].max() <= ev["t"][-1]
    assert noisy["x"].max() < SENSOR[0] and noisy["p"].max() <= 1
    # the recorded events are still there, in order
    it = iter(noisy.view("V16").tolist())
    assert all(any(r == e for e in it) for r in ev.view("V16").tolist())
    assert T.uniform_noise(make_events([], [], [], []), SENSOR, 10, rng=0).size == 0


def test_no_function_changes_its_input():
    ev = random_stream(np.random.default_rng(9), 80)
    before = ev.copy()
    S = SENSOR
    for fn in (lambda e: T.to_frames(e, S, time_window=1e-4), lambda e: T.frames_batch([e, e], S, n_time_bins=3),
               lambda e: T.to_time_surface(e, S, 1e-3, dt=1e-4), lambda e: T.to_voxel_grid(e, S, 4),
               lambda e: T.denoise(e, 1e-3), lambda e: T.refractory(e, 1e-4), lambda e: T.downsample(e, spatial_factor=0.5),
               lambda e: T.spatial_downsample(e, S, (3, 2)), lambda e: T.spatial_jitter(e, S, 1.0, rng=0),
               lambda e: T.time_jitter(e, 1e-4, rng=0), lambda e: T.flip_lr(e, S), lambda e: T.flip_ud(e, S),
               lambda e: T.flip_polarity(e), lambda e: T.time_reverse(e), lambda e: T.random_crop(e, S, (3, 3), rng=0),
               lambda e: T.center_crop(e, S, (3, 3)), lambda e: T.drop_events(e, 0.5, rng=0),
               lambda e: T.time_skew(e, 2.0, 1e-3), lambda e: T.uniform_noise(e, S, 5, rng=0)):
        out = fn(ev)
        np.testing.assert_array_equal(ev, before)
        if isinstance(out, np.ndarray) and out.size:
            out["x"][0] = 0  # the output owns its memory
            np.testing.assert_array_equal(ev, before)


# ------------------------------------------------------------------------------------------
# pipelines


def test_compose_step_random_apply():
    ev = random_stream(np.random.default_rng(10), 200)
    pipe = T.Compose([
        T.Step(T.denoise, 5e-4),
        T.RandomApply(T.Step(T.flip_lr, SENSOR), 0.5),
        T.Step(T.spatial_jitter, SENSOR, 0.7),
        T.Step(T.drop_events, 0.1),
        T.Step(T.to_frames, SENSOR, n_time_bins=4),
    ])
    a, b = pipe(ev, rng=11), pipe(ev, rng=np.random.default_rng(11))
    assert a.shape == (4, 2, SENSOR[1], SENSOR[0])
    torch.testing.assert_close(a, b)
    outs = {tuple(pipe(ev, rng=s).flatten().tolist()) for s in range(6)}
    assert len(outs) > 1
    assert "RandomApply(Step(flip_lr" in repr(pipe)
    flipped = T.Compose([T.RandomApply(T.Step(T.flip_lr, SENSOR), 1.0)])(ev, rng=0)
    np.testing.assert_array_equal(flipped, T.flip_lr(ev, SENSOR))
    assert T.Compose([T.RandomApply(T.Step(T.flip_lr, SENSOR), 0.0)])(ev, rng=0) is ev
    # a lambda is a step too; a Step of a module-level function pickles
    assert T.Compose([lambda e, rng: e[:3]])(ev).size == 3
    restored = pickle.loads(pickle.dumps(pipe))
    torch.testing.assert_close(restored(ev, rng=11), a)
    with pytest.raises(ValueError, match="do not bind rng in a Step"):
        T.Step(T.drop_events, 0.1, rng=0)
    with pytest.raises(TypeError, match=r"steps\[1\] must be a callable"):
        T.Compose([T.Step(T.flip_polarity), 3])
    with pytest.raises(ValueError, match=r"p must be a probability"):
        T.RandomApply(T.Step(T.flip_polarity), 2.0)


# ------------------------------------------------------------------------------------------
# tonic 1.7 (skipped without it)


def test_frames_match_tonic():
    F = tonic_functional()
    rng = np.random.default_rng(20)
    for _ in range(120):
        ev = random_stream(rng, int(rng.integers(1, 60)), t_max=int(rng.integers(1, 4000)))
        mode = ["time_window", "event_count", "n_time_bins", "n_event_bins"][int(rng.integers(0, 4))]
        value = int(rng.integers(1, 400)) if mode == "time_window" else int(rng.integers(1, 9))
        share = float(rng.choice([0.0, 0.3, 0.5]))
        ours, ref = call_args(mode, value, share, bool(rng.integers(0, 2)) and mode in ("time_window", "event_count"))
        theirs = {ref["mode"]: ref["value"], "overlap": ref["overlap"]}
        if "include_incomplete" in ref:
            theirs["include_incomplete"] = ref["include_incomplete"]
        expected = F.to_frame_numpy(ev.copy(), SENSOR, **theirs)
        np.testing.assert_array_equal(T.to_frames(ev, SENSOR, **ours).numpy(), expected.astype(np.float32))


def test_time_surface_and_voxel_grid_match_tonic():
    F = tonic_functional()
    rng = np.random.default_rng(21)
    for _ in range(60):
        ev = random_stream(rng, int(rng.integers(2, 60)), t_max=int(rng.integers(2, 20_000)))
        if ev["t"][-1] == ev["t"][0]:
            continue
        dt, tau = int(rng.integers(1, 2000)), int(rng.integers(1, 5000))
        np.testing.assert_allclose(T.to_time_surface(ev, SENSOR, tau * 1e-6, dt=dt * 1e-6).numpy(),
                                   F.to_timesurface_numpy(ev.copy(), SENSOR, dt, tau), rtol=2e-5, atol=1e-7)
        n_bins = int(rng.integers(1, 10))
        np.testing.assert_array_equal(T.to_voxel_grid(ev, SENSOR, n_bins).numpy(),
                                      F.to_voxel_grid_numpy(ev.copy(), SENSOR, n_bins).astype(np.float32))


def test_filters_match_tonic():
    F = tonic_functional()
    rng = np.random.default_rng(22)
    for _ in range(80):
        ev = random_stream(rng, int(rng.integers(1, 120)), t_max=int(rng.integers(1, 40_000)))
        ft, rp = int(rng.integers(1, 8000)), int(rng.integers(0, 8000))
        np.testing.assert_array_equal(T.denoise(ev, ft * 1e-6), F.denoise_numpy(ev.copy(), ft))
        np.testing.assert_array_equal(T.refractory(ev, rp * 1e-6), F.refractory_period_numpy(ev.copy(), rp))


def test_geometric_transforms_match_tonic():
    pytest.importorskip("tonic", reason=TONIC_MISSING)
    import tonic.transforms as tt

    rng = np.random.default_rng(23)
    S = (20, 12, 2)
    for _ in range(20):
        ev = random_stream(rng, int(rng.integers(1, 200)), sensor=S)

        def same(ours, theirs):
            assert ours.size == theirs.size
            for f in "xytp":
                np.testing.assert_array_equal(ours[f].astype(np.int64), theirs[f].astype(np.int64))

        same(T.flip_lr(ev, S), tt.RandomFlipLR(S, p=1.0)(ev))
        same(T.flip_ud(ev, S), tt.RandomFlipUD(S, p=1.0)(ev))
        same(T.flip_polarity(ev), tt.RandomFlipPolarity(p=1.0)(ev))
        same(T.time_reverse(ev), tt.RandomTimeReversal(p=1.0)(ev))
        size = (int(rng.integers(1, 25)), int(rng.integers(1, 15)))
        same(T.center_crop(ev, S, size), tt.CenterCrop(S, size)(ev.copy()))
        f = float(rng.choice([0.25, 0.5, 0.7, 1.0]))
        same(T.downsample(ev, spatial_factor=f, time_factor=0.37), tt.Downsample(spatial_factor=f, time_factor=0.37)(ev))
        target = (int(rng.integers(1, 21)), int(rng.integers(1, 13)))
        same(T.spatial_downsample(ev, S, target), tt.Downsample(sensor_size=S, target_size=target)(ev))
