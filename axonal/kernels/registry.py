"""Backend registry: (family name, backend name, device type) -> fused multi-step kernel.

A :class:`Kernel` runs a whole ``[T, B, ...]`` sequence of one neuron family in one call and
returns the same :class:`~axonal.functional.scan.ScanResult` as the reference loop
(``axonal.functional.scan.multi_step`` over the family's step function), without the state trace.
``select`` is what :class:`~axonal.nn.neuron.NeuronLayer` calls: ``"auto"`` picks a
registered kernel for the input's device when it is available (compiled, importable) and
supports the parameters, else ``None`` (the reference loop); a named backend is forced and
raises when it cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import Tensor

from axonal.functional.scan import ScanResult

__all__ = ["Kernel", "BACKENDS", "register_kernel", "get_kernel", "kernels", "select", "check_backend"]

BACKENDS = ("auto", "reference", "cpp", "triton")
"""Names accepted by ``NeuronLayer(backend=...)``; ``auto`` tries ``cpp`` then ``triton``."""

_AUTO_ORDER = ("cpp", "triton")


@dataclass(frozen=True)
class Kernel:
    """A fused multi-step implementation of one family on one device type.

    Attributes:
        family: neuron family name (``NeuronFamily.name``).
        backend: backend name, e.g. ``"cpp"`` or ``"triton"``.
        device: torch device type, e.g. ``"cpu"`` or ``"cuda"``.
        run: ``run(x [T, B, ...], state | None, params, dt) -> ScanResult`` (trace ``None``).
        unsupported: ``unsupported(params, x)``: why these parameters or this input cannot
            run here (``None``: they can).
        available: whether the backend can run in this process (compiled, importable).
    """

    family: str
    backend: str
    device: str
    run: Callable[[Tensor, Any, Any, float], ScanResult[Any]]
    unsupported: Callable[[Any, Tensor], str | None]
    available: Callable[[], bool]


_KERNELS: dict[tuple[str, str, str], Kernel] = {}


def register_kernel(kernel: Kernel) -> Kernel:
    """Add ``kernel`` under ``(family, backend, device)`` (replacing an earlier one)."""
    if kernel.backend not in _AUTO_ORDER:
        raise ValueError(f"backend must be one of {_AUTO_ORDER}, got {kernel.backend!r}")
    _KERNELS[(kernel.family, kernel.backend, kernel.device)] = kernel
    return kernel


def get_kernel(family: str, backend: str, device: str) -> Kernel | None:
    """The kernel registered under that key, or ``None``."""
    return _KERNELS.get((family, backend, device))


def kernels() -> list[Kernel]:
    """Every registered kernel (available or not)."""
    return list(_KERNELS.values())


def check_backend(backend: object) -> str:
    """Validate a ``backend=`` argument."""
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str, got {type(backend).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def select(family: str, backend: str, params: Any, x: Tensor) -> Kernel | None:
    """The kernel to run ``family`` with ``params`` on ``x``, or ``None`` for the reference.

    ``"auto"`` never raises for lack of a kernel; a forced backend raises ``ValueError`` when
    none is registered for the family and device or the parameters are unsupported, and
    ``RuntimeError`` when it is registered but cannot run in this process.
    """
    check_backend(backend)
    if backend == "reference":
        return None
    device = x.device.type
    if backend == "auto":
        for name in _AUTO_ORDER:
            kernel = _KERNELS.get((family, name, device))
            if kernel is not None and kernel.unsupported(params, x) is None and kernel.available():
                return kernel
        return None
    kernel = _KERNELS.get((family, backend, device))
    if kernel is None:
        raise ValueError(
            f"backend {backend!r} has no kernel for family {family!r} on device {device!r}"
        )
    reason = kernel.unsupported(params, x)
    if reason is not None:
        raise ValueError(f"backend {backend!r} cannot run family {family!r} here: {reason}")
    if not kernel.available():
        raise RuntimeError(f"backend {backend!r} is not available in this process")
    return kernel
