"""WAV reading: agreement with the standard library's decoder, every sample width, float files,
and refusals of damaged or impossible files with axonal's own errors."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from axonal.audio import read_wav, write_wav
from axonal.errors import FileFormatError, NonFiniteError, ResourceLimitError
import axonal.data.limits as limits


def _signal(frames: int = 301, channels: int = 2) -> torch.Tensor:
    t = torch.arange(frames, dtype=torch.float64) / 8000
    return torch.stack([0.9 * torch.sin(2 * torch.pi * (220 + 110 * c) * t) for c in range(channels)], 1)


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_matches_the_standard_library(tmp_path: Path, bits: int, channels: int) -> None:
    x = _signal(channels=channels)
    path = write_wav(tmp_path / "a.wav", x, 8000, bits=bits)
    rec = read_wav(path)
    assert rec.rate == 8000 and rec.samples.shape == (301, channels) and rec.samples.dtype == torch.float32
    assert rec.duration == pytest.approx(301 / 8000)
    assert float((rec.samples.double() - x).abs().max()) <= 1.0 / (1 << (bits - 1)) + 1e-7
    with wave.open(str(path)) as w:  # the standard library's decoder of the same bytes
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (channels, bits // 8, 8000, 301)
        raw = w.readframes(301)
    if bits in (16, 32):
        ints = np.frombuffer(raw, "<i2" if bits == 16 else "<i4").reshape(301, channels)
        assert np.array_equal((ints / float(1 << (bits - 1))).astype(np.float32), rec.samples.numpy())


def _float_wav(path: Path, values: np.ndarray, extensible: bool = False) -> Path:
    payload = values.astype("<f4").tobytes()
    if extensible:
        fmt = struct.pack("<HHIIHHHHI16s", 0xFFFE, 1, 16000, 64000, 4, 32, 22, 32, 0, struct.pack("<H14s", 3, b"\0" * 14))
    else:
        fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\0"
    body += b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("extensible", [False, True])
def test_float_files_and_extra_chunks(tmp_path: Path, extensible: bool) -> None:
    values = np.array([0.0, 0.5, -0.25, 1.0], dtype=np.float32)
    rec = read_wav(_float_wav(tmp_path / "f.wav", values, extensible))
    assert rec.rate == 16000 and torch.equal(rec.samples[:, 0], torch.from_numpy(values))


def test_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_wav(tmp_path / "g.wav", _signal(), 8000).read_bytes()
    cases = {
        b"": "RIFF header",
        b"RIFX" + good[4:]: "not b'RIFF'",
        good[:40]: "no 'data' chunk",
        good[:-10]: "declares",
        good[:22] + struct.pack("<H", 0) + good[24:]: "0 channels",
        good[:20] + struct.pack("<H", 0x55) + good[22:]: "not PCM",
    }
    for i, (data, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.wav"
        path.write_bytes(data)
        with pytest.raises(FileFormatError, match=message):
            read_wav(path)
    with pytest.raises(NonFiniteError, match="NaN"):
        read_wav(_float_wav(tmp_path / "nan.wav", np.array([0.1, np.nan], dtype=np.float32)))
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")
    monkeypatch.setattr(limits, "available_memory", lambda: 1000)
    with pytest.raises(ResourceLimitError, match="available"):
        read_wav(tmp_path / "g.wav")


def test_write_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bits"):
        write_wav(tmp_path / "x.wav", _signal(), 8000, bits=12)
    with pytest.raises(ValueError, match="rate"):
        write_wav(tmp_path / "x.wav", _signal(), 0)
    with pytest.raises(ValueError, match="finite"):
        write_wav(tmp_path / "x.wav", torch.tensor([0.0, float("nan")]), 8000)
