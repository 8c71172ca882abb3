"""Ledger rows read back exactly as written, whatever block boundaries fall inside them."""

from __future__ import annotations

import gzip
import io

import msgspec
import pytest

from airflow_provider_rudder_sf.sync.handoff import _read_rows, events_of, row_line


@pytest.mark.parametrize("block_size", [1, 5, 64, 1 << 20])
def test_rows_come_back_in_order_across_block_boundaries(block_size):
    events = [
        [[n, f"key{n}", f"f.jsonl:{n}", f'{{"line": "{n}\\nwith a newline", "ü": "{"x" * n}"}}', []]] for n in range(40)
    ]
    written = [(msgspec.json.encode(["Lead:k", n]), msgspec.json.encode(rows)) for n, rows in enumerate(events)]
    data = io.BytesIO()
    with gzip.GzipFile(fileobj=data, mode="wb") as out:
        out.write(b"".join(row_line(w, e) for w, e in written))
    data.seek(0)
    with gzip.GzipFile(fileobj=data, mode="rb") as stream:
        read = [(bytes(w), bytes(e)) for w, e in _read_rows(stream, block_size)]
    assert read == written
    assert [event.key for _, e in read for event in events_of(msgspec.Raw(e))] == [f"key{n}" for n in range(40)]
