"""The hourly sync DAG on Airflow's CeleryExecutor: Redis broker, PostgreSQL metadata, two real Celery workers, the
Salesforce emulator, staged events and dead letters on S3 (moto). One run spreads its 8 shards over both workers
under a 3-slot pool; a second run loses a worker (SIGKILL of its whole process tree) while one of its shards is
writing, and Airflow's heartbeat timeout and task retry finish the run with every record written exactly once.

The expected CRM state is computed from the staged lines alone (``tests/reliability/conftest.py``): the latest
event's values per e-mail, one Lead each.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from reliability.conftest import assert_exactly_once, latest_traits, leads_by_email, synthetic_lines

from .cluster import CeleryCluster
from .conftest import DAG_ID, POOL_SLOTS, SHARDS, WORKERS

pytestmark = pytest.mark.slow

HOUR = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)
SUMMARY_KEYS = ("read", "applied", "ignored", "dead_lettered", "unsent", "created", "updated")


def stage(s3_server: Any, bucket: str, hour: datetime, lines: list[str]) -> str:
    """The hour's staged backup on S3, as RudderStack lays it out: ``events/YYYY/MM/DD/HH/part-0000.jsonl.gz``."""
    key = f"events/{hour.strftime('%Y/%m/%d/%H')}/part-0000.jsonl.gz"
    body = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=body)
    return key


def shard_tasks(cluster: CeleryCluster, run_id: str) -> list[dict[str, Any]]:
    return sorted(
        (ti for ti in cluster.task_instances(DAG_ID, run_id) if ti["task_id"] == "sync"),
        key=lambda ti: int(ti["map_index"]),
    )


def describe(tis: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{ti['task_id']}[{ti['map_index']}] {ti['state']} try {ti['try_number']} on {ti['hostname']}" for ti in tis
    )


def max_overlap(tis: list[dict[str, Any]]) -> int:
    """The most task instances that ran at the same moment, from their start and end dates (Airflow's record)."""
    edges = []
    for ti in tis:
        edges.append((datetime.fromisoformat(ti["start_date"]), 1))
        edges.append((datetime.fromisoformat(ti["end_date"]), -1))
    running = peak = 0
    for _, step in sorted(edges):  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


def check_accounting(cluster: CeleryCluster, run_id: str, lines: list[str]) -> dict[str, int]:
    """Each shard's summary adds up, and together the shards account for every staged line once."""
    summaries = [cluster.xcom(DAG_ID, run_id, "sync", index) for index in range(SHARDS)]
    for index, summary in enumerate(summaries):
        parts = summary["applied"] + summary["ignored"] + summary["dead_lettered"] + summary["unsent"]
        assert summary["read"] == parts, f"shard {index} does not add up: {summary}"
    total = {key: sum(int(summary[key]) for summary in summaries) for key in SUMMARY_KEYS}
    assert total["read"] == len(lines), f"{total['read']} lines accounted for, {len(lines)} staged: {total}"
    assert total["unsent"] == 0, total
    return total


def check_crm(emulator: Any, lines: list[str]) -> dict[str, Any]:
    """One Lead per expected e-mail, holding its latest event's values, each created exactly once."""
    expected = latest_traits(lines)
    assert_exactly_once(emulator, expected)
    counters = emulator.counters()
    assert counters["records_created"] == {"Lead": len(expected)}, counters
    return counters


def report(name: str, figures: dict[str, Any]) -> None:
    print(f"\nCELERY FIGURES {name}: {json.dumps(figures, sort_keys=True)}")


def test_sharded_run_spreads_over_both_workers_and_writes_each_record_once(celery_cluster, emulator, s3_server, bucket):
    lines = synthetic_lines(3_000, 2_000, seed=31, start=HOUR)
    stage(s3_server, bucket, HOUR, lines)
    emulator.reset()
    emulator.set_faults(latency_ms=100)  # requests that take a while, so overlapping shards overlap at the API
    run_id = "celery-run-1"
    began = time.monotonic()

    celery_cluster.trigger(DAG_ID, run_id, HOUR, HOUR + timedelta(hours=1))
    state = celery_cluster.wait_for_run(DAG_ID, run_id, timeout=240)

    seconds = time.monotonic() - began
    tis = celery_cluster.task_instances(DAG_ID, run_id)
    assert state == "success", describe(tis)
    shards = shard_tasks(celery_cluster, run_id)
    assert [ti["map_index"] for ti in shards] == list(range(SHARDS))
    assert all(ti["state"] == "success" for ti in shards), describe(shards)
    per_worker = Counter(ti["hostname"] for ti in shards)
    assert set(per_worker) == set(WORKERS), f"both workers must run shards: {describe(shards)}"
    overlap = max_overlap(shards)
    assert 2 <= overlap <= POOL_SLOTS, f"{overlap} shards ran at once with a {POOL_SLOTS}-slot pool"
    totals = check_accounting(celery_cluster, run_id, lines)
    counters = check_crm(emulator, lines)
    assert counters["records_updated"] == {}, counters  # a first sync of new people only creates
    assert counters["max_concurrent_requests"] <= POOL_SLOTS, counters
    letters = s3_server.keys(bucket, "dead-letters/")
    assert letters, "the bad lines' dead letters are on the shared S3 storage"
    report(
        "run 1",
        {
            "seconds": round(seconds, 1),
            "shards_per_worker": dict(per_worker),
            "shards_at_once": overlap,
            "max_concurrent_requests": counters["max_concurrent_requests"],
            "api_calls": counters["api_calls"],
            "totals": totals,
        },
    )


