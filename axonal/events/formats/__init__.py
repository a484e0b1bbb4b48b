"""Event file formats: readers into the event container, writers, and a streaming API.

==========  ==============================  ===================================  ===========
format      files                           read                                 written
==========  ==============================  ===================================  ===========
``nmnist``  N-MNIST/N-Caltech101 ``.bin``   all events (40-bit records)          yes
``npz``     numpy ``.npz``                  arrays x, y, t, p (+ sensor_size),   yes
                                            or one tonic-style structured array
``aedat4``  iniVation DV ``.aedat4``        one polarity stream (none/LZ4/Zstd)  yes
``aedat2``  jAER ``.aedat`` 2.0             DVS events (DAVIS, DVS128 layouts)   yes
``aedat31`` cAER ``.aedat`` 3.1             polarity packets                     yes
``evt2``    Prophesee ``.raw`` EVT 2.0      CD events                            yes
``evt3``    Prophesee ``.raw`` EVT 3.0      CD events (vectorised words too)     yes
==========  ==============================  ===================================  ===========

:func:`read_events` picks the reader from the file's first bytes (the magic lines of AEDAT,
the ``%`` header of RAW, the zip signature of ``.npz``), falling back on the extension
(``.bin``/``.bs2``: N-MNIST, which has no header). :func:`iter_events` yields the same events
in chunks of at most ``chunk_events`` (a file larger than memory can be processed piece by
piece); :func:`write_events` picks the writer from the extension or ``format``.
:func:`event_file_info` reads only the header.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from axonal.errors import FileFormatError
from axonal.events.formats._common import DEFAULT_CHUNK_EVENTS, EventFileInfo, existing_file, writable_path
from axonal.events.formats.aedat import AEDAT_LAYOUTS, aedat_info, iter_aedat, read_aedat, write_aedat
from axonal.events.formats.aedat4 import AEDAT4_COMPRESSIONS, aedat4_info, iter_aedat4, read_aedat4, write_aedat4
from axonal.events.formats.nmnist import NMNIST_SENSOR, iter_nmnist, nmnist_info, read_nmnist, write_nmnist
from axonal.events.formats.npz import iter_npz, npz_info, read_npz, write_npz
from axonal.events.formats.prophesee import EVT_VERSIONS, evt_info, iter_evt, read_evt, write_evt

__all__ = [
    "AEDAT4_COMPRESSIONS",
    "AEDAT_LAYOUTS",
    "DEFAULT_CHUNK_EVENTS",
    "EVENT_FORMATS",
    "EVT_VERSIONS",
    "EventFileInfo",
    "NMNIST_SENSOR",
    "detect_event_format",
    "event_file_info",
    "iter_aedat",
    "iter_aedat4",
    "iter_events",
    "iter_evt",
    "iter_nmnist",
    "iter_npz",
    "read_aedat",
    "read_aedat4",
    "read_events",
    "read_evt",
    "read_nmnist",
    "read_npz",
    "write_aedat",
    "write_aedat4",
    "write_events",
    "write_evt",
    "write_nmnist",
    "write_npz",
]

EVENT_FORMATS = ("nmnist", "npz", "aedat4", "aedat2", "aedat31", "evt2", "evt3")
"""The format names of :func:`detect_event_format` and :func:`write_events`."""

_WRITE_EXTENSIONS = {".bin": "nmnist", ".bs2": "nmnist", ".npz": "npz", ".aedat4": "aedat4", ".aedat": "aedat2",
                     ".raw": "evt3"}


def detect_event_format(path: str | os.PathLike[str]) -> str:
    """The format of an event file (one of :data:`EVENT_FORMATS`), from its first bytes, else
    its extension.

    Raises:
        ValueError: the path is not an existing file.
        FileFormatError: the file is none of the formats read here (naming what it starts with).
    """
    p = existing_file(path, "event file")
    with p.open("rb") as fh:
        head = fh.read(64)
    if head.startswith(b"#!AER-DAT4"):
        return "aedat4"
    if head.startswith(b"#!AER-DAT"):
        return "aedat31" if head.startswith(b"#!AER-DAT3") else "aedat2"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head.startswith(b"%"):
        return evt_info(p).format
    if p.suffix.lower() in (".bin", ".bs2"):
        return "nmnist"
    if p.suffix.lower() == ".npz":
        return "npz"
    raise FileFormatError(
        f"event file {str(p)!r} is in no format read here: it starts with {head[:16]!r} and its extension "
        f"{p.suffix!r} is not .bin/.bs2 (N-MNIST); known formats: {', '.join(EVENT_FORMATS)}"
    )


def event_file_info(path: str | os.PathLike[str], **kwargs: Any) -> EventFileInfo:
    """The header of an event file of any format (:func:`detect_event_format`); ``kwargs``
    go to the format's own info function (``sensor_size``, ``layout``, ``stream``)."""
    fmt = detect_event_format(path)
    info: Callable[..., EventFileInfo] = {
        "nmnist": nmnist_info, "npz": npz_info, "aedat4": aedat4_info, "aedat2": aedat_info, "aedat31": aedat_info,
        "evt2": evt_info, "evt3": evt_info,
    }[fmt]
    return info(path, **kwargs)


