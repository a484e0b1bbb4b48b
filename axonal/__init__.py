"""axonal: spiking neural networks on PyTorch.

Submodules: :mod:`axonal.functional` (pure equations: neuron families, surrogate gradients,
spike encoders and readouts, plasticity rules), :mod:`axonal.nn` (layers), :mod:`axonal.train`,
:mod:`axonal.data`, :mod:`axonal.tasks`, :mod:`axonal.plot` (matplotlib, imported lazily).
``axonal.encode``, ``axonal.decode`` and ``axonal.surrogate`` are the modules of
:mod:`axonal.functional` of those names (one home per symbol), bound here for short access.
"""

from axonal import errors, nn
from axonal.functional import decode, encode, surrogate
from axonal.functional.neurons import ResetMode, family_names, get_family
from axonal.functional.scan import ScanResult, scan

__version__ = "0.1.0"

__all__ = [
    "ResetMode",
    "ScanResult",
    "decode",
    "encode",
    "errors",
    "family_names",
    "get_family",
    "nn",
    "scan",
    "surrogate",
    "__version__",
]
