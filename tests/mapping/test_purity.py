"""Airflow stays at one boundary.

The mapping core is pure: importing it (and using it) loads no Airflow and no I/O-bound client library. Beyond it,
``sources/``, ``sync/``, ``salesforce/``, ``deadletter`` and ``statestore`` load no Airflow either: only ``hooks/``,
``operators/`` and ``triggers/`` (with ``compat.py``, which they use, and the package's ``__init__``) import it,
and hand those modules plain values (storage paths, databases, task ids). Checked twice: by running the modules in
a fresh interpreter and looking at ``sys.modules``, and statically, so an import inside a function that a run did
not reach is caught too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import airflow_provider_rudder_sf

PROGRAM = """
import sys
import airflow_provider_rudder_sf.mapping as m
m.build_plan([m.classify('{"type":"identify","integrations":{"Salesforce":true},"traits":{"email":"a@x.io"}}', 0,
              m.MappingOptions())], {}, m.MappingOptions())
bad = sorted(n for n in sys.modules if n.split(".")[0] in {"airflow", "requests", "simple_salesforce", "sqlalchemy"})
print(",".join(bad))
"""

#: One call into each Airflow-free package, as a run makes them: a local JSON Lines file through the sync engine into
#: a local dead letter, read back; the run-state store; a SQL source on SQLite; a Salesforce helper.
PLAIN_PROGRAM = """
import logging, sqlite3, sys
from pathlib import Path

from airflow_provider_rudder_sf import deadletter, statestore
from airflow_provider_rudder_sf.mapping import MappingOptions
from airflow_provider_rudder_sf.salesforce.soql import soql_literal
from airflow_provider_rudder_sf.sources import SqlDatabase, read_jsonl, read_sql
from airflow_provider_rudder_sf.sync import run_sync

base = Path(sys.argv[1])
(base / "events.jsonl").write_text('not json\\n{"type": "track"}\\n')


class NoSalesforce:
    api_calls = describe_calls = 0

    def lookup_leads(self, emails): return {}
    def schemas(self, sobjects): return {}
    def match_records(self, sobject, field, values): return {}
    def write(self, writes, **kwargs): raise AssertionError("these events write nothing")


with deadletter.DeadLetterWriter(base / "dead" / "try-1.jsonl") as letters:
    summary = run_sync(read_jsonl(base / "events.jsonl"), NoSalesforce(), letters, options=MappingOptions(),
                       log=logging.getLogger("purity"))
assert (summary.read, summary.ignored, summary.dead_lettered) == (2, 1, 1), summary.as_dict()
assert [letter["code"] for letter in deadletter.read_dead_letters(base / "dead")] == ["invalid_json"]
store = statestore.DirectoryStore(str(base / "state"))
store.write("_jobs", b"[]")
assert store.read("_jobs") == b"[]"
database = SqlDatabase(connect=lambda: sqlite3.connect(":memory:"), name="memory")
assert [r.raw for r in read_sql("SELECT '{}' AS event", database=database, json_column="event")] == ["{}"]
assert soql_literal("O'Brien") == "'O\\\\'Brien'"
print(",".join(sorted(n for n in sys.modules if n.split(".")[0] == "airflow")))
"""

PACKAGE = Path(airflow_provider_rudder_sf.__file__).resolve().parent
PACKAGE_NAME = PACKAGE.name
#: Where Airflow may be imported: the boundary packages, and (the emulator aside, no part of a provider run) the two
#: top-level modules the rule names.
BOUNDARY_PACKAGES = frozenset({"hooks", "operators", "triggers", "emulator"})
BOUNDARY_MODULES = frozenset({"compat.py", "__init__.py"})
#: What a module outside the boundary must not import: Airflow, or the boundary modules that wrap it.
FORBIDDEN = ("airflow", *(f"{PACKAGE_NAME}.{name}" for name in ("compat", "hooks", "operators", "triggers")))


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, check=False)


def test_mapping_imports_no_airflow_and_no_client_library():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_purity_check_would_notice_an_airflow_import():
    program = PROGRAM.replace("import sys\n", "import sys\nimport airflow.sdk\n", 1)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert "airflow" in out.stdout


def test_sources_sync_salesforce_and_dead_letters_run_without_airflow(tmp_path):
    out = _run(PLAIN_PROGRAM, str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_the_run_check_would_notice_an_airflow_import(tmp_path):
    program = PLAIN_PROGRAM.replace("from pathlib import Path\n", "from pathlib import Path\nimport airflow.sdk\n", 1)
    out = _run(program, str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "airflow.sdk" in out.stdout


def _is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of ``from <module> import ...``, relative ones resolved against ``package``."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def forbidden_imports(source: str, package: str) -> list[str]:
    """``line: module`` for each import of Airflow (or of a boundary module) anywhere in ``source``: at the top,
    inside functions, under ``TYPE_CHECKING``, or through ``importlib.import_module``/``__import__`` with a literal.
    ``package`` is the dotted package the module is in, for relative imports."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            modules = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                modules = [node.args[0].value]
        bad = next((module for module in modules if _is_forbidden(module)), None)
        if bad is not None:
            found.append((node.lineno, bad))
    return [f"{line}: {module}" for line, module in sorted(found)]


def _outside_the_boundary() -> list[Path]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in BOUNDARY_PACKAGES or str(relative) in BOUNDARY_MODULES:
            continue
        modules.append(path)
    return modules


def test_the_static_check_covers_every_airflow_free_package():
    scanned = {str(path.relative_to(PACKAGE)) for path in _outside_the_boundary()}
    expected = {
        "deadletter.py",
        "statestore.py",
        "sources/files.py",
        "sources/sql.py",
        "sources/dispatch.py",
        "sources/records.py",
        "sync/engine.py",
        "salesforce/client.py",
        "mapping/plan.py",
    }
    assert expected <= scanned
    assert not any(name.startswith(("hooks/", "operators/", "triggers/")) for name in scanned)


def test_no_module_outside_hooks_operators_and_triggers_imports_airflow():
    found = {}
    for path in _outside_the_boundary():
        package = ".".join([PACKAGE_NAME, *path.relative_to(PACKAGE).parent.parts])
        bad = forbidden_imports(path.read_text(), package)
        if bad:
            found[str(path.relative_to(PACKAGE))] = bad
    assert found == {}


def test_the_static_check_finds_lazy_relative_and_indirect_imports():
    source = (
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from airflow.sdk import ObjectStoragePath\n"
        "def read(location):\n"
        "    from airflow_provider_rudder_sf.compat import BaseHook\n"
        "    import airflow.providers.common.sql.hooks.sql\n"
        "    from ..hooks.connections import sql_database\n"
        "    from .. import operators\n"
        "    return importlib.import_module('airflow.sdk')\n"
        "from airflow_provider_rudder_sf.sources.files import read_jsonl\n"
        "from . import records\n"
    )
    assert forbidden_imports(source, f"{PACKAGE_NAME}.sources") == [
        "4: airflow.sdk",
        f"6: {PACKAGE_NAME}.compat",
        "7: airflow.providers.common.sql.hooks.sql",
        f"8: {PACKAGE_NAME}.hooks.connections",
        f"9: {PACKAGE_NAME}.operators",
        "10: airflow.sdk",
    ]
