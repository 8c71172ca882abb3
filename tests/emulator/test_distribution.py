"""rudder-sf-emulator stands alone: it knows nothing of the provider or Airflow, and it brings its own entry points."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import rudder_sf_emulator

PACKAGE = Path(rudder_sf_emulator.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
FORBIDDEN = ("airflow", "airflow_provider_rudder_sf")


def forbidden_imports(path: Path) -> list[str]:
    """``file:line module`` for each import (top-level or inside a function) of the provider or Airflow."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [f"{path.name}:{node.lineno} {m}" for m in modules if m.split(".")[0] in FORBIDDEN]
    return found


def test_no_module_of_the_emulator_imports_the_provider_or_airflow():
    assert len(SOURCES) > 20 and any(p.name == "synthetic.py" for p in SOURCES)
    assert [line for path in SOURCES for line in forbidden_imports(path)] == []


def test_the_scan_would_notice_a_lazy_provider_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from airflow_provider_rudder_sf.hooks import salesforce\n    import airflow.sdk\n")
    assert forbidden_imports(bad) == ["bad.py:2 airflow_provider_rudder_sf.hooks", "bad.py:3 airflow.sdk"]


def test_importing_every_module_loads_neither_the_provider_nor_airflow():
    program = (
        "import pkgutil, importlib, sys, rudder_sf_emulator as p\n"
        "for m in pkgutil.walk_packages(p.__path__, 'rudder_sf_emulator.'): importlib.import_module(m.name)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_its_distribution_declares_the_console_script_and_the_pytest_plugin():
    points = {(e.group, e.name): e.value for e in distribution("rudder-sf-emulator").entry_points}
    assert points == {
        ("console_scripts", "rudder-sf-emulator"): "rudder_sf_emulator.__main__:main",
        ("pytest11", "rudder_sf_emulator"): "rudder_sf_emulator.pytest_plugin",
    }


def test_the_console_script_runs():
    script = Path(sys.executable).parent / "rudder-sf-emulator"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.startswith("usage: rudder-sf-emulator ")
