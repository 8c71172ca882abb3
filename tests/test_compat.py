"""Airflow names that moved between 3.0 and 3.3 come only from ``airflow_provider_rudder_sf.compat``.

Importing one of them from its newest location (``airflow.sdk.exceptions``, ``airflow.sdk``...) breaks the package
on older Airflow 3 releases, which is what a user on 3.0.6/3.1.8 hit. This scans the source with ``ast`` (no
Airflow needed) so that regression cannot come back unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from airflow_provider_rudder_sf import compat

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "airflow_provider_rudder_sf"
COMPAT = PACKAGE / "compat.py"
SOURCES = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "dags").glob("*.py")])
MOVED = frozenset(compat.LOCATIONS)
#: Modules whose contents differ between Airflow 3 releases: nothing may be imported from them directly.
MOVING_MODULES = frozenset(module for modules in compat.LOCATIONS.values() for module in modules) - {"airflow.sdk"}


def offending_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line what`` for each import of a moved name (or a moving module) that bypasses compat."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(root)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "airflow" or node.module.startswith("airflow."):
                names = [alias.name for alias in node.names]
                bad = [name for name in names if name in MOVED or name == "*"]
                if node.module in MOVING_MODULES:
                    bad = names
                if bad:
                    found.append(f"{where}:{node.lineno} from {node.module} import {', '.join(bad)}")
            elif node.module == "airflow_provider_rudder_sf.compat":
                unknown = [alias.name for alias in node.names if alias.name not in compat.__all__]
                if unknown:
                    found.append(f"{where}:{node.lineno} compat has no {', '.join(unknown)}")
        elif isinstance(node, ast.Import):
            bad = [alias.name for alias in node.names if alias.name in MOVING_MODULES]
            if bad:
                found.append(f"{where}:{node.lineno} import {', '.join(bad)}")
    return sorted(found, key=lambda line: int(line.split(" ", 1)[0].rsplit(":", 1)[1]))


def test_the_scan_covers_the_package_and_the_example_dags():
    assert COMPAT in SOURCES
    assert any(path.parent.name == "dags" for path in SOURCES)
    assert len(SOURCES) > 20


@pytest.mark.parametrize("path", [p for p in SOURCES if p != COMPAT], ids=lambda p: str(p.relative_to(ROOT)))
def test_moved_airflow_names_are_imported_only_through_compat(path):
    assert offending_imports(path) == []


def test_the_scan_catches_the_import_that_broke_airflow_3_0(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from airflow.sdk.exceptions import AirflowFailException\n"
        "from airflow.sdk import BaseHook, DAG\n"
        "import airflow.exceptions\n"
        "def f():\n"
        "    from airflow_provider_rudder_sf.compat import NoSuchName\n"
    )
    assert offending_imports(bad, root=tmp_path) == [
        "bad.py:1 from airflow.sdk.exceptions import AirflowFailException",
        "bad.py:2 from airflow.sdk import BaseHook",
        "bad.py:3 import airflow.exceptions",
        "bad.py:5 compat has no NoSuchName",
    ]


def test_every_compat_name_resolves_in_the_installed_airflow():
    for name in compat.LOCATIONS:
        module, value = compat.resolve(name)
        assert module in compat.LOCATIONS[name]
        assert getattr(compat, name) is value
