"""A line far over ``max_line_bytes`` is skipped in bounded pieces, never held whole: measured as peak RSS."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

_MIB = 1 << 20

# Runs in a fresh interpreter so that ru_maxrss (the process's peak RSS) starts from imports, not from the test run.
_READER = """
import json, resource, sys
from airflow_provider_rudder_sf.sources import read_jsonl

def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

before = peak()
seen = [[r.origin.rsplit("/", 1)[1], r.raw, r.problem.code if r.problem else None] for r in read_jsonl(sys.argv[1])]
print(json.dumps({"growth": peak() - before, "records": seen}))
"""


def _write_plain_long_line(path: Path, mib: int) -> None:
    block = b"p" * _MIB
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(block)
        out.write(b'\n{"after": 1}\n')


def _write_gzip_long_line(path: Path, mib: int) -> None:
    # A gzip file may hold several members, read as one stream: compressing one 1 MiB block once and repeating the
    # member gives a ~1 MiB file holding a 1 GiB line without spending seconds compressing it.
    member = gzip.compress(b"g" * _MIB, compresslevel=9)
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(member)
        out.write(gzip.compress(b'\n{"next": 2}\n'))


def test_huge_lines_in_plain_and_gzip_files_keep_peak_rss_small(tmp_path: Path) -> None:
    plain = tmp_path / "a-plain.jsonl"
    zipped = tmp_path / "b-huge.jsonl.gz"
    _write_plain_long_line(plain, 300)
    _write_gzip_long_line(zipped, 1024)
    try:
        assert zipped.stat().st_size < 2 * _MIB
        done = subprocess.run(
            [sys.executable, "-c", _READER, str(tmp_path)], check=True, capture_output=True, text=True, timeout=60
        )
    finally:
        plain.unlink()
    result = json.loads(done.stdout)
    assert result["records"] == [
        ["a-plain.jsonl:1", {"file": plain.as_uri(), "line": 1, "bytes": 300 * _MIB}, "line_too_long"],
        ["a-plain.jsonl:2", '{"after": 1}', None],
        ["b-huge.jsonl.gz:1", {"file": zipped.as_uri(), "line": 1, "bytes": 1024 * _MIB}, "line_too_long"],
        ["b-huge.jsonl.gz:2", '{"next": 2}', None],
    ]
    assert result["growth"] < 50 * _MIB, f"peak RSS grew by {result['growth'] / _MIB:.1f} MiB"
