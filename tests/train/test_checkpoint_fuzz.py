"""Fuzzed checkpoint reader: random bytes, truncations at every length class, bit flips,
overwritten chunks, huge sizes in the zip headers and in the pickle. ``load_checkpoint`` either
returns a checkpoint whose weights are finite tensors or refuses the file with one of axonal's
own errors (naming the file), within a time bound; nothing else comes out.

``TARGETS`` (strategy, target) follows the shape of ``tests/test_readers_fuzz.py`` so that a
long run can take it too; the tests below run each target with a small derandomized budget.
"""

from __future__ import annotations

import atexit
import itertools
import pickle
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from axonal.errors import AxonalError, FileFormatError, ResourceLimitError
from axonal.nn import LIF, Sequential
from axonal.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from axonal.train.state import rng_states, to_plain

FUZZ = settings(
    max_examples=120,
    deadline=timedelta(seconds=3),  # per case, on a loaded 2-core machine
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_DIR = Path(tempfile.mkdtemp(prefix="axonal-ckpt-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_counter = itertools.count()


def _file(data: bytes) -> Path:
    path = _DIR / f"case{next(_counter) % 4}.pt"
    path.write_bytes(data)
    return path


@lru_cache(maxsize=None)
def seeds() -> tuple[bytes, ...]:
    """Valid files: a model checkpoint, and a training state with optimizer and RNG tensors."""
    torch.manual_seed(0)
    model = Sequential(nn.Linear(3, 4), LIF(tau_mem=10e-3, learn=("tau_mem",), shape=(4,)), nn.Linear(4, 2))
    small = _DIR / "seed_model.pt"
    save_checkpoint(small, model, {"sizes": [3, 4, 2], "dt": 1e-3}, {"accuracy": 0.5})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.rand(5, 2, 3))[0].sum().backward()
    opt.step()
    state = _DIR / "seed_state.pt"
    extra = {"optimizer": to_plain(opt.state_dict(), "optimizer"), "rng": rng_states(torch.Generator()),
             "position": {"epoch": 1, "batch": 2, "order": torch.randperm(6)}}
    save_checkpoint(state, model, {"kind": "axonal-fit-state"}, extra)
    return small.read_bytes(), state.read_bytes()


def check_accepted(ckpt: Checkpoint) -> None:
    assert isinstance(ckpt, Checkpoint)
    assert all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt.state_dict.items())
    for value in ckpt.state_dict.values():
        if value.is_floating_point():
            assert bool(torch.isfinite(value).all())
    assert isinstance(ckpt.config, dict)


def checkpoint_target(data: bytes) -> str:
    """``"accepted"`` or ``"refused"`` (an AxonalError naming the file); anything else escapes."""
    path = _file(data)
    try:
        ckpt = load_checkpoint(path, finite_extra=True)
    except AxonalError as err:
        assert str(path) in str(err), f"the error does not name the file: {err}"
        return "refused"
    check_accepted(ckpt)
    return "accepted"


# --------------------------------------------------------------------------- byte mutations


def _flip(data: bytes, bits: list[int]) -> bytes:
    out = bytearray(data)
    for b in bits:
        out[(b // 8) % len(out)] ^= 1 << (b % 8)
    return bytes(out)


def _structure_cuts(data: bytes) -> list[int]:
    """Length classes: empty, one byte, around every zip header (local, central, end)."""
    cuts = {0, 1, 4, len(data) - 1, len(data) - 22, len(data) // 2}
    for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06"):
        start = 0
        while (at := data.find(sig, start)) >= 0:
            cuts.update({at - 1, at, at + 1, at + 30})
            start = at + 1
    return sorted(c for c in cuts if 0 <= c < len(data))


SEEDS = st.sampled_from([0, 1]).map(lambda i: seeds()[i])


def _truncated(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(_structure_cuts(seed)), st.integers(0, len(seed) - 1)).map(lambda n: seed[:n])


def _flipped(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.lists(st.integers(0, 8 * len(seed) - 1), min_size=1, max_size=8).map(lambda bits: _flip(seed, bits))


def _overwritten(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(0, len(seed) - 1), st.binary(min_size=1, max_size=16)).map(
        lambda a: seed[: a[0]] + a[1] + seed[a[0] + len(a[1]) :]
    )


BYTE_CASES = st.one_of(
    st.binary(max_size=512),
    st.binary(max_size=512).map(lambda b: b"PK\x03\x04" + b),  # past the magic-number check
    SEEDS.flatmap(_truncated),
    SEEDS.flatmap(_flipped),
    SEEDS.flatmap(_overwritten),
    st.tuples(SEEDS, st.binary(min_size=1, max_size=32)).map(lambda a: a[0] + a[1]),
)


# --------------------------------------------------------------------------- huge sizes


def _central_entries(data: bytes) -> list[int]:
    out, start = [], 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        out.append(at)
        start = at + 1
    return out


@st.composite
def huge_headers(draw: st.DrawFn) -> bytes:
    """A valid file whose zip headers claim sizes or offsets far beyond the bytes present."""
    seed = bytearray(draw(SEEDS))
    entries = _central_entries(bytes(seed))
    at = draw(st.sampled_from(entries))
    # central directory entry: +20 compressed size, +24 uncompressed size, +42 local header offset
    field = draw(st.sampled_from([20, 24, 42]))
    value = draw(st.one_of(st.sampled_from([2**31, 2**32 - 2, 10**9, 2**24]), st.integers(len(seed), 2**32 - 2)))
    seed[at + field : at + field + 4] = struct.pack("<I", value)
    if draw(st.booleans()):  # claim the same in the local header (+18 compressed, +22 size)
        local = struct.unpack("<I", seed[at + 42 : at + 46])[0]
        if local + 30 <= len(seed) and seed[local : local + 4] == b"PK\x03\x04":
            seed[local + 18 + (4 if field == 24 else 0) : local + 22 + (4 if field == 24 else 0)] = struct.pack("<I", value)
    return bytes(seed)


class _Global:
    """Pickles as a call of ``module.name(*args)`` (what a crafted file would contain)."""

    def __init__(self, module: str, name: str, args: tuple[Any, ...]) -> None:
        self.module, self.name, self.args = module, name, args

    def __reduce__(self) -> tuple[Any, ...]:
        import importlib

        return getattr(importlib.import_module(self.module), self.name), self.args


@st.composite
def crafted_pickles(draw: st.DrawFn) -> bytes:
    """A zip laid out as torch.save's whose data.pkl asks for huge allocations or names globals
    a checkpoint never holds (protocol 2, as torch writes; or a newer protocol)."""
    size = draw(st.sampled_from([10**12, 2**40, 10**9]))
    payload = draw(st.sampled_from([
        {"format": "axonal-checkpoint", "version": 1, "state_dict": {}, "config": {"x": _Global("builtins", "bytearray", (size,))}, "extra": None},
        {"format": "axonal-checkpoint", "version": 1, "state_dict": {}, "config": {"x": _Global("builtins", "set", ([1],))}, "extra": None},
        {"format": "axonal-checkpoint", "version": 1, "state_dict": {}, "config": {"x": _Global("torch", "zeros", (size,))}, "extra": None},
        {"format": "axonal-checkpoint", "version": 1, "state_dict": {}, "config": {}, "extra": None},
    ]))
    protocol = draw(st.sampled_from([2, 4]))
    body = pickle.dumps(payload, protocol=protocol)
    path = _DIR / "crafted.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", body)
        archive.writestr("archive/version", "3\n")
    return path.read_bytes()


def crafted_target(data: bytes) -> str:
    outcome = checkpoint_target(data)
    return outcome


TARGETS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], str]]] = {
    "checkpoint-bytes": (BYTE_CASES, checkpoint_target),
    "checkpoint-huge-headers": (huge_headers(), checkpoint_target),
    "checkpoint-crafted-pickle": (crafted_pickles(), crafted_target),
}
"""Every checkpoint fuzz target with its strategy."""


