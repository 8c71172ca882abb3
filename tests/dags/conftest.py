from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def dagbag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture
def airflow_env(crm, tmp_path, monkeypatch, airflow_db):
    """Variables point the example DAGs at this test's folders; the emulator is the Salesforce connection."""
    folders = {name: tmp_path / name for name in ("events", "shards", "dead-letters")}
    monkeypatch.setenv("AIRFLOW_VAR_RUDDER_SF_EVENTS_BASE", str(folders["events"]))
    monkeypatch.setenv("AIRFLOW_VAR_RUDDER_SF_SHARDS_BASE", str(folders["shards"]))
    monkeypatch.setenv("AIRFLOW_VAR_RUDDER_SF_DEAD_LETTER", str(folders["dead-letters"]))
    return folders
