"""Session summary: the reference libraries the run tested against, and what skipped.

After pytest's own summary one line names the installed version of each reference library
(or "absent"), and one line counts the tests that ran and the skips, split into those marked
``gpu`` and the others (each of the others is listed with its reason).

With ``AXONAL_CI=1`` (``.ci/run`` sets it) only tests marked ``gpu`` may skip: any other skip
(a reference library, data file or compiler that is missing) makes the run fail, so CI keeps
holding axonal against Brian2, NEST, snnTorch and Norse instead of quietly skipping them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata

import pytest

# distribution names, as pip knows them
REFERENCE_LIBRARIES = ("brian2", "nest-simulator", "snntorch", "norse", "nirtorch", "nir", "mlxtend", "triton", "tonic")
STRICT_ENV = "AXONAL_CI"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def library_versions() -> dict[str, str]:
    """Installed version of each reference library, ``"absent"`` where it is not installed."""
    return {name: _version(name) for name in REFERENCE_LIBRARIES}


def _reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@dataclass(eq=False)  # a plugin must stay hashable
class SkipAudit:
    """Collects every skip of the session and enforces the CI rule at its end."""

    strict: bool
    gpu: list[str] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):  # an xfail reports as skipped
            return
        if "gpu" in report.keywords:
            self.gpu.append(report.nodeid)
        else:
            self.other.append((report.nodeid, _reason(report)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # a module-level importorskip skips the whole module at collection
        if report.skipped:
            self.other.append((report.nodeid, _reason(report)))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # runs before the terminal reporter writes its summary and before pytest returns
        # session.exitstatus, so the failure shows in both
        if self.strict and self.other and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        tr = terminalreporter
        libs = ", ".join(f"{k} {v}" for k, v in library_versions().items())
        tr.write_line(f"reference libraries: {libs} (torch {_version('torch')}, numpy {_version('numpy')})")
        ran = sum(len(tr.stats.get(k, [])) for k in ("passed", "failed", "xfailed", "xpassed"))
        n_skip = len(self.gpu) + len(self.other)
        tr.write_line(f"tests run: {ran}; skipped: {n_skip} ({len(self.gpu)} marked gpu, {len(self.other)} other)")
        for nodeid, reason in self.other:
            tr.write_line(f"  skipped without the gpu marker: {nodeid}: {reason}")
        if self.strict and self.other:
            tr.write_line(
                f"{STRICT_ENV}=1: only tests marked gpu may skip here; {len(self.other)} other "
                "skip(s) above fail this run (install what they need: README, 'Fresh machine')",
                red=True, bold=True,
            )


def pytest_configure(config: pytest.Config) -> None:
    strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
    config.pluginmanager.register(SkipAudit(strict=strict), "axonal-skip-audit")
