"""The copy way of sharding, kept only to measure it against the filter way (benchmarks/bench_sharding.py): the
example DAG no longer copies events. Split a run's staged events into N shard files by a hash of the record key.

All events of one record land in the same shard, so two workers never write the same record. Events that are
not eligible (ignored or bad) are spread by position: each shard's sync task still counts or dead-letters them,
so the per-shard summaries add up to the whole run. Re-running the split for the same run rewrites the same files.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from typing import IO, Any

from airflow_provider_rudder_sf.mapping import IdentifyEvent, MappingOptions, classify, record_key, shard_of
from airflow_provider_rudder_sf.sources.records import StagedRecord


def _open_for_write(location: str) -> IO[bytes]:
    if "://" in location and not location.startswith("file://"):
        from airflow_provider_rudder_sf.compat import ObjectStoragePath  # Airflow only for object storage

        return ObjectStoragePath(location).open("wb")  # type: ignore[no-untyped-call,no-any-return]
    path = location.removeprefix("file://")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return open(path, "wb")


def split_into_shards(
    records: Iterable[StagedRecord], out_dir: str, shards: int, options: MappingOptions | None = None
) -> list[str]:
    """Writes ``out_dir/shard-NNN.jsonl.gz`` files and returns the locations of the non-empty ones, in order."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    options = options or MappingOptions()
    out_dir = out_dir.rstrip("/")
    locations = [f"{out_dir}/shard-{index:03d}.jsonl.gz" for index in range(shards)]
    streams: dict[int, tuple[IO[bytes], gzip.GzipFile]] = {}
    try:
        for seq, record in enumerate(records):
            outcome = classify(record.raw, seq, options)
            index = shard_of(record_key(outcome), shards) if isinstance(outcome, IdentifyEvent) else seq % shards
            if index not in streams:
                raw_stream = _open_for_write(locations[index])
                streams[index] = (raw_stream, gzip.GzipFile(fileobj=raw_stream, mode="wb", filename=""))
            streams[index][1].write(_as_line(record.raw))
    finally:
        for raw_stream, zipped in streams.values():
            zipped.close()
            raw_stream.close()
    return [locations[index] for index in sorted(streams)]


def _as_line(raw: Any) -> bytes:
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return text.encode("utf-8", errors="surrogatepass") + b"\n"
