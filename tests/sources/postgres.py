"""pytest plugin: a throw-away PostgreSQL cluster for the tests (``postgres_server``, session scope).

Loaded from ``tests/conftest.py`` through ``pytest_plugins``. The cluster is Debian's ``postgresql`` package
(``make pg-deps`` installs it): ``initdb`` into a temporary directory, ``pg_ctl start`` listening on 127.0.0.1 on a free
port and on a Unix socket in that directory, trust authentication; readiness is polled (``pg_ctl start -w``, then
``pg_isready`` on the port) against a deadline; stopped and removed at the end of the session. The system cluster is
never touched.

PostgreSQL refuses to run as root; when the tests run as root (CI), ``initdb`` and ``pg_ctl`` run as the ``postgres``
system user through ``runuser``, with the temporary directory handed to that user.

Without the binaries (or, as root, without the ``postgres`` user) the tests that use the fixture skip, and fail
under ``CI=true``.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

SUPERUSER = "postgres"
SYSTEM_USER = "postgres"
START_DEADLINE_S = 60.0
_POLL_INTERVAL_S = 0.05
_database_numbers = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """A running throw-away cluster; ``dbname`` is the database this handle talks to."""

    host: str
    port: int
    dbname: str
    user: str
    socket_dir: str

    def connection_json(self) -> str:
        """The Airflow connection as JSON, for ``AIRFLOW_CONN_<ID>`` (trust auth: no password)."""
        return json.dumps(
            {"conn_type": "postgres", "host": self.host, "port": self.port, "login": self.user, "schema": self.dbname}
        )

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A new autocommit psycopg connection to this handle's database."""
        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.dbname, user=self.user, autocommit=True, connect_timeout=5
        )

    def run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute one statement (autocommit) and return its rows, or ``[]`` when it returns none."""
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Execute one parameterised statement for each row (``executemany``), in one transaction."""
        with (
            psycopg.connect(
                host=self.host, port=self.port, dbname=self.dbname, user=self.user, connect_timeout=5
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.executemany(sql, rows)

    def new_database(self, prefix: str = "test") -> PostgresServer:
        """Create an empty database and return a handle on it (one per test keeps tests independent)."""
        name = f"{prefix}_{os.getpid()}_{next(_database_numbers)}"
        self.run(f'CREATE DATABASE "{name}"')
        return dataclasses.replace(self, dbname=name)


def find_bin_dir() -> Path | None:
    """The newest Debian ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl, else the ones on PATH."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        folder = Path(initdb).parent
        version = folder.parent.name
        if (folder / "pg_ctl").exists() and version.isdigit():
            found.append((int(version), folder))
    if found:
        return max(found)[1]
    initdb_on_path, pg_ctl_on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb_on_path and pg_ctl_on_path:
        return Path(initdb_on_path).parent
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_cluster_owner(command: list[str]) -> list[str]:
    """PostgreSQL refuses root: as root, run the command as the ``postgres`` system user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SYSTEM_USER, "--", *command]
    return command


def report_missing(reason: str) -> NoReturn:
    """Skip, or fail under CI=true, where a missing server must not pass silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests cannot run under CI=true: {reason} (run `make pg-deps`)", pytrace=False)
    pytest.skip(f"{reason}; run `make pg-deps`")


def _check(command: list[str], cwd: Path) -> None:
    result = subprocess.run(_as_cluster_owner(command), cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log = cwd / "server.log"
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{_read(log)}"
        )


def _running(bin_dir: Path, data: Path) -> bool:
    """``pg_ctl status``: is the cluster's postmaster alive (0), or gone (3)?"""
    status = _as_cluster_owner([str(bin_dir / "pg_ctl"), "status", "-D", str(data)])
    return subprocess.run(status, cwd=data.parent, capture_output=True, check=False).returncode == 0


def wait_until_ready(bin_dir: Path, data: Path, port: int, log: Path, deadline_s: float = START_DEADLINE_S) -> float:
    """Poll ``pg_isready`` on the TCP port until the server accepts connections; return the seconds waited.

    Gives up at the deadline, or as soon as the postmaster is gone, with the server log attached. (The log cannot
    tell: every probe during start-up adds a harmless ``FATAL: the database system is starting up``.)
    """
    started = time.monotonic()
    probe = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-t", "1"]
    while True:
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return time.monotonic() - started
        if not _running(bin_dir, data):
            raise RuntimeError(f"PostgreSQL is not running:\n{_read(log)}")
        if time.monotonic() - started > deadline_s:
            raise RuntimeError(f"PostgreSQL was not ready within {deadline_s:.0f} s:\n{_read(log)}")
        time.sleep(_POLL_INTERVAL_S)  # pause between polls of a condition, not a fixed wait for the server


def _read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else "(no server log)"


@dataclasses.dataclass
class _Cluster:
    bin_dir: Path
    root: Path
    port: int = 0
    startup_seconds: float = 0.0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user=SYSTEM_USER, group=None)
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust"]
        _check([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"], cwd=self.root)

    def start(self, attempts: int = 3) -> None:
        """Start on a free port; another process can take the port in between, so a bind failure tries a new one."""
        for attempt in range(1, attempts + 1):
            try:
                self._start_on(free_port())
                return
            except RuntimeError as exc:
                if "could not bind" not in str(exc) or attempt == attempts:
                    raise
                self.log.unlink(missing_ok=True)

    def _start_on(self, port: int) -> None:
        self.port = port
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                "-c max_connections=40 -c timezone=Europe/Berlin",
            ]
        )
        # -w: pg_ctl itself polls until the postmaster reports "ready" (or exits, which fails here with its log).
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options]
        begun = time.monotonic()
        _check([*pg_ctl, "-w", "-t", str(int(START_DEADLINE_S)), "start"], cwd=self.root)
        wait_until_ready(self.bin_dir, self.data, port, self.log)
        self.startup_seconds = time.monotonic() - begun

    def stop(self) -> None:
        command = _as_cluster_owner(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        )
        subprocess.run(command, cwd=self.root, capture_output=True, check=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for this test session; each test should use ``new_database()`` for its own tables.

    The server's time zone is Europe/Berlin on purpose, so a reader that forgets to convert to UTC is caught.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        report_missing("PostgreSQL's initdb/pg_ctl are not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            report_missing(f"running as root and there is no {SYSTEM_USER!r} system user to run PostgreSQL as")
    cluster = _Cluster(bin_dir, Path(tempfile.mkdtemp(prefix="rudder-sf-pg-")))
    begun = time.monotonic()
    try:
        cluster.init()
        cluster.start()
        server = PostgresServer("127.0.0.1", cluster.port, "postgres", SUPERUSER, str(cluster.root))
        print(  # shown with -s: how long the fixture took
            f"\npostgres_server: initdb + start {time.monotonic() - begun:.2f} s "
            f"(pg_ctl start until ready {cluster.startup_seconds:.2f} s) on port {cluster.port}"
        )
        yield server
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
