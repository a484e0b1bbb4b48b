"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside scikit-learn).

The fixed split used by ``axonal demo``: ``train_test_split(test_size=0.25, random_state=0,
stratify=labels)``, so 1,347 training and 450 test images, pixel values scaled to [0, 1].
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from axonal.data.limits import check_finite_array
from axonal.functional.validate import check_int

__all__ = ["DigitsSplit", "load_digits_split"]


class DigitsSplit(NamedTuple):
    """Images ``[N, 64]`` in [0, 1] (float32) and labels ``[N]`` (int64)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> DigitsSplit:
    """Load the digits and split them reproducibly (stratified by class).

    Raises :class:`~axonal.errors.NonFiniteError` if the installed copy of the images holds
    NaN or inf (a damaged scikit-learn install), rather than training on it.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not isinstance(test_fraction, float) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}")
    check_int("seed", seed, minimum=0)
    images, labels = load_digits(return_X_y=True)
    check_finite_array("scikit-learn's digits images", images)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images / 16.0, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return DigitsSplit(
        torch.as_tensor(x_tr, dtype=torch.float32),
        torch.as_tensor(y_tr, dtype=torch.int64),
        torch.as_tensor(x_te, dtype=torch.float32),
        torch.as_tensor(y_te, dtype=torch.int64),
    )
