"""A run's Bulk API 2.0 side: staging each partition's writes (:func:`hand_off`), submitting them once for the whole
run (:func:`flush`), and settling the jobs when they end (:func:`settle_jobs`), whoever does it: the same worker, a
deferred task's ``execute_complete``, or a retry. Rows are read back from the ledger in a stream; a record is
decoded only when it failed or goes over REST."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

from airflow_provider_rudder_sf.mapping import IdentifyEvent, Plan, Write
from airflow_provider_rudder_sf.salesforce.bulk import BulkWriter, RowResult, worst_stop
from airflow_provider_rudder_sf.salesforce.errors import StopReason
from airflow_provider_rudder_sf.salesforce.results import RestWrite, WriteReport, WriteResult
from airflow_provider_rudder_sf.sync.accounting import count_record, note_dead_letters, note_stop, skipped_line
from airflow_provider_rudder_sf.sync.gcpause import gc_paused
from airflow_provider_rudder_sf.sync.handoff import (
    Handoff,
    JobRecord,
    Ledger,
    PendingEvent,
    events_of,
    finish,
    raw_event,
    write_of,
)
from airflow_provider_rudder_sf.sync.ports import DeadLetterSink, Log, Writer
from airflow_provider_rudder_sf.sync.summary import SyncSummary


def hand_off(
    handoff: Handoff, writer: Writer, plan: Plan, origins: dict[int, tuple[IdentifyEvent, str]]
) -> WriteReport:
    """Stage the group's Bulk-bound writes (submitted once, for all groups, by :func:`_flush`); what Bulk cannot
    carry goes over REST now. The report holds only what REST settled and what it did not send."""
    rest = [plan.writes[i] for i in handoff.add(plan.writes, origins, plan)]
    if not rest:
        return WriteReport(results=(), unsent=(), stop_reason=None, api_calls=0, api_usage=None)
    return writer.write(rest, mode="rest")


def flush(handoff: Handoff, writer: Writer, dead_letters: DeadLetterSink, summary: SyncSummary, log: Log) -> None:
    """Submit every staged write as Bulk jobs (recorded in the ledger); rows Bulk refuses go over REST now."""
    if not handoff.pending_events:
        return
    flushed = handoff.flush(log)
    log.info(
        "Submitted %d Bulk job(s) for %d events; their results are collected when the jobs end",
        flushed.jobs,
        handoff.pending_events,
    )
    if flushed.rest:
        report = writer.write([w for w, _ in flushed.rest], mode="rest")
        _settle_rows(_by_identity(flushed.rest, report), dead_letters, summary, resumed=False)
        note_stop(summary, report.stop_reason, f"{len(report.unsent)} records were not sent")
    if flushed.unsent_events:
        summary.unsent += flushed.unsent_events
        note_stop(summary, flushed.stop_reason, f"the Bulk jobs of {flushed.unsent_events} events were not submitted")


class _Answer(NamedTuple):
    """What became of one record, as much as the counts and dead letters need."""

    sobject: str
    operation: str
    status: str
    code: str | None = None
    message: str | None = None
    duplicates: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: WriteResult) -> _Answer:
        w = result.write
        return cls(w.sobject, w.operation, result.status, result.code, result.message, result.duplicates)


SETTLE_BATCH = 10_000  # rows whose events are held at once while a job is settled


@gc_paused()  # settling builds an object or more per event, none of them in a cycle
def settle_jobs(
    ledger: Ledger,
    bulk: BulkWriter,
    rest: RestWrite,
    dead_letters: DeadLetterSink,
    summary: SyncSummary,
    *,
    resumed: bool,
    log: Log,
    tally: Callable[[str, str, int], None] | None = None,
) -> Counter[str]:
    """Collect every job of ``ledger`` (waiting for those still running) and settle its events.
    ``tally(sobject, status, records)`` sees every record (the operator counts them per object).

    ``resumed``: the jobs come from an earlier try whose summary is lost. Their settled events are counted as read
    here, and their unsent ones are not counted at all: the input is read again and plans them anew. Only then
    are the keys of the events settled returned, for that reading to skip (otherwise the Counter is empty: at a
    million events, the keys alone would hold about 100 MB until the end).

    Rows are read back in a stream; a record is decoded only when it failed or goes over REST."""
    done: Counter[str] = Counter()
    for outcome in finish(ledger, bulk, log=log):
        sobject = outcome.record.sobject
        every = outcome.rows.every_row
        if every is not None and not resumed and outcome.record.events_with_issues == 0:
            _settle_from_counts(outcome.record, every, summary, tally)  # its rows are not read back at all
            continue
        saved = {status: _Answer(sobject, "", status) for status in ("created", "updated")}
        results: list[RowResult | None] = [None] * (outcome.record.rows if every is None else 0)
        for answer in outcome.rows.results:
            results[answer.index] = answer
        outcome.rows.results.clear()
        by_rest = set(outcome.rows.rest)
        settled: list[tuple[_Answer | None, list[PendingEvent]]] = []
        later: list[tuple[Write, list[PendingEvent]]] = []
        for index, (write_data, event_data) in enumerate(outcome.lines()):
            result = results[index] if every is None else None
            if every is not None:
                settled.append((saved[every], events_of(event_data)))
            elif result is not None and result.status != "failed":
                settled.append((saved[result.status], events_of(event_data)))
            elif result is not None:
                settled.append((_Answer.of(result.for_write(write_of(write_data))), events_of(event_data)))
            elif index in by_rest:
                later.append((write_of(write_data), events_of(event_data)))
            else:
                settled.append((None, events_of(event_data)))
            if len(settled) >= SETTLE_BATCH:
                done += _settle_rows(settled, dead_letters, summary, resumed=resumed, tally=tally)
                settled = []
        done += _settle_rows(settled, dead_letters, summary, resumed=resumed, tally=tally)
        stop: StopReason | None = "transient" if outcome.rows.unsent else None
        if later:
            log.info("Sending %d record(s) over REST (Bulk API 2.0 could not take them as they are)", len(later))
            report = rest([w for w, _ in later])
            done += _settle_rows(_by_identity(later, report), dead_letters, summary, resumed=resumed, tally=tally)
            stop = worst_stop([stop, report.stop_reason])
        if not resumed:
            note_stop(summary, stop, "records of a Bulk job were not processed")
        summary.write_mode = "bulk"
    note_dead_letters(summary, dead_letters)
    return done


def _settle_from_counts(
    record: JobRecord,
    status: Literal["created", "updated"],
    summary: SyncSummary,
    tally: Callable[[str, str, int], None] | None,
) -> None:
    """A job saved whole, none of whose events has skipped fields, settled as :func:`_settle_rows` would settle its
    rows one by one (a first try: no keys to keep)."""
    assert record.events is not None
    if tally is not None:
        tally(record.sobject, status, record.rows)
    count_record(summary, status, record.rows)
    summary.applied += record.events
    summary.write_mode = "bulk"


def _by_identity(
    rows: list[tuple[Write, list[PendingEvent]]], report: WriteReport
) -> list[tuple[_Answer | None, list[PendingEvent]]]:
    """REST's answers for ``rows`` (a write REST did not send has none)."""
    answers = {id(result.write): _Answer.of(result) for result in report.results}
    return [(answers.get(id(write)), events) for write, events in rows]


