"""One build for all of axonal's compiled code: compile once per content, load it everywhere.

Four pieces are compiled with the local compilers, nothing at install time:

- ``"fused"``: ``kernels/fused_cpu.cpp``, the fused neuron kernels (a torch extension);
- ``"sparse"``: ``kernels/sparse_cpu.cpp``, spike-indexed accumulation for :mod:`axonal.nn.event`
  (a torch extension);
- ``"recurrent"``: ``kernels/recurrent_cpu.cpp``, the fused recurrent layers of
  :mod:`axonal.kernels.recurrent` (a torch extension);
- ``"sim"``: ``sim/_native.c``, the simulator's native loop (plain C, loaded with ``ctypes``).

Each is built on first use (or ahead of time by ``axonal build-kernels``) into one cache root,
``$AXONAL_KERNEL_CACHE`` (default ``~/.cache/axonal``), in a folder named by a hash of its
*content*: the source, every header of ``axonal/csrc/`` and next to the source, the compiler
flags, the platform, the CPU's instruction-set flags (the code is built with
``-march=native``), and for the torch extensions the torch version and the Python ABI. The
install path is not part of it, so a second clone or virtual environment with the same source
and torch reuses the build. The sources are copied into that folder and compiled there (torch's
``ninja`` build records the source path, so compiling from the install folder would rebuild
for every new path); a torch extension is compiled in a child process (with torch's
``cpp_extension``), and a finished build is loaded directly, without ``ninja``.

A build runs under an exclusive ``flock`` on a lock file in its folder, so processes started
together (DataLoader workers, several ranks) compile once and the others wait for it. The
process that compiles prints one line to stderr; a cache hit prints nothing. Floating-point
contraction stays off (``-ffp-contract=off``: no fused multiply-add), so results match the
reference step functions bit for bit.

Without a compiler (or ``ninja`` for the torch extensions) a load fails once per piece with a
``RuntimeWarning`` and the callers use their pure-torch paths; ``AXONAL_NO_KERNELS=1`` skips
every build the same way, without the warning.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator, Literal, TypeVar

import torch

__all__ = [
    "PIECES",
    "BuildError",
    "BuildResult",
    "NativePiece",
    "build",
    "build_dir",
    "build_key",
    "build_seconds",
    "cache_root",
    "cpu_extension_error",
    "cpu_tag",
    "kernels_disabled",
    "load_cpu_extension",
    "load_extension",
    "load_library",
    "loaded_extension",
]

PACKAGE_ROOT = Path(__file__).parent
"""The installed ``axonal`` package, whose sources are built by default."""

_HEADER_DIR = "csrc"
_HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".inc")
_MARKER = "built.json"
_TORCH_CFLAGS = ("-O3", "-march=native", "-fopenmp", "-ffp-contract=off")
_C_CFLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC")


@dataclass(frozen=True)
class NativePiece:
    """One compiled piece: its source (relative to the package root) and how to build it."""

    name: str
    source: str
    kind: Literal["torch", "c"]
    target: str
    """Library name: the Python module name of a torch extension, the file stem of a C one."""
    what: str
    fallback: str
    expected: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    extra_sources: tuple[str, ...] = ()
    """More translation units of the same library (compiled in parallel with ``source``)."""


PIECES: dict[str, NativePiece] = {
    "fused": NativePiece(
        "fused", "kernels/fused_cpu.cpp", "torch", "axonal_fused_cpu", "the fused CPU kernels",
        "neuron layers use the reference time loop (slower, same results)", "~1-2 min",
        _TORCH_CFLAGS, ("-fopenmp",), ("kernels/fused_ref_cpu.cpp",)),
    "sparse": NativePiece(
        "sparse", "kernels/sparse_cpu.cpp", "torch", "axonal_sparse_cpu", "the sparse CPU kernels",
        "spiking linear layers use the torch event-driven path (slower, same results)", "~1 min",
        _TORCH_CFLAGS, ("-fopenmp",)),
    "recurrent": NativePiece(
        "recurrent", "kernels/recurrent_cpu.cpp", "torch", "axonal_recurrent_cpu",
        "the fused recurrent CPU kernels",
        "recurrent layers use the Python time loop (slower, same results)", "~1 min",
        _TORCH_CFLAGS, ("-fopenmp",)),
    "sim": NativePiece(
        "sim", "sim/_native.c", "c", "axonal_sim", "the simulator's native loop",
        "axonal.sim runs its torch path (slower)", "a few seconds", _C_CFLAGS),
}


class BuildError(RuntimeError):
    """A piece could not be compiled (no compiler, no ninja, a compile error, ...)."""


@dataclass(frozen=True)
class BuildResult:
    """Where a piece's library is, whether this call compiled it, and how long the call took."""

    name: str
    path: Path
    compiled: bool
    seconds: float


