"""SQL sources against a real PostgreSQL (the ``postgres_server`` fixture) through an Airflow connection.

Tables are shaped as RudderStack's PostgreSQL warehouse destination creates them: one schema per source, snake_case
columns, ``text``/``bigint``/``numeric``/``boolean``/``timestamptz`` types, arrays stored as JSON text. The server
runs in Europe/Berlin, so timestamps must be converted to UTC by the reader, not by luck.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg2
import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook
from sources.postgres import PostgresServer

from airflow_provider_rudder_sf.hooks.connections import database_of_hook, sql_database
from airflow_provider_rudder_sf.sources import open_source, read_sql

CONN_ID = "rudder_warehouse"

#: RudderStack's ``identifies`` table in PostgreSQL (a subset of the columns it creates for a JavaScript source).
IDENTIFIES = """CREATE TABLE {schema}.identifies (
    id text, anonymous_id text, user_id text, received_at timestamptz, sent_at timestamptz, "timestamp" timestamptz,
    original_timestamp timestamptz, uuid_ts timestamptz, channel text, context_ip text, context_request_ip text,
    context_library_name text, context_library_version text, context_source_id text, context_destination_type text,
    context_traits_email text, context_traits_first_name text, context_external_id text,
    email text, first_name text, last_name text, company_name text, company_employee_count bigint,
    address_city text, address_postal_code text, lead_source text, logins bigint, is_vip boolean, revenue numeric
)"""


@pytest.fixture
def warehouse(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> PostgresServer:
    """A fresh database with RudderStack's ``javascript_prod`` schema, reachable as the ``rudder_warehouse`` conn."""
    db = postgres_server.new_database("warehouse")
    db.run("CREATE SCHEMA javascript_prod")
    db.run(IDENTIFIES.format(schema="javascript_prod"))
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", db.connection_json())
    return db


def _insert_identifies(db: PostgresServer, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    quoted = ", ".join(f'"{column}"' for column in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    db.run_many(
        f"INSERT INTO javascript_prod.identifies ({quoted}) VALUES ({placeholders})",
        [[row[column] for column in columns] for row in rows],
    )


def test_identifies_rows_are_rebuilt_from_rudderstack_postgres_columns(warehouse: PostgresServer) -> None:
    external_id = json.dumps([{"type": "Salesforce-Contact", "id": "0035g00000AbCdE"}])
    warehouse.run(
        "INSERT INTO javascript_prod.identifies VALUES ("
        "'m1', 'anon-1', 'u1', '2026-11-28 10:00:01+00', '2026-11-28 10:00:00.5+00', '2026-11-28 10:00:00+00', "
        "'2026-11-28 04:59:59-05', '2026-11-28 10:05:00+00', 'web', '1.2.3.4', '5.6.7.8', "
        "'RudderLabs JavaScript SDK', '3.0.0', 'src1', 'SALESFORCE', 'ctx@example.com', 'Ctx', %s, "
        "'ada@example.com', 'Ada', 'Lovelace', 'Acme', 50, 'Berlin', '10115', 'Web', 3, true, 1200.50)",
        (external_id,),
    )
    [record] = read_sql('SELECT * FROM javascript_prod.identifies ORDER BY "timestamp"', database=sql_database(CONN_ID))
    assert record.origin == "sql:rudder_warehouse:1"
    assert record.raw == {
        "type": "identify",
        "messageId": "m1",
        "anonymousId": "anon-1",
        "userId": "u1",
        "receivedAt": "2026-11-28T10:00:01Z",
        "sentAt": "2026-11-28T10:00:00.500000Z",
        "timestamp": "2026-11-28T10:00:00Z",
        "originalTimestamp": "2026-11-28T09:59:59Z",
        "traits": {
            "email": "ada@example.com",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "company": {"name": "Acme", "employee_count": 50},
            "address": {"city": "Berlin", "postalCode": "10115"},
            "LeadSource": "Web",
            "logins": 3,
            "isVip": True,
            "revenue": 1200.5,
        },
        "context": {
            "traits": {"email": "ctx@example.com", "firstName": "Ctx"},
            "externalId": [{"type": "Salesforce-Contact", "id": "0035g00000AbCdE"}],
        },
        "integrations": {"Salesforce": True},
    }


def test_identifies_nulls_are_left_out_and_parameters_use_the_driver_style(warehouse: PostgresServer) -> None:
    _insert_identifies(
        warehouse,
        [
            {"id": "early", "received_at": dt.datetime(2026, 11, 28, 8, tzinfo=dt.UTC), "email": "a@example.com"},
            {"id": "in", "received_at": dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC), "email": "b@example.com"},
        ],
    )
    records = read_sql(
        "SELECT * FROM javascript_prod.identifies WHERE received_at >= %(start)s AND received_at < %(end)s",
        database=sql_database(CONN_ID),
        parameters={
            "start": dt.datetime(2026, 11, 28, 9, tzinfo=dt.UTC),
            "end": dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC),
        },
    )
    assert [r.raw for r in records] == [
        {
            "type": "identify",
            "messageId": "in",
            "receivedAt": "2026-11-28T09:30:00Z",
            "traits": {"email": "b@example.com"},
            "integrations": {"Salesforce": True},
        }
    ]


def _probe_table(db: PostgresServer, rows: int) -> None:
    """``rows`` identifies rows, plus a sequence the query advances once per row the server actually produces."""
    db.run("CREATE SEQUENCE javascript_prod.produced")
    db.run(
        "INSERT INTO javascript_prod.identifies (id, email) "
        "SELECT 'm' || n, 'p' || n || '@example.com' FROM generate_series(1, %s) AS n",
        (rows,),
    )


