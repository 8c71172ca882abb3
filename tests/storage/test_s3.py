"""Staged backups and dead letters on a real S3-API server (moto), through ObjectStoragePath and a connection."""

from __future__ import annotations

import gzip
import itertools
import json
import uuid

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_rudder_sf.deadletter import (
    DeadLetterLocationError,
    DeadLetterWriter,
    dead_letter_path,
    read_dead_letters,
)
from airflow_provider_rudder_sf.hooks.connections import object_storage_paths
from airflow_provider_rudder_sf.sources import iter_files, open_source, read_jsonl
from airflow_provider_rudder_sf.sources.files import staged_files
from storage.s3_server import S3Server

SOURCE_ID = "2Ab3xYz9SourceId"
_buckets = itertools.count()


@pytest.fixture
def bucket(s3_server: S3Server, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test: s3fs caches listings per process, so tests must not share prefixes."""
    name = f"t{next(_buckets)}-{request.node.name[:40]}".lower().replace("_", "-").strip("-")
    return s3_server.make_bucket(name)


def _put(s3_server: S3Server, url: str, data: bytes) -> None:
    ObjectStoragePath(url, conn_id=s3_server.conn_id).write_bytes(data)


def _backup_key(day: str, epoch: int) -> str:
    """RudderStack's backup layout: ``rudder-logs/<source_id>/<MM-DD-YYYY>/<epoch>.<source_id>.<uuid>.json.gz``."""
    return f"rudder-logs/{SOURCE_ID}/{day}/{epoch}.{SOURCE_ID}.{uuid.UUID(int=epoch)}.json.gz"


def _identify(n: int) -> str:
    return json.dumps({"type": "identify", "messageId": f"m{n}", "traits": {"email": f"p{n}@example.com"}})


def _gz_lines(lines: list[str]) -> bytes:
    return gzip.compress("".join(line + "\n" for line in lines).encode())


def test_rudderstack_backups_are_read_with_a_glob_and_s3_origins(s3_server: S3Server, bucket: str) -> None:
    keys = [_backup_key("11-28-2026", 1795824000 + i) for i in range(3)]
    for i, key in enumerate(keys):
        _put(s3_server, f"s3://{bucket}/{key}", _gz_lines([_identify(10 * i), _identify(10 * i + 1)]))
    _put(s3_server, f"s3://{bucket}/{_backup_key('11-29-2026', 1795910400)}", _gz_lines([_identify(99)]))

    glob = f"s3://{bucket}/rudder-logs/{SOURCE_ID}/11-28-2026/*.json.gz"
    records = list(read_jsonl(glob, path_factory=object_storage_paths(s3_server.conn_id)))

    assert [r.raw for r in records] == [_identify(n) for n in (0, 1, 10, 11, 20, 21)]
    assert [r.origin for r in records] == [f"s3://{bucket}/{key}:{line}" for key in keys for line in (1, 2)]
    assert all(r.problem is None for r in records)
    # The same location through the operator's entry point, with a whole day's prefix as a directory.
    day = f"s3://{bucket}/rudder-logs/{SOURCE_ID}/11-29-2026/"
    assert [r.raw for r in open_source(day, path_factory=object_storage_paths(s3_server.conn_id))] == [_identify(99)]


def test_a_listing_of_s3_files_is_read_in_its_order_through_the_connection(s3_server: S3Server, bucket: str) -> None:
    """What every shard task of the sync DAG does with the sensor's listing (the operator's ``event_files``)."""
    urls = [f"s3://{bucket}/{_backup_key('11-28-2026', 1795824000 + i)}" for i in range(2)]
    for i, url in enumerate(urls):
        _put(s3_server, url, _gz_lines([_identify(i)]))
    files = staged_files(list(reversed(urls)), path_factory=object_storage_paths(s3_server.conn_id))
    assert [(r.raw, r.origin) for r in iter_files(files)] == [
        (_identify(1), f"{urls[1]}:1"),
        (_identify(0), f"{urls[0]}:1"),
    ]


def test_a_truncated_gz_on_s3_yields_one_unreadable_record_and_the_other_files_are_read(
    s3_server: S3Server, bucket: str
) -> None:
    prefix = f"s3://{bucket}/rudder-logs/{SOURCE_ID}/11-28-2026"
    keys = [_backup_key("11-28-2026", 1795824000 + i) for i in range(3)]
    broken_lines = [_identify(1000 + n) for n in range(5000)]
    _put(s3_server, f"s3://{bucket}/{keys[0]}", _gz_lines([_identify(1)]))
    _put(s3_server, f"s3://{bucket}/{keys[1]}", _gz_lines(broken_lines)[:-2000])  # an upload cut short
    _put(s3_server, f"s3://{bucket}/{keys[2]}", _gz_lines([_identify(3), _identify(4)]))

    records = list(read_jsonl(f"{prefix}/*.json.gz", path_factory=object_storage_paths(s3_server.conn_id)))

    [problem] = [r for r in records if r.problem is not None]
    read = problem.raw["unread_from_line"] - 1  # type: ignore[index]
    broken = f"s3://{bucket}/{keys[1]}"
    assert 0 < read < len(broken_lines)
    assert problem.raw == {"file": broken, "unread_from_line": read + 1}
    assert problem.origin == f"{broken}:{read + 1}"
    assert problem.problem is not None and problem.problem.code == "unreadable_file"
    assert problem.problem.reason.startswith(f"{broken} cannot be read past line {read}: ")
    assert [r.raw for r in records if r.problem is None] == [
        _identify(1),
        *broken_lines[:read],
        _identify(3),
        _identify(4),
    ]


def test_dead_letters_written_to_s3_are_read_back(s3_server: S3Server, bucket: str) -> None:
    base = f"s3://{bucket}/dead-letters"
    run_id = "scheduled__2026-11-28T00:00:00+00:00"
    for attempt, compress in ((1, True), (2, False)):
        location = dead_letter_path(
            base, dag_id="sync", run_id=run_id, task_id="identify", try_number=attempt, compress=compress
        )
        with DeadLetterWriter(location, path_factory=object_storage_paths(s3_server.conn_id)) as writer:
            writer.check()
            writer.write('{"broken": ', stage="parse", code="invalid_json", reason="Not JSON.", origin="o:1")
            writer.write({"try": attempt}, stage="validate", code="missing_email", reason="No e-mail.", seq=4)
        assert writer.location == location

    letters = list(read_dead_letters(base, path_factory=object_storage_paths(s3_server.conn_id)))

    assert [(r["event"], r["event_format"], r["code"]) for r in letters] == [
        ('{"broken": ', "text", "invalid_json"),
        ({"try": 1}, "json", "missing_email"),
        ('{"broken": ', "text", "invalid_json"),
        ({"try": 2}, "json", "missing_email"),
    ]
    keys = s3_server.keys(bucket)
    assert [key.rsplit("/", 1)[1] for key in keys] == ["try-1.jsonl.gz", "try-2.jsonl"], "a probe was left behind"
    assert all(":" not in key and "+" not in key for key in keys)


def test_check_passes_on_a_writable_bucket_and_leaves_nothing(s3_server: S3Server, bucket: str) -> None:
    DeadLetterWriter(
        f"s3://{bucket}/dl/sync/run/identify/try-1.jsonl", path_factory=object_storage_paths(s3_server.conn_id)
    ).check()
    assert s3_server.keys(bucket) == []


def test_check_names_the_location_when_the_bucket_does_not_exist_and_creates_no_bucket(s3_server: S3Server) -> None:
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    writer = DeadLetterWriter(
        f"s3://{missing}/dl/sync/run/identify/try-1.jsonl", path_factory=object_storage_paths(s3_server.conn_id)
    )
    with pytest.raises(DeadLetterLocationError) as caught:
        writer.check()
    message = str(caught.value)
    assert message.startswith(f"The dead-letter location 's3://{missing}/dl/sync/run/identify' is not writable: ")
    assert message.endswith("nothing was sent to Salesforce.")
    assert "bucket" in message.lower()
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    buckets = {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}
    assert missing not in buckets, "check() must not create a bucket"


def test_writing_dead_letters_to_a_missing_bucket_does_not_create_it(s3_server: S3Server) -> None:
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    with (
        pytest.raises(FileNotFoundError, match="bucket does not exist"),
        DeadLetterWriter(f"s3://{missing}/dl/try-1.jsonl", path_factory=object_storage_paths(s3_server.conn_id)) as w,
    ):
        w.write({"a": 1}, stage="validate", code="c", reason="r")
    assert missing not in {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}
