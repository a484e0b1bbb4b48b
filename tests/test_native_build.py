"""The one native build (axonal.native_build): content-keyed cache, one build under a file lock,
one line while compiling, AXONAL_NO_KERNELS for every piece, and `axonal build-kernels`."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch

from axonal import native_build
from axonal.cli import main
from axonal.native_build import PACKAGE_ROOT, PIECES, build, build_dir, build_key

REPO = Path(__file__).resolve().parents[1]


def _copy_sources(dest: Path) -> Path:
    """A copy of the package's compiled sources and headers, laid out as in the package."""
    for piece in PIECES.values():
        src = PACKAGE_ROOT / piece.source
        (dest / piece.source).parent.mkdir(parents=True, exist_ok=True)
        for rel in (piece.source, *piece.extra_sources):
            shutil.copy2(PACKAGE_ROOT / rel, dest / rel)
        for header in src.parent.iterdir():
            if header.suffix in (".h", ".hh", ".hpp", ".inc"):
                shutil.copy2(header, dest / piece.source.rsplit("/", 1)[0] / header.name)
    if (PACKAGE_ROOT / "csrc").is_dir():
        shutil.copytree(PACKAGE_ROOT / "csrc", dest / "csrc", dirs_exist_ok=True)
    return dest


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def test_key_covers_the_content_and_not_the_install_path(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _copy_sources(tmp_path / "a"), _copy_sources(tmp_path / "b")
    for name in PIECES:
        assert build_key(name, a) == build_key(name, b) == build_key(name)
    keys = {name: build_key(name, b) for name in PIECES}
    # every header of axonal/csrc/ is part of every piece's key, whether it exists yet or not
    (b / "csrc").mkdir(exist_ok=True)
    (b / "csrc" / "added_for_the_test.h").write_text("#define AXONAL_TEST 1\n")
    added = {name: build_key(name, b) for name in PIECES}
    assert all(added[name] != keys[name] for name in PIECES)
    (b / "csrc" / "added_for_the_test.h").write_text("#define AXONAL_TEST 2\n")
    assert all(build_key(name, b) not in (keys[name], added[name]) for name in PIECES)
    # the source itself
    source = b / PIECES["sim"].source
    source.write_text(source.read_text() + "\n/* edited */\n")
    assert build_key("sim", b) != build_key("sim", a)
    # the torch version matters for the torch extensions only
    monkeypatch.setattr(torch, "__version__", "0.0.0+other")
    assert build_key("fused", a) != keys["fused"] and build_key("sparse", a) != keys["sparse"]
    assert build_key("sim", a) == keys["sim"]
    # so does the CPU (-march=native)
    monkeypatch.setattr(native_build, "cpu_tag", lambda: "0badc0de")
    assert build_key("sim", a) != keys["sim"]
    with pytest.raises(ValueError, match="unknown extension 'nope'"):
        build_key("nope")


def test_a_second_copy_of_the_sources_reuses_the_build(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = build("sim", cache=cache, package_root=_copy_sources(tmp_path / "clone1"))
    assert first.compiled and first.path.is_file()
    built_at = first.path.stat().st_mtime_ns

    def no_compile(*args: object) -> Path:
        raise AssertionError("compiled again")

    monkeypatch.setattr(native_build, "_compile_c", no_compile)
    monkeypatch.setattr(native_build, "_compile_torch", no_compile)
    second = build("sim", cache=cache, package_root=_copy_sources(tmp_path / "clone2"))
    assert not second.compiled
    assert second.path == first.path and second.path.stat().st_mtime_ns == built_at
    assert [p.name for p in cache.iterdir()] == [first.path.parent.name]


@pytest.mark.parametrize("name", ["fused", "sparse"])
def test_a_second_copy_loads_the_torch_extension_without_ninja(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = build(name)  # the real build in the real cache (compiled here at most once)
    clone = _copy_sources(tmp_path / "clone")

    def no_compile(*args: object, **kwargs: object) -> object:
        raise AssertionError("compiled again")

    monkeypatch.setattr(native_build, "_compile_torch", no_compile)
    again = build(name, package_root=clone)
    assert not again.compiled and again.path == installed.path
    # a fresh process loads the cached .so directly: torch's cpp_extension (ninja) never runs
    script = textwrap.dedent(
        f"""
        import torch.utils.cpp_extension as ce
        def refuse(*a, **k):
            raise AssertionError("cpp_extension.load called")
        ce.load = refuse
        from axonal.native_build import load_extension, cpu_extension_error
        ext = load_extension({name!r})
        assert ext is not None, cpu_extension_error({name!r})
        print("loaded", ext.__file__)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"loaded {installed.path}"
    assert done.stderr == ""  # nothing printed on a cache hit


def test_a_compile_error_is_reported_and_leaves_no_build(tmp_path: Path) -> None:
    broken = _copy_sources(tmp_path / "broken")
    source = broken / PIECES["sim"].source
    source.write_text(source.read_text() + "\nthis is not C;\n")
    with pytest.raises(native_build.BuildError, match="failed") as info:
        build("sim", cache=tmp_path / "cache", package_root=broken)
    assert "error:" in str(info.value)  # the compiler's own message
    folder = build_dir("sim", tmp_path / "cache", broken)
    assert not (folder / "built.json").exists() and not list(folder.glob("*.so"))
    assert build("sim", cache=tmp_path / "cache").compiled  # the good source still builds


def test_one_line_while_compiling_and_nothing_on_a_hit(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    build("sim", cache=tmp_path)
    err = capsys.readouterr().err
    assert err.splitlines() == ["axonal: compiling the simulator's native loop (once, a few seconds)..."]
    assert not build("sim", cache=tmp_path).compiled
    assert capsys.readouterr() == ("", "")


def test_processes_started_together_compile_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folder = build_dir("sim", cache)
    folder.mkdir(parents=True)
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from axonal.native_build import build
        Path(sys.argv[2]).touch()
        result = build("sim", cache=sys.argv[1])
        print("compiled" if result.compiled else "cached", result.path)
        """
    )
    # hold the build's lock while both start, so that both find the cache empty and wait
    with open(folder / "lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        procs = [subprocess.Popen([sys.executable, "-c", script, str(cache), str(tmp_path / f"ready{i}")],
                                  env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for i in range(2)]
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.05)
        time.sleep(0.5)
        assert not (folder / "built.json").exists()
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    kinds = sorted(out.split()[0] for out, _ in outs)
    assert kinds == ["cached", "compiled"], outs
    assert len({out.split()[1] for out, _ in outs}) == 1
    assert sum("axonal: compiling" in err for _, err in outs) == 1


def test_cache_is_keyed_by_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_build, "cpu_tag", lambda: "cafef00d")
    first = build("sim", cache=tmp_path)
    assert first.compiled
    assert "-march=native" in PIECES["sim"].cflags and "-ffp-contract=off" in PIECES["sim"].cflags
    monkeypatch.setattr(native_build, "cpu_tag", lambda: "0badc0de")
    other = build_dir("sim", tmp_path)
    assert other.parent == first.path.parent.parent and other != first.path.parent
    assert not other.exists()  # another CPU: another build


def test_without_a_compiler_the_sim_warns_once_and_reports_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXONAL_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.delenv("AXONAL_NO_KERNELS", raising=False)
    monkeypatch.setattr(native_build, "_STATE", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert native_build.load_library("sim") is None
        assert native_build.load_library("sim") is None
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "the simulator's native loop could not be compiled" in msgs[0], msgs
    error = native_build.cpu_extension_error("sim")
    assert error is not None and "no C compiler found" in error
    assert list(tmp_path.iterdir()) == []


def test_no_kernels_disables_every_piece(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import warnings
        from axonal.functional.neurons import LIFParams
        from axonal.native_build import cpu_extension_error, load_extension
        from axonal.sim import ConstantCurrent, Network, Population, SpikeMonitor
        from axonal.sim.native import native_available
        warnings.simplefilter("error")
        assert load_extension("fused") is None and load_extension("sparse") is None
        assert not native_available()
        for name in ("fused", "sparse", "sim"):
            assert cpu_extension_error(name) == "disabled by AXONAL_NO_KERNELS", name
        net = Network(seed=0)
        pop = net.add(Population(LIFParams(), 10))
        net.inject(pop, ConstantCurrent(2.0))
        mon = net.add(SpikeMonitor(pop))
        net.run(0.01, 1e-4, progress=False)
        assert net.backend_used == "torch"
        print("torch paths ok")
        """
    )
    cache = tmp_path / "cache"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=_env(AXONAL_NO_KERNELS="1", AXONAL_KERNEL_CACHE=str(cache)),
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch paths ok" in done.stdout and done.stderr == ""
    assert not cache.exists()


def test_build_kernels_builds_or_finds_every_piece(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build-kernels"]) == 0  # the real cache: compiles what is not built yet
    capsys.readouterr()
    assert main(["build-kernels"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"axonal build-kernels: cache {native_build.cache_root()}"
    for name in PIECES:
        line = next(x for x in out.splitlines() if x.split()[:1] == [name])
        assert "found cached in" in line and str(build_dir(name)) in line, line


def test_build_kernels_without_compilers_fails_with_a_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-c++"))
    assert main(["build-kernels", "--cache", str(tmp_path / "cache")]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "error: could not compile the fused CPU kernels (fused): no C++ compiler found" in captured.err
    assert "error: could not compile the sparse CPU kernels (sparse): no C++ compiler found" in captured.err
    assert ("error: could not compile the fused recurrent CPU kernels (recurrent): no C++ compiler "
            "found") in captured.err
    assert "error: could not compile the simulator's native loop (sim): no C compiler found" in captured.err
    assert f"{len(PIECES)} of {len(PIECES)} pieces not built" in captured.err
    assert "to use them" not in captured.out  # nothing was built
