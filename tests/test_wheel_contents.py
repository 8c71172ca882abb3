"""The install check's wheel inspection (``scripts/install_check.py``) notices emulator code in the provider wheel.

``make install-check`` runs it on the real wheel; here it meets hand-made wheels, so the check itself is proved to
fail when the emulator, the synthetic data or the pytest plugin move back into the provider.
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install_check.py"
PACKAGE = "airflow_provider_rudder_sf"
INFO = f"{PACKAGE}-0.1.0.dist-info"
PROVIDER_POINTS = "[apache_airflow_provider]\nprovider_info = airflow_provider_rudder_sf:get_provider_info\n"


@pytest.fixture(scope="module")
def install_check():
    spec = importlib.util.spec_from_file_location("install_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def make_wheel(folder: Path, extra_files: tuple[str, ...] = (), entry_points: str = PROVIDER_POINTS, extras=()):
    files = {"airflow_provider_rudder_sf/__init__.py": "", "airflow_provider_rudder_sf/hooks/salesforce.py": "x = 1\n"}
    files.update({name: "" for name in extra_files})
    files[f"{INFO}/entry_points.txt"] = entry_points
    files[f"{INFO}/METADATA"] = "Name: airflow-provider-rudder-sf\n" + "".join(f"Provides-Extra: {e}\n" for e in extras)
    record = "".join(f"{name},sha256=x,{len(text)}\n" for name, text in files.items()) + f"{INFO}/RECORD,,\n"
    wheel = folder / "airflow_provider_rudder_sf-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{INFO}/RECORD", record)
    return wheel


def test_a_provider_only_wheel_passes(install_check, tmp_path):
    wheel = make_wheel(tmp_path)
    assert install_check.wheel_leaks(wheel) == []
    assert install_check.wheel_files(wheel)["airflow_provider_rudder_sf/hooks/salesforce.py"] == 6


@pytest.mark.parametrize(
    "path",
    [
        f"{PACKAGE}/emulator/app.py",
        f"{PACKAGE}/synthetic.py",
        "rudder_sf_emulator/__init__.py",
        f"{PACKAGE}/testing/synthetic/__init__.py",
    ],
    ids=["emulator-in-the-package", "synthetic-in-the-package", "the-emulator-distribution", "synthetic-package"],
)
def test_an_emulator_or_synthetic_module_is_a_leak(install_check, tmp_path, path):
    leaks = install_check.wheel_leaks(make_wheel(tmp_path, (path,)))
    assert leaks == [f"{path} is emulator or demo-data code (it belongs to emulator/)"]


def test_a_pytest_plugin_or_an_emulator_extra_is_a_leak(install_check, tmp_path):
    plugin = f"{PROVIDER_POINTS}\n[pytest11]\nrudder_sf_emulator = {PACKAGE}.emulator.pytest_plugin\n"
    leaks = install_check.wheel_leaks(make_wheel(tmp_path, entry_points=plugin, extras=("dev", "emulator")))
    assert leaks == [
        f"entry_points.txt declares a pytest11 plugin: {{'rudder_sf_emulator': '{PACKAGE}.emulator.pytest_plugin'}}",
        "METADATA offers an emulator extra",
    ]
