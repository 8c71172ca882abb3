"""Test-wide Airflow settings: a throw-away AIRFLOW_HOME, no example DAGs, set before Airflow is imported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="rudder-sf-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# dag.test() serialises DAGs from the configured bundle, so the example DAGs folder must be it.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")

import pytest  # noqa: E402  (the environment above must be set before anything imports Airflow)

from rudder_sf_emulator.synthetic import CUSTOM_FIELDS  # noqa: E402

# Fixture modules shared across test folders (tests/ is on sys.path: it has no __init__.py): moto's S3 server
# for object-storage tests and a throw-away PostgreSQL for the warehouse source.
pytest_plugins = ["storage.s3_server", "sources.postgres"]


@pytest.fixture
def crm(salesforce_emulator, monkeypatch):
    """The emulator, reset, with the synthetic events' custom fields declared and the default connection set."""
    for sobject in ("Lead", "Contact"):
        salesforce_emulator.declare_fields(sobject, CUSTOM_FIELDS)
    monkeypatch.setenv("AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT", salesforce_emulator.connection_json())
    return salesforce_emulator


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated SQLite metadata DB in the test session's AIRFLOW_HOME (dag.test() needs one)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    pool = ["pools", "set", "salesforce_api", "4", "Salesforce API calls"]
    subprocess.run([sys.executable, "-m", "airflow", *pool], check=True, capture_output=True)
    return os.environ["AIRFLOW_HOME"]
