"""File locations: paths, directories, globs and file:// URLs through ObjectStoragePath."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from upath import UPath

from airflow_provider_rudder_sf.hooks.connections import object_storage_paths
from airflow_provider_rudder_sf.sources import read_jsonl, resolve_files

#: What the operator passes for a location with a scheme when no storage connection is set.
OBJECT_STORAGE = object_storage_paths(None)


def _write(path: Path, lines: list[str], *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_plain_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", ['{"a": 1}'])
    records = list(read_jsonl(str(path)))
    assert [r.raw for r in records] == ['{"a": 1}']
    assert records[0].origin == f"{path.resolve().as_uri()}:1"


def test_gz_file_by_suffix(tmp_path: Path) -> None:
    path = _write(tmp_path / "part-0001.jsonl.gz", ['{"a": 1}', '{"a": 2}'], gz=True)
    assert [r.raw for r in read_jsonl(path)] == ['{"a": 1}', '{"a": 2}']


def test_gzip_without_suffix_is_read_by_magic_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.jsonl", ['{"a": 1}'], gz=True)
    assert [r.raw for r in read_jsonl(path)] == ['{"a": 1}']


def test_directory_reads_staged_files_sorted_and_skips_others(tmp_path: Path) -> None:
    _write(tmp_path / "b.json.gz", ["b"], gz=True)
    _write(tmp_path / "a.jsonl", ["a"])
    _write(tmp_path / "notes.txt", ["no"])
    _write(tmp_path / "_SUCCESS.json", ["no"])
    _write(tmp_path / ".c.jsonl", ["no"])
    _write(tmp_path / "sub" / "d.jsonl", ["nested"])
    assert [r.raw for r in read_jsonl(tmp_path)] == ["a", "b"]


def test_directory_recursive_includes_subdirectories(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", ["a"])
    _write(tmp_path / "sub" / "d.jsonl", ["nested"])
    assert [r.raw for r in read_jsonl(tmp_path, recursive=True)] == ["a", "nested"]


def test_glob_reads_matching_files_in_name_order(tmp_path: Path) -> None:
    day = tmp_path / "2026" / "11" / "28"
    _write(day / "part-0002.jsonl.gz", ["two"], gz=True)
    _write(day / "part-0001.jsonl.gz", ["one"], gz=True)
    _write(day / "other.csv", ["no"])
    assert [r.raw for r in read_jsonl(str(day / "*.jsonl.gz"))] == ["one", "two"]


def test_glob_with_wildcard_directories(tmp_path: Path) -> None:
    _write(tmp_path / "2026" / "11" / "27" / "p.jsonl", ["27"])
    _write(tmp_path / "2026" / "11" / "28" / "p.jsonl", ["28"])
    assert [r.raw for r in read_jsonl(f"{tmp_path}/2026/*/*/p.jsonl")] == ["27", "28"]


def test_file_url_through_object_storage(tmp_path: Path) -> None:
    path = _write(tmp_path / "part.jsonl.gz", ['{"a": 1}'], gz=True)
    records = list(read_jsonl(path.as_uri(), path_factory=OBJECT_STORAGE))
    assert [r.raw for r in records] == ['{"a": 1}']
    assert records[0].origin == f"{path.as_uri()}:1"


def test_file_url_directory(tmp_path: Path) -> None:
    _write(tmp_path / "b.jsonl", ["b"])
    _write(tmp_path / "a.jsonl.gz", ["a"], gz=True)
    _write(tmp_path / "x.txt", ["no"])
    assert [r.raw for r in read_jsonl(tmp_path.as_uri(), path_factory=OBJECT_STORAGE)] == ["a", "b"]


def test_file_url_glob(tmp_path: Path) -> None:
    _write(tmp_path / "d1" / "p.jsonl.gz", ["1"], gz=True)
    _write(tmp_path / "d2" / "p.jsonl.gz", ["2"], gz=True)
    _write(tmp_path / "d2" / "p.txt", ["no"])
    assert [r.raw for r in read_jsonl(f"{tmp_path.as_uri()}/d*/*.gz", path_factory=OBJECT_STORAGE)] == ["1", "2"]


def test_a_url_without_a_path_factory_is_refused_with_the_fix(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", ["a"])
    with pytest.raises(ValueError, match=r"needs a path_factory .*object_storage_paths"):
        read_jsonl(tmp_path.as_uri())


def test_a_plain_upath_is_a_path_factory_too(tmp_path: Path) -> None:
    """The readers need no Airflow: universal_pathlib's own UPath reaches a URL as well."""
    path = _write(tmp_path / "a.jsonl", ['{"a": 1}'])
    records = list(read_jsonl(tmp_path.as_uri(), path_factory=UPath))
    assert [(r.raw, r.origin) for r in records] == [('{"a": 1}', f"{path.as_uri()}:1")]


