"""Checkpoints: a model's weights plus the plain configuration needed to rebuild it.

A checkpoint file is a ``torch.save`` archive holding one dict::

    {"format": "axonal-checkpoint", "version": 1,
     "state_dict": model.state_dict(), "config": config, "extra": extra}

``config`` (how to build the model: sizes, time constants, ``dt``, seed ...) and ``extra``
(epoch, metrics, optimiser or RNG tensors ...) may hold only JSON-like plain values, so a
checkpoint loads with ``torch.load(weights_only=True)``, which never runs code from the file
and does not depend on any class still existing under the same import path. The model's
structure is not pickled: rebuild it from ``config`` and call :func:`restore`.

Files are written to a temporary name in the same folder, flushed to disk (``fsync``) and then
renamed over ``path`` (and the folder is synced), so an interrupted save or a crash never leaves
a truncated checkpoint behind. Loading checks the archive against the bytes present before
anything is allocated and refuses weights holding NaN or inf, naming the tensor.
"""

from __future__ import annotations

import os
import pickletools
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Mapping, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from axonal.data.limits import available_memory
from axonal.errors import FileFormatError, NonFiniteError, ResourceLimitError

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "restore",
    "require_finite",
]

CHECKPOINT_FORMAT = "axonal-checkpoint"
CHECKPOINT_VERSION = 1

PathLike = str | os.PathLike[str]
M = TypeVar("M", bound=nn.Module)

_SCALARS = (str, int, float, bool, type(None))


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns.

    Attributes:
        state_dict: parameter and buffer tensors by name (on the CPU).
        config: the plain configuration dict given to :func:`save_checkpoint`.
        extra: the optional plain dict given to :func:`save_checkpoint`, or ``None``.
    """

    state_dict: dict[str, Tensor]
    config: dict[str, Any]
    extra: dict[str, Any] | None


def _check_plain(value: Any, where: str, allow_tensors: bool) -> None:
    """Raise ``TypeError`` naming the key path ``where`` of the first non-plain value."""
    # exact types: subclasses such as numpy.float64 (a float) or str enums would need
    # their own classes to unpickle and so would break weights_only loading.
    if type(value) in _SCALARS:
        return
    if isinstance(value, Tensor):
        if allow_tensors:
            return
        raise TypeError(
            f"{where} is a tensor; config must hold only plain values (str, int, float, bool, "
            "None, lists, dicts with str keys); put tensors in extra"
        )
    if type(value) is list:
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]", allow_tensors)
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(
                    f"{where} has a key {key!r} of type {type(key).__name__}; "
                    "dict keys must be str"
                )
            _check_plain(item, f"{where}[{key!r}]", allow_tensors)
        return
    hint = " (use a list)" if isinstance(value, tuple) else ""
    for base in (int, float, str):
        if isinstance(value, base):
            hint = f" (convert it with {base.__name__}())"
            break
    allowed = "str, int, float, bool, None, list, dict with str keys"
    if allow_tensors:
        allowed += ", tensor"
    raise TypeError(
        f"{where} has type {type(value).__module__}.{type(value).__qualname__}{hint}; "
        f"expected only {allowed}"
    )


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:  # e.g. Windows, where a folder cannot be opened like a file
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on folders
        pass
    finally:
        os.close(fd)


def save_checkpoint(
    path: PathLike, model: nn.Module, config: dict[str, Any], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s ``state_dict`` with ``config`` and ``extra`` to ``path``, atomically.

    The archive is written to a temporary file in the same folder, flushed and ``fsync``-ed,
    renamed over ``path`` and the folder is ``fsync``-ed: after a crash or power loss at any
    moment ``path`` holds either the previous checkpoint or the new one, never a mixture or a
    truncated file.

    Args:
        path: file to write (its folder must exist); replaced if present.
        model: the module whose ``state_dict()`` is saved.
        config: plain values only: str, int, float, bool, None, lists and dicts with str keys.
        extra: the same plain values and, in addition, tensors; or ``None``.

    Returns:
        The path written.

    Raises:
        TypeError: a non-plain value, naming its key path, e.g. ``config['layers'][1]``.
    """
    target = _check_path(path)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if type(config) is not dict:
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    _check_plain(config, "config", allow_tensors=False)
    if extra is not None:
        if type(extra) is not dict:
            raise TypeError(f"extra must be a dict or None, got {type(extra).__name__}")
        _check_plain(extra, "extra", allow_tensors=True)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"path's folder does not exist: {str(target.parent)!r}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "state_dict": dict(model.state_dict()),
        "config": config,
        "extra": extra,
    }
    # a unique sibling opened with "xb" (unlike mkstemp's 0600 it honours the umask)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    return target


def _not_a_checkpoint(path: Path, why: str) -> FileFormatError:
    return FileFormatError(
        f"{str(path)!r} is not an axonal checkpoint: {why}; expected a file written by "
        f"axonal.train.save_checkpoint (a torch.save dict with format={CHECKPOINT_FORMAT!r})"
    )


def _available_memory() -> int | None:
    """Bytes of memory available now (:func:`axonal.data.limits.available_memory`)."""
    return available_memory()


