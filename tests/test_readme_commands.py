"""`.ci/run` runs exactly the README's install and test commands, one `&&` step a line."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Fresh machine", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)
    assert len(blocks) >= 2, "README's 'Fresh machine' section lost its install or test block"
    install, test = blocks[0].strip(), blocks[1].strip()
    assert "\n" not in install and "\n" not in test, "each command is one line"
    return install, test


def _ci_steps(marker: str) -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    start = lines.index(marker) + 1
    steps = []
    for line in lines[start:]:
        if line.startswith("#"):
            break
        if line.strip():
            steps.append(line.strip())
    return steps


def test_ci_runs_the_readme_install_and_test_commands() -> None:
    install, test = _readme_commands()
    assert _ci_steps("# install (README)") == install.split(" && ")
    assert _ci_steps("# test (README)") == test.split(" && ")


def test_ci_forbids_skips_other_than_gpu() -> None:
    assert "export AXONAL_CI=1" in (ROOT / ".ci" / "run").read_text().splitlines()
