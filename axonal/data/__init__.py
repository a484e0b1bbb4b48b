"""Datasets and readers (every loader also accepts local data; nothing downloads at import)."""

from axonal.data.digits import DigitsSplit, load_digits_split
from axonal.data.mnist import MnistSplit, load_mnist_5k, load_mnist_idx, read_idx
from axonal.data.events import Events, events_to_frames, read_label_list, read_nmnist, write_nmnist

__all__ = [
    "DigitsSplit",
    "Events",
    "events_to_frames",
    "load_digits_split",
    "load_mnist_5k",
    "load_mnist_idx",
    "MnistSplit",
    "read_idx",
    "read_label_list",
    "read_nmnist",
    "write_nmnist",
]
