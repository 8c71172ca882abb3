"""What a write to Salesforce answers, whichever API carried it (Collections or Bulk API 2.0)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from airflow_provider_rudder_sf.mapping.model import Write
from airflow_provider_rudder_sf.salesforce.errors import StopReason

WriteStatus = Literal["created", "updated", "failed"]


@dataclass(frozen=True)
class WriteResult:
    """What Salesforce did with one ``Write``; ``code``/``message`` are Salesforce's statusCode and text."""

    write: Write
    status: WriteStatus
    record_id: str | None = None
    code: str | None = None
    message: str | None = None
    duplicates: tuple[str, ...] = ()  # record ids a duplicate rule matched (code duplicate_rule)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True)
class BatchProgress:
    """Reported after each Collections batch so the caller can log "batch i of n"."""

    index: int
    total: int
    records: int
    ok: int
    failed: int


@dataclass(frozen=True)
class WriteReport:
    """Outcome of :meth:`SalesforceWriter.write`.

    ``results`` and ``unsent`` keep input order; ``unsent`` are writes not (known to be) applied because the
    run stopped (``stop_reason``); send them again later. ``api_calls`` counts the requests this write sent.
    """

    results: tuple[WriteResult, ...]
    unsent: tuple[Write, ...]
    stop_reason: StopReason | None
    api_calls: int
    api_usage: tuple[int, int] | None

    @property
    def created(self) -> int:
        return sum(1 for r in self.results if r.status == "created")

    @property
    def updated(self) -> int:
        return sum(1 for r in self.results if r.status == "updated")

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.status == "failed")


# Sends writes over REST (Collections): how a Bulk writer hands on the records Bulk API 2.0 cannot carry.
RestWrite = Callable[[Sequence[Write]], WriteReport]