# torch.save's pickle of a checkpoint names only these globals (protocol 2 GLOBAL opcodes):
# tensors are rebuilt by _rebuild_tensor_v2 from a typed storage, whose empty hook dict is an
# OrderedDict. Anything else (bytearray(10**12), sets, complex, dtypes ...) is refused before
# torch's own weights_only unpickler runs, so that no size in the pickle allocates memory.
_ALLOWED_GLOBALS = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")}
_REFUSED_OPCODES = {"STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"}
_DEFLATE_MAX_RATIO = 1032  # the largest expansion deflate can encode


def _scan_archive(handle: BinaryIO, source: Path) -> None:
    """Check the zip archive torch.save writes before torch reads it.

    Every record must lie inside the file, declare no more bytes than its data can hold
    (stored: equal sizes; deflated: at most deflate's 1032:1), match its CRC-32, and all of
    them together must fit in the available memory; the pickle may name only the globals a
    checkpoint needs. Raises FileFormatError or ResourceLimitError naming the file.
    """
    size = os.fstat(handle.fileno()).st_size
    head = handle.read(4)
    if head != b"PK\x03\x04":
        why = "it is empty" if size == 0 else "it is not a zip archive (torch.save writes zip archives)"
        raise _not_a_checkpoint(source, why)
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
        infos = archive.infolist()
    except Exception as err:  # BadZipFile, truncated central directory, bad offsets ...
        raise _not_a_checkpoint(source, f"its zip structure is broken ({type(err).__name__}: {err})") from err
    total = 0
    pickles = []
    for info in infos:
        name = info.filename
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise _not_a_checkpoint(
                    source, f"record {name!r} is stored uncompressed but declares {info.file_size} "
                    f"bytes for {info.compress_size} bytes of data"
                )
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
                raise _not_a_checkpoint(
                    source, f"record {name!r} declares {info.file_size} bytes from "
                    f"{info.compress_size} compressed bytes (deflate expands at most {_DEFLATE_MAX_RATIO}:1)"
                )
        else:
            raise _not_a_checkpoint(source, f"record {name!r} uses zip compression method {info.compress_type}")
        if info.header_offset + info.compress_size > size:
            raise _not_a_checkpoint(
                source, f"record {name!r} reaches past the end of the file ({size} bytes; truncated?)"
            )
        total += info.file_size
        if name.endswith("/data.pkl") and name.count("/") == 1:
            pickles.append(info)
    if len(pickles) != 1:
        raise _not_a_checkpoint(source, f"it holds {len(pickles)} data.pkl records, expected 1")
    available = _available_memory()
    if available is not None and total > available:
        raise ResourceLimitError(
            f"{str(source)!r}: its records unpack to {total} bytes but only {available} bytes of "
            "memory are available"
        )
    try:
        for info in infos:  # reads every record once: zipfile checks its CRC-32 at the end
            with archive.open(info) as record:
                data = record.read() if info is pickles[0] else None
                while data is None and record.read(1 << 20):
                    pass
                if data is not None:
                    pickled = data
    except Exception as err:  # Bad CRC-32, bad local header, inflate error ...
        raise _not_a_checkpoint(source, f"a record is corrupt ({type(err).__name__}: {err})") from err
    try:
        for opcode, arg, _ in pickletools.genops(pickled):
            if opcode.name in _REFUSED_OPCODES:
                raise _not_a_checkpoint(source, f"its pickle uses the opcode {opcode.name}")
            if opcode.name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                storage = module == "torch" and attr.endswith("Storage")
                if not storage and (module, attr) not in _ALLOWED_GLOBALS:
                    raise _not_a_checkpoint(source, f"its pickle names {module}.{attr}, which a checkpoint never holds")
    except FileFormatError:
        raise
    except Exception as err:  # truncated or invalid pickle
        raise _not_a_checkpoint(source, f"its pickle is corrupt ({type(err).__name__}: {err})") from err


def _first_non_finite(value: Any, where: str) -> tuple[str, Tensor] | None:
    """The name and tensor of the first floating tensor in ``value`` with NaN or inf; names
    are key paths below ``where`` (``extra['optimizer']['state']...``)."""
    if isinstance(value, Tensor):
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            return where, value
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_non_finite(item, f"{where}[{key!r}]")
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _first_non_finite(item, f"{where}[{i}]")
            if found is not None:
                return found
    return None


def require_finite(value: Any, name: str, path: PathLike) -> None:
    """Raise :class:`NonFiniteError` naming the first floating tensor in ``value`` (a tensor or
    nested dicts / lists of them, e.g. an optimizer state) that holds NaN or inf; ``name`` is
    the key path's root and ``path`` the file it came from."""
    bad = _first_non_finite(value, name)
    if bad is not None:
        raise _non_finite_error(Path(path), *bad)


