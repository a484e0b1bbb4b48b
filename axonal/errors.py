"""The package's own exception and warning types (a leaf module: no axonal imports).

Every error that axonal raises for a user's mistake is either one of these or a plain
``TypeError`` / ``ValueError`` from a boundary check. The classes below subclass the matching
built-in (``ValueError``), so code that catches ``ValueError`` keeps working, while code that
wants to tell axonal's refusals apart from bugs can catch :class:`AxonalError`.

* :class:`FileFormatError`: a file is not a valid file of the expected format (truncated,
  corrupt, impossible contents); the message names the file and what is wrong.
* :class:`NonFiniteError`: a tensor (state, weight, parameter, dataset) holds NaN or inf; the
  message names the tensor.
* :class:`ResourceLimitError`: a request would take more steps, memory or disk than allowed
  (a duration/dt of 10^12 steps, a header asking for terabytes); the message gives the limit.
* :class:`PlausibilityWarning`: a value is valid but most likely typed in the wrong unit or
  shape (a 10 s time constant, a 1000 mV threshold, a ``[B, F]`` input without a time axis).
"""

from __future__ import annotations

__all__ = [
    "AxonalError",
    "FileFormatError",
    "NonFiniteError",
    "ResourceLimitError",
    "PlausibilityWarning",
]


class AxonalError(Exception):
    """Base of axonal's own errors."""


class FileFormatError(AxonalError, ValueError):
    """A file is not a valid file of the expected format (truncated, corrupt, impossible)."""


class NonFiniteError(AxonalError, ValueError):
    """A tensor holds NaN or inf where finite values are required."""


class ResourceLimitError(AxonalError, ValueError):
    """A request exceeds a bound on steps, memory or disk (checked before any work starts)."""


class PlausibilityWarning(UserWarning):
    """A valid value that is most likely a unit or shape mistake."""
