"""Two ways to shard one interval's staged events across N sync tasks, measured against a real S3-API server.

    .venv/bin/python benchmarks/bench_sharding.py                        # 100,000 events, N = 4 and 8
    .venv/bin/python benchmarks/bench_sharding.py --events 20000 --shards 2,4

The staged events (synthetic, 1 % bad, 5 % not for Salesforce, 4 % track) are written as RudderStack-style gzipped
JSON Lines backups on moto's S3 server (its own process on loopback), then for each N:

* **copy**: one split task reads every file once and writes N shard files back to S3 with
  ``benchmarks/shard_copy.split_into_shards`` (the way wave 1 did it); then each shard task reads its own file.
* **filter**: each of the N shard tasks reads ALL the interval's files and keeps its bucket: eligible events by
  ``shard_of(record_key(event), N)``, ignored and rejected ones by ``seq % N`` (the same rule as the split).

Every task classifies each line it keeps, as the sync engine does. Tasks run one after the other in this process,
so the per-task walls are what a worker waits on an idle 2-core machine; "critical path" is what a run with N
workers in parallel waits (copy: split, then the slowest shard; filter: the slowest shard). Bytes are the sizes of
the objects each task reads or writes in full. Client CPU is this process's; server CPU is moto's.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from airflow_provider_rudder_sf.mapping import IdentifyEvent, MappingOptions, classify, record_key, shard_of
from rudder_sf_emulator.synthetic import SyntheticSpec, generate_lines

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from storage.s3_server import REGION, S3Server, running_s3_server  # the tests' S3 server helper

BUCKET = "rudder-backups"
SOURCE_ID = "2Ab3xYz9SourceId"
DAY = "11-28-2026"
OPTIONS = MappingOptions()


@dataclass
class Task:
    wall: float
    cpu: float
    server_cpu: float
    read_bytes: int
    written_bytes: int
    records: int


@dataclass
class Scenario:
    name: str
    shards: int
    split: Task | None = None
    tasks: list[Task] = field(default_factory=list)
    left_objects: int = 0
    left_bytes: int = 0

    def all_tasks(self) -> list[Task]:
        return ([self.split] if self.split else []) + self.tasks


def _server_cpu(server: S3Server) -> float:
    """CPU seconds moto's process has used so far (user + system, from /proc)."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(server: S3Server, work: Callable[[], tuple[int, int, int]]) -> Task:
    wall, cpu, moto = time.perf_counter(), time.process_time(), _server_cpu(server)
    records, read_bytes, written_bytes = work()
    return Task(
        wall=time.perf_counter() - wall,
        cpu=time.process_time() - cpu,
        server_cpu=_server_cpu(server) - moto,
        read_bytes=read_bytes,
        written_bytes=written_bytes,
        records=records,
    )