@FUZZ
@given(BYTE_CASES)
def test_fuzz_checkpoint_bytes(data: bytes) -> None:
    checkpoint_target(data)


@settings(FUZZ, max_examples=60)
@given(huge_headers())
def test_fuzz_checkpoint_huge_headers(data: bytes) -> None:
    assert checkpoint_target(data) == "refused"


@settings(FUZZ, max_examples=30)
@given(crafted_pickles())
def test_fuzz_checkpoint_crafted_pickles(data: bytes) -> None:
    checkpoint_target(data)


# --------------------------------------------------------------------------- named cases


def test_every_truncation_class_is_refused() -> None:
    for seed in seeds():
        for cut in _structure_cuts(seed):
            path = _file(seed[:cut])
            try:
                load_checkpoint(path)
            except FileFormatError as err:
                assert str(path) in str(err)
            else:
                raise AssertionError(f"a file cut at {cut} of {len(seed)} bytes was accepted")


def test_a_flipped_weight_bit_is_caught_by_the_crc() -> None:
    seed = seeds()[0]
    with zipfile.ZipFile(_file(seed)) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    name_len, extra_len = struct.unpack("<HH", seed[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    damaged = _flip(seed, [8 * start])  # the lowest bit of the first weight: still finite
    path = _file(damaged)
    try:
        load_checkpoint(path)
    except FileFormatError as err:
        assert "Bad CRC-32" in str(err) and str(path) in str(err)
    else:
        raise AssertionError("a corrupted weight was loaded")


def test_huge_sizes_are_refused_before_anything_is_allocated() -> None:
    seed = bytearray(seeds()[0])
    at = _central_entries(bytes(seed))[-1]
    seed[at + 24 : at + 28] = struct.pack("<I", 2**32 - 2)  # a 4 GiB record in a 2 KB file
    path = _file(bytes(seed))
    try:
        load_checkpoint(path)
    except FileFormatError as err:
        assert "declares 4294967294 bytes" in str(err)
    else:
        raise AssertionError("accepted")


def test_bytearray_of_a_terabyte_in_the_pickle_is_refused() -> None:
    body = pickle.dumps({"format": "axonal-checkpoint", "x": _Global("builtins", "bytearray", (10**12,))}, protocol=2)
    path = _DIR / "bytearray.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", body)
    try:
        load_checkpoint(path)
    except FileFormatError as err:
        assert "names __builtin__.bytearray" in str(err)
    else:
        raise AssertionError("accepted")


def test_records_larger_than_memory_are_a_resource_error(monkeypatch: Any) -> None:
    import axonal.train.checkpoint as ckpt_module

    monkeypatch.setattr(ckpt_module, "_available_memory", lambda: 100)
    path = _file(seeds()[0])
    try:
        load_checkpoint(path)
    except ResourceLimitError as err:
        assert "only 100 bytes of memory are available" in str(err) and str(path) in str(err)
    else:
        raise AssertionError("accepted")
