"""The emulator's modules import one another without a cycle.

Every import counts: top-level, inside a function and under ``if TYPE_CHECKING``. A lazy or type-only import
keeps the cycle out of import time, but not out of the design: the two modules still cannot be read, changed or
moved one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rudder_sf_emulator

PACKAGE = Path(rudder_sf_emulator.__file__).resolve().parent


def module_names(package: Path) -> dict[Path, str]:
    """Each ``.py`` file below ``package`` and its dotted module name (``__init__.py`` names the package)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[path] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return names


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` (module ``module``) imports anywhere in its text."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # ``from ..x import y`` in a.b.c: drop level - 1 packages from a.b, then add x
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from . import rest`` imports the module ``rest``; ``from .app import Config`` the module ``app``
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found & known - {module}


def import_graph(package: Path) -> dict[str, set[str]]:
    names = module_names(package)
    known = set(names.values())
    return {module: imports_of(path, module, known) for path, module in names.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """A cycle (``[a, b, a]``) for each edge back into the path of a depth-first walk: none exactly when the graph
    is acyclic, and every tangle of modules shows at least one of its cycles."""
    found: list[list[str]] = []
    path: list[str] = []
    finished: set[str] = set()

    def visit(module: str) -> None:
        path.append(module)
        for target in sorted(graph[module]):
            if target in path:
                found.append([*path[path.index(target) :], target])
            elif target not in finished:
                visit(target)
        path.pop()
        finished.add(module)

    for module in sorted(graph):
        if module not in finished:
            visit(module)
    return found


def test_the_emulator_modules_import_one_another_without_a_cycle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 20 and graph["rudder_sf_emulator.server"]  # the scan found the modules and their imports
    found = [" -> ".join(name.rpartition(".")[2] for name in cycle) for cycle in cycles(graph)]
    assert found == [], "import cycles in rudder_sf_emulator:\n" + "\n".join(found)


def test_the_scan_sees_lazy_type_only_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.b import B\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (package / "c.py").write_text("import json\nimport pkg.a\n")
    graph = import_graph(package)
    assert graph == {"pkg": set(), "pkg.sub": set(), "pkg.a": {"pkg.sub.b"}, "pkg.sub.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
