"""Counting and dead-lettering shared by the REST path and the Bulk settlement of a run."""

from __future__ import annotations

from typing import cast

from airflow_provider_rudder_sf.mapping import FieldIssue
from airflow_provider_rudder_sf.mapping.check import issues_reason
from airflow_provider_rudder_sf.salesforce.bulk import worst_stop
from airflow_provider_rudder_sf.salesforce.errors import (
    BudgetExhausted,
    SessionExpired,
    StopReason,
    TransientError,
    stop_reason,
)
from airflow_provider_rudder_sf.sync.ports import DeadLetterSink, Log
from airflow_provider_rudder_sf.sync.summary import SyncSummary


def count_record(summary: SyncSummary, status: str, records: int = 1) -> None:
    if status == "created":
        summary.created += records
    elif status == "updated":
        summary.updated += records
    else:
        summary.failed += records


def note_stop(summary: SyncSummary, stop: StopReason | None, what: str) -> None:
    if stop is None:
        return
    summary.stop_reason = worst_stop([cast("StopReason | None", summary.stop_reason), stop])
    summary.stop_message = f"{what}; a retry or the next run sends them."


# What stops a run cleanly before it writes (the budget, the session, lasting transient trouble); a retry sends
# the rest.
STOPPING_ERRORS = (BudgetExhausted, SessionExpired, TransientError)


def stop_before_writing(exc: Exception, events: int, summary: SyncSummary, log: Log) -> None:
    """One of :data:`STOPPING_ERRORS` stopped the run before ``events`` were sent."""
    reason = stop_reason(exc)
    summary.stop_reason = reason
    summary.stop_message = str(exc)
    summary.unsent += events
    log.warning("Stopped before writing (%s): %s", reason, exc)


def note_dead_letters(summary: SyncSummary, dead_letters: DeadLetterSink) -> None:
    """Name the dead-letter file once something was written there (a run continued elsewhere keeps its earlier
    file's name when it writes nothing more)."""
    if dead_letters.count:
        summary.dead_letter_location = dead_letters.location or None


def issue_dict(issue: FieldIssue) -> dict[str, str]:
    return {"object": issue.sobject, "field": issue.field, "code": issue.code, "reason": issue.reason}


def skipped_line(
    raw: object,
    origin: str,
    seq: int,
    issues: tuple[FieldIssue, ...],
    dead_letters: DeadLetterSink,
    summary: SyncSummary,
) -> None:
    dead_letters.write(
        raw,
        stage="schema",
        code="fields_skipped",
        reason=issues_reason(issues) + " The record was written without them.",
        origin=origin,
        seq=seq,
        extra={"fields": [issue_dict(i) for i in issues]},
    )
    summary.partial += 1
    for issue in issues:
        summary.fields_skipped[f"{issue.sobject}.{issue.field}"] += 1
