"""SQL sources against a real SQLite database reached through an Airflow connection (SqliteHook)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.sqlite.hooks.sqlite import SqliteHook

from airflow_provider_rudder_sf.hooks.connections import database_of_hook, sql_database
from airflow_provider_rudder_sf.sources import SqlDatabase, read_sql, row_to_identify, snake_to_camel

CONN_ID = "staged_db"
#: For argument checks, which refuse a call before any connection is opened.
UNOPENED = SqlDatabase(connect=lambda: pytest.fail("a refused call opened a connection"), name=CONN_ID)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "staged.db"
    sqlite3.connect(path).close()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def _exec(path: Path, *statements: str, rows: list[tuple[Any, ...]] | None = None, insert: str = "") -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
        if rows:
            conn.executemany(insert, rows)


IDENTIFIES = """CREATE TABLE identifies (
    id TEXT, anonymous_id TEXT, user_id TEXT, received_at TEXT, sent_at TEXT, timestamp TEXT,
    original_timestamp TEXT, uuid_ts TEXT, context_ip TEXT, context_library_name TEXT,
    context_traits_email TEXT, context_traits_first_name TEXT, context_external_id TEXT,
    email TEXT, first_name TEXT, last_name TEXT, name TEXT, company_name TEXT, company_employee_count INT,
    address_postal_code TEXT, lead_source TEXT, logins INT, is_vip BOOLEAN, nickname TEXT
)"""


def test_json_column_rows_become_raw_text(db: Path) -> None:
    _exec(
        db,
        "CREATE TABLE staged (n INT, event TEXT)",
        rows=[(1, '{"type": "identify"}'), (2, "not json")],
        insert="INSERT INTO staged VALUES (?, ?)",
    )
    records = list(
        read_sql("SELECT n, event FROM staged ORDER BY n", database=sql_database(CONN_ID), json_column="EVENT")
    )
    assert [r.raw for r in records] == ['{"type": "identify"}', "not json"]
    assert [r.origin for r in records] == ["sql:staged_db:1", "sql:staged_db:2"]


def test_json_column_null_is_kept_as_json_null_text(db: Path) -> None:
    _exec(db, "CREATE TABLE staged (event TEXT)", "INSERT INTO staged VALUES (NULL)")
    assert [
        r.raw for r in read_sql("SELECT event FROM staged", database=sql_database(CONN_ID), json_column="event")
    ] == ["null"]


def test_query_parameters_are_passed_to_the_driver(db: Path) -> None:
    _exec(
        db,
        "CREATE TABLE staged (day TEXT, event TEXT)",
        rows=[("d1", "a"), ("d2", "b")],
        insert="INSERT INTO staged VALUES (?, ?)",
    )
    records = read_sql(
        "SELECT event FROM staged WHERE day = ?",
        database=sql_database(CONN_ID),
        json_column="event",
        parameters=("d2",),
    )
    assert [r.raw for r in records] == ["b"]


def test_missing_json_column_names_the_columns_returned(db: Path) -> None:
    _exec(db, "CREATE TABLE staged (payload TEXT)", "INSERT INTO staged VALUES ('x')")
    with pytest.raises(ValueError, match="no column 'event'; it returns payload"):
        list(read_sql("SELECT payload FROM staged", database=sql_database(CONN_ID), json_column="event"))


def test_identifies_rows_are_rebuilt_into_identify_events(db: Path) -> None:
    _exec(
        db,
        IDENTIFIES,
        "INSERT INTO identifies (id, anonymous_id, user_id, timestamp, received_at, uuid_ts, context_ip, "
        "context_traits_email, context_external_id, email, first_name, last_name, company_name, "
        "company_employee_count, address_postal_code, lead_source, logins, is_vip) VALUES ('m1', 'anon', 'u1', "
        "'2026-11-28T10:00:00Z', '2026-11-28T10:00:01Z', 'x', '1.2.3.4', 'ctx@example.com', "
        """'[{"type": "Salesforce-Contact", "id": "003"}]', 'ada@example.com', 'Ada', 'Lovelace', 'Acme', 50, """
        "'10115', 'Web', 0, 0)",
    )
    [record] = read_sql("SELECT * FROM identifies", database=sql_database(CONN_ID))
    assert record.raw == {
        "type": "identify",
        "messageId": "m1",
        "anonymousId": "anon",
        "userId": "u1",
        "timestamp": "2026-11-28T10:00:00Z",
        "receivedAt": "2026-11-28T10:00:01Z",
        "traits": {
            "email": "ada@example.com",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "company": {"name": "Acme", "employee_count": 50},
            "address": {"postalCode": "10115"},
            "LeadSource": "Web",
            "logins": 0,
            "isVip": 0,
        },
        "context": {
            "traits": {"email": "ctx@example.com"},
            "externalId": [{"type": "Salesforce-Contact", "id": "003"}],
        },
        "integrations": {"Salesforce": True},
    }


def test_identifies_null_columns_are_left_out(db: Path) -> None:
    _exec(db, IDENTIFIES, "INSERT INTO identifies (id, email) VALUES ('m1', 'a@example.com')")
    [record] = read_sql("SELECT * FROM identifies", database=sql_database(CONN_ID))
    assert record.raw == {
        "type": "identify",
        "messageId": "m1",
        "traits": {"email": "a@example.com"},
        "integrations": {"Salesforce": True},
    }


def test_identifies_integrations_are_the_callers_and_not_shared(db: Path) -> None:
    _exec(db, IDENTIFIES, "INSERT INTO identifies (id) VALUES ('m1')", "INSERT INTO identifies (id) VALUES ('m2')")
    first, second = read_sql(
        "SELECT * FROM identifies", database=sql_database(CONN_ID), integrations={"SF": {"objects": ["Lead"]}}
    )
    assert isinstance(first.raw, dict) and isinstance(second.raw, dict)
    assert first.raw["integrations"] == {"SF": {"objects": ["Lead"]}}
    assert first.raw["integrations"] is not second.raw["integrations"]


def test_snake_to_camel_restores_trait_keys() -> None:
    assert snake_to_camel("first_name") == "firstName"
    assert snake_to_camel("has_opted_out_of_email") == "hasOptedOutOfEmail"
    assert snake_to_camel("address_line_1") == "addressLine1"
    assert snake_to_camel("email") == "email"


def test_row_columns_are_case_insensitive_and_datetimes_become_iso() -> None:
    event = row_to_identify(
        {
            "ID": "m1",
            "TIMESTAMP": dt.datetime(2026, 11, 28, 10, 0, 0),
            "SENT_AT": dt.datetime(2026, 11, 28, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "BIRTHDAY": dt.date(1990, 1, 2),
            "REVENUE": Decimal("12.50"),
            "FIRST_NAME": "Ada",
        }
    )
    assert event["messageId"] == "m1"
    assert event["timestamp"] == "2026-11-28T10:00:00Z"
    assert event["sentAt"] == "2026-11-28T10:00:00Z"
    assert event["traits"] == {"birthday": "1990-01-02", "revenue": 12.5, "firstName": "Ada"}


def test_reserved_and_other_context_columns_are_not_traits() -> None:
    event = row_to_identify(
        {"id": "m", "uuid_ts": "t", "channel": "web", "_loaded": 1, "context_ip": "1.2.3.4", "email": "e"}
    )
    assert event["traits"] == {"email": "e"}
    assert "context" not in event


def test_column_traits_override_and_drop() -> None:
    event = row_to_identify(
        {"crm_ref": "x", "secret_score": 9}, column_traits={"crm_ref": "crm.ref", "secret_score": None}
    )
    assert event["traits"] == {"crm": {"ref": "x"}}


def test_scalar_company_column_keeps_nested_fields_flat() -> None:
    event = row_to_identify({"company": "Acme", "company_industry": "Retail"})
    assert event["traits"] == {"company": "Acme", "companyIndustry": "Retail"}


def test_unparsable_external_id_text_is_kept_for_the_mapper() -> None:
    event = row_to_identify({"context_external_id": "not json"})
    assert event["context"] == {"externalId": "not json"}


class _CountingCursor:
    """Wraps a real sqlite3 cursor and records what the reader fetched."""

    def __init__(self, cursor: sqlite3.Cursor, log: dict[str, int]) -> None:
        self._cursor = cursor
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def fetchmany(self, size: int) -> list[Any]:
        rows = self._cursor.fetchmany(size)
        self._log["fetched"] += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        self._log["fetchall"] += 1
        return self._cursor.fetchall()

    def close(self) -> None:
        self._log["cursor_closed"] += 1
        self._cursor.close()


class _CountingConnection:
    def __init__(self, conn: sqlite3.Connection, log: dict[str, int]) -> None:
        self._conn = conn
        self._log = log

    def cursor(self, **kwargs: Any) -> _CountingCursor:
        return _CountingCursor(self._conn.cursor(**kwargs), self._log)

    def close(self) -> None:
        self._log["conn_closed"] += 1
        self._conn.close()


class _CountingSqliteHook(SqliteHook):  # type: ignore[misc]
    log_counts: dict[str, int]

    def get_conn(self) -> Any:
        return _CountingConnection(super().get_conn(), self.log_counts)


def _big_table(path: Path, rows: int) -> None:
    _exec(
        path,
        "CREATE TABLE staged (n INT, event TEXT)",
        rows=[(n, json.dumps({"type": "identify", "n": n, "pad": "x" * 200})) for n in range(rows)],
        insert="INSERT INTO staged VALUES (?, ?)",
    )


def test_rows_are_fetched_in_chunks_lazily(db: Path) -> None:
    _big_table(db, 50_000)
    hook = _CountingSqliteHook(sqlite_conn_id=CONN_ID)
    hook.log_counts = {"fetched": 0, "fetchall": 0, "cursor_closed": 0, "conn_closed": 0}
    iterator = read_sql(
        "SELECT event FROM staged ORDER BY n", database=database_of_hook(hook), json_column="event", chunk_size=500
    )
    first = [next(iterator) for _ in range(10)]
    assert json.loads(str(first[-1].raw))["n"] == 9
    assert hook.log_counts["fetched"] == 500
    assert sum(1 for _ in iterator) == 49_990
    assert hook.log_counts == {"fetched": 50_000, "fetchall": 0, "cursor_closed": 1, "conn_closed": 1}


def test_abandoning_the_iterator_closes_cursor_and_connection(db: Path) -> None:
    _big_table(db, 1_000)
    hook = _CountingSqliteHook(sqlite_conn_id=CONN_ID)
    hook.log_counts = {"fetched": 0, "fetchall": 0, "cursor_closed": 0, "conn_closed": 0}
    iterator = read_sql(
        "SELECT event FROM staged", database=database_of_hook(hook), json_column="event", chunk_size=100
    )
    next(iterator)
    iterator.close()
    assert hook.log_counts["cursor_closed"] == 1 and hook.log_counts["conn_closed"] == 1


def test_streaming_memory_stays_far_below_the_result_size(db: Path) -> None:
    _big_table(db, 50_000)  # about 11 MB of event text
    tracemalloc.start()
    try:
        count = sum(
            1 for _ in read_sql("SELECT event FROM staged", database=sql_database(CONN_ID), json_column="event")
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 50_000
    assert peak < 3_000_000


def test_a_non_database_connection_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOT_A_DB", json.dumps({"conn_type": "fs", "extra": {"path": "/"}}))
    with pytest.raises(ValueError, match="not a DB-API"):
        read_sql("SELECT 1", database=sql_database("not_a_db"))


def test_a_database_is_required() -> None:
    with pytest.raises(TypeError, match="database"):
        read_sql("SELECT 1")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"database": CONN_ID}, "database must be a SqlDatabase"),
        ({"database": UNOPENED, "chunk_size": 0}, "chunk_size"),
        ({"database": UNOPENED, "json_column": "e", "integrations": {}}, "identifies rows"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_sql("SELECT 1", **kwargs)
