import numpy as np
import pytest
import torch

from axonal.events import (
    EVENT_DTYPE,
    as_events,
    check_events,
    check_sensor_size,
    concatenate_events,
    empty_events,
    from_torch,
    make_events,
    to_torch,
)


def _sample() -> np.ndarray:
    return make_events([0, 5, 33], [1, 2, 3], [10, 10, 400], [1, 0, 1])


def test_dtype_is_aligned_and_16_bytes():
    assert EVENT_DTYPE.itemsize == 16
    for name in ("x", "y", "p", "t"):
        offset = EVENT_DTYPE.fields[name][1]
        assert offset % EVENT_DTYPE.fields[name][0].itemsize == 0


def test_make_events_fields_and_scalars():
    ev = make_events(np.arange(4), 0, [1, 2, 3, 4], 1)
    assert ev.dtype == EVENT_DTYPE
    assert ev["y"].tolist() == [0, 0, 0, 0] and ev["p"].tolist() == [1, 1, 1, 1]
    assert ev["t"].tolist() == [1, 2, 3, 4]


def test_to_torch_shares_memory():
    ev = _sample()
    tensors = to_torch(ev)
    assert tensors.t.dtype == torch.int64 and tensors.x.dtype == torch.int16 and tensors.p.dtype == torch.int8
    tensors.t[1] = 77
    tensors.x[0] = 3
    assert ev["t"][1] == 77 and ev["x"][0] == 3


def test_from_torch_round_trip():
    ev = _sample()
    back = from_torch(*(torch.from_numpy(ev[f].astype(np.int64)) for f in ("x", "y", "t", "p")))
    assert np.array_equal(back, ev)


def test_as_events_converts_tonic_style_arrays():
    tonic_dtype = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
    raw = np.zeros(3, dtype=tonic_dtype)
    raw["x"] = [1, 2, 3]
    raw["p"] = [True, False, True]
    raw["t"] = [5, 6, 7]
    ev = as_events(raw)
    assert ev.dtype == EVENT_DTYPE and ev["p"].tolist() == [1, 0, 1] and ev["x"].tolist() == [1, 2, 3]
    same = _sample()
    assert as_events(same) is same


@pytest.mark.parametrize("bad, kind", [
    (np.zeros(3), TypeError),
    ([1, 2, 3], TypeError),
    (np.zeros(3, dtype=[("x", int), ("y", int)]), ValueError),
])
def test_as_events_refuses(bad, kind):
    with pytest.raises(kind, match="events"):
        as_events(bad)


def test_make_events_range_checks():
    with pytest.raises(ValueError, match="field p"):
        make_events([0], [0], [0], [2])
    with pytest.raises(ValueError, match="field x"):
        make_events([-1], [0], [0], [0])
    with pytest.raises(ValueError, match="field t"):
        make_events([0], [0], [-5], [0])
    with pytest.raises(ValueError, match="one entry per event"):
        make_events([0, 1], [0], [0, 1, 2], [0, 1])
    with pytest.raises(TypeError, match="integers"):
        make_events([0.5], [0], [0], [0])


def test_sensor_size():
    assert check_sensor_size((34, 34)) == (34, 34, 2)
    assert check_sensor_size((320, 240, 1)) == (320, 240, 1)
    for bad in [(0, 3), (3,), "ab", (2, 2, 3), (1.5, 2)]:
        with pytest.raises(ValueError, match="sensor_size"):
            check_sensor_size(bad)


def test_check_events_addresses_and_order():
    ev = _sample()
    assert check_events(ev, (34, 34, 2)) is ev
    with pytest.raises(ValueError, match=r"events.x must be in \[0, 32\]"):
        check_events(ev, (33, 34))
    unsorted = ev[::-1].copy()
    with pytest.raises(ValueError, match="non-decreasing"):
        check_events(unsorted)
    assert check_events(unsorted, require_sorted=False) is unsorted


def test_concatenate_and_empty():
    ev = _sample()
    both = concatenate_events([ev, ev])
    assert both.shape == (6,) and both.dtype == EVENT_DTYPE
    assert concatenate_events([]).shape == (0,)
    assert empty_events(2).shape == (2,)
    with pytest.raises(ValueError):
        empty_events(-1)
