"""rudder_sf_model_sync through real Airflow (dag.test()) from a PostgreSQL model table into the emulator's Accounts.

The model is a dbt-style table ``analytics.salesforce_accounts`` with ``updated_at``; each daily run syncs the rows
updated in its interval, matched on ``Account.AccountNumber``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sources.postgres import PostgresServer

from airflow_provider_rudder_sf.deadletter import read_dead_letters

DAY = datetime(2026, 11, 28, tzinfo=timezone.utc)
# dag.test() infers a manual run's data interval as the one that ends at logical_date: [DAY, DAY + 1 day).
END = DAY + timedelta(days=1)
MODEL = """CREATE TABLE analytics.salesforce_accounts (
    account_number text, name text, industry text, annual_revenue numeric(18, 2), updated_at timestamptz
)"""


@pytest.fixture
def model(postgres_server: PostgresServer, airflow_env, monkeypatch) -> PostgresServer:
    """A fresh warehouse database holding the model table, reachable as the DAG's ``rudder_warehouse``."""
    db = postgres_server.new_database("model")
    db.run("CREATE SCHEMA analytics")
    db.run(MODEL)
    monkeypatch.setenv("AIRFLOW_CONN_RUDDER_WAREHOUSE", db.connection_json())
    monkeypatch.setenv("AIRFLOW_VAR_RUDDER_SF_ACCOUNT_MODEL", "analytics.salesforce_accounts")
    return db


def insert(db: PostgresServer, rows: list[tuple[Any, ...]]) -> None:
    db.run_many("INSERT INTO analytics.salesforce_accounts VALUES (%s, %s, %s, %s, %s)", rows)


def accounts(crm) -> dict[str, dict[str, Any]]:
    return {record["AccountNumber"]: record for record in crm.records("Account")}


def test_a_run_syncs_the_rows_updated_in_its_interval_by_account_number(dagbag, model, crm):
    (existing,) = crm.seed("Account", [{"Name": "Acme (old)", "AccountNumber": "A-1", "Industry": "Retail"}])
    insert(
        model,
        [
            ("A-1", "Acme", "Energy", Decimal("1200000.50"), DAY + timedelta(hours=3)),
            ("A-2", "Beta", "Banking", None, DAY),  # the interval's first instant: inside
            ("A-3", "Gamma", "Retail", Decimal("5"), DAY - timedelta(seconds=1)),  # the day before
            ("A-4", "Delta", "Retail", Decimal("6"), END),  # the next interval (half-open)
        ],
    )

    run = dagbag.get_dag("rudder_sf_model_sync").test(logical_date=END, run_after=END)

    assert run.state == "success"
    synced = accounts(crm)
    assert sorted(synced) == ["A-1", "A-2"]
    assert synced["A-1"]["Id"] == existing
    assert (synced["A-1"]["Name"], synced["A-1"]["Industry"], synced["A-1"]["AnnualRevenue"]) == (
        "Acme",
        "Energy",
        1200000.5,
    )
    assert (synced["A-2"]["Name"], synced["A-2"]["Industry"], synced["A-2"].get("AnnualRevenue")) == (
        "Beta",
        "Banking",
        None,
    )
    assert crm.counters()["records_created"] == {"Account": 1}


def test_a_second_run_of_the_same_interval_creates_nothing_new(dagbag, model, crm):
    insert(model, [(f"A-{i}", f"Account {i}", "Retail", Decimal(i), DAY + timedelta(minutes=i)) for i in range(30)])
    dag = dagbag.get_dag("rudder_sf_model_sync")
    assert dag.test(logical_date=END, run_after=END).state == "success"
    first = {number: record["Id"] for number, record in accounts(crm).items()}

    assert dag.test(logical_date=END, run_after=END + timedelta(hours=1)).state == "success"

    assert {number: record["Id"] for number, record in accounts(crm).items()} == first
    assert len(first) == 30
    assert crm.counters()["records_created"] == {"Account": 30}
    assert crm.counters()["records_updated"] == {"Account": 30}


def test_a_row_without_an_account_number_is_a_dead_letter_and_the_others_are_written(dagbag, model, crm, airflow_env):
    insert(
        model,
        [
            ("A-1", "Acme", "Energy", None, DAY + timedelta(hours=1)),
            (None, "Nameless", "Retail", None, DAY + timedelta(hours=2)),
        ],
    )

    run = dagbag.get_dag("rudder_sf_model_sync").test(logical_date=END, run_after=END)

    (letter,) = read_dead_letters(str(airflow_env["dead-letters"]))
    assert (letter["stage"], letter["code"]) == ("validate", "invalid_external_id")
    assert letter["event"]["traits"]["Name"] == "Nameless"
    assert letter["event"]["context"]["externalId"][0] == {
        "type": "Salesforce-Account",
        "id": None,
        "identifierType": "AccountNumber",
    }
    assert sorted(accounts(crm)) == ["A-1"]
    # max_dead_letter_ratio is 0: the task fails once (not retried) after writing everything else.
    (sync,) = run.get_task_instances()
    assert (run.state, sync.state, sync.try_number) == ("failed", "failed", 1)