def _piece(name: str) -> NativePiece:
    if name not in PIECES:
        raise ValueError(f"unknown extension {name!r}; expected one of {sorted(PIECES)}")
    return PIECES[name]


def kernels_disabled() -> bool:
    """Whether ``AXONAL_NO_KERNELS`` asks for no compiled code (set, and not ``0``)."""
    return os.environ.get("AXONAL_NO_KERNELS", "") not in ("", "0")


def cache_root(cache: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``cache`` if given, else ``$AXONAL_KERNEL_CACHE``, else ``~/.cache/axonal``."""
    if cache is not None:
        return Path(cache).expanduser()
    root = os.environ.get("AXONAL_KERNEL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "axonal"


def cpu_tag() -> str:
    """A short hash of the CPU's instruction-set flags (``-march=native`` depends on them)."""
    flags = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags += line
                break
    except OSError:
        flags += platform.processor()
    return hashlib.sha256(flags.encode()).hexdigest()[:8]


def _input_files(piece: NativePiece, package_root: Path) -> list[str]:
    """The piece's sources and every header they may include, relative to the package root."""
    source = package_root / piece.source
    for rel in (piece.source, *piece.extra_sources):
        if not (package_root / rel).is_file():
            raise BuildError(f"source {package_root / rel} of {piece.what} not found")
    headers: set[Path] = set()
    csrc = package_root / _HEADER_DIR
    if csrc.is_dir():
        headers.update(p for p in csrc.rglob("*") if p.suffix in _HEADER_SUFFIXES and p.is_file())
    headers.update(p for p in source.parent.iterdir() if p.suffix in _HEADER_SUFFIXES and p.is_file())
    rels = sorted(p.relative_to(package_root).as_posix() for p in headers)
    return [piece.source, *piece.extra_sources, *rels]


def build_key(name: str, package_root: Path | None = None) -> str:
    """Hash of everything a build of piece ``name`` depends on, and of nothing else: the
    source, the headers, the flags, the platform and CPU, and for the torch extensions the
    torch version and Python ABI; not the folder the sources are installed in."""
    piece = _piece(name)
    root = package_root or PACKAGE_ROOT
    digest = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + len(data).to_bytes(8, "little") + data)

    for rel in _input_files(piece, root):
        feed(rel, (root / rel).read_bytes())
    feed("cflags", " ".join(piece.cflags).encode())
    feed("ldflags", " ".join(piece.ldflags).encode())
    feed("platform", f"{sys.platform} {platform.machine()} {cpu_tag()}".encode())
    if piece.kind == "torch":
        feed("torch", f"{torch.__version__} {sys.implementation.cache_tag}".encode())
    return digest.hexdigest()[:20]


def build_dir(name: str, cache: str | os.PathLike[str] | None = None,
              package_root: Path | None = None) -> Path:
    """The cache folder of piece ``name``'s build for this content (not created here)."""
    return cache_root(cache) / f"{name}-{build_key(name, package_root)}"


