"""axonal: spiking neural networks on PyTorch.

Submodules: :mod:`axonal.functional` (pure equations), :mod:`axonal.nn` (layers),
:mod:`axonal.surrogate`, :mod:`axonal.encode`, :mod:`axonal.decode`, :mod:`axonal.train`,
:mod:`axonal.data`, :mod:`axonal.tasks`, :mod:`axonal.plot` (matplotlib, imported lazily).
"""

from axonal import decode, encode, nn, surrogate
from axonal.functional.neurons import ResetMode, family_names, get_family
from axonal.scan import ScanResult, scan

__version__ = "0.1.0"

__all__ = [
    "ResetMode",
    "ScanResult",
    "decode",
    "encode",
    "family_names",
    "get_family",
    "nn",
    "scan",
    "surrogate",
    "__version__",
]
