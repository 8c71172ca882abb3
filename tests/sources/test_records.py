"""The Airflow-free line reader: plain and gzipped streams, blank lines, encodings, long lines."""

from __future__ import annotations

import gzip
import io
import re

import pytest

from airflow_provider_rudder_sf.sources import SourceProblem, StagedRecord, iter_dicts, iter_lines


def _read(data: bytes, **kwargs: int) -> list[StagedRecord]:
    return list(iter_lines(io.BytesIO(data), "mem", **kwargs))


def _numbered_gzip(lines: int) -> bytes:
    return gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(lines)))


def test_plain_lines_keep_text_and_physical_line_numbers() -> None:
    records = _read(b'{"a": 1}\n\n{"b": 2}\n')
    assert records == [StagedRecord('{"a": 1}', "mem:1"), StagedRecord('{"b": 2}', "mem:3")]


def test_gzip_stream_is_detected_by_magic_bytes() -> None:
    records = _read(gzip.compress(b'{"a": 1}\n{"b": 2}\n'))
    assert [r.raw for r in records] == ['{"a": 1}', '{"b": 2}']


def test_whitespace_only_lines_are_skipped() -> None:
    assert [r.raw for r in _read(b"  \n\t\r\nx\n   ")] == ["x"]


def test_crlf_and_missing_final_newline() -> None:
    assert [r.raw for r in _read(b"a\r\nb")] == ["a", "b"]


def test_byte_order_mark_is_removed_from_the_first_line() -> None:
    assert _read(b'\xef\xbb\xbf{"a": 1}\n')[0].raw == '{"a": 1}'


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    records = _read(b'{"name": "caf\xe9"}\n{"ok": true}\n')
    assert records[0].raw == '{"name": "caf\ufffd"}'
    assert records[1].raw == '{"ok": true}'


def test_a_long_line_under_the_limit_is_read_whole() -> None:
    long_value = "x" * 20_000_000
    records = _read(gzip.compress(f'{{"v": "{long_value}"}}\nnext\n'.encode()), max_line_bytes=32 << 20)
    assert len(records[0].raw) == len(long_value) + 9
    assert records[0].problem is None
    assert records[1] == StagedRecord("next", "mem:2")


def test_truncated_gzip_yields_the_lines_before_the_break_then_one_unreadable_record() -> None:
    data = _numbered_gzip(10_000)
    records = _read(data[: len(data) // 2])
    *good, last = records
    assert good, "the lines before the break are kept"
    assert [r.raw for r in good] == [f'{{"n": {i}}}' for i in range(len(good))]
    assert all(r.problem is None for r in good)
    read = len(good)
    assert last.origin == f"mem:{read + 1}"
    assert last.raw == {"file": "mem", "unread_from_line": read + 1}
    assert last.problem is not None and last.problem.code == "unreadable_file"
    assert last.problem.reason.startswith(f"mem cannot be read past line {read}: ")
    assert last.problem.reason.endswith("; the rest of this file was not read")
    assert "end-of-stream" in last.problem.reason  # the cause, from gzip's EOFError


def test_invalid_deflate_data_is_an_unreadable_record() -> None:
    data = bytearray(_numbered_gzip(10))
    data[10] = 0xFF  # the first deflate block header after the 10-byte gzip header: reserved block type
    [record] = _read(bytes(data))
    assert record.problem is not None and record.problem.code == "unreadable_file"
    assert record.problem.reason.startswith("mem cannot be read past line 0: Error -3 while decompressing data")


def test_corrupt_bytes_mid_stream_end_the_file_with_an_unreadable_record() -> None:
    data = bytearray(_numbered_gzip(10_000))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    *before, last = _read(bytes(data))
    assert len(before) < 10_000
    assert last.problem is not None and last.problem.code == "unreadable_file"
    # zlib notices bad codes, or only the CRC at the end notices garbage that happened to inflate.
    assert re.search(r"Error -3 while decompressing|CRC check failed", last.problem.reason)


def test_bad_gzip_header_is_unreadable_from_the_first_line() -> None:
    records = _read(b"\x1f\x8b\x99" + b"\x00" * 40)  # gzip magic, unknown compression method
    assert len(records) == 1
    assert records[0].problem == SourceProblem(
        "unreadable_file",
        "mem cannot be read past line 0: Unknown compression method; the rest of this file was not read",
    )
    assert records[0].origin == "mem:1"


def test_a_line_over_max_line_bytes_is_one_problem_record_and_reading_goes_on() -> None:
    records = _read(b"short\n" + b"y" * 11 + b"\nafter\n", max_line_bytes=10)
    assert records[0] == StagedRecord("short", "mem:1")
    assert records[1] == StagedRecord(
        {"file": "mem", "line": 2, "bytes": 11},
        "mem:2",
        SourceProblem("line_too_long", "Line 2 is 11 bytes, above max_line_bytes=10."),
    )
    assert records[2] == StagedRecord("after", "mem:3")


def test_a_line_of_exactly_max_line_bytes_is_read_with_either_line_end() -> None:
    records = _read(b"x" * 10 + b"\r\n" + b"z" * 10 + b"\n" + b"w" * 10, max_line_bytes=10)
    assert [(r.raw, r.problem) for r in records] == [("x" * 10, None), ("z" * 10, None), ("w" * 10, None)]


def test_a_long_last_line_without_newline_is_counted() -> None:
    records = _read(b"ok\n" + b"q" * 5000, max_line_bytes=100)
    assert records[1].raw == {"file": "mem", "line": 2, "bytes": 5000}


def test_long_line_size_is_exact_when_crlf_straddles_a_read() -> None:
    # The first read takes max_line_bytes + 2 bytes, the next ones 1 MiB: put "\r" last in that 1 MiB piece.
    content = 12 + (1 << 20) - 1
    records = _read(b"v" * content + b"\r\nnext\n", max_line_bytes=10)
    assert records[0].raw == {"file": "mem", "line": 1, "bytes": content}
    assert records[1] == StagedRecord("next", "mem:2")


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        _read(b"a\n", max_line_bytes=0)


def test_lines_are_yielded_lazily() -> None:
    stream = io.BytesIO(b"a\n" * 10_000_000)  # 20 MB of lines
    iterator = iter_lines(stream, "mem")
    assert next(iterator).raw == "a"
    assert stream.tell() <= 2 << 20  # only the first buffer was read


def test_dicts_keep_identity_and_index_origins() -> None:
    event = {"type": "identify"}
    records = list(iter_dicts([event, '{"type": "track"}', None]))
    assert records[0].raw is event and records[0].origin == "list:0"
    assert records[1].raw == '{"type": "track"}'
    assert records[2] == StagedRecord("null", "list:2")