def _non_finite_error(source: Path, name: str, tensor: Tensor) -> NonFiniteError:
    nan = int(torch.isnan(tensor).sum())
    inf = int(torch.isinf(tensor).sum())
    return NonFiniteError(
        f"{str(source)!r}: tensor {name} of the checkpoint holds NaN or inf ({nan} NaN and {inf} inf "
        f"of {tensor.numel()} values, shape {tuple(tensor.shape)}); expected finite values (the run "
        "that wrote it diverged, or the file is damaged)"
    )


def load_checkpoint(path: PathLike, *, finite_extra: bool = False) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; tensors are mapped to the CPU.

    Before torch reads the file, its zip records are checked against the bytes present (each
    record inside the file, sizes consistent, CRC-32 intact, the total within the available
    memory) and its pickle may name only tensor-rebuilding globals; then it is loaded with
    ``torch.load(weights_only=True)``: no code in the file is executed.

    Args:
        path: the file.
        finite_extra: also require every floating tensor in ``extra`` to be finite (the
            training loop does this for optimizer state when it resumes).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.
        FileFormatError: the file is truncated, corrupt, not a torch archive, or not an axonal
            checkpoint of a supported version (the message names the file).
        ResourceLimitError: the file's records would not fit in the available memory.
        NonFiniteError: a weight holds NaN or inf; the message names its key
            (``tensor 'layers.0.weight' of the checkpoint holds NaN or inf``).
    """
    source = _check_path(path)
    if not source.exists():
        raise FileNotFoundError(f"checkpoint file not found: {str(source)!r}")
    if source.is_dir():
        raise IsADirectoryError(f"checkpoint path is a folder, not a file: {str(source)!r}")
    with open(source, "rb") as handle:  # one open file: the bytes checked are the bytes loaded
        _scan_archive(handle, source)
        handle.seek(0)
        try:
            with warnings.catch_warnings():  # a newer pickle protocol: refused below if it fails
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                payload = torch.load(handle, weights_only=True, map_location="cpu")
        except Exception as err:  # whatever the scan could not see: torch says what
            raise _not_a_checkpoint(source, f"torch.load failed ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict):
        raise _not_a_checkpoint(source, f"it holds a {type(payload).__name__}, not a dict")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise _not_a_checkpoint(source, f"its format field is {payload.get('format')!r}")
    version = payload.get("version")
    if version != CHECKPOINT_VERSION:
        raise FileFormatError(
            f"{str(source)!r} is an axonal checkpoint of version {version!r}; this axonal "
            f"reads version {CHECKPOINT_VERSION}"
        )
    missing = [k for k in ("state_dict", "config", "extra") if k not in payload]
    if missing:
        raise _not_a_checkpoint(source, f"it lacks the entries {missing}")
    state_dict, config, extra = payload["state_dict"], payload["config"], payload["extra"]
    if not isinstance(state_dict, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state_dict.items()
    ):
        raise _not_a_checkpoint(source, "its state_dict is not a dict of str to tensor")
    if not isinstance(config, dict):
        raise _not_a_checkpoint(source, f"its config is a {type(config).__name__}, not a dict")
    if extra is not None and not isinstance(extra, dict):
        raise _not_a_checkpoint(source, f"its extra is a {type(extra).__name__}, not a dict")
    bad = None
    for key, tensor in state_dict.items():  # weights are named by their state_dict key
        if _first_non_finite(tensor, "") is not None:
            bad = (repr(key), tensor)
            break
    if bad is None and finite_extra and extra is not None:
        bad = _first_non_finite(extra, "extra")
    if bad is not None:
        raise _non_finite_error(source, *bad)
    return Checkpoint(state_dict=state_dict, config=config, extra=extra)


def restore(model: M, checkpoint: Checkpoint | Mapping[str, Tensor]) -> M:
    """Load a checkpoint's weights into ``model`` strictly and return ``model``.

    Every parameter and persistent buffer of ``model`` must be in the checkpoint with the same
    shape, and the checkpoint may hold nothing else; otherwise nothing is loaded and a
    ``ValueError`` lists the missing keys (in the model, not the checkpoint), the unexpected
    keys (in the checkpoint, not the model) and the shape mismatches.

    Args:
        model: the freshly built module (same architecture as when saved).
        checkpoint: a :class:`Checkpoint` or a plain ``state_dict`` mapping.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(checkpoint, Checkpoint):
        state = checkpoint.state_dict
    elif isinstance(checkpoint, Mapping):
        state = dict(checkpoint)
    else:
        raise TypeError(
            f"checkpoint must be a Checkpoint or a state_dict mapping, "
            f"got {type(checkpoint).__name__}"
        )
    for key, value in state.items():
        if not isinstance(value, Tensor):
            raise TypeError(
                f"checkpoint entry {key!r} must be a tensor, got {type(value).__name__}"
            )
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: model {tuple(own[k].shape)} vs checkpoint {tuple(state[k].shape)}"
        for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"missing keys (in the model, not in the checkpoint): {missing}")
        if unexpected:
            problems.append(f"unexpected keys (in the checkpoint, not in the model): {unexpected}")
        if mismatched:
            problems.append(f"shape mismatches: {mismatched}")
        raise ValueError(
            f"checkpoint does not match {type(model).__name__}; nothing was loaded. "
            + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)
    return model
