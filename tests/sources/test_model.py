"""Warehouse model rows -> RudderStack rETL events: the pure builder, and read_sql(model=) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.sqlite.hooks.sqlite import SqliteHook
from sources.postgres import PostgresServer

from airflow_provider_rudder_sf.hooks.connections import database_of_hook, sql_database
from airflow_provider_rudder_sf.sources import ModelSync, SqlDatabase, open_source, read_sql, row_to_retl_event

CONN_ID = "rudder_warehouse"
ACCOUNTS = ModelSync(sobject="Account", identifier_column="account_number", identifier_field="AccountNumber")


# --- the event builder ------------------------------------------------------------------------------------------


def test_a_row_becomes_exactly_the_retl_event() -> None:
    row = {"account_number": "A-100", "Name": "Acme", "AnnualRevenue": Decimal("1200000.00"), "Industry": None}
    assert row_to_retl_event(row, ACCOUNTS, 1) == {
        "type": "identify",
        "messageId": "model:Account:A-100",
        "context": {
            "mappedToDestination": True,
            "externalId": [{"type": "Salesforce-Account", "id": "A-100", "identifierType": "AccountNumber"}],
        },
        "traits": {"Name": "Acme", "AnnualRevenue": 1200000},
        "integrations": {"Salesforce": True},
    }


def test_numbers_stay_numbers_and_text_stays_text() -> None:
    model = ModelSync("Account", "legacy_id", "Legacy_Id__c")
    by_number = row_to_retl_event({"legacy_id": 42, "Rating__c": Decimal("4.5")}, model, 1)
    by_decimal = row_to_retl_event({"legacy_id": Decimal("42")}, model, 2)
    by_text = row_to_retl_event({"legacy_id": "00042"}, model, 3)
    assert by_number["context"]["externalId"][0]["id"] == 42
    assert by_number["traits"] == {"Rating__c": 4.5}
    assert by_decimal["context"]["externalId"][0]["id"] == 42
    assert by_text["context"]["externalId"][0]["id"] == "00042"
    assert [e["messageId"] for e in (by_number, by_decimal, by_text)] == [
        "model:Account:42",
        "model:Account:42",
        "model:Account:00042",
    ]


@pytest.mark.parametrize("row", [{"account_number": None, "Name": "Acme"}, {"Name": "Acme"}])
def test_a_row_without_identifier_still_becomes_an_event_with_a_null_id(row: dict[str, Any]) -> None:
    event = row_to_retl_event(row, ACCOUNTS, 7)
    assert event["context"]["externalId"] == [
        {"type": "Salesforce-Account", "id": None, "identifierType": "AccountNumber"}
    ]
    assert event["traits"] == {"Name": "Acme"}
    assert event["messageId"] == "model:Account:null#7"  # per row: two such rows never collapse into one


def test_column_fields_rename_and_other_columns_keep_their_name() -> None:
    model = ModelSync(
        "Account", "account_number", "AccountNumber", column_fields={"name": "Name", "annual_revenue": "AnnualRevenue"}
    )
    event = row_to_retl_event(
        {"account_number": "A", "name": "Acme", "annual_revenue": 5, "Industry": "Retail"}, model, 1
    )
    assert event["traits"] == {"Name": "Acme", "AnnualRevenue": 5, "Industry": "Retail"}


def test_columns_match_case_insensitively_as_snowflake_reports_them_upper_case() -> None:
    model = ModelSync(
        "Account", "account_number", "AccountNumber", column_fields={"name": "Name"}, timestamp_column="updated_at"
    )
    row = {"ACCOUNT_NUMBER": "A", "NAME": "Acme", "UPDATED_AT": dt.datetime(2026, 11, 28, 10), "INDUSTRY": "Retail"}
    event = row_to_retl_event(row, model, 1)
    assert event["context"]["externalId"][0]["id"] == "A"
    assert event["traits"] == {"Name": "Acme", "INDUSTRY": "Retail"}
    assert event["timestamp"] == "2026-11-28T10:00:00Z"


def test_values_are_json_friendly() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    row = {
        "account_number": "A",
        "LastActivity__c": dt.datetime(2026, 11, 28, 11, 0, tzinfo=berlin),
        "Founded__c": dt.date(1990, 1, 2),
        "Active__c": False,
        "Score__c": 0,
        "Tags__c": ["a", "b"],
    }
    event = row_to_retl_event(row, ACCOUNTS, 1)
    assert event["traits"] == {
        "LastActivity__c": "2026-11-28T10:00:00Z",
        "Founded__c": "1990-01-02",
        "Active__c": False,
        "Score__c": 0,
        "Tags__c": ["a", "b"],
    }
    json.dumps(event)  # the whole event is JSON


def test_the_timestamp_column_is_the_event_timestamp_not_a_field() -> None:
    model = ModelSync("Account", "account_number", "AccountNumber", timestamp_column="updated_at")
    stamped = row_to_retl_event({"account_number": "A", "updated_at": dt.datetime(2026, 11, 28, 9, 30)}, model, 1)
    unstamped = row_to_retl_event({"account_number": "A", "updated_at": None}, model, 2)
    assert stamped["timestamp"] == "2026-11-28T09:30:00Z" and stamped["traits"] == {}
    assert "timestamp" not in unstamped
    assert "timestamp" not in row_to_retl_event({"account_number": "A", "updated_at": "x"}, ACCOUNTS, 3)


def test_the_integration_key_is_the_models() -> None:
    model = ModelSync("Account", "account_number", "AccountNumber", integration_key="SALESFORCE_OAUTH")
    assert row_to_retl_event({"account_number": "A"}, model, 1)["integrations"] == {"SALESFORCE_OAUTH": True}


def test_events_share_no_mutable_state() -> None:
    first, second = (row_to_retl_event({"account_number": "A"}, ACCOUNTS, n) for n in (1, 2))
    first["context"]["externalId"][0]["id"] = "changed"
    first["integrations"]["Other"] = True
    assert second["context"]["externalId"][0]["id"] == "A"
    assert second["integrations"] == {"Salesforce": True}


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"sobject": "Account; DELETE"}, "'Account; DELETE'"),
        ({"sobject": "1Account"}, "'1Account'"),
        ({"sobject": ""}, "''"),
        ({"identifier_field": "Account Number"}, "'Account Number'"),
        ({"identifier_field": "Name' OR '1'='1"}, "\"Name' OR '1'='1\""),
        ({"identifier_column": " "}, "identifier_column must be a non-empty string, got ' '"),
        ({"integration_key": ""}, "integration_key"),
        ({"column_fields": {"name": ""}}, "the field of column 'name'"),
        ({"column_fields": ["name"]}, "column_fields must be a mapping"),
        ({"timestamp_column": "account_number"}, "timestamp_column and identifier_column"),
    ],
)
def test_model_sync_is_validated_on_construction(kwargs: dict[str, Any], bad: str) -> None:
    arguments: dict[str, Any] = {
        "sobject": "Account",
        "identifier_column": "account_number",
        "identifier_field": "AccountNumber",
    }
    with pytest.raises(ValueError, match=_literal(bad)):
        ModelSync(**{**arguments, **kwargs})


def _literal(text: str) -> str:
    import re

    return re.escape(text)


def test_model_sync_accepts_custom_objects_and_fields_and_copies_column_fields() -> None:
    fields = {"plan": "Plan_Tier__c"}
    model = ModelSync("Subscription__c", "external_key", "External_Key__c", column_fields=fields)
    fields["plan"] = "Changed__c"
    assert model.field_for("plan") == "Plan_Tier__c"
    assert row_to_retl_event({"external_key": "k", "plan": "Gold"}, model, 1)["context"]["externalId"][0] == {
        "type": "Salesforce-Subscription__c",
        "id": "k",
        "identifierType": "External_Key__c",
    }


# --- read_sql(model=) on SQLite and PostgreSQL ------------------------------------------------------------------


class Backend:
    """One database holding the ``salesforce_accounts`` model, reachable as the ``rudder_warehouse`` connection."""

    name: str
    placeholder: str

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    name, placeholder = "sqlite", "?"

    def __init__(self, path: Path) -> None:
        self.path = path

    def execute(self, sql: str) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(sql)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        with sqlite3.connect(self.path) as conn:
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


class PostgresBackend(Backend):
    name, placeholder = "postgres", "%s"

    def __init__(self, db: PostgresServer) -> None:
        self.db = db

    def execute(self, sql: str) -> None:
        self.db.run(sql)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join(["%s"] * len(columns))
        self.db.run_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


#: The model table as a dbt model would materialise it (types differ per database; values read back the same).
MODEL_TABLE = {
    "sqlite": "CREATE TABLE salesforce_accounts (account_number TEXT, name TEXT, industry TEXT, "
    "annual_revenue NUMERIC, employees INTEGER, legacy_id INTEGER, updated_at TEXT)",
    "postgres": "CREATE TABLE salesforce_accounts (account_number text, name text, industry text, "
    "annual_revenue numeric(18, 2), employees integer, legacy_id bigint, updated_at timestamptz)",
}
MODEL_COLUMNS = ("account_number", "name", "industry", "annual_revenue", "employees", "legacy_id", "updated_at")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    chosen: Backend
    if request.param == "sqlite":
        path = tmp_path / "warehouse.db"
        sqlite3.connect(path).close()
        connection = json.dumps({"conn_type": "sqlite", "host": str(path)})
        chosen = SqliteBackend(path)
    else:
        db = request.getfixturevalue("postgres_server").new_database("model")
        connection = db.connection_json()
        chosen = PostgresBackend(db)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection)
    chosen.execute(MODEL_TABLE[chosen.name])
    return chosen


def _accounts(backend: Backend, rows: Sequence[Sequence[Any]]) -> None:
    backend.insert("salesforce_accounts", MODEL_COLUMNS, rows)


def _model_rows(sql: str, model: ModelSync = ACCOUNTS, **kwargs: Any) -> list[tuple[Any, str]]:
    return [
        (record.raw, record.origin) for record in read_sql(sql, database=sql_database(CONN_ID), model=model, **kwargs)
    ]


def test_model_rows_stream_as_retl_events(backend: Backend) -> None:
    _accounts(
        backend,
        [
            ("A-100", "Acme", "Retail", 1200000.5, 40, None, "2026-11-28T10:00:00Z"),
            ("A-200", "Globex", None, None, 7, None, "2026-11-28T11:00:00Z"),
        ],
    )
    model = ModelSync(
        "Account",
        "account_number",
        "AccountNumber",
        column_fields={
            "name": "Name",
            "industry": "Industry",
            "annual_revenue": "AnnualRevenue",
            "employees": "NumberOfEmployees",
        },
        timestamp_column="updated_at",
    )
    sql = (
        "SELECT account_number, name, industry, annual_revenue, employees, updated_at "
        "FROM salesforce_accounts ORDER BY account_number"
    )
    events = _model_rows(sql, model)
    assert events == [
        (
            {
                "type": "identify",
                "messageId": "model:Account:A-100",
                "context": {
                    "mappedToDestination": True,
                    "externalId": [{"type": "Salesforce-Account", "id": "A-100", "identifierType": "AccountNumber"}],
                },
                "traits": {"Name": "Acme", "Industry": "Retail", "AnnualRevenue": 1200000.5, "NumberOfEmployees": 40},
                "integrations": {"Salesforce": True},
                "timestamp": "2026-11-28T10:00:00Z",
            },
            f"sql:{CONN_ID}:1",
        ),
        (
            {
                "type": "identify",
                "messageId": "model:Account:A-200",
                "context": {
                    "mappedToDestination": True,
                    "externalId": [{"type": "Salesforce-Account", "id": "A-200", "identifierType": "AccountNumber"}],
                },
                "traits": {"Name": "Globex", "NumberOfEmployees": 7},
                "integrations": {"Salesforce": True},
                "timestamp": "2026-11-28T11:00:00Z",
            },
            f"sql:{CONN_ID}:2",
        ),
    ]


def test_numeric_identifiers_stay_numbers_and_text_ones_text(backend: Backend) -> None:
    _accounts(backend, [("00042", "Acme", None, None, None, 42, None)])
    by_number = ModelSync("Account", "legacy_id", "Legacy_Id__c")
    [(event, _)] = _model_rows("SELECT legacy_id, name FROM salesforce_accounts", by_number)
    assert event["context"]["externalId"][0]["id"] == 42
    assert isinstance(event["context"]["externalId"][0]["id"], int)
    [(event, _)] = _model_rows("SELECT account_number, name FROM salesforce_accounts")
    assert event["context"]["externalId"][0]["id"] == "00042"


def test_null_identifiers_become_events_with_a_null_id(backend: Backend) -> None:
    _accounts(
        backend, [(None, "No key 1", None, None, None, None, None), (None, "No key 2", None, None, None, None, None)]
    )
    events = _model_rows('SELECT account_number, name AS "Name" FROM salesforce_accounts ORDER BY name')
    assert [e["context"]["externalId"][0]["id"] for e, _ in events] == [None, None]
    assert [e["traits"] for e, _ in events] == [{"Name": "No key 1"}, {"Name": "No key 2"}]
    assert [e["messageId"] for e, _ in events] == ["model:Account:null#1", "model:Account:null#2"]


def test_a_column_that_is_not_a_field_name_is_passed_through(backend: Backend) -> None:
    _accounts(backend, [("A-1", "Acme", None, None, None, None, None)])
    [(event, _)] = _model_rows('SELECT account_number, name AS "Billing City!" FROM salesforce_accounts')
    assert event["traits"] == {"Billing City!": "Acme"}


def test_injection_attempts_in_values_stay_values(backend: Backend) -> None:
    hostile_id = "A' OR AccountNumber != '"
    hostile_name = "x'); DELETE FROM Account; --"
    _accounts(backend, [(hostile_id, hostile_name, None, None, None, None, None)])
    [(event, _)] = _model_rows('SELECT account_number, name AS "Name" FROM salesforce_accounts')
    assert event["context"]["externalId"][0] == {
        "type": "Salesforce-Account",
        "id": hostile_id,
        "identifierType": "AccountNumber",
    }
    assert event["traits"] == {"Name": hostile_name}
    assert event["messageId"] == f"model:Account:{hostile_id}"


def test_a_query_without_the_identifier_column_is_refused_before_any_event(backend: Backend) -> None:
    _accounts(backend, [("A-1", "Acme", None, None, None, None, None)])
    with pytest.raises(ValueError, match="no identifier column 'account_number'; it returns name, industry"):
        _model_rows("SELECT name, industry FROM salesforce_accounts")


def test_an_empty_model_is_an_empty_stream(backend: Backend) -> None:
    assert _model_rows("SELECT account_number, name FROM salesforce_accounts") == []


def test_open_source_passes_the_model_on(backend: Backend) -> None:
    _accounts(backend, [("A-1", "Acme", None, None, None, None, None)])
    where = f"account_number = {backend.placeholder}"
    records = open_source(
        sql=f'SELECT account_number, name AS "Name" FROM salesforce_accounts WHERE {where}',
        database=sql_database(CONN_ID),
        parameters=("A-1",),
        model=ACCOUNTS,
    )
    [record] = records
    assert isinstance(record.raw, dict)
    assert record.raw["traits"] == {"Name": "Acme"}
    assert record.origin == f"sql:{CONN_ID}:1"


# --- streaming: rows are produced by the database as they are read ----------------------------------------------


class _ProbedSqliteHook(SqliteHook):  # type: ignore[misc]
    """SqliteHook whose connections know ``produced()``: a SQL function counting the rows SQLite evaluates."""

    produced = 0

    def get_conn(self) -> Any:
        conn = super().get_conn()
        conn.create_function("produced", 0, self._count)
        return conn

    def _count(self) -> int:
        type(self).produced += 1
        return 1


@pytest.fixture
def probed(backend: Backend) -> Iterator[tuple[dict[str, Any], Any]]:
    """(read_sql keyword arguments, a function returning how many rows the database has produced so far)."""
    rows = [(f"A-{n:04d}", f"Account {n}", None, None, n, None, None) for n in range(1, 1001)]
    _accounts(backend, rows)
    if isinstance(backend, PostgresBackend):
        backend.execute("CREATE SEQUENCE produced")
        db = backend.db
        yield {"database": sql_database(CONN_ID)}, lambda: int(db.run("SELECT last_value FROM produced")[0][0])
    else:
        _ProbedSqliteHook.produced = 0
        yield (
            {"database": database_of_hook(_ProbedSqliteHook(sqlite_conn_id=CONN_ID))},
            lambda: _ProbedSqliteHook.produced,
        )


def test_model_rows_are_read_in_chunks(backend: Backend, probed: tuple[dict[str, Any], Any]) -> None:
    kwargs, produced = probed
    # The probe sits in WHERE, so it adds no column (every column of a model row is a field); no ORDER BY, since a
    # sort has to read every row first (rows of this fresh table come back in insertion order).
    counter = "nextval('produced')" if backend.name == "postgres" else "produced()"
    sql = f"SELECT account_number, employees FROM salesforce_accounts WHERE {counter} > 0"
    records = read_sql(sql, model=ACCOUNTS, chunk_size=20, **kwargs)
    first = next(records)
    assert isinstance(first.raw, dict) and first.raw["traits"] == {"employees": 1}
    assert produced() <= 60  # a buffered read would have produced all 1000 rows by now
    assert sum(1 for _ in records) == 999
    assert produced() == 1000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"json_column": "event"}, "either json_column or model, not both"),
        ({"integrations": {"Salesforce": True}}, "not to a model"),
        ({"column_traits": {"name": "Name"}}, "not to a model"),
        ({"model": {"sobject": "Account"}}, "model must be a ModelSync, got dict"),
    ],
)
def test_model_arguments_that_do_not_fit_are_refused(kwargs: dict[str, Any], message: str) -> None:
    unopened = SqlDatabase(connect=lambda: pytest.fail("a refused call opened a connection"), name=CONN_ID)
    arguments = {"database": unopened, "model": ACCOUNTS, **kwargs}
    with pytest.raises(ValueError, match=message):
        read_sql("SELECT 1", **arguments)


def test_open_source_refuses_a_model_without_sql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model only apply to a sql source"):
        open_source(str(tmp_path / "events.jsonl"), model=ACCOUNTS)
