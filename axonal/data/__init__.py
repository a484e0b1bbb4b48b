"""Datasets and readers (every loader also accepts local data; nothing downloads at import)."""

from axonal.data.digits import DigitsSplit, load_digits_split

__all__ = ["DigitsSplit", "load_digits_split"]
