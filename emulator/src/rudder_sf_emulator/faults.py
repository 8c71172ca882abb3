"""Fault injection settings, deterministic for a given seed, and the Bulk API 2.0 pace and limits."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

_FLOATS = {"lock_row_ratio", "bulk_rows_per_second", "bulk_query_rows_per_second"}


@dataclass
class Faults:
    fail_every_nth: int = 0  # HTTP 503 on data requests number N, 2N, ... (0 = off)
    lock_row_ratio: float = 0.0  # share of collection records answered UNABLE_TO_LOCK_ROW (not applied)
    expire_session_after: int = 0  # a session dies after this many data calls (0 = never)
    latency_ms: int = 0  # added to every data request
    seed: int = 0
    # Bulk API 2.0 (bulk.py): rows written (ingest) or produced (query) per second by a job's worker; 0 pauses
    # every job where it stands (raise it again to resume)
    bulk_rows_per_second: float = 20_000.0
    # query jobs only, when set (0: they follow bulk_rows_per_second): Salesforce reads far faster than it writes
    bulk_query_rows_per_second: float = 0.0
    bulk_fail_after_rows: int = 0  # a job turns Failed once it has processed this many rows (0 = off)
    bulk_max_upload_bytes: int = 100 * 1024 * 1024  # a bigger PUT .../batches answers 400 (Salesforce: 100 MB raw)
    requests_seen: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rng")
        return data

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self) if f.name not in {"rng", "requests_seen"}}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}; known: {sorted(known)}")
            number = float(value) if name in _FLOATS else int(value)
            if number < 0 and name != "seed":
                raise ValueError(f"fault setting {name!r} must not be negative")
            setattr(self, name, number)
        self.requests_seen = 0
        self.rng.seed(self.seed)

    def next_request_fails(self) -> bool:
        """Count one data request; True when it is the Nth one."""
        self.requests_seen += 1
        return self.fail_every_nth > 0 and self.requests_seen % self.fail_every_nth == 0

    def lock_row(self) -> bool:
        return self.lock_row_ratio > 0 and self.rng.random() < self.lock_row_ratio

    def rows_per_second(self, kind: str) -> float:
        """The pace of a Bulk job of ``kind`` (``ingest`` or ``query``)."""
        if kind == "query" and self.bulk_query_rows_per_second:
            return self.bulk_query_rows_per_second
        return self.bulk_rows_per_second
