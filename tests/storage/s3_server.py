"""A real S3-API server for tests and benchmarks: moto's server mode in its own process, on loopback.

Registered for the whole suite in ``tests/conftest.py`` (``pytest_plugins``), so any test can ask for ``s3_server``::

    def test_something(s3_server):
        bucket = s3_server.make_bucket("staged")
        ObjectStoragePath(f"s3://{bucket}/a.jsonl", conn_id=s3_server.conn_id).write_text("{}\\n")

The fixture sets ``AIRFLOW_CONN_<CONN_ID>`` for the session, so ``ObjectStoragePath(..., conn_id=s3_server.conn_id)``
and the amazon provider's hooks reach the server; ``connection_json()`` gives the same connection for a subprocess
or a DAG test. Benchmarks use :func:`running_s3_server` directly.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any

import pytest

CONN_ID = "rudder_sf_test_s3"
REGION = "us-east-1"  # the one region where CreateBucket needs no LocationConstraint
_READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class S3Server:
    """A running moto S3 server: where it listens and the Airflow connection that reaches it."""

    endpoint_url: str
    conn_id: str
    process: subprocess.Popen[bytes]

    def connection(self) -> dict[str, Any]:
        """The Airflow connection as a dict: ``aws`` type, dummy keys, the server as endpoint."""
        return {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION},
        }

    def connection_json(self) -> str:
        """The connection as the JSON Airflow reads from an ``AIRFLOW_CONN_<ID>`` environment variable."""
        return json.dumps(self.connection())

    @property
    def env_var(self) -> str:
        return f"AIRFLOW_CONN_{self.conn_id.upper()}"

    def client(self) -> Any:
        """A plain boto3 S3 client on the server, for set-up and for checking what a test wrote."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def make_bucket(self, name: str) -> str:
        """Create a bucket (a name already taken by an earlier test is fine) and return its name."""
        client = self.client()
        with suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    """Poll the port until the server accepts connections; fail fast, with its output, if it exits instead."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        try:
            process.wait(timeout=0.05)  # doubles as the pause between polls
        except subprocess.TimeoutExpired:
            continue
        log.seek(0)
        output = log.read().decode(errors="replace")
        raise RuntimeError(f"moto's S3 server exited with {process.returncode} before listening:\n{output}")
    raise RuntimeError(f"moto's S3 server did not listen on port {port} within {_READY_TIMEOUT:.0f} s")


@contextmanager
def running_s3_server(conn_id: str = CONN_ID) -> Iterator[S3Server]:
    """Start ``python -m moto.server`` on a free loopback port, yield it once it listens, stop it afterwards."""
    port = _free_port()
    # The server logs every request: into a file, since a pipe nobody drains would fill up and stall it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
        )
        try:
            _wait_until_listening(process, port, log)
            yield S3Server(endpoint_url=f"http://127.0.0.1:{port}", conn_id=conn_id, process=process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server for the session, with ``AIRFLOW_CONN_<conn_id>`` set so Airflow finds its connection."""
    with running_s3_server() as server, pytest.MonkeyPatch.context() as env:
        env.setenv(server.env_var, server.connection_json())
        yield server
