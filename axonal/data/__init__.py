"""Datasets and readers (every loader also accepts local data; nothing downloads at import).

Event files (N-MNIST ``.bin``, AEDAT, Prophesee RAW, ``.npz``) are read by :mod:`axonal.events`.
"""

from axonal.data.digits import DigitsSplit, load_digits_split
from axonal.data.mnist import MnistSplit, load_mnist_5k, load_mnist_idx, read_idx
from axonal.data.events import events_to_frames, read_label_list
from axonal.data.fsdd import (
    FSDD_SPEAKERS,
    FsddData,
    FsddItem,
    LosoFold,
    default_fsdd_root,
    download_fsdd,
    load_fsdd,
    loso_folds,
    official_split,
    scan_fsdd,
    validation_split,
)
from axonal.data.shd import SHD_CHANNELS, ShdData, download_shd, read_shd, shd_to_frames

__all__ = [
    "DigitsSplit",
    "FSDD_SPEAKERS",
    "FsddData",
    "FsddItem",
    "LosoFold",
    "MnistSplit",
    "SHD_CHANNELS",
    "ShdData",
    "default_fsdd_root",
    "download_fsdd",
    "download_shd",
    "events_to_frames",
    "load_digits_split",
    "load_fsdd",
    "load_mnist_5k",
    "load_mnist_idx",
    "loso_folds",
    "official_split",
    "read_idx",
    "read_label_list",
    "read_shd",
    "scan_fsdd",
    "shd_to_frames",
    "validation_split",
]