# Columns starting with "_" are not traits, so the probe does not change the events.
PROBED = (
    "SELECT id, email, nextval('javascript_prod.produced') AS _produced FROM javascript_prod.identifies ORDER BY id"
)


def _produced(db: PostgresServer) -> int:
    return int(db.run("SELECT last_value FROM javascript_prod.produced")[0][0])


def test_rows_stream_through_a_server_side_cursor(warehouse: PostgresServer) -> None:
    _probe_table(warehouse, 1_000)
    records = read_sql(PROBED, database=sql_database(CONN_ID), chunk_size=25)
    first = next(records)
    assert first.origin == "sql:rudder_warehouse:1"
    # Only the first chunk was computed by the server; a client-side cursor would have produced all 1000 rows.
    assert _produced(warehouse) <= 50
    rest = list(records)
    assert len(rest) == 999 and rest[-1].origin == "sql:rudder_warehouse:1000"
    assert _produced(warehouse) == 1_000


def test_a_client_side_cursor_would_compute_everything_up_front(warehouse: PostgresServer) -> None:
    """The control for the test above: the probe does tell a buffered read from a streamed one."""
    _probe_table(warehouse, 1_000)
    records = read_sql(PROBED, database=sql_database(CONN_ID), chunk_size=25, cursor_kwargs={})
    next(records)
    assert _produced(warehouse) == 1_000
    records.close()


def test_an_abandoned_stream_releases_its_connection(warehouse: PostgresServer) -> None:
    _probe_table(warehouse, 200)
    records = read_sql(PROBED, database=sql_database(CONN_ID), chunk_size=10)
    next(records)
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    assert warehouse.run(sessions) == [(1,)]
    records.close()
    assert warehouse.run(sessions) == [(0,)]


@pytest.fixture
def staged(warehouse: PostgresServer) -> PostgresServer:
    warehouse.run("CREATE TABLE public.staged_events (n int, received_at timestamptz, event jsonb)")
    events = [
        (1, {"type": "identify", "traits": {"email": "a@example.com", "n": 1.5}}),
        (2, {"type": "identify", "context": {"externalId": [{"type": "Salesforce-Lead", "id": "00Q"}]}}),
    ]
    warehouse.run_many(
        "INSERT INTO public.staged_events VALUES (%s, '2026-11-28 10:00+00', %s)",
        [(n, json.dumps(event)) for n, event in events],
    )
    warehouse.run("INSERT INTO public.staged_events VALUES (3, '2026-11-28 10:00+00', NULL)")
    return warehouse


def test_jsonb_column_events_arrive_decoded(staged: PostgresServer) -> None:
    records = list(
        read_sql("SELECT n, event FROM staged_events ORDER BY n", database=sql_database(CONN_ID), json_column="event")
    )
    assert [r.raw for r in records] == [
        {"type": "identify", "traits": {"email": "a@example.com", "n": 1.5}},
        {"type": "identify", "context": {"externalId": [{"type": "Salesforce-Lead", "id": "00Q"}]}},
        "null",
    ]
    assert [r.origin for r in records] == [f"sql:{CONN_ID}:{n}" for n in (1, 2, 3)]


def test_jsonb_cast_to_text_arrives_as_text(staged: PostgresServer) -> None:
    records = read_sql(
        "SELECT event::text AS event FROM staged_events WHERE n = 1",
        database=sql_database(CONN_ID),
        json_column="event",
    )
    [record] = records
    assert isinstance(record.raw, str)
    assert json.loads(record.raw) == {"type": "identify", "traits": {"email": "a@example.com", "n": 1.5}}


def test_open_source_reads_postgres_by_connection_id(staged: PostgresServer) -> None:
    records = open_source(
        sql="SELECT event FROM staged_events WHERE n = %s",
        database=sql_database(CONN_ID),
        parameters=(2,),
        json_column="event",
    )
    assert [r.raw for r in records] == [
        {"type": "identify", "context": {"externalId": [{"type": "Salesforce-Lead", "id": "00Q"}]}}
    ]


def test_a_missing_json_column_is_reported_on_an_empty_result(staged: PostgresServer) -> None:
    with pytest.raises(ValueError, match="no column 'payload'; it returns n, event"):
        list(
            read_sql(
                "SELECT n, event FROM staged_events WHERE false", database=sql_database(CONN_ID), json_column="payload"
            )
        )


class _Psycopg2PostgresHook(PostgresHook):  # type: ignore[misc]
    """The Postgres hook as it runs with SQLAlchemy 1.x, where the provider connects with psycopg2."""

    def get_conn(self) -> Any:
        conn = self.get_connection(self.get_conn_id())
        return psycopg2.connect(host=conn.host, port=conn.port, user=conn.login, dbname=conn.schema)


def test_psycopg2_named_cursors_are_described_after_the_first_fetch(warehouse: PostgresServer) -> None:
    _probe_table(warehouse, 30)
    hook = _Psycopg2PostgresHook(postgres_conn_id=CONN_ID)
    records = list(read_sql(PROBED, database=database_of_hook(hook), chunk_size=7))
    assert len(records) == 30
    assert records[0].raw == {
        "type": "identify",
        "messageId": "m1",
        "traits": {"email": "p1@example.com"},
        "integrations": {"Salesforce": True},
    }
    assert [r.origin for r in records[:2]] == [f"sql:{CONN_ID}:1", f"sql:{CONN_ID}:2"]
