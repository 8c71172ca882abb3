"""One sync run, Airflow-free: staged records -> mapping core -> Salesforce writer -> summary and dead letters.

The operator, dry runs, the example DAGs and the benchmarks all go through :func:`run_sync`, so there is one
definition of what a run does. Every event read ends as exactly one of applied, ignored, dead-lettered, or (when
the run stopped early on the API budget or lasting transient trouble) unsent, left for the retry.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from airflow_provider_rudder_sf.mapping import (
    FieldIssue,
    IdentifyEvent,
    Ignored,
    MappingOptions,
    Plan,
    Rejected,
    build_plan,
    classify,
    record_key,
    shard_of,
)
from airflow_provider_rudder_sf.salesforce.bulk import (
    DEFAULT_BULK_THRESHOLD,
    WriteMode,
    choose_write_mode,
)
from airflow_provider_rudder_sf.salesforce.results import WriteReport
from airflow_provider_rudder_sf.sources import StagedRecord
from airflow_provider_rudder_sf.sync.accounting import (
    STOPPING_ERRORS,
    count_record,
    issue_dict,
    note_dead_letters,
    skipped_line,
    stop_before_writing,
)
from airflow_provider_rudder_sf.sync.bulkrun import flush, hand_off
from airflow_provider_rudder_sf.sync.gcpause import gc_frozen, gc_paused
from airflow_provider_rudder_sf.sync.handoff import (
    Handoff,
    PendingEvent,
    event_key,
)
from airflow_provider_rudder_sf.sync.lookups import NOTHING_PREFETCHED, LookAhead, Prefetched, look_up
from airflow_provider_rudder_sf.sync.ports import DeadLetterSink, Log, Writer
from airflow_provider_rudder_sf.sync.spool import Entry, Spool
from airflow_provider_rudder_sf.sync.summary import SyncSummary


class ConfigurationError(ValueError):
    """The run's configuration cannot work against this org (a field_map to a missing field, ...): fail once,
    before any write, and do not retry."""


@gc_frozen
@gc_paused()  # reading, looking up, planning and staging: millions of objects, none in a cycle
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
    shard: tuple[int, int] | None = None,
    write_mode: WriteMode = "rest",
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    handoff: Handoff | None = None,
    skip: Counter[str] | None = None,
    summary: SyncSummary | None = None,
) -> SyncSummary:
    """``shard=(index, count)`` keeps only this shard's part of the input: the events whose record key hashes to
    ``index`` and every ``count``-th other line, so ``count`` tasks reading the same files split them exactly.
    ``write_mode="auto"`` writes a group of ``bulk_threshold`` or more records through Bulk API 2.0, smaller ones
    over REST; ``summary.write_mode`` is ``"bulk"`` when any group used Bulk.

    With a ``handoff``, Bulk jobs are recorded in its ledger and left running: their events are counted in
    ``handoff.pending_events`` until :func:`account_finished` settles them. ``skip`` holds the keys
    (:func:`~airflow_provider_rudder_sf.sync.handoff.event_key`) of events an earlier try's jobs already settled:
    they are not read again. ``summary`` continues one (a resumed run's)."""
    log = log or logging.getLogger(__name__)
    summary = summary if summary is not None else SyncSummary(dry_run=dry_run)
    decode = msgspec.json.Decoder().decode
    check_field_map(writer, options)
    with Spool(memory_limit=memory_limit, partitions=partitions) as spool:
        ahead = LookAhead(writer, options)
        _read(records, spool, dead_letters, options, decode, summary, log, shard, skip, ahead)
        log.info(
            "Read %d events: %d for Salesforce, %d ignored, %d rejected while reading (more may be rejected "
            "while mapping; the summary has the total)%s",
            summary.read,
            spool.count,
            summary.ignored,
            summary.rejected,
            f" (spilled to {spool.groups} partitions to bound memory)" if spool.spilled else "",
        )
        prefetched = ahead.prefetch(spool.groups, summary, log) if spool.spilled else NOTHING_PREFETCHED
        del ahead
        for index, group in enumerate(spool.groups_of_events(), start=1):
            if summary.stop_reason is not None:
                summary.unsent += len(group)
                continue
            if spool.spilled:
                log.info("Partition %d of %d: %d events", index, spool.groups, len(group))
            _sync_group(
                group,
                writer,
                dead_letters,
                options,
                dry_run,
                sample_size,
                summary,
                log,
                (write_mode, bulk_threshold, spool.count if spool.spilled and handoff is not None else 0),
                handoff,
                prefetched,
            )
        if handoff is not None:
            flush(handoff, writer, dead_letters, summary, log)
    summary.api_calls = writer.api_calls
    summary.describe_calls = writer.describe_calls
    note_dead_letters(summary, dead_letters)
    return summary


def _read(
    records: Iterable[StagedRecord],
    spool: Spool,
    dead_letters: DeadLetterSink,
    options: MappingOptions,
    decode: Callable[[str], Any],
    summary: SyncSummary,
    log: Log,
    shard: tuple[int, int] | None = None,
    skip: Counter[str] | None = None,
    ahead: LookAhead | None = None,
) -> None:
    """Classify and spool the records; ``ahead`` gathers what the look-ups will need."""
    index, count = shard or (0, 1)
    skip = skip if skip else None
    before = summary.read - summary.ignored - summary.rejected  # a continued summary's earlier events
    skipped = 0
    for seq, record in enumerate(records):
        problem = record.problem
        if problem is not None:  # an unreadable file's rest or an over-long line: never parsed
            if seq % count == index:
                rejected = Rejected(record.raw, "parse", problem.code, problem.reason, seq)
                _dead_letter_rejected(rejected, record.origin, dead_letters, summary)
            continue
        outcome = classify(record.raw, seq, options, decode)
        if count > 1:
            mine = shard_of(record_key(outcome), count) if isinstance(outcome, IdentifyEvent) else seq % count
            if mine != index:
                continue
        if isinstance(outcome, IdentifyEvent):
            if skip is not None and skip[key := event_key(outcome.raw)] > 0:
                skip[key] -= 1  # settled by an earlier try's Bulk job: counted when it was accounted for
                skipped += 1
                continue
            spool.add(outcome, record.origin)
            if ahead is not None:
                ahead.note(outcome)
        elif isinstance(outcome, Ignored):
            summary.ignored += 1
            summary.ignored_by_reason[outcome.reason] += 1
        else:
            _dead_letter_rejected(outcome, record.origin, dead_letters, summary)
        if seq % 100_000 == 99_999:
            log.info("Read %d lines so far", seq + 1)
    summary.read = before + spool.count + summary.ignored + summary.rejected
    if skipped:
        log.info("Skipped %d events an earlier try's Bulk jobs already settled", skipped)


def _sync_group(
    group: list[Entry],
    writer: Writer,
    dead_letters: DeadLetterSink,
    options: MappingOptions,
    dry_run: bool,
    sample_size: int,
    summary: SyncSummary,
    log: Log,
    write_policy: tuple[WriteMode, int, int] = ("rest", DEFAULT_BULK_THRESHOLD, 0),
    handoff: Handoff | None = None,
    prefetched: Prefetched = NOTHING_PREFETCHED,
) -> None:
    origins = {event.seq: (event, origin) for event, origin in group}
    events = [event for event, _ in group]
    try:
        found = look_up(events, writer, options, log, prefetched)
    except STOPPING_ERRORS as exc:
        stop_before_writing(exc, len(group), summary, log)
        return
    plan = build_plan(events, found.leads, options, record_matches=found.records, schemas=found.schemas)
    summary.dropped_system_fields.update(plan.dropped_system_fields)
    _record_schema_report(plan, summary)
    for rejected in plan.rejected:
        extra = {"fields": [issue_dict(i) for i in rejected.fields]} if rejected.fields else None
        _dead_letter_rejected(rejected, origins[rejected.seq][1], dead_letters, summary, extra)

    if dry_run:
        _record_dry_run(plan, sample_size, summary, writer)
        summary.unsent += len({seq for write in plan.writes for seq in write.sources})
        return

    # A spilled run whose Bulk jobs span its partitions decides on the whole run (its eligible events), not on
    # one partition's share of it.
    policy, threshold, run_events = write_policy
    mode = choose_write_mode(policy, max(len(plan.writes), run_events), threshold)
    if mode == "bulk":
        summary.write_mode = "bulk"
        log.info(
            "%s %d records for Bulk API 2.0 (write_mode=%s)",
            "Staging" if handoff is not None else "Writing",
            len(plan.writes),
            policy,
        )
    if mode == "bulk" and handoff is not None:
        report = hand_off(handoff, writer, plan, origins)  # the jobs' events are settled later
    else:
        report = writer.write(plan.writes, mode=mode)  # the writer logs each batch (or Bulk job): "i of n"
    applied = _apply_report(report, origins, dead_letters, summary)
    _write_skipped_fields(plan.field_issues, applied, origins, dead_letters, summary)
    if report.stop_reason is not None:
        summary.stop_reason = report.stop_reason
        summary.stop_message = f"{len(report.unsent)} records were not sent; a retry or the next run sends them."
        log.warning("Stopped early (%s): %s", summary.stop_reason, summary.stop_message)


def check_field_map(writer: Writer, options: MappingOptions) -> None:
    """Every ``field_map`` target must exist on its object for this user: a configuration error otherwise,
    raised before anything is read or written."""
    if not options.field_map:
        return
    schemas = writer.schemas(options.field_map)
    problems = []
    for sobject, paths in options.field_map.items():
        schema = schemas.get(sobject)
        if schema is None:
            problems.append(f"object {sobject!r} does not exist for the integration user")
            continue
        for path, target in paths.items():
            if schema.field(target) is None:
                problems.append(
                    f"{schema.name}.{target} (for trait {path!r}) does not exist or is hidden from the user"
                )
    if problems:
        raise ConfigurationError(
            "field_map names fields the org does not have: " + "; ".join(problems) + ". Create the fields (or fix "
            "field_map) and run again; nothing was written."
        )


def _record_schema_report(plan: Plan, summary: SyncSummary) -> None:
    for (sobject, field, code), events in plan.schema_issues.items():
        summary.schema_issues[f"{sobject}.{field}"][code] += events
    for (sobject, field, coercion), events in plan.coercions.items():
        summary.coercions[f"{sobject}.{field}"][coercion] += events


def _write_skipped_fields(
    field_issues: Mapping[int, tuple[FieldIssue, ...]],
    applied: set[int],
    origins: Mapping[int, tuple[IdentifyEvent | PendingEvent, str]],
    dead_letters: DeadLetterSink,
    summary: SyncSummary,
) -> None:
    """An applied event that lost fields gets a ``fields_skipped`` line, so a replay after the admin's fix
    completes the record. It stays applied: not dead-lettered, not in the ratio."""
    for seq, issues in field_issues.items():
        if seq not in applied:
            continue
        event, origin = origins[seq]
        skipped_line(event.raw, origin, seq, issues, dead_letters, summary)


def _apply_report(
    report: WriteReport,
    origins: Mapping[int, tuple[IdentifyEvent | PendingEvent, str]],
    dead_letters: DeadLetterSink,
    summary: SyncSummary,
) -> set[int]:
    """Count the results and dead-letter the refused events; returns the events applied."""
    failed_events: dict[int, tuple[str, str]] = {}
    duplicates: dict[int, tuple[str, ...]] = {}
    succeeded_events: set[int] = set()
    for result in report.results:
        count_record(summary, result.status)
        for seq in result.write.sources:
            if result.ok:
                succeeded_events.add(seq)
            else:
                code = result.code or "UNKNOWN_ERROR"
                message = result.message or "Salesforce refused the record without a message."
                failed_events.setdefault(seq, (code, f"{result.write.sobject} {result.write.operation}: {message}"))
                if result.duplicates:
                    duplicates.setdefault(seq, result.duplicates)
    unsent_events = {seq for write in report.unsent for seq in write.sources} - failed_events.keys()
    for seq, (code, reason) in failed_events.items():
        event, origin = origins[seq]
        extra = {"duplicates": list(duplicates[seq])} if seq in duplicates else None
        dead_letters.write(event.raw, stage="salesforce", code=code, reason=reason, origin=origin, seq=seq, extra=extra)
        summary.dead_lettered += 1
        summary.dead_letters_by_code[code] += 1
    summary.unsent += len(unsent_events)
    applied = succeeded_events - failed_events.keys() - unsent_events
    summary.applied += len(applied)
    return applied


def _dead_letter_rejected(
    rejected: Rejected,
    origin: str,
    dead_letters: DeadLetterSink,
    summary: SyncSummary,
    extra: Mapping[str, Any] | None = None,
) -> None:
    dead_letters.write(
        rejected.raw,
        stage=rejected.stage,
        code=rejected.code,
        reason=rejected.reason,
        origin=origin,
        seq=rejected.seq,
        extra=extra,
    )
    summary.rejected += 1
    summary.dead_lettered += 1
    summary.dead_letters_by_code[rejected.code] += 1


def _record_dry_run(plan: Plan, sample_size: int, summary: SyncSummary, writer: Writer) -> None:
    for write in plan.writes:
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
    summary.planned_write_calls += writer.batch_count(plan.writes)
