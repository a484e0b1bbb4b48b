"""The session hook of tests/conftest.py: under AXONAL_CI=1 only tests marked gpu may skip.

Each case runs pytest in a subprocess on a small folder holding a copy of that conftest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

PASSING = "def test_runs():\n    assert 1 + 1 == 2\n"
GPU_SKIP = (
    "import pytest\n\n@pytest.mark.gpu\ndef test_on_gpu():\n    pytest.skip('needs a CUDA device')\n"
)
LIBRARY_SKIP = "import pytest\n\ndef test_needs_lib():\n    pytest.importorskip('no_such_reference_library')\n"
MODULE_SKIP = "import pytest\n\npytest.importorskip('no_such_reference_library')\n\ndef test_x():\n    pass\n"
XFAIL = "import pytest\n\n@pytest.mark.xfail(strict=True)\ndef test_known_defect():\n    assert False\n"


def _run(tmp_path: Path, files: dict[str, str], strict: bool) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA device\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "AXONAL_CI"}
    if strict:
        env["AXONAL_CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )


def test_gpu_skips_and_xfails_pass_in_ci(tmp_path: Path) -> None:
    r = _run(tmp_path, {"test_a.py": PASSING, "test_b.py": GPU_SKIP, "test_c.py": XFAIL}, strict=True)
    assert r.returncode == 0, r.stdout
    assert "tests run: 2; skipped: 1 (1 marked gpu, 0 other)" in r.stdout
    assert "reference libraries: brian2 " in r.stdout


@pytest.mark.parametrize("skip", [LIBRARY_SKIP, MODULE_SKIP], ids=["in-test", "module-level"])
def test_other_skips_fail_only_in_ci(tmp_path: Path, skip: str) -> None:
    files = {"test_a.py": PASSING, "test_b.py": GPU_SKIP, "test_lib.py": skip}
    strict = _run(tmp_path, files, strict=True)
    assert strict.returncode == 1, strict.stdout
    assert "1 marked gpu, 1 other" in strict.stdout
    assert "skipped without the gpu marker: test_lib.py" in strict.stdout
    assert "no_such_reference_library" in strict.stdout
    assert "AXONAL_CI=1: only tests marked gpu may skip" in strict.stdout
    relaxed = _run(tmp_path, files, strict=False)
    assert relaxed.returncode == 0, relaxed.stdout
    assert "1 marked gpu, 1 other" in relaxed.stdout and "AXONAL_CI=1" not in relaxed.stdout


def test_a_failing_test_keeps_its_exit_code(tmp_path: Path) -> None:
    r = _run(tmp_path, {"test_a.py": "def test_bad():\n    assert False\n", "test_lib.py": LIBRARY_SKIP}, strict=True)
    assert r.returncode == 1 and "1 failed" in r.stdout
