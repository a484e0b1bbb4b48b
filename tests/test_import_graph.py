"""The modules of ``axonal`` import each other without cycles (read from the source with ``ast``).

Every import counts: module level, inside functions, and under ``TYPE_CHECKING``, so the
drawing of the imports is the architecture. A package's ``__init__`` is a node of its own;
importing ``axonal.a.b`` is an edge to ``axonal.a.b`` only (not to the ``__init__`` files
Python runs first), so a package re-exporting its modules is not a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "axonal"


def module_files(root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every ``.py`` file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, from every import statement."""
    files = module_files(root)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in files)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                for alias in node.names:
                    if f"{origin}.{alias.name}" in files:  # from package import module
                        targets.add(f"{origin}.{alias.name}")
                    elif origin in files:
                        targets.add(origin)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_imports_form_a_dag() -> None:
    graph = import_graph(ROOT)
    assert "axonal.sim.network" in graph and "axonal.sim.native" in graph["axonal.sim.network"]
    found = cycles(graph)
    assert not found, "import cycles among axonal modules:\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_the_checker_finds_a_cycle_through_function_level_and_type_checking_imports(
        tmp_path: Path) -> None:
    pkg = tmp_path / "axonal"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from axonal.sub.a import A\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from .b import B\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from axonal.sub import c\n")
    (pkg / "sub" / "c.py").write_text("import axonal.sub.a\n")
    (pkg / "d.py").write_text("from axonal.sub import a\n")
    graph = import_graph(pkg)
    assert graph["axonal.sub.a"] == {"axonal.sub.b"}
    assert graph["axonal.sub.b"] == {"axonal.sub.c"}
    assert graph["axonal.d"] == {"axonal.sub.a"}
    assert cycles(graph) == [["axonal.sub.a", "axonal.sub.b", "axonal.sub.c"]]
    (pkg / "sub" / "c.py").write_text("import os\n")
    assert cycles(import_graph(pkg)) == []


@pytest.mark.parametrize("module", ["axonal.sim.native", "axonal.sim.synapses",
                                   "axonal.sim.populations"])
def test_low_sim_modules_do_not_import_the_network(module: str) -> None:
    graph = import_graph(ROOT)
    reach, todo = set(), [module]
    while todo:
        for nxt in graph[todo.pop()] - reach:
            reach.add(nxt)
            todo.append(nxt)
    assert "axonal.sim.network" not in reach and "axonal.sim.examples" not in reach


def _package_of(module: str) -> str:
    """The package a module belongs to: ``axonal.a.b`` -> ``axonal.a`` (``axonal.a`` itself
    when it is a package, i.e. has submodules)."""
    return module.rpartition(".")[0]


def private_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a private module (a ``_name`` part) from outside the package that holds it."""
    found = []
    for importer, targets in graph.items():
        for target in targets:
            parts = target.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_")]
            if not private:
                continue
            owner = ".".join(parts[: private[0]])  # the package the private part sits in
            if importer != owner and not importer.startswith(owner + "."):
                found.append(f"{importer} -> {target}")
    return sorted(found)


def test_no_private_module_is_imported_across_packages() -> None:
    found = private_imports(import_graph(ROOT))
    assert not found, "private modules imported from another package (make them public):\n" + \
        "\n".join(found)


def test_the_checker_finds_a_private_import(tmp_path: Path) -> None:
    pkg = tmp_path / "axonal"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from axonal.a._x import X\n")  # same package: fine
    (pkg / "a" / "_x.py").write_text("X = 1\n")
    (pkg / "b.py").write_text("from axonal.a._x import X\n")
    assert private_imports(import_graph(pkg)) == ["axonal.b -> axonal.a._x"]


def test_the_core_imports_nothing_above_it() -> None:
    """``axonal.functional`` (equations, the time loop, the validators) depends on no other
    part of axonal except the error types (``axonal.errors``, a leaf that imports nothing of
    axonal): everything else is built on it."""
    graph = import_graph(ROOT)
    assert graph["axonal.errors"] == set()
    core = {m for m in graph if m.startswith("axonal.functional")}
    assert "axonal.functional.scan" in core and "axonal.functional.validate" in core
    outside = sorted(f"{m} -> {t}" for m in core for t in graph[m]
                     if not t.startswith("axonal.functional") and t != "axonal.errors")
    assert not outside, "the core imports from above it:\n" + "\n".join(outside)
