"""open_source: picks the reader for the operator's arguments and refuses ambiguous ones."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_rudder_sf.hooks.connections import object_storage_paths, sql_database
from airflow_provider_rudder_sf.sources import SqlDatabase, StagedRecord, open_source

#: For argument checks, which refuse a call before any connection is opened.
UNOPENED = SqlDatabase(connect=lambda: pytest.fail("a refused call opened a connection"), name="db")


def test_path_string_reads_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n')
    assert [r.raw for r in open_source(str(tmp_path / "a.jsonl"))] == ['{"a": 1}']


def test_max_line_bytes_applies_to_files_and_not_to_lists(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n')
    [record] = open_source(str(tmp_path / "a.jsonl"), max_line_bytes=4)
    assert record.problem is not None and record.problem.code == "line_too_long"
    event = {"a": "x" * 100}
    assert list(open_source([event], max_line_bytes=4)) == [StagedRecord(event, "list:0")]


def test_list_of_dicts_reads_in_memory() -> None:
    event = {"type": "identify"}
    assert list(open_source([event])) == [StagedRecord(event, "list:0")]


def test_generator_of_dicts_is_accepted() -> None:
    records = open_source({"n": n} for n in range(3))
    assert [r.origin for r in records] == ["list:0", "list:1", "list:2"]


def test_sql_pair_reads_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (event TEXT)")
        conn.execute("INSERT INTO t VALUES ('{}')")
    monkeypatch.setenv("AIRFLOW_CONN_DISPATCH_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    records = open_source(sql="SELECT event FROM t", database=sql_database("dispatch_db"), json_column="event")
    assert list(records) == [StagedRecord("{}", "sql:dispatch_db:1")]


def test_missing_location_raises_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_source(str(tmp_path / "none-*.jsonl.gz"))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "give events"),
        (("/x",), {"sql": "SELECT 1", "database": UNOPENED}, "not both"),
        ((), {"sql": "SELECT 1"}, "needs database"),
        (("/x",), {"database": UNOPENED}, "database only apply to a sql source"),
        (("/x",), {"json_column": "e"}, "json_column only apply"),
        (({"type": "identify"},), {}, "got dict"),
        ((b"/x",), {}, "got bytes"),
        ((42,), {}, "got int"),
        (([{}],), {"path_factory": object_storage_paths("aws")}, "path_factory applies to an object-storage location"),
    ],
)
def test_bad_arguments_raise_value_error(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_source(*args, **kwargs)
