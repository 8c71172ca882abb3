"""One sync run, Airflow-free: staged records -> mapping core -> Salesforce writer -> summary and dead letters.

The operator, dry runs, the example DAGs and the benchmarks all go through :func:`run_sync`, so there is one
definition of what a run does. Every event read ends as exactly one of applied, ignored, dead-lettered, or (when
the run stopped early on the API budget or lasting transient trouble) unsent, left for the retry.
"""

from __future__ import annotations

import gc
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import msgspec

from airflow_provider_rudder_sf.mapping import (
    IdentifyEvent,
    Ignored,
    LeadMatch,
    MappingOptions,
    Plan,
    Rejected,
    Write,
    build_plan,
    classify,
    lead_emails,
)
from airflow_provider_rudder_sf.mapping.model import Stage
from airflow_provider_rudder_sf.salesforce.errors import (
    BudgetExhausted,
    ReserveReached,
    SessionExpired,
    TransientError,
)
from airflow_provider_rudder_sf.salesforce.writer import MAX_COLLECTION_SIZE, BatchProgress, WriteReport
from airflow_provider_rudder_sf.sources import StagedRecord
from airflow_provider_rudder_sf.sync.spool import Entry, Spool
from airflow_provider_rudder_sf.sync.summary import SyncSummary

_STOPS: tuple[tuple[type[Exception], str], ...] = (
    (ReserveReached, "api_reserve"),
    (BudgetExhausted, "request_limit"),
    (SessionExpired, "session_expired"),
    (TransientError, "transient"),
)