def test_missing_path_raises_naming_the_location(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        read_jsonl(missing)


def test_glob_matching_nothing_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="glob matched no files"):
        read_jsonl(str(tmp_path / "*.jsonl.gz"))


def test_url_glob_matching_nothing_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="glob matched no files"):
        read_jsonl(f"{tmp_path.as_uri()}/*.jsonl.gz", path_factory=OBJECT_STORAGE)


def test_empty_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no files"):
        read_jsonl(tmp_path)


def test_allow_missing_gives_no_records(tmp_path: Path) -> None:
    assert list(read_jsonl(str(tmp_path / "*.jsonl"), allow_missing=True)) == []


def test_empty_location_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        resolve_files("  ")


def test_glob_in_bucket_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="bucket"):
        resolve_files("s3://bucket-*/x.jsonl")


def test_files_open_one_at_a_time_and_lazily(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", ["a1", "a2"])
    _write(tmp_path / "b.jsonl", ["b1"])
    iterator = read_jsonl(tmp_path)
    assert next(iterator).raw == "a1"
    (tmp_path / "b.jsonl").write_text("changed\n")  # not opened yet, so the change is seen
    assert [r.raw for r in iterator] == ["a2", "changed"]


def test_reading_a_large_gz_file_keeps_memory_bounded(tmp_path: Path) -> None:
    lines = (f'{{"type": "identify", "n": {n}, "pad": "{"x" * 200}"}}' for n in range(200_000))
    path = tmp_path / "big.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.writelines(line + "\n" for line in lines)  # about 45 MB uncompressed
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_jsonl(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 8_000_000


def test_local_reading_does_not_import_airflow(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n")
    code = (
        "import sys\n"
        "from airflow_provider_rudder_sf.sources import read_jsonl\n"
        f"assert [r.raw for r in read_jsonl({str(tmp_path)!r})] == ['{{}}']\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'airflow'], 'airflow imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_truncated_gz_among_good_files_ends_that_file_and_the_next_is_read(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", ["a1"])
    broken = _write(tmp_path / "b.jsonl.gz", [f"b{i}" for i in range(5000)], gz=True)
    broken.write_bytes(broken.read_bytes()[:-20])  # drops the end of the deflate stream and the gzip trailer
    _write(tmp_path / "c.jsonl.gz", ["c1", "c2"], gz=True)
    records = list(read_jsonl(tmp_path))
    problems = [r for r in records if r.problem]
    assert [r.problem.code for r in problems if r.problem] == ["unreadable_file"]
    unread_from = problems[0].raw["unread_from_line"]  # type: ignore[index]
    assert problems[0].origin == f"{broken.resolve().as_uri()}:{unread_from}"
    assert [r.raw for r in records if not r.problem] == ["a1", *(f"b{i}" for i in range(unread_from - 1)), "c1", "c2"]


def test_max_line_bytes_reaches_the_file_reader(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", ["x" * 50, "ok"])
    records = list(read_jsonl(tmp_path, max_line_bytes=49))
    assert records[0].problem is not None and records[0].problem.code == "line_too_long"
    assert records[1].raw == "ok"
