"""Hold a run's eligible events with bounded memory, grouped so all events of one record stay together.

Small runs stay in memory as one group. Past ``memory_limit`` events, everything spills to ``partitions`` temporary
JSON Lines files by a hash of the record key, and each partition is read back and planned on its own: memory is
bounded by the partition size, and folding stays exact because a record never spans two partitions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from airflow_provider_rudder_sf.mapping import IdentifyEvent, MappingOptions, classify, record_key, shard_of
from airflow_provider_rudder_sf.mapping.events import Decode

Entry = tuple[IdentifyEvent, str]


class Spool:
    def __init__(self, options: MappingOptions, decode: Decode, *, memory_limit: int = 50_000, partitions: int = 32):
        if memory_limit < 1 or partitions < 1:
            raise ValueError("memory_limit and partitions must be positive")
        self._options = options
        self._decode = decode
        self._memory_limit = memory_limit
        self._partitions = partitions
        self._memory: list[Entry] = []
        self._dir: str | None = None
        self._files: list[IO[str]] = []
        self.count = 0

    @property
    def spilled(self) -> bool:
        return self._dir is not None

    @property
    def groups(self) -> int:
        return self._partitions if self.spilled else 1

    def add(self, event: IdentifyEvent, origin: str) -> None:
        self.count += 1
        if self._dir is None:
            self._memory.append((event, origin))
            if len(self._memory) > self._memory_limit:
                self._spill()
        else:
            self._write(event, origin)

    def _spill(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="rudder-sf-spool-")
        self._files = [
            open(os.path.join(self._dir, f"part-{i:03d}.jsonl"), "w", encoding="utf-8")  # noqa: SIM115
            for i in range(self._partitions)
        ]
        for event, origin in self._memory:
            self._write(event, origin)
        self._memory = []

    def _write(self, event: IdentifyEvent, origin: str) -> None:
        raw: Any = event.raw
        entry = {"s": event.seq, "o": origin, "t" if isinstance(raw, str) else "d": raw}
        line = json.dumps(entry, ensure_ascii=True, default=str)
        self._files[shard_of(record_key(event), self._partitions)].write(line + "\n")

    def groups_of_events(self) -> Iterator[list[Entry]]:
        """Yields every event exactly once, one group at a time; each record's events are in one group."""
        if self._dir is None:
            if self._memory:
                yield self._memory
            self._memory = []
            return
        for handle in self._files:
            handle.close()
        for handle in self._files:
            with open(handle.name, encoding="utf-8") as stream:
                group = [self._restore(line) for line in stream]
            os.unlink(handle.name)
            if group:
                yield group

    def _restore(self, line: str) -> Entry:
        entry = json.loads(line)
        raw = entry["t"] if "t" in entry else entry["d"]
        event = classify(raw, entry["s"], self._options, self._decode)
        if not isinstance(event, IdentifyEvent):  # classification is deterministic; this would be a bug
            raise RuntimeError(f"spooled event {entry['s']} no longer classifies as eligible")
        return event, entry["o"]

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