class Log(Protocol):
    """A standard library logger or Airflow's task logger: %-style messages only, so both work."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


class Writer(Protocol):
    """What the engine needs from :class:`~airflow_provider_rudder_sf.salesforce.writer.SalesforceWriter`."""

    @property
    def api_calls(self) -> int: ...

    def lookup_leads(self, emails: Iterable[str]) -> dict[str, tuple[LeadMatch, ...]]: ...

    def write(
        self, writes: Sequence[Write], *, on_batch: Callable[[BatchProgress], None] | None = None
    ) -> WriteReport: ...


class DeadLetterSink(Protocol):
    """What the engine needs from :class:`~airflow_provider_rudder_sf.deadletter.DeadLetterWriter`."""

    count: int

    @property
    def location(self) -> str: ...

    def write(
        self, event: object, *, stage: Stage, code: str, reason: str, origin: str | None = None, seq: int | None = None
    ) -> None: ...


class LogOnlyDeadLetters:
    """Used when no ``dead_letter`` location is configured: counts and logs codes, so nothing is silently dropped."""

    location = ""

    def __init__(self, log: Log) -> None:
        self._log = log
        self.count = 0

    def write(
        self, event: object, *, stage: Stage, code: str, reason: str, origin: str | None = None, seq: int | None = None
    ) -> None:
        # The reason may quote a trait value (PII): log only the code and where the event came from.
        self.count += 1
        self._log.warning("Dead letter (no dead_letter location set): %s at %s stage, from %s", code, stage, origin)


def run_sync(
    records: Iterable[StagedRecord],
    writer: Writer,
    dead_letters: DeadLetterSink,
    *,
    options: MappingOptions,
    dry_run: bool = False,
    log: Log | None = None,
    memory_limit: int = 50_000,
    partitions: int = 32,
    sample_size: int = 5,
) -> SyncSummary:
    log = log or logging.getLogger(__name__)
    summary = SyncSummary(dry_run=dry_run)
    decode = msgspec.json.Decoder().decode
    with Spool(options, decode, memory_limit=memory_limit, partitions=partitions) as spool:
        with _gc_paused():
            _read(records, spool, dead_letters, options, decode, summary, log)
        log.info(
            "Read %d events: %d for Salesforce, %d ignored, %d rejected while reading (more may be rejected "
            "while mapping; the summary has the total)%s",
            summary.read,
            spool.count,
            summary.ignored,
            summary.rejected,
            f" (spilled to {spool.groups} partitions to bound memory)" if spool.spilled else "",
        )
        for index, group in enumerate(spool.groups_of_events(), start=1):
            if summary.stop_reason is not None:
                summary.unsent += len(group)
                continue
            if spool.spilled:
                log.info("Partition %d of %d: %d events", index, spool.groups, len(group))
            _sync_group(group, writer, dead_letters, options, dry_run, sample_size, summary, log)
    summary.api_calls = writer.api_calls
    summary.dead_letter_location = dead_letters.location or None if dead_letters.count else None
    return summary


def _read(
    records: Iterable[StagedRecord],
    spool: Spool,
    dead_letters: DeadLetterSink,
    options: MappingOptions,
    decode: Callable[[str], Any],
    summary: SyncSummary,
    log: Log,
) -> None:
    for seq, record in enumerate(records):
        outcome = classify(record.raw, seq, options, decode)
        if isinstance(outcome, IdentifyEvent):
            spool.add(outcome, record.origin)
        elif isinstance(outcome, Ignored):
            summary.ignored += 1
            summary.ignored_by_reason[outcome.reason] += 1
        else:
            _dead_letter_rejected(outcome, record.origin, dead_letters, summary)
        if seq % 100_000 == 99_999:
            log.info("Read %d events so far", seq + 1)
    summary.read = spool.count + summary.ignored + summary.rejected


def _sync_group(
    group: list[Entry],
    writer: Writer,
    dead_letters: DeadLetterSink,
    options: MappingOptions,
    dry_run: bool,
    sample_size: int,
    summary: SyncSummary,
    log: Log,
) -> None:
    origins = {event.seq: (event, origin) for event, origin in group}
    events = [event for event, _ in group]
    try:
        emails = lead_emails(events)
        matches = writer.lookup_leads(emails) if emails else {}
    except (BudgetExhausted, SessionExpired, TransientError) as exc:
        _stop(exc, len(group), summary, log)
        return
    log.info("Looked up %d e-mails: %d already in Salesforce", len(emails), len(matches))
    with _gc_paused():
        plan = build_plan(events, matches, options)
    summary.dropped_system_fields.update(plan.dropped_system_fields)
    for rejected in plan.rejected:
        _dead_letter_rejected(rejected, origins[rejected.seq][1], dead_letters, summary)

    if dry_run:
        _record_dry_run(plan, sample_size, summary)
        summary.unsent += len({seq for write in plan.writes for seq in write.sources})
        return

    report = writer.write(plan.writes)  # the writer logs each batch: "Batch i of n"
    _apply_report(report, origins, dead_letters, summary)
    if report.stop_reason is not None:
        summary.stop_reason = report.stop_reason
        summary.stop_message = f"{len(report.unsent)} records were not sent; a retry or the next run sends them."
        log.warning("Stopped early (%s): %s", summary.stop_reason, summary.stop_message)


def _apply_report(
    report: WriteReport,
    origins: dict[int, tuple[IdentifyEvent, str]],
    dead_letters: DeadLetterSink,
    summary: SyncSummary,
) -> None:
    failed_events: dict[int, tuple[str, str]] = {}
    succeeded_events: set[int] = set()
    for result in report.results:
        if result.status == "created":
            summary.created += 1
        elif result.status == "updated":
            summary.updated += 1
        else:
            summary.failed += 1
        for seq in result.write.sources:
            if result.ok:
                succeeded_events.add(seq)
            else:
                code = result.code or "UNKNOWN_ERROR"
                message = result.message or "Salesforce refused the record without a message."
                failed_events.setdefault(seq, (code, f"{result.write.sobject} {result.write.operation}: {message}"))
    unsent_events = {seq for write in report.unsent for seq in write.sources} - failed_events.keys()
    for seq, (code, reason) in failed_events.items():
        event, origin = origins[seq]
        dead_letters.write(event.raw, stage="salesforce", code=code, reason=reason, origin=origin, seq=seq)
        summary.dead_lettered += 1
        summary.dead_letters_by_code[code] += 1
    summary.unsent += len(unsent_events)
    summary.applied += len(succeeded_events - failed_events.keys() - unsent_events)


def _dead_letter_rejected(rejected: Rejected, origin: str, dead_letters: DeadLetterSink, summary: SyncSummary) -> None:
    dead_letters.write(
        rejected.raw, stage=rejected.stage, code=rejected.code, reason=rejected.reason, origin=origin, seq=rejected.seq
    )
    summary.rejected += 1
    summary.dead_lettered += 1
    summary.dead_letters_by_code[rejected.code] += 1


def _record_dry_run(plan: Plan, sample_size: int, summary: SyncSummary) -> None:
    groups: Counter[tuple[str, str]] = Counter()
    for write in plan.writes:
        groups[(write.sobject, write.operation)] += 1
        if write.operation == "update":
            summary.planned_updates += 1
        else:
            summary.planned_creates += 1
        if len(summary.sample_changes) < sample_size:
            summary.sample_changes.append(
                {
                    "sobject": write.sobject,
                    "operation": write.operation,
                    "record_id": write.record_id,
                    "fields": sorted(write.fields),
                    "events": len(write.sources),
                }
            )
    summary.planned_write_calls += sum(math.ceil(n / MAX_COLLECTION_SIZE) for n in groups.values())


def _stop(exc: Exception, events: int, summary: SyncSummary, log: Log) -> None:
    reason = next(name for kind, name in _STOPS if isinstance(exc, kind))
    summary.stop_reason = reason
    summary.stop_message = str(exc)
    summary.unsent += events
    log.warning("Stopped before writing (%s): %s", reason, exc)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The CPU-bound phases build millions of short-lived acyclic objects; cyclic GC passes only slow them down."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
