"""WAV files (RIFF ``WAVE``): integer PCM of 8, 16, 24 or 32 bits and IEEE float of 32 or 64
bits, any number of channels, plain or ``WAVE_FORMAT_EXTENSIBLE`` headers.

The reader parses the RIFF chunks itself rather than trusting a header: every size is checked
against the bytes present and the memory free before anything is allocated, and whatever is
wrong with a file comes out as :class:`~axonal.errors.FileFormatError` naming the file.
Samples come back as float32 in ``[-1, 1]`` (integer PCM divided by its full scale; float
files as stored, checked finite), time-major ``[T, channels]``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from axonal.data.limits import check_allocation, check_finite_array
from axonal.errors import FileFormatError

__all__ = ["Recording", "read_wav", "write_wav", "MAX_CHANNELS", "MAX_RATE"]

MAX_CHANNELS = 256
"""The most channels a file may declare."""

MAX_RATE = 1_000_000
"""The highest sample rate (Hz) a file may declare."""

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_INT_WIDTHS = (1, 2, 3, 4)
_FLOAT_WIDTHS = (4, 8)


@dataclass(frozen=True)
class Recording:
    """A decoded recording.

    Attributes:
        samples: ``[T, channels]`` float32 in ``[-1, 1]`` (float files: as stored).
        rate: sample rate (Hz).
    """

    samples: Tensor
    rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.rate


def _fail(path: Path, why: str) -> FileFormatError:
    return FileFormatError(f"{str(path)!r} is not a readable WAV file: {why}")


def _chunks(path: Path, data: bytes) -> dict[bytes, tuple[int, int]]:
    """``{chunk id: (offset, size)}`` of the top-level chunks after the RIFF/WAVE header (the
    first of each id), each checked to lie inside the file."""
    if len(data) < 12:
        raise _fail(path, f"it holds {len(data)} bytes; a RIFF header takes 12")
    riff, _, wave = struct.unpack_from("<4sI4s", data, 0)
    if riff != b"RIFF" or wave != b"WAVE":
        raise _fail(path, f"it starts with {data[:4]!r}...{data[8:12]!r}, not b'RIFF'...b'WAVE'")
    found: dict[bytes, tuple[int, int]] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        start = pos + 8
        if start + size > len(data):
            if cid == b"data":  # streaming writers leave the size open or too large: refuse
                raise _fail(path, f"its data chunk declares {size} bytes but {len(data) - start} are present")
            break  # a damaged trailing chunk after the ones we need is ignored
        found.setdefault(cid, (start, size))
        pos = start + size + (size & 1)  # chunks are padded to even sizes
    for need in (b"fmt ", b"data"):
        if need not in found:
            raise _fail(path, f"it has no {need.decode().strip()!r} chunk")
    return found


def read_wav(path: str | Path) -> Recording:
    """Read a WAV file.

    Returns:
        :class:`Recording` with ``samples [T, channels]`` (float32) and ``rate`` (Hz).
    Raises:
        FileNotFoundError: ``path`` does not exist.
        FileFormatError: not a WAV file of a supported encoding, truncated or inconsistent.
        ResourceLimitError: the decoded samples would not fit in the free memory.
        NonFiniteError: a float file holds NaN or inf.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such WAV file: {str(path)!r}")
    check_allocation(path.stat().st_size, "reading the file", str(path))
    data = path.read_bytes()
    chunks = _chunks(path, data)
    fmt_at, fmt_size = chunks[b"fmt "]
    if fmt_size < 16:
        raise _fail(path, f"its fmt chunk holds {fmt_size} bytes; at least 16 are needed")
    tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", data, fmt_at)
    if tag == _EXTENSIBLE:
        if fmt_size < 40:
            raise _fail(path, "an extensible fmt chunk must hold 40 bytes")
        tag = struct.unpack_from("<H", data, fmt_at + 24)[0]  # the sub-format GUID's first field
    if not 1 <= channels <= MAX_CHANNELS:
        raise _fail(path, f"it declares {channels} channels; expected 1..{MAX_CHANNELS}")
    if not 1 <= rate <= MAX_RATE:
        raise _fail(path, f"it declares a sample rate of {rate} Hz; expected 1..{MAX_RATE}")
    width = bits // 8
    if bits % 8 or (tag == _PCM and width not in _INT_WIDTHS) or (tag == _FLOAT and width not in _FLOAT_WIDTHS):
        raise _fail(path, f"{bits}-bit samples of format tag {tag:#06x} are not supported")
    if tag not in (_PCM, _FLOAT):
        raise _fail(path, f"format tag {tag:#06x} is not PCM (0x0001) or IEEE float (0x0003)")
    if align != width * channels:
        raise _fail(path, f"its block align is {align}; {channels} channels of {bits} bits take {width * channels}")
    data_at, data_size = chunks[b"data"]
    frames = data_size // align
    check_allocation(frames * channels * (4 + width), f"{frames} frames of {channels} channels", str(path))
    raw = np.frombuffer(data, dtype=np.uint8, count=frames * align, offset=data_at)
    if tag == _FLOAT:
        values = raw.view("<f4" if width == 4 else "<f8").astype(np.float32 if width == 4 else np.float64)
        check_finite_array(f"WAV file {str(path)!r}", values)
        samples = values.astype(np.float32)
    elif width == 1:  # 8-bit PCM is unsigned, centred on 128
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        ints = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = (ints / float(1 << 23)).astype(np.float32)
    else:
        ints = raw.view("<i2" if width == 2 else "<i4")
        samples = (ints / float(1 << (bits - 1))).astype(np.float32)
    return Recording(torch.from_numpy(samples.reshape(frames, channels).copy()), int(rate))


def write_wav(path: str | Path, samples: Tensor, rate: int, bits: int = 16) -> Path:
    """Write ``samples [T]`` or ``[T, channels]`` (floats in ``[-1, 1]``, clipped) as integer
    PCM of ``bits`` (8, 16, 24 or 32) at ``rate`` Hz; returns the path."""
    if bits not in (8, 16, 24, 32):
        raise ValueError(f"bits must be 8, 16, 24 or 32, got {bits!r}")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_RATE:
        raise ValueError(f"rate must be an int in 1..{MAX_RATE} Hz, got {rate!r}")
    if not isinstance(samples, Tensor) or samples.dim() not in (1, 2) or not samples.is_floating_point():
        raise ValueError(f"samples must be a floating tensor [T] or [T, channels], got {samples!r:.80}")
    columns = samples.shape[1] if samples.dim() == 2 else 1
    x = samples.detach().cpu().double().reshape(samples.shape[0], columns).clamp(-1.0, 1.0).numpy()
    if not np.isfinite(x).all():
        raise ValueError("samples must be finite")
    channels = x.shape[1]
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"samples must have 1..{MAX_CHANNELS} channels, got {channels}")
    full = float(1 << (bits - 1))
    ints = np.clip(np.round(x * full), -full, full - 1).astype(np.int64)
    if bits == 8:
        payload = (ints + 128).astype(np.uint8).tobytes()
    elif bits == 24:
        u = (ints & 0xFFFFFF).astype(np.uint32).reshape(-1)
        payload = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        payload = ints.astype("<i2" if bits == 16 else "<i4").tobytes()
    width = bits // 8
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(payload) + (len(payload) & 1), b"WAVE",
                         b"fmt ", 16, _PCM, channels, rate, rate * width * channels, width * channels, bits,
                         b"data", len(payload))
    out = Path(path)
    out.write_bytes(header + payload + (b"\0" if len(payload) & 1 else b""))
    return out
