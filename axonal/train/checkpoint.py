"""Checkpoints: a model's weights plus the plain configuration needed to rebuild it.

A checkpoint file is a ``torch.save`` archive holding one dict::

    {"format": "axonal-checkpoint", "version": 1,
     "state_dict": model.state_dict(), "config": config, "extra": extra}

``config`` (how to build the model: sizes, time constants, ``dt``, seed ...) and ``extra``
(epoch, metrics, optimiser or RNG tensors ...) may hold only JSON-like plain values, so a
checkpoint loads with ``torch.load(weights_only=True)``, which never runs code from the file
and does not depend on any class still existing under the same import path. The model's
structure is not pickled: rebuild it from ``config`` and call :func:`restore`.

Files are written to a temporary name in the same folder and then renamed over ``path``, so
an interrupted save never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Mapping, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "restore",
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


def save_checkpoint(
    path: PathLike, model: nn.Module, config: dict[str, Any], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s ``state_dict`` with ``config`` and ``extra`` to ``path``.

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
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _not_a_checkpoint(path: Path, why: str) -> ValueError:
    return ValueError(
        f"{str(path)!r} is not an axonal checkpoint: {why}; expected a file written by "
        f"axonal.train.save_checkpoint (a torch.save dict with format={CHECKPOINT_FORMAT!r})"
    )


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; tensors are mapped to the CPU.

    Loading uses ``torch.load(weights_only=True)``: no code in the file is executed.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.
        ValueError: the file is corrupt, not a torch archive, or not an axonal checkpoint
            of a supported version.
    """
    source = _check_path(path)
    if not source.exists():
        raise FileNotFoundError(f"checkpoint file not found: {str(source)!r}")
    if source.is_dir():
        raise IsADirectoryError(f"checkpoint path is a folder, not a file: {str(source)!r}")
    try:
        payload = torch.load(source, weights_only=True, map_location="cpu")
    except Exception as err:  # corrupt zip, truncated file, disallowed pickle globals, ...
        raise _not_a_checkpoint(source, f"torch.load failed ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict):
        raise _not_a_checkpoint(source, f"it holds a {type(payload).__name__}, not a dict")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise _not_a_checkpoint(source, f"its format field is {payload.get('format')!r}")
    version = payload.get("version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(
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