def _finished(folder: Path) -> Path | None:
    """The library of a finished build in ``folder``, or ``None``."""
    try:
        record = json.loads((folder / _MARKER).read_text())
        library = folder / str(record["library"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return library if library.is_file() else None


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (blocks while another process holds it)."""
    try:
        import fcntl
    except ImportError:  # no flock here (Windows): builds are not serialised between processes
        yield
        return
    with open(lock_file, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _require(tool: str, what: str, hint: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise BuildError(f"no {what} found ({tool!r} is not on PATH or not executable; {hint})")
    return found


def _c_compiler() -> str:
    chosen = os.environ.get("CC")
    if chosen:
        return _require(chosen, "C compiler", "install gcc or clang, or set CC")
    for tool in ("cc", "gcc", "clang"):
        if shutil.which(tool):
            return tool
    return _require("cc", "C compiler", "install gcc or clang, or set CC")


def _check_tools(piece: NativePiece) -> None:
    if piece.kind == "c":
        _c_compiler()
        return
    from torch.utils import cpp_extension

    # torch's cpp_extension compiles with $CXX, default ``c++``
    _require(os.environ.get("CXX") or "c++", "C++ compiler", "install g++ or clang++, or set CXX")
    if not cpp_extension.is_ninja_available():
        raise BuildError("ninja is not installed (pip install ninja); torch builds its "
                         "extensions with it")


def _stage(piece: NativePiece, package_root: Path, src: Path) -> None:
    """Copy the piece's source and headers into ``src`` with the package's layout (relative
    ``#include``\\ s keep working); a file already there with the same bytes is left as is."""
    for rel in _input_files(piece, package_root):
        data = (package_root / rel).read_bytes()
        dest = src / rel
        if dest.is_file() and dest.read_bytes() == data:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)


# A torch extension is compiled in a child process: the caller's process never imports a
# module it did not ask to load, and torch's in-process record of extensions built so far
# (which skips a build whose sources it has seen, wherever its build folder) never applies.
_TORCH_BUILD = """
import json, sys
import torch
from torch.utils import cpp_extension
job = json.loads(sys.argv[1])
if torch.__version__ != job["torch"]:
    sys.exit(f"the compiler process found torch {torch.__version__}, not {job['torch']}")
module = cpp_extension.load(name=job["name"], sources=job["sources"], extra_cflags=job["cflags"],
                            extra_ldflags=job["ldflags"], build_directory=job["out"],
                            verbose=False)
print(module.__file__)
"""


def _compile_torch(piece: NativePiece, src: Path, folder: Path) -> Path:
    out = folder / "build"
    out.mkdir(exist_ok=True)
    # torch's own lock file, left behind if a build was killed; we hold the flock, so no
    # other axonal process is building here
    (out / "lock").unlink(missing_ok=True)
    sources = [str(src / rel) for rel in (piece.source, *piece.extra_sources)]
    job = {"name": piece.target, "sources": sources, "cflags": list(piece.cflags),
           "ldflags": list(piece.ldflags), "out": str(out), "torch": torch.__version__}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-c", _TORCH_BUILD, json.dumps(job)], env=env,
                          capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        detail = (done.stderr.strip() or done.stdout.strip())[-3000:]
        raise BuildError(f"compiling {src / piece.source} failed:\n{detail}")
    return Path(lines[-1])


def _compile_c(piece: NativePiece, src: Path, folder: Path) -> Path:
    library = folder / f"{piece.target}.so"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        built = Path(tmp) / library.name
        cmd = [_c_compiler(), *piece.cflags, "-o", str(built), str(src / piece.source),
               *piece.ldflags]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"{' '.join(cmd)} failed:\n{done.stderr.strip()}")
        os.replace(built, library)
    return library


def build(name: str, cache: str | os.PathLike[str] | None = None,
          package_root: Path | None = None) -> BuildResult:
    """Make sure piece ``name`` is built in the cache, compiling it if it is not; returns
    where it is and whether this call compiled it. Raises :class:`BuildError` when it cannot
    be compiled. ``package_root`` (default: the installed package) holds the sources."""
    piece = _piece(name)
    root = package_root or PACKAGE_ROOT
    start = time.perf_counter()
    folder = build_dir(name, cache, root)
    library = _finished(folder)
    if library is not None:
        return BuildResult(name, library, False, time.perf_counter() - start)
    _check_tools(piece)
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / "lock"):
        library = _finished(folder)  # another process may have built it while we waited
        if library is not None:
            return BuildResult(name, library, False, time.perf_counter() - start)
        print(f"axonal: compiling {piece.what} (once, {piece.expected})...", file=sys.stderr,
              flush=True)
        src = folder / "src"
        _stage(piece, root, src)
        compile_piece = _compile_torch if piece.kind == "torch" else _compile_c
        library = compile_piece(piece, src, folder)
        seconds = time.perf_counter() - start
        record = {"piece": name, "library": library.relative_to(folder).as_posix(),
                  "sources": _input_files(piece, root), "seconds": round(seconds, 3)}
        marker = folder / (_MARKER + ".tmp")
        marker.write_text(json.dumps(record, indent=1))
        os.replace(marker, folder / _MARKER)
    return BuildResult(name, library, True, seconds)


