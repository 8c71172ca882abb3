"""Fixtures for the distributed tests: a CeleryExecutor cluster with two workers on loopback (``cluster.py``), the
Salesforce emulator, and moto's S3 server as the storage every component shares.

Module scope: the cluster starts once for the module's runs (it is the slow part). Without Debian's ``redis-server``
(``make redis-deps``) or PostgreSQL (``make pg-deps``) the tests skip, and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import CeleryCluster, RedisServer, airflow_ui, running_cluster

DAG_ID = "rudder_sf_identify_sync"
SALESFORCE_CONN_ID = "rudder_salesforce_default"
POOL = "salesforce_api"
POOL_SLOTS = 3
SHARDS = 8
WORKERS = ("worker-a", "worker-b")
WORKER_CONCURRENCY = 2
BUCKET = "rudder-sf-celery"

# What a worker lost mid-task needs, kept short so the test takes minutes (docs/running-at-scale.md gives the
# production values). Everything else is Airflow's and the Celery provider's default.
SETTINGS = {
    # Celery: a message is acknowledged only when its task ends, one message reserved per process slot, and a
    # message a dead worker held goes back to the queue after the visibility timeout (longer than any task here).
    "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "600",
    "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",  # sending to the broker on a busy 2-core machine
    "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
    # Airflow: a running task instance without a heartbeat for 25 s is failed (and retried), checked every 2 s;
    # one queued for 120 s without starting is re-queued.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "25",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
    # The DAG's retries (2) with a 2 s delay instead of 5 min (a parse-time setting of the example DAG).
    "RUDDER_SF_RETRY_DELAY_SECONDS": "2",
    # Only the runs the test triggers: no scheduled run of the hourly DAG competes with them.
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    # Three components share a throw-away PostgreSQL limited to 40 connections.
    "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The module's own directory (AIRFLOW_HOME, process logs, emulator, Redis); not pytest's ``tmp_path``, which
    other pytest sessions on the machine may rotate away. Kept, and its path printed, when a test failed."""
    path = Path(tempfile.mkdtemp(prefix="rudder-sf-celery-"))
    failed_before = request.session.testsfailed
    yield path
    if request.session.testsfailed > failed_before:
        print(f"\nCelery test files kept for inspection: {path} (process logs in {path / 'airflow/logs-processes'})")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        reason = "Debian's redis-server is not installed"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: the Celery test must run; `make redis-deps`)", pytrace=False)
        pytest.skip(f"{reason}; install it with `make redis-deps` (as root)")
    with RedisServer(workdir / "redis", binary) as server:
        yield server


@pytest.fixture(scope="module")
def emulator(workdir: Path) -> Iterator[Any]:
    from rudder_sf_emulator.client import start_emulator

    with start_emulator(workdir / "emulator") as handle:
        yield airflow_ui.prepare_emulator(handle)


@pytest.fixture(scope="module")
def bucket(s3_server: Any) -> str:
    return str(s3_server.make_bucket(BUCKET))


@pytest.fixture(scope="module")
def celery_cluster(
    workdir: Path, postgres_server: Any, redis_server: RedisServer, emulator: Any, s3_server: Any, bucket: str
) -> Iterator[CeleryCluster]:
    """The running cluster, configured through its REST API as an operator would: the pool, both connections (kept
    in the metadata DB, so workers get them from the Execution API) and the DAG's Variables on shared S3."""
    database = postgres_server.new_database("airflow_celery")
    url = f"postgresql+psycopg://{database.user}@{database.host}:{database.port}/{database.dbname}"
    began = time.monotonic()
    with running_cluster(
        workdir / "airflow",
        database_url=url,
        broker_url=redis_server.url(0),
        result_backend=redis_server.url(1),
        workers=WORKERS,
        concurrency=WORKER_CONCURRENCY,
        settings=SETTINGS,
    ) as cluster:
        cluster.ensure_pool(POOL, POOL_SLOTS)
        cluster.set_connection(SALESFORCE_CONN_ID, emulator.connection_dict())
        cluster.set_connection(s3_server.conn_id, s3_server.connection())
        cluster.set_variable("rudder_sf_events_base", f"s3://{bucket}/events")
        cluster.set_variable("rudder_sf_dead_letter", f"s3://{bucket}/dead-letters")
        cluster.set_variable("rudder_sf_storage_conn_id", s3_server.conn_id)
        cluster.set_variable("rudder_sf_shards", str(SHARDS))
        cluster.wait_for_dag(DAG_ID)
        print(f"\ncelery_cluster: migrated, started, healthy and configured in {time.monotonic() - began:.1f} s")
        yield cluster
