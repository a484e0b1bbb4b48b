"""Training: losses, firing-rate regularisers and checkpoints (the BPTT loop lives in loop.py)."""

from axonal.train.checkpoint import (
    Checkpoint,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from axonal.train.losses import (
    count_cross_entropy,
    count_mse,
    first_spike_cross_entropy,
    first_spike_predict,
    membrane_cross_entropy,
)
from axonal.train.regularise import (
    firing_rate,
    lower_rate_penalty,
    rate_penalty,
    upper_rate_penalty,
)

__all__ = [
    "Checkpoint",
    "load_checkpoint",
    "restore",
    "save_checkpoint",
    "count_cross_entropy",
    "count_mse",
    "first_spike_cross_entropy",
    "first_spike_predict",
    "membrane_cross_entropy",
    "firing_rate",
    "lower_rate_penalty",
    "rate_penalty",
    "upper_rate_penalty",
]