def _shard_members(lines: list[str]) -> dict[int, set[str]]:
    """Which expected e-mails each shard writes (the package's shard key): only to time the kill, never checked."""
    from airflow_provider_rudder_sf.mapping.plan import shard_of

    members: dict[int, set[str]] = {index: set() for index in range(SHARDS)}
    for email in latest_traits(lines):
        members[shard_of(f"lead-email:{email}", SHARDS)].add(email)
    return members


def kill_worker_mid_write(
    cluster: CeleryCluster, emulator: Any, run_id: str, lines: list[str], victim: str, timeout: float = 180.0
) -> dict[str, Any]:
    """Poll until a shard running on ``victim`` has written some but not all of its Leads, then SIGKILL the worker."""
    members = _shard_members(lines)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.check_alive()
        running = [ti for ti in shard_tasks(cluster, run_id) if ti["state"] == "running" and ti["hostname"] == victim]
        if running:
            present = set(leads_by_email(emulator))
            for ti in running:
                mine = members[int(ti["map_index"])]
                written = len(mine & present)
                if 0 < written < len(mine):
                    pids = cluster.kill_worker(victim)
                    return {"map_index": int(ti["map_index"]), "written": written, "of": len(mine), "pids": pids}
        if cluster.run_state(DAG_ID, run_id) in ("success", "failed"):
            break
        time.sleep(0.1)
    pytest.fail(
        f"never caught a shard of {victim} mid-write: {describe(shard_tasks(cluster, run_id))}\n{cluster.log_tail()}"
    )


def test_a_worker_killed_mid_write_is_retried_and_nothing_is_lost_or_duplicated(
    celery_cluster, emulator, s3_server, bucket
):
    hour = HOUR + timedelta(hours=1)
    lines = synthetic_lines(6_000, 5_000, seed=32, start=hour)
    stage(s3_server, bucket, hour, lines)
    emulator.reset()
    emulator.set_faults(latency_ms=400)  # a shard's writes take seconds: time to see one mid-write
    run_id = "celery-run-2"
    victim, survivor = WORKERS
    began = time.monotonic()

    celery_cluster.trigger(DAG_ID, run_id, hour, hour + timedelta(hours=1))
    killed = kill_worker_mid_write(celery_cluster, emulator, run_id, lines, victim)
    killed_at = time.monotonic() - began
    state = celery_cluster.wait_for_run(DAG_ID, run_id, timeout=300)

    seconds = time.monotonic() - began
    tis = celery_cluster.task_instances(DAG_ID, run_id)
    assert state == "success", describe(tis)
    shards = shard_tasks(celery_cluster, run_id)
    assert [ti["map_index"] for ti in shards] == list(range(SHARDS))
    assert all(ti["state"] == "success" for ti in shards), describe(shards)
    tries = celery_cluster.tries(DAG_ID, run_id, "sync", killed["map_index"])
    assert tries[0]["hostname"] == victim, tries
    assert tries[-1]["hostname"] == survivor and tries[-1]["state"] == "success", tries
    assert len(tries) >= 2, f"the killed shard must have been retried: {tries}"
    every_try = [t for ti in shards for t in celery_cluster.tries(DAG_ID, run_id, "sync", ti["map_index"])]
    lost = [t for t in every_try if t["state"] != "success"]
    assert lost and all(t["hostname"] == victim and t["state"] == "failed" for t in lost), every_try
    assert max_overlap(shards) <= POOL_SLOTS
    totals = check_accounting(celery_cluster, run_id, lines)
    counters = check_crm(emulator, lines)
    duplicates = sum(len(found) - 1 for found in leads_by_email(emulator).values())
    assert duplicates == 0
    assert counters["max_concurrent_requests"] <= POOL_SLOTS, counters
    report(
        "run 2",
        {
            "seconds": round(seconds, 1),
            "killed_after_seconds": round(killed_at, 1),
            "killed_shard": killed["map_index"],
            "killed_shard_leads_written_before_kill": f"{killed['written']} of {killed['of']}",
            "processes_killed": len(killed["pids"]),
            "killed_shard_tries": [(t["try_number"], t["hostname"], t["state"]) for t in tries],
            "tries_per_worker": dict(Counter(f"{t['hostname']} {t['state']}" for t in every_try)),
            "max_concurrent_requests": counters["max_concurrent_requests"],
            "records_created": counters["records_created"],
            "records_updated": counters["records_updated"],
            "duplicates": duplicates,
            "totals": totals,
        },
    )