_READERS: dict[str, Callable[..., np.ndarray]] = {
    "nmnist": read_nmnist, "npz": read_npz, "aedat4": read_aedat4, "aedat2": read_aedat, "aedat31": read_aedat,
    "evt2": read_evt, "evt3": read_evt,
}
_ITERATORS: dict[str, Callable[..., Iterator[np.ndarray]]] = {
    "nmnist": iter_nmnist, "npz": iter_npz, "aedat4": iter_aedat4, "aedat2": iter_aedat, "aedat31": iter_aedat,
    "evt2": iter_evt, "evt3": iter_evt,
}


def read_events(path: str | os.PathLike[str], **kwargs: Any) -> np.ndarray:
    """Read an event file of any format here into an event array (:data:`~axonal.events.EVENT_DTYPE`).

    The format is detected (:func:`detect_event_format`); ``kwargs`` go to its reader
    (:func:`read_nmnist`, :func:`read_npz`, :func:`read_aedat4`, :func:`read_aedat`,
    :func:`read_evt`): ``sensor_size`` for all, ``stream`` (AEDAT4), ``layout`` / ``source``
    (AEDAT 2.0 / 3.1). Errors are those of the reader.
    """
    return _READERS[detect_event_format(path)](path, **kwargs)


def iter_events(path: str | os.PathLike[str], chunk_events: int = DEFAULT_CHUNK_EVENTS, **kwargs: Any) -> Iterator[np.ndarray]:
    """Yield the events of a file in chunks of at most ``chunk_events`` events, in file order.

    The large-file formats are read piece by piece with bounded memory: N-MNIST and AEDAT 2.0
    records, EVT 2.0/3.0 words (the decoder state carried across chunks), AEDAT 4.0 and 3.1
    packet by packet; ``.npz`` is read whole and sliced. Every chunk is checked as
    :func:`read_events` checks the whole file, and timestamps are checked across chunks.
    """
    return _ITERATORS[detect_event_format(path)](path, chunk_events, **kwargs)


def write_events(path: str | os.PathLike[str], events: Any, sensor_size: Sequence[int], format: str | None = None,
                 **kwargs: Any) -> None:
    """Write events in a format chosen by ``format`` (one of :data:`EVENT_FORMATS`) or by the
    extension: ``.bin``/``.bs2`` N-MNIST, ``.npz``, ``.aedat4``, ``.aedat`` (AEDAT 2.0; pass
    ``format="aedat31"`` for 3.1), ``.raw`` (EVT 3.0; ``format="evt2"`` for EVT 2.0).
    ``kwargs`` go to the writer (``compression``, ``layout``, ``start_timestamp``...).

    Raises:
        ValueError: no format given and an unknown extension, an unknown format, or what the
            writer refuses (events outside the sensor, unsorted, beyond the format's range).
    """
    p = writable_path(path)
    if format is None:
        format = _WRITE_EXTENSIONS.get(p.suffix.lower())
        if format is None:
            raise ValueError(f"cannot tell the format of {str(p)!r} from its extension {p.suffix!r}; pass format= "
                             f"one of {EVENT_FORMATS} (extensions: {sorted(_WRITE_EXTENSIONS)})")
    if format not in EVENT_FORMATS:
        raise ValueError(f"format must be one of {EVENT_FORMATS}, got {format!r}")
    if format == "nmnist":
        write_nmnist(p, events, sensor_size, **kwargs)
    elif format == "npz":
        write_npz(p, events, sensor_size, **kwargs)
    elif format == "aedat4":
        write_aedat4(p, events, sensor_size, **kwargs)
    elif format in ("aedat2", "aedat31"):
        write_aedat(p, events, sensor_size, version="2.0" if format == "aedat2" else "3.1", **kwargs)
    else:
        write_evt(p, events, sensor_size, version="2.0" if format == "evt2" else "3.0", **kwargs)

