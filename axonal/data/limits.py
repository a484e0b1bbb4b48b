"""Guards shared by the file readers: memory available before an allocation, finite datasets.

Every reader in :mod:`axonal.data` and :mod:`axonal.interop` works out, from a file's header,
how many bytes it is about to allocate, checks that against the bytes actually present in the
file (a :class:`~axonal.errors.FileFormatError` when the header promises more than is there)
and against the memory this machine has free (:func:`check_allocation`, a
:class:`~axonal.errors.ResourceLimitError`), and only then reads. Loaded datasets go through
:func:`check_finite_array` (a :class:`~axonal.errors.NonFiniteError` naming the file and the
first bad element).

The free memory is read from ``/proc/meminfo`` (``MemAvailable``), capped by the cgroup limit
of the process when there is one (containers), with ``os.sysconf`` as the fallback; where none
of these exists the memory check is skipped (the checks against the file's own size remain).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from axonal.errors import NonFiniteError, ResourceLimitError

__all__ = ["MEMORY_SHARE", "available_memory", "check_allocation", "check_finite_array", "format_bytes"]

MEMORY_SHARE = 0.5
"""The share of the free memory one checked allocation may take. The estimates are made before
the work, which needs memory of its own beyond them (a model built from a file still has to
run), and other processes share the machine: a request for more than half of what is free is
refused rather than left to the operating system's out-of-memory killer."""

MEMINFO = Path("/proc/meminfo")
CGROUP_FILES = (
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),  # cgroup v2
    (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"), Path("/sys/fs/cgroup/memory/memory.usage_in_bytes")),  # v1
)


def _meminfo_available() -> int | None:
    try:
        text = MEMINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                scale = 1024 if parts[-1].lower() == "kb" else 1
                return int(parts[1]) * scale
    return None


def _sysconf_available() -> int | None:
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    if pages < 0 or size <= 0:
        return None
    return int(pages) * int(size)


def _cgroup_headroom() -> int | None:
    for limit_file, usage_file in CGROUP_FILES:
        try:
            limit = limit_file.read_text().strip()
            usage = usage_file.read_text().strip()
        except OSError:
            continue
        if not limit.isdigit() or not usage.isdigit():
            continue  # "max": no limit
        if int(limit) >= 1 << 60:  # v1 writes a huge number for "no limit"
            continue
        return max(int(limit) - int(usage), 0)
    return None


def available_memory() -> int | None:
    """Bytes of memory this process can still allocate, or ``None`` when it cannot be told.

    ``MemAvailable`` of ``/proc/meminfo`` (else ``os.sysconf``'s available pages), capped by the
    headroom under a cgroup memory limit when the process runs in one.
    """
    free = _meminfo_available()
    if free is None:
        free = _sysconf_available()
    cgroup = _cgroup_headroom()
    if cgroup is not None:
        free = cgroup if free is None else min(free, cgroup)
    return free


def format_bytes(n: int | float) -> str:
    """``1536`` -> ``'1.5 KiB'``; exact below 1 KiB."""
    value = float(n)
    if value < 1024:
        return f"{int(value)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if value < 1024 or unit == "EiB":
            return f"{value:.3g} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def check_allocation(nbytes: int | float, what: str, source: str | None = None) -> None:
    """Raise :class:`~axonal.errors.ResourceLimitError` when ``nbytes`` exceed
    :data:`MEMORY_SHARE` of the free memory.

    Args:
        nbytes: the bytes about to be allocated (a Python int: no overflow).
        what: what they are for, e.g. ``"header shape (60000, 28, 28) of type uint8"``.
        source: the file (or node) the request comes from, named in the message.
    """
    free = available_memory()
    if free is None or nbytes <= MEMORY_SHARE * free:
        return
    where = f"{source}: " if source else ""
    raise ResourceLimitError(
        f"{where}{what} needs {format_bytes(nbytes)} ({int(nbytes)} bytes), more than "
        f"{MEMORY_SHARE:.0%} of the {format_bytes(free)} of memory available; refused before allocating"
    )


def check_finite_array(name: str, array: np.ndarray) -> None:
    """Raise :class:`~axonal.errors.NonFiniteError` when a floating ``array`` holds NaN or inf.

    The message names ``name``, how many values are bad (``all`` of them for an all-NaN set)
    and the index of the first one. Integer arrays are always finite and pass at once.
    """
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.complexfloating):
        return
    finite = np.isfinite(array)
    if bool(finite.all()):
        return
    bad = int(finite.size - np.count_nonzero(finite))
    first = tuple(int(i) for i in np.unravel_index(int(np.argmin(finite.reshape(-1))), array.shape))
    count = f"all {bad}" if bad == finite.size else f"{bad} of {finite.size}"
    value = array[first] if array.ndim else array[()]
    raise NonFiniteError(
        f"{name} holds NaN or inf: {count} values (the first at index {first} is {value}); "
        "a dataset must be finite"
    )