# Torch extensions imported by this process, by library path (a module is imported once).
_IMPORTED: dict[str, ModuleType] = {}


def _import(library: Path) -> ModuleType:
    """Import the torch extension at ``library`` (its module name is the file's stem)."""
    key = str(library)
    if key not in _IMPORTED:
        spec = importlib.util.spec_from_file_location(library.stem, library)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import the extension {library}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _IMPORTED[key] = module
    return _IMPORTED[key]


_LOCK = threading.Lock()
_STATE: dict[str, dict[str, object]] = {}
_Loaded = TypeVar("_Loaded")


def _acquire(name: str, kind: str, open_library: Callable[[Path], _Loaded]) -> _Loaded | None:
    """Build (once) and open piece ``name``; ``None``, warned once, when it cannot be."""
    piece = _piece(name)
    if piece.kind != kind:
        raise ValueError(f"{name!r} is a {piece.kind} piece, not a {kind} one")
    with _LOCK:
        state = _STATE.setdefault(name, {})
        if "tried" in state:
            loaded = state.get("loaded")
            return loaded  # type: ignore[return-value]
        state["tried"] = True
        if kernels_disabled():
            state["error"] = "disabled by AXONAL_NO_KERNELS"
            return None
        start = time.perf_counter()
        try:
            result = build(name)
            state["loaded"] = open_library(result.path)
        except (BuildError, OSError, ImportError) as exc:
            state["error"] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"axonal: {piece.what} could not be compiled, so {piece.fallback}. "
                          f"Cause: {exc}", RuntimeWarning, stacklevel=4)
        state["seconds"] = time.perf_counter() - start
        return state.get("loaded")  # type: ignore[return-value]


def load_extension(name: str) -> ModuleType | None:
    """The torch extension ``name`` (``"fused"``, ``"sparse"`` or ``"recurrent"``), building it on first
    call; ``None`` (warned once) if it cannot be built, or if ``AXONAL_NO_KERNELS`` is set."""
    return _acquire(name, "torch", _import)


def load_library(name: str) -> ctypes.CDLL | None:
    """The C library ``name`` (``"sim"``) opened with ``ctypes``, building it on first call;
    ``None`` (warned once) if it cannot be built, or if ``AXONAL_NO_KERNELS`` is set."""
    return _acquire(name, "c", lambda path: ctypes.CDLL(str(path)))


def loaded_extension(name: str) -> ModuleType | None:
    """Extension ``name`` if this process has already loaded it; never builds anything."""
    _piece(name)
    with _LOCK:
        module = _STATE.get(name, {}).get("loaded")
    return module if isinstance(module, ModuleType) else None


def load_cpu_extension() -> ModuleType | None:
    """The fused neuron kernels (:func:`load_extension` ``("fused")``)."""
    return load_extension("fused")


def cpu_extension_error(name: str = "fused") -> str | None:
    """Why piece ``name`` is unavailable (``None`` if it loaded or was not tried yet)."""
    error = _STATE.get(name, {}).get("error")
    return error if isinstance(error, str) else None


def build_seconds(name: str = "fused") -> float | None:
    """Wall time of the first load of ``name`` (compile or cache hit) in this process."""
    seconds = _STATE.get(name, {}).get("seconds")
    return seconds if isinstance(seconds, float) else None
