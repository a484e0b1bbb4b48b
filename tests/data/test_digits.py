from __future__ import annotations

import pytest
import torch

from axonal.data import load_digits_split


def test_fixed_split_sizes_range_and_stratification() -> None:
    d = load_digits_split()
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) == 1.0
    counts = torch.bincount(d.y_test, minlength=10)
    assert int(counts.min()) >= 43 and int(counts.max()) <= 46  # stratified: 43-46 per class
    again = load_digits_split()
    assert torch.equal(d.x_test, again.x_test) and torch.equal(d.y_train, again.y_train)


def test_split_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=1.5)
    with pytest.raises(ValueError, match="seed"):
        load_digits_split(seed=-1)
