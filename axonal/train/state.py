"""What a training run needs besides the weights to continue bit for bit: random generator
states and optimizer / scheduler state dicts in the plain form a checkpoint holds.

A checkpoint's ``extra`` holds only str, int, float, bool, None, lists, dicts with str keys
and tensors (so it loads with ``weights_only=True``). :func:`to_plain` writes the two things
optimizer and scheduler state dicts have beyond that, dicts with int keys and tuples, as
tagged dicts, and :func:`from_plain` reads them back exactly; a value read from a file that
does not follow the encoding is refused with a :class:`~axonal.errors.FileFormatError`.
"""

from __future__ import annotations

import random
from typing import Any, Callable

import torch
from torch import Tensor

from axonal.errors import FileFormatError

__all__ = ["to_plain", "from_plain", "rng_states", "set_rng_states"]

_DICT = "__axonal_dict__"  # {"__axonal_dict__": [[key, value], ...]}: a dict with non-str keys
_TUPLE = "__axonal_tuple__"  # {"__axonal_tuple__": [items]}: a tuple
_SCALARS = (str, int, float, bool, type(None))


def to_plain(value: Any, where: str = "value") -> Any:
    """``value`` with tuples and dicts with int (or other scalar) keys written as tagged dicts.

    Raises:
        TypeError: a value that is neither a scalar, a tensor, a list, a tuple nor a dict
            (the message names its key path ``where[...]``).
    """
    if type(value) in _SCALARS or isinstance(value, Tensor):
        return value
    if type(value) is list:
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value) is tuple:
        return {_TUPLE: [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and _DICT not in value and _TUPLE not in value:
            return {k: to_plain(v, f"{where}[{k!r}]") for k, v in value.items()}
        items = []
        for k, v in value.items():
            if type(k) not in _SCALARS:
                raise TypeError(f"{where} has a key {k!r} of type {type(k).__name__}; expected a scalar key")
            items.append([k, to_plain(v, f"{where}[{k!r}]")])
        return {_DICT: items}
    raise TypeError(f"{where} has type {type(value).__qualname__}; expected scalars, tensors, lists, tuples, dicts")


def from_plain(value: Any, where: str = "value") -> Any:
    """The inverse of :func:`to_plain`; ``FileFormatError`` (naming ``where``) on a malformed tag."""
    if type(value) in _SCALARS or isinstance(value, Tensor):
        return value
    if type(value) is list:
        return [from_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value) is dict:
        if _TUPLE in value or _DICT in value:
            tag = _TUPLE if _TUPLE in value else _DICT
            body = value[tag]
            if len(value) != 1 or type(body) is not list:
                raise FileFormatError(f"{where} is a malformed {tag} entry")
            if tag == _TUPLE:
                return tuple(from_plain(v, f"{where}[{i}]") for i, v in enumerate(body))
            out: dict[Any, Any] = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in _SCALARS:
                    raise FileFormatError(f"{where} holds a malformed key/value pair {pair!r:.80}")
                out[pair[0]] = from_plain(pair[1], f"{where}[{pair[0]!r}]")
            return out
        return {k: from_plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise FileFormatError(f"{where} has type {type(value).__qualname__}, which to_plain never writes")


def rng_states(generator: torch.Generator | None = None) -> dict[str, Any]:
    """The states of torch's CPU generator (and CUDA's, once initialised), numpy's and Python's
    global generators and ``generator`` (the training loop's own), as plain values."""
    py_version, py_state, py_gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss_next": py_gauss},
    }
    if generator is not None:
        states["generator"] = generator.get_state()
    try:
        import numpy as np
    except ImportError:  # numpy is optional for torch; then there is no numpy state to keep
        pass
    else:
        np_state = np.random.get_state(legacy=False)
        states["numpy"] = {
            "bit_generator": str(np_state["bit_generator"]),
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = list(torch.cuda.get_rng_state_all())
    return states


def _byte_state(states: dict[str, Any], key: str, where: str) -> Tensor:
    value = states.get(key)
    if not isinstance(value, Tensor) or value.dtype != torch.uint8 or value.dim() != 1:
        raise FileFormatError(f"{where}: the {key} generator state is not a uint8 vector")
    try:
        torch.Generator().set_state(value)  # validates without touching a live generator
    except (RuntimeError, ValueError) as err:
        raise FileFormatError(f"{where}: the {key} generator state is invalid ({err})") from err
    return value


def _python_setter(py: Any, where: str) -> Callable[[], None]:
    if (
        not isinstance(py, dict)
        or type(py.get("version")) is not int
        or not isinstance(py.get("state"), Tensor)
        or py["state"].dtype != torch.int64
        or py["state"].dim() != 1
        or not (py.get("gauss_next") is None or type(py.get("gauss_next")) is float)
    ):
        raise FileFormatError(f"{where}: the Python random state is malformed")
    state = (py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"])
    try:
        random.Random().setstate(state)  # validates without touching the global generator
    except (ValueError, TypeError, OverflowError) as err:
        raise FileFormatError(f"{where}: the Python random state is invalid ({err})") from err
    return lambda: random.setstate(state)


def _numpy_setter(np_state: Any, where: str) -> Callable[[], None] | None:
    try:
        import numpy as np
    except ImportError:  # written where numpy was installed, read where it is not
        return None
    if (
        not isinstance(np_state, dict)
        or not isinstance(np_state.get("key"), Tensor)
        or type(np_state.get("bit_generator")) is not str
        or any(type(np_state.get(k)) is not t for k, t in (("pos", int), ("has_gauss", int), ("gauss", float)))
    ):
        raise FileFormatError(f"{where}: the numpy random state is malformed")
    key = np_state["key"]
    if key.dtype != torch.int64 or key.dim() != 1 or bool(((key < 0) | (key >= 2**32)).any()):
        raise FileFormatError(f"{where}: the numpy random state's key is not a vector of uint32 values")
    full = {
        "bit_generator": np_state["bit_generator"],
        "state": {"key": key.numpy().astype(np.uint32), "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"],
        "gauss": np_state["gauss"],
    }
    try:
        np.random.RandomState().set_state(full)  # validates without touching the global one
    except (ValueError, TypeError, KeyError) as err:
        raise FileFormatError(f"{where}: the numpy random state is invalid ({err})") from err
    return lambda: np.random.set_state(full)


def set_rng_states(states: Any, generator: torch.Generator | None = None, where: str = "checkpoint") -> None:
    """Restore what :func:`rng_states` returned. Every state is checked before any generator
    is changed; a malformed one raises ``FileFormatError`` naming ``where`` and the generator."""
    if not isinstance(states, dict):
        raise FileFormatError(f"{where}: the random generator states are not a dict")
    setters: list[Callable[[], None]] = []
    torch_state = _byte_state(states, "torch", where)
    setters.append(lambda: torch.set_rng_state(torch_state))
    if generator is not None:
        gen_state = _byte_state(states, "generator", where)
        gen = generator

        def set_generator() -> None:
            gen.set_state(gen_state)

        setters.append(set_generator)
    setters.append(_python_setter(states.get("python"), where))
    if states.get("numpy") is not None:
        np_setter = _numpy_setter(states["numpy"], where)
        if np_setter is not None:
            setters.append(np_setter)
    cuda = states.get("cuda")
    if cuda is not None:
        if type(cuda) is not list or not all(isinstance(c, Tensor) and c.dtype == torch.uint8 for c in cuda):
            raise FileFormatError(f"{where}: the CUDA generator states are malformed")
        if torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            setters.append(lambda: torch.cuda.set_rng_state_all(cuda))
    for apply in setters:
        apply()
