"""The Airflow-free line reader: plain and gzipped streams, blank lines, encodings, long lines."""

from __future__ import annotations

import gzip
import io

import pytest

from airflow_provider_rudder_sf.sources import SourceReadError, StagedRecord, iter_dicts, iter_lines


def _read(data: bytes) -> list[StagedRecord]:
    return list(iter_lines(io.BytesIO(data), "mem"))


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


def test_a_very_long_line_is_read_whole() -> None:
    long_value = "x" * 20_000_000
    records = _read(gzip.compress(f'{{"v": "{long_value}"}}\nnext\n'.encode()))
    assert len(records[0].raw) == len(long_value) + 9
    assert records[1] == StagedRecord("next", "mem:2")


def test_truncated_gzip_raises_source_read_error_naming_the_origin() -> None:
    data = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(10_000)))
    with pytest.raises(SourceReadError, match=r"^mem: cannot read past line"):
        _read(data[: len(data) // 2])


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
