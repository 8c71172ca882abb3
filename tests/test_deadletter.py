"""Dead-letter files: per-try paths, lazy creation, gzip, no mixing between tries, reading back."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_rudder_sf.deadletter import (
    DeadLetterLocationError,
    DeadLetterWriter,
    dead_letter_path,
    read_dead_letters,
)
from airflow_provider_rudder_sf.hooks.connections import object_storage_paths
from airflow_provider_rudder_sf.mapping.model import Rejected
from airflow_provider_rudder_sf.operators.identify import dead_letter_path_for_context

RUN_ID = "scheduled__2026-11-28T00:00:00+00:00"
NOW = dt.datetime(2026, 11, 28, 12, 30, 5, tzinfo=dt.timezone.utc)


def _path(base: str | Path, **kwargs: object) -> str:
    ids: dict[str, object] = {"dag_id": "sync", "run_id": RUN_ID, "task_id": "identify", "try_number": 1}
    ids.update(kwargs)
    return dead_letter_path(base, **ids)  # type: ignore[arg-type]


def test_path_holds_dag_run_task_and_try(tmp_path: Path) -> None:
    path = Path(_path(tmp_path, try_number=3))
    assert path.relative_to(tmp_path).parts[0] == "sync"
    assert path.parts[-2:] == ("identify", "try-3.jsonl")


def test_run_id_colons_and_plus_are_sanitised_without_collisions(tmp_path: Path) -> None:
    run_part = Path(_path(tmp_path)).parts[-3]
    assert ":" not in run_part and "+" not in run_part
    assert run_part.startswith("scheduled__2026-11-28T00_00_00_00_00-")
    assert Path(_path(tmp_path, run_id="a:b")).parts[-3] != Path(_path(tmp_path, run_id="a+b")).parts[-3]


def test_dot_dot_cannot_escape_the_base(tmp_path: Path) -> None:
    path = Path(_path(tmp_path, dag_id="..", task_id="../../etc"))
    assert path.resolve().is_relative_to(tmp_path.resolve())
    assert ".." not in path.relative_to(tmp_path).parts


def test_map_index_is_added_only_for_mapped_tasks(tmp_path: Path) -> None:
    assert Path(_path(tmp_path, map_index=4)).parts[-2] == "identify.4"
    assert Path(_path(tmp_path, map_index=-1)).parts[-2] == "identify"


def test_compress_chooses_the_gz_suffix(tmp_path: Path) -> None:
    assert _path(tmp_path, compress=True).endswith("try-1.jsonl.gz")


def test_url_base_is_joined_with_slashes() -> None:
    path = dead_letter_path(
        "s3://bucket/dl/", dag_id="sync", run_id="manual__x", task_id="t", map_index=None, try_number=2
    )
    assert path == "s3://bucket/dl/sync/manual__x/t/try-2.jsonl"


def test_empty_context_falls_back_to_a_unique_manual_directory(tmp_path: Path) -> None:
    path = dead_letter_path(
        tmp_path, dag_id=None, run_id=None, task_id=None, map_index=None, try_number=None, now=NOW, token="ab12"
    )
    assert Path(path).relative_to(tmp_path).as_posix() == "manual/20261128T123005000000Z-ab12/try-1.jsonl"
    assert dead_letter_path_for_context(tmp_path, {}) != dead_letter_path_for_context(tmp_path, {})


def test_context_ids_come_from_the_task_instance(tmp_path: Path) -> None:
    ti = SimpleNamespace(dag_id="sync", run_id=RUN_ID, task_id="identify", map_index=2, try_number=5)
    assert dead_letter_path_for_context(tmp_path, {"ti": ti}) == _path(tmp_path, map_index=2, try_number=5)


def test_no_file_is_created_when_nothing_is_dead_lettered(tmp_path: Path) -> None:
    location = _path(tmp_path)
    with DeadLetterWriter(location) as writer:
        pass
    assert writer.count == 0
    assert not writer.written
    assert not (tmp_path / "sync").exists()


def test_record_holds_event_stage_code_reason_origin_seq(tmp_path: Path) -> None:
    with DeadLetterWriter(_path(tmp_path)) as writer:
        writer.write(
            '{"type": "identify", "traits": {}}',
            stage="validate",
            code="missing_email",
            reason="The event has no e-mail.",
            origin="file:///x.jsonl:3",
            seq=7,
        )
    [line] = Path(writer.location).read_text().splitlines()
    record = json.loads(line)
    assert record["event"] == {"type": "identify", "traits": {}}
    assert record["event_format"] == "json"
    assert (record["stage"], record["code"], record["reason"]) == (
        "validate",
        "missing_email",
        "The event has no e-mail.",
    )
    assert (record["origin"], record["seq"]) == ("file:///x.jsonl:3", 7)
    assert record["written_at"].endswith("Z")


def test_invalid_json_text_is_kept_as_the_original_string(tmp_path: Path) -> None:
    with DeadLetterWriter(_path(tmp_path)) as writer:
        writer.write('{"type": "ident', stage="parse", code="invalid_json", reason="The line is not JSON.")
    record = json.loads(Path(writer.location).read_text())
    assert record["event"] == '{"type": "ident'
    assert record["event_format"] == "text"


def test_a_deeply_nested_line_is_kept_as_text_even_where_it_would_parse(tmp_path: Path) -> None:
    import sys

    deep = "[" * 1_500 + "]" * 1_500
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(5_000)  # Airflow raises it when it copies an operator: json.loads would parse the line
    try:
        with DeadLetterWriter(_path(tmp_path)) as writer:
            writer.write(deep, stage="parse", code="invalid_json", reason="The line nests JSON too deeply.")
    finally:
        sys.setrecursionlimit(limit)
    (record,) = read_dead_letters(writer.location)  # read back at the default limit
    assert (record["event"], record["event_format"]) == (deep, "text")


def test_dict_event_is_written_unchanged(tmp_path: Path) -> None:
    event = {"type": "identify", "traits": {"email": "a@example.com", "n": 0, "ok": False, "x": None}}
    with DeadLetterWriter(_path(tmp_path)) as writer:
        writer.write(event, stage="salesforce", code="DUPLICATE_VALUE", reason="Salesforce refused it.")
    assert json.loads(Path(writer.location).read_text())["event"] == event


def test_extra_keys_cannot_replace_core_keys(tmp_path: Path) -> None:
    with DeadLetterWriter(_path(tmp_path)) as writer:
        writer.write({}, stage="salesforce", code="X", reason="r", extra={"sobject": "Lead", "code": "spoof"})
    record = json.loads(Path(writer.location).read_text())
    assert (record["sobject"], record["code"]) == ("Lead", "X")


def test_unknown_stage_is_refused(tmp_path: Path) -> None:
    with DeadLetterWriter(_path(tmp_path)) as writer, pytest.raises(ValueError, match="stage"):
        writer.write({}, stage="mapping", code="x", reason="r")  # type: ignore[arg-type]


def test_counts_by_code(tmp_path: Path) -> None:
    with DeadLetterWriter(_path(tmp_path)) as writer:
        for code in ["missing_email", "lead_converted", "missing_email"]:
            writer.write({}, stage="validate", code=code, reason="r")
    assert writer.count == 3
    assert writer.counts == {"missing_email": 2, "lead_converted": 1}


def test_write_rejected_takes_the_mapping_value(tmp_path: Path) -> None:
    rejected = Rejected(raw="{}", stage="validate", code="ambiguous_match", reason="Two Leads.", seq=4)
    with DeadLetterWriter(_path(tmp_path)) as writer:
        writer.write_rejected(rejected, origin="list:4")
    record = json.loads(Path(writer.location).read_text())
    assert (record["event"], record["code"], record["seq"], record["origin"]) == ({}, "ambiguous_match", 4, "list:4")


def test_gzip_file_is_real_gzip(tmp_path: Path) -> None:
    with DeadLetterWriter(_path(tmp_path, compress=True)) as writer:
        writer.write({"a": 1}, stage="validate", code="c", reason="r")
    data = Path(writer.location).read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(data))["event"] == {"a": 1}


def test_two_tries_write_two_files(tmp_path: Path) -> None:
    for attempt in (1, 2):
        with DeadLetterWriter(_path(tmp_path, try_number=attempt)) as writer:
            writer.write({"try": attempt}, stage="validate", code="c", reason="r")
    files = sorted(p.name for p in (tmp_path / "sync").rglob("*.jsonl"))
    assert files == ["try-1.jsonl", "try-2.jsonl"]


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    location = _path(tmp_path)
    for n in (1, 2):
        with DeadLetterWriter(location) as writer:
            writer.write({"n": n}, stage="validate", code="c", reason="r")
    assert Path(location).read_text().count("\n") == 1
    assert writer.location.endswith("try-1-2.jsonl")
    assert json.loads(Path(writer.location).read_text())["event"] == {"n": 2}


def test_records_are_flushed_while_writing(tmp_path: Path) -> None:
    writer = DeadLetterWriter(_path(tmp_path, compress=True))
    for n in range(100):
        writer.write({"n": n}, stage="validate", code="c", reason="r")
    # the writer is still open (as if the worker died now): what was flushed can be read back
    assert sum(1 for _ in read_dead_letters(tmp_path)) == 100
    writer.close()


def test_writing_after_close_is_refused(tmp_path: Path) -> None:
    writer = DeadLetterWriter(_path(tmp_path))
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write({}, stage="validate", code="c", reason="r")


def test_an_object_storage_location_without_a_path_factory_fails_the_check() -> None:
    with pytest.raises(DeadLetterLocationError, match="needs a path_factory"):
        DeadLetterWriter("s3://bucket/dl/sync/run/identify/try-1.jsonl").check()


def test_file_url_writes_through_object_storage(tmp_path: Path) -> None:
    location = _path(tmp_path.as_uri(), compress=True)
    with DeadLetterWriter(location) as writer:
        writer.write({"a": 1}, stage="validate", code="c", reason="r")
    assert writer.location == location
    assert [r["event"] for r in read_dead_letters(tmp_path.as_uri(), path_factory=object_storage_paths(None))] == [
        {"a": 1}
    ]


def test_read_back_recursively_plain_and_gz_in_order(tmp_path: Path) -> None:
    for attempt, compress in ((1, True), (2, False)):
        with DeadLetterWriter(_path(tmp_path, try_number=attempt, compress=compress)) as writer:
            writer.write({"try": attempt}, stage="validate", code="c", reason="r")
    (tmp_path / "notes.txt").write_text("not a dead letter\n")
    assert [r["event"] for r in read_dead_letters(tmp_path)] == [{"try": 1}, {"try": 2}]


def test_read_skips_a_damaged_line(tmp_path: Path) -> None:
    path = tmp_path / "try-1.jsonl"
    path.write_text('{"event": 1}\n{"event": 2, "cut off\n')
    assert [r["event"] for r in read_dead_letters(path)] == [1]


def test_read_missing_location_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_dead_letters(tmp_path / "none")
    assert list(read_dead_letters(tmp_path / "none", allow_missing=True)) == []


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_files_are_0600_and_only_created_directories_0700(tmp_path: Path, as_url: bool) -> None:
    tmp_path.chmod(0o755)
    base = tmp_path / "dead"
    location = _path(base.as_uri() if as_url else base)
    with DeadLetterWriter(location) as writer:
        writer.write({"email": "pii@example.com"}, stage="validate", code="c", reason="r")
    written = Path(_path(base))
    assert _mode(written) == 0o600
    created = [base, base / "sync", written.parent.parent, written.parent]  # <base>/<dag>/<run>/<task>
    assert {_mode(d) for d in created} == {0o700}
    assert _mode(tmp_path) == 0o755, "an existing directory's mode is not ours to change"


def test_a_renamed_file_for_a_taken_name_is_0600_too(tmp_path: Path) -> None:
    location = _path(tmp_path)
    for n in (1, 2):
        with DeadLetterWriter(location) as writer:
            writer.write({"n": n}, stage="validate", code="c", reason="r")
    assert writer.location.endswith("try-1-2.jsonl")
    assert _mode(Path(writer.location)) == 0o600


def test_check_creates_the_directory_and_leaves_no_probe(tmp_path: Path) -> None:
    writer = DeadLetterWriter(_path(tmp_path))
    writer.check()
    directory = Path(writer.location).parent
    assert directory.is_dir() and _mode(directory) == 0o700
    assert list(directory.iterdir()) == []
    assert not writer.written


def test_check_fails_with_one_clear_message_when_a_parent_is_a_file(tmp_path: Path) -> None:
    # A regular file where a directory should be stops root too (tests may run as root, where modes do not).
    (tmp_path / "ro").write_text("not a directory")
    writer = DeadLetterWriter(_path(tmp_path / "ro" / "x"))
    with pytest.raises(DeadLetterLocationError) as caught:
        writer.check()
    message = str(caught.value)
    directory = str(Path(writer.location).parent)
    assert message.startswith(f"The dead-letter location {directory!r} is not writable: [Errno 20] Not a directory")
    assert message.endswith("Fix the dead_letter argument or the permissions; nothing was sent to Salesforce.")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert isinstance(caught.value, ValueError)


def test_reading_skips_lines_over_max_line_bytes_and_a_truncated_gz_end(tmp_path: Path) -> None:
    with DeadLetterWriter(tmp_path / "a" / "try-1.jsonl") as writer:
        writer.write("x" * 5000, stage="parse", code="c", reason="r")
        writer.write({"ok": 1}, stage="validate", code="c", reason="r")
    with DeadLetterWriter(tmp_path / "b" / "try-1.jsonl.gz") as writer:
        for n in range(3000):
            writer.write({"n": n}, stage="validate", code="c", reason="r")
    gz = tmp_path / "b" / "try-1.jsonl.gz"
    gz.write_bytes(gz.read_bytes()[:-40])
    events = [r["event"] for r in read_dead_letters(tmp_path, max_line_bytes=1000)]
    assert events[0] == {"ok": 1}
    assert 0 < len(events) - 1 < 3000
    assert events[1:] == [{"n": n} for n in range(len(events) - 1)]
