"""The provider's imports point one way: dags -> operators/triggers/hooks -> sync -> salesforce/sources -> mapping,
with no import back up and no cycle. Imports inside functions and under ``TYPE_CHECKING`` count too: a lazy import
is still a dependency, only a later one."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_rudder_sf"

# Each part of the code and its rank: a part imports only parts of a lower rank (and itself).
RANKS: Mapping[str, int] = {
    "mapping": 0,  # pure: identify rules, field tables, the plan
    "salesforce": 1,  # talks to Salesforce
    "sources": 1,  # reads staged events and tables
    "deadletter": 2,  # writes and reads dead letters on sources' files
    "statestore": 3,  # a run's state beside its dead letters
    "sync": 4,  # one run: read, plan, write, settle
    "compat": 5,  # Airflow's names across versions
    "provider_info": 5,  # what Airflow reads about the package
    "": 6,  # the package itself
    "hooks": 6,  # connections become clients, file systems and databases
    "triggers": 7,
    "operators": 8,
    "dags": 9,
}


def module_sources() -> dict[str, str]:
    """Every module of the package and of ``dags/`` by dotted name (``dags.<file>`` for the example DAGs)."""
    sources: dict[str, str] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        sources[".".join(parts)] = path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "dags").glob("*.py")):
        sources[f"dags.{path.stem}"] = path.read_text(encoding="utf-8")
    return sources


def import_graph(sources: Mapping[str, str], package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` (or ``dags``) it imports, wherever in the module the import is."""
    known = set(sources)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, text in sources.items():
        is_package = any(other.startswith(module + ".") for other in known)  # relative imports start inside it
        targets: set[str] = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = module.split(".")
                    anchor = here if is_package else here[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                target = resolve(name) if name.split(".")[0] in (package, "dags") else None
                # A module's own packages are imported before it in any case: not a dependency of its own.
                if target is not None and target != module and not module.startswith(target + "."):
                    targets.add(target)
        graph[module] = targets
    return graph


def part_of(module: str, package: str = PACKAGE) -> str:
    if module.startswith("dags."):
        return "dags"
    return module.removeprefix(package).lstrip(".").split(".")[0]


def upward_imports(graph: Mapping[str, Iterable[str]], ranks: Mapping[str, int] = RANKS) -> list[str]:
    """Imports from one part into another part that is not below it."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            source_part, target_part = part_of(module), part_of(target)
            if source_part != target_part and ranks[target_part] >= ranks[source_part]:
                found.append(f"{module} -> {target} ({source_part} may not import {target_part})")
    return found


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles: each strongly connected group of two or more modules (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_every_part_of_the_code_has_a_rank():
    graph = import_graph(module_sources())
    assert {part_of(module) for module in graph} == set(RANKS)


def test_no_module_imports_a_part_above_or_beside_it():
    assert upward_imports(import_graph(module_sources())) == []


def test_the_imports_have_no_cycle():
    assert cycles(import_graph(module_sources())) == []


def test_the_checks_see_lazy_upward_imports_and_cycles():
    package = {
        "airflow_provider_rudder_sf": "",
        "airflow_provider_rudder_sf.mapping": "from airflow_provider_rudder_sf.mapping import plan\n",
        "airflow_provider_rudder_sf.mapping.plan": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from airflow_provider_rudder_sf.sync import engine\n"
        ),
        "airflow_provider_rudder_sf.sync": "",
        "airflow_provider_rudder_sf.sync.engine": (
            "def run():\n    from . import spool\n    from airflow_provider_rudder_sf.mapping.plan import build\n"
        ),
        "airflow_provider_rudder_sf.sync.spool": "from .engine import run\n",
    }
    graph = import_graph(package)

    assert graph["airflow_provider_rudder_sf.sync.engine"] == {
        "airflow_provider_rudder_sf.sync.spool",
        "airflow_provider_rudder_sf.mapping.plan",
    }
    # ``from airflow_provider_rudder_sf.sync import engine`` imports the package and the module.
    assert [line.split(" -> ")[1] for line in upward_imports(graph)] == [
        "airflow_provider_rudder_sf.sync (mapping may not import sync)",
        "airflow_provider_rudder_sf.sync.engine (mapping may not import sync)",
    ]
    assert cycles(graph) == [
        [
            "airflow_provider_rudder_sf.mapping.plan",
            "airflow_provider_rudder_sf.sync.engine",
            "airflow_provider_rudder_sf.sync.spool",
        ]
    ]