def _settle_rows(
    rows: Sequence[tuple[_Answer | None, Sequence[PendingEvent]]],
    dead_letters: DeadLetterSink,
    summary: SyncSummary,
    *,
    resumed: bool,
    tally: Callable[[str, str, int], None] | None = None,
) -> Counter[str]:
    """Count records and events as the engine counts a REST report, for rows of a finished Bulk job (no answer: the
    row was not processed). Returns the keys of the events settled when ``resumed``."""
    done: Counter[str] = Counter()
    for answer, events in rows:
        if answer is None:
            if not resumed:
                summary.unsent += len(events)
            continue
        if tally is not None:
            tally(answer.sobject, answer.status, 1)
        count_record(summary, answer.status)
        for event in events:
            if resumed:
                done[event.key] += 1
                summary.read += 1
            if answer.status != "failed":
                summary.applied += 1
                if event.issues:
                    skipped_line(raw_event(event.raw), event.origin, event.seq, event.issues, dead_letters, summary)
                continue
            code = answer.code or "UNKNOWN_ERROR"
            message = answer.message or "Salesforce refused the record without a message."
            extra = {"duplicates": list(answer.duplicates)} if answer.duplicates else None
            dead_letters.write(
                raw_event(event.raw),
                stage="salesforce",
                code=code,
                reason=f"{answer.sobject} {answer.operation}: {message}",
                origin=event.origin,
                seq=event.seq,
                extra=extra,
            )
            summary.dead_lettered += 1
            summary.dead_letters_by_code[code] += 1
    return done