def _stage(server: S3Server, events: int, files: int) -> list[str]:
    """Write the interval's backups, ``files`` objects of about equal size; return their URLs."""
    from airflow.sdk import ObjectStoragePath

    lines = list(generate_lines(SyntheticSpec(events=events, distinct_emails=int(events * 0.8))))
    per_file = -(-len(lines) // files)
    urls = []
    for index in range(files):
        epoch = 1795824000 + 60 * index
        url = f"s3://{BUCKET}/rudder-logs/{SOURCE_ID}/{DAY}/{epoch}.{SOURCE_ID}.{index:08d}.json.gz"
        chunk = lines[index * per_file : (index + 1) * per_file]
        data = gzip.compress("".join(line + "\n" for line in chunk).encode(), compresslevel=6)
        ObjectStoragePath(url, conn_id=server.conn_id).write_bytes(data)
        urls.append(url)
    return urls


def _sizes(server: S3Server, prefix: str) -> dict[str, int]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {f"s3://{BUCKET}/{o['Key']}": o["Size"] for page in pages for o in page.get("Contents", [])}


def _classified(location: str, conn_id: str) -> Iterator[tuple[int, object]]:
    from airflow_provider_rudder_sf.hooks.connections import object_storage_paths
    from airflow_provider_rudder_sf.sources import read_jsonl

    for seq, record in enumerate(read_jsonl(location, path_factory=object_storage_paths(conn_id))):
        yield seq, classify(record.raw, seq, OPTIONS)


def _copy(server: S3Server, staged: dict[str, int], shards: int) -> Scenario:
    from shard_copy import split_into_shards

    from airflow_provider_rudder_sf.hooks.connections import object_storage_paths
    from airflow_provider_rudder_sf.sources import read_jsonl

    scenario = Scenario("copy", shards)
    out_prefix = f"shards/n{shards}"
    glob = f"s3://{BUCKET}/rudder-logs/{SOURCE_ID}/{DAY}/*.json.gz"

    def split() -> tuple[int, int, int]:
        counted = 0

        def counting() -> Iterator[object]:
            nonlocal counted
            for record in read_jsonl(glob, path_factory=object_storage_paths(server.conn_id)):
                counted += 1
                yield record

        split_into_shards(counting(), f"s3://{BUCKET}/{out_prefix}", shards, OPTIONS)  # type: ignore[arg-type]
        return counted, sum(staged.values()), sum(_sizes(server, out_prefix).values())

    scenario.split = _measure(server, split)
    shard_files = _sizes(server, out_prefix)
    for location, size in sorted(shard_files.items()):
        scenario.tasks.append(
            _measure(server, lambda loc=location, n=size: (sum(1 for _ in _classified(loc, server.conn_id)), n, 0))
        )
    scenario.left_objects, scenario.left_bytes = len(shard_files), sum(shard_files.values())
    return scenario


def _filter(server: S3Server, staged: dict[str, int], shards: int) -> Scenario:
    scenario = Scenario("filter", shards)
    glob = f"s3://{BUCKET}/rudder-logs/{SOURCE_ID}/{DAY}/*.json.gz"

    def shard_task(index: int) -> tuple[int, int, int]:
        kept = 0
        for seq, outcome in _classified(glob, server.conn_id):
            bucket = shard_of(record_key(outcome), shards) if isinstance(outcome, IdentifyEvent) else seq % shards
            kept += bucket == index
        return kept, sum(staged.values()), 0

    for index in range(shards):
        scenario.tasks.append(_measure(server, lambda i=index: shard_task(i)))
    return scenario


def _warm_up(server: S3Server) -> None:
    """Set up both file systems (with the connection, and the default chain the split writes through) and Airflow's
    lineage hooks (loaded on the first open) before measuring: a one-off start-up cost, not a cost of either way."""
    from airflow.sdk import ObjectStoragePath

    for path in (
        ObjectStoragePath(f"s3://{BUCKET}/warm-up", conn_id=server.conn_id),
        ObjectStoragePath(f"s3://{BUCKET}/warm-up"),
    ):
        with path.open("wb") as out:  # type: ignore[no-untyped-call]
            out.write(b"{}\n")
        with path.open("rb") as stream:  # type: ignore[no-untyped-call]
            stream.read()
        path.unlink()


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f}"


def _row(s: Scenario) -> str:
    tasks = s.all_tasks()
    shard_walls = [t.wall for t in s.tasks]
    split_wall = s.split.wall if s.split else 0.0
    critical = split_wall + max(shard_walls)
    shard_cpus = [t.cpu for t in s.tasks]
    shards = f"{statistics.mean(shard_walls):.2f} (max {max(shard_walls):.2f}; CPU {statistics.mean(shard_cpus):.2f})"
    per_task = f"split {split_wall:.2f} (CPU {s.split.cpu:.2f}), then shard {shards}" if s.split else shards
    left = f"{s.left_objects} ({_mib(s.left_bytes)} MiB)" if s.left_objects else "0"
    return (
        f"| {s.name} | {s.shards} | {sum(t.wall for t in tasks):.2f} | {critical:.2f} | "
        f"{sum(t.cpu for t in tasks):.2f} | {sum(t.server_cpu for t in tasks):.2f} | "
        f"{_mib(sum(t.read_bytes for t in tasks))} | {_mib(sum(t.written_bytes for t in tasks))} | {left} | "
        f"{per_task} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=20, help="staged backup objects in the interval")
    parser.add_argument("--shards", default="4,8")
    args = parser.parse_args()

    with running_s3_server() as server:
        os.environ[server.env_var] = server.connection_json()
        # split_into_shards opens its output with ObjectStoragePath(location) and no conn_id, so the default AWS
        # credential chain must reach the same server (see docs/wave2/storage.md).
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
            AWS_ENDPOINT_URL_S3=server.endpoint_url,
        )
        server.make_bucket(BUCKET)
        _stage(server, args.events, args.files)
        staged = _sizes(server, "rudder-logs/")
        _warm_up(server)
        print(
            f"{args.events:,} events staged in {len(staged)} gzipped objects, {_mib(sum(staged.values()))} MiB, "
            f"on moto's S3 server at {server.endpoint_url}\n"
        )
        print(
            "| way | N | total wall s (all tasks) | critical path s (N workers) | client CPU s | moto CPU s | "
            "read from S3 MiB | written to S3 MiB | objects left with personal data | per-shard-task wall s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for shards in (int(n) for n in args.shards.split(",")):
            copy = _copy(server, staged, shards)
            assert sum(t.records for t in copy.tasks) == args.events, "copy lost or duplicated events"
            filtered = _filter(server, staged, shards)
            assert sum(t.records for t in filtered.tasks) == args.events, "filter lost or duplicated events"
            print(_row(copy), flush=True)
            print(_row(filtered), flush=True)


if __name__ == "__main__":
    main()
