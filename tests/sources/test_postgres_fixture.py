"""The throw-away PostgreSQL fixture itself: reachable both ways, owned by a non-root user, fails under CI=true."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import psycopg
import pytest
from sources.postgres import PostgresServer, report_missing


def test_the_server_answers_on_loopback_and_on_its_unix_socket(postgres_server: PostgresServer) -> None:
    assert postgres_server.host == "127.0.0.1"
    assert postgres_server.run("SELECT current_user, current_setting('TimeZone')") == [("postgres", "Europe/Berlin")]
    with psycopg.connect(host=postgres_server.socket_dir, port=postgres_server.port, user="postgres") as conn:
        assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)  # None: a Unix socket


def test_the_cluster_is_a_throw_away_one_not_the_system_cluster(postgres_server: PostgresServer) -> None:
    [(data_directory,)] = postgres_server.run("SELECT current_setting('data_directory')")
    assert Path(data_directory).parent == Path(postgres_server.socket_dir)
    assert not data_directory.startswith("/var/lib/postgresql")
    owner = pwd.getpwuid(Path(postgres_server.socket_dir).stat().st_uid).pw_name
    assert owner == ("postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)


def test_new_databases_are_separate_and_the_connection_json_points_at_one(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.new_database(), postgres_server.new_database()
    assert first.dbname != second.dbname
    first.run("CREATE TABLE only_here (n int)")
    assert second.run("SELECT to_regclass('only_here')") == [(None,)]
    assert json.loads(first.connection_json()) == {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": postgres_server.port,
        "login": "postgres",
        "schema": first.dbname,
    }


def test_a_missing_server_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make pg-deps"):
        report_missing("no initdb")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI=true: no initdb"):
        report_missing("no initdb")
