"""Bulk jobs that outlive the process that submitted them: recorded before upload, finished by whoever comes next.

When a run writes through Bulk API 2.0 and has a place to keep state (the task's dead-letter directory, shared by
every worker), each job is recorded there before its data is uploaded: first its id in the ledger, then its rows
(the writes, and the events behind each one with their origins). Whoever finishes the run reads the ledger back:
the same worker after polling, ``execute_complete`` after the triggerer waited, or the retry of a worker that was
killed at any step. For each job it asks Salesforce where the job is:

* ``Open`` (the upload may or may not have landed, but nothing is processed before the close): abort it; its
  events are planned again, from a fresh look-up;
* closed (processing or ended): wait for it, collect its results, and account its events exactly once:
  applied, dead-lettered, or left for the retry.

The rows hold personal data, like the dead letters beside them: they are owner-only files on local disks and are
deleted as soon as their job is accounted for.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import msgspec

from airflow_provider_rudder_sf.mapping import FieldIssue, Plan, Write
from airflow_provider_rudder_sf.salesforce.bulk import BulkJob, BulkSubmission, BulkWriter, Fingerprint
from airflow_provider_rudder_sf.salesforce.errors import PermanentError
from airflow_provider_rudder_sf.salesforce.writer import WriteReport

LEDGER = "_bulk-jobs.json"
SUMMARY = "_bulk-summary.json"
_VERSION = 1
_encode = msgspec.json.Encoder(order="sorted").encode


def rows_name(job_id: str) -> str:
    return f"_bulk-rows-{job_id}.jsonl.gz"


class LedgerStore(Protocol):
    """Small named files in one directory that every worker can reach (local paths owner-only)."""

    @property
    def location(self) -> str: ...

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...

    def delete(self, name: str) -> None: ...


class PendingEvent(NamedTuple):
    """An event behind a row of a Bulk job: enough to dead-letter it or to say it was applied."""

    seq: int
    key: str
    origin: str
    raw: object
    issues: tuple[FieldIssue, ...] = ()


def event_key(raw: object) -> str:
    """Names one staged event across tries without keeping it: the same line (or row) gives the same key."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else _encode(raw)
    return hashlib.blake2b(data, digest_size=12).hexdigest()


@dataclass
class JobRecord:
    """One job as the ledger keeps it (no record values: those are in its rows file)."""

    id: str
    sobject: str
    operation: str
    external_id_field: str | None
    columns: tuple[str, ...]
    key: str | None
    rows: int

    def job(self, state: str) -> BulkJob:
        return BulkJob(
            self.id,
            self.sobject,
            self.operation,
            self.external_id_field,
            self.columns,
            tuple(range(self.rows)),
            state,
            self.key,
        )


@dataclass
class Ledger:
    """The Bulk jobs one task has submitted and not yet accounted for."""

    store: LedgerStore
    jobs: list[JobRecord] = field(default_factory=list)

    @classmethod
    def load(cls, store: LedgerStore) -> Ledger:
        data = store.read(LEDGER)
        if data is None:
            return cls(store)
        content = msgspec.json.decode(data)
        if content.get("version") != _VERSION:
            raise ValueError(f"{store.location}/{LEDGER} has an unknown version: {content.get('version')!r}")
        jobs = [
            JobRecord(
                str(j["id"]),
                str(j["sobject"]),
                str(j["operation"]),
                j.get("external_id_field"),
                tuple(j["columns"]),
                j.get("key"),
                int(j["rows"]),
            )
            for j in content["jobs"]
        ]
        return cls(store, jobs)

    def record(self, job: BulkJob, rows: Sequence[tuple[Write, Sequence[PendingEvent]]]) -> None:
        """Before the upload: the job id first (an id without rows is an Open job to abort), then its rows."""
        self.jobs.append(
            JobRecord(job.id, job.sobject, job.operation, job.external_id_field, job.columns, job.key, len(rows))
        )
        self._save_index()
        lines = (
            _encode([list(w), [[e.seq, e.key, e.origin, e.raw, [list(i) for i in e.issues]] for e in events]])
            for w, events in rows
        )
        self.store.write(rows_name(job.id), gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1))

    def rows(self, job_id: str) -> list[tuple[Write, list[PendingEvent]]] | None:
        data = self.store.read(rows_name(job_id))
        if data is None:
            return None
        rows = []
        for line in gzip.decompress(data).splitlines():
            if not line:
                continue
            w, events = msgspec.json.decode(line)
            key, sobject, operation, record_id, fields, sources, natural, external = w
            write = Write(
                key,
                sobject,
                operation,
                record_id,
                fields,
                tuple(sources),
                tuple(natural) if natural else None,
                external,
            )
            pending = [
                PendingEvent(int(seq), str(k), str(origin), raw, tuple(FieldIssue(*i) for i in issues))
                for seq, k, origin, raw, issues in events
            ]
            rows.append((write, pending))
        return rows

    def forget(self, job_id: str) -> None:
        self.jobs = [j for j in self.jobs if j.id != job_id]
        self._save_index()
        self.store.delete(rows_name(job_id))

    def save_summary(self, state: Mapping[str, Any]) -> None:
        self.store.write(SUMMARY, _encode(state))

    def load_summary(self) -> dict[str, Any] | None:
        data = self.store.read(SUMMARY)
        return msgspec.json.decode(data) if data is not None else None

    def clear(self) -> None:
        for job in list(self.jobs):
            self.store.delete(rows_name(job.id))
        self.jobs = []
        self.store.delete(LEDGER)
        self.store.delete(SUMMARY)

    def _save_index(self) -> None:
        jobs = [
            {
                "id": j.id,
                "sobject": j.sobject,
                "operation": j.operation,
                "external_id_field": j.external_id_field,
                "columns": list(j.columns),
                "key": j.key,
                "rows": j.rows,
            }
            for j in self.jobs
        ]
        self.store.write(LEDGER, _encode({"version": _VERSION, "jobs": jobs}))


class Handoff:
    """Submits a group's Bulk jobs through the ledger; :func:`finish` accounts for them later."""

    def __init__(self, ledger: Ledger, bulk: BulkWriter) -> None:
        self.ledger = ledger
        self.bulk = bulk
        self.pending_events = 0

    def submit(
        self,
        writes: Sequence[Write],
        events: Mapping[int, tuple[Any, str]],
        plan: Plan,
    ) -> BulkSubmission:
        """Submit ``writes`` as jobs, each recorded before its upload. ``events`` maps seq → (event, origin)."""

        def record(job: BulkJob, _prints: Sequence[Fingerprint]) -> None:
            rows = []
            for index in job.indices:
                w = writes[index]
                rows.append((w, [_pending(seq, events[seq], plan.field_issues.get(seq, ())) for seq in w.sources]))
            self.ledger.record(job, rows)
            self.pending_events += sum(len(w.sources) for w, _ in rows)

        return self.bulk.submit(writes, on_job=record)


def _pending(seq: int, event_origin: tuple[Any, str], issues: Iterable[FieldIssue]) -> PendingEvent:
    event, origin = event_origin
    return PendingEvent(seq, event_key(event.raw), origin, event.raw, tuple(issues))


def finish(
    ledger: Ledger,
    bulk: BulkWriter,
    rest: Callable[[Sequence[Write]], WriteReport],
    *,
    wait: bool = True,
    log: Any,
) -> Iterator[tuple[WriteReport, dict[int, PendingEvent]]]:
    """Collect every job of ``ledger``, one at a time, yielding its report (results and unsent writes, records
    Bulk could not take sent over REST with ``rest``) with the events behind it; each job is forgotten once the
    caller has accounted for it (after the ``yield``). Open jobs are aborted and forgotten, their events left for a
    new plan. A Salesforce error while asking about a job stops here: the job stays in the ledger for the retry."""
    for record in list(ledger.jobs):
        try:
            state = str(bulk.job_info(record.id).get("state"))
        except PermanentError as exc:
            log.warning("Bulk job %s is unknown to Salesforce (%s): its events are planned again", record.id, exc.code)
            ledger.forget(record.id)
            continue
        rows = ledger.rows(record.id)
        if state == "Open" or rows is None:
            if state == "Open":
                bulk.abort(record.id)
            log.warning(
                "Bulk job %s was never closed (the try that submitted it ended before): aborted, its events are "
                "planned again",
                record.id,
            )
            ledger.forget(record.id)
            continue
        writes = [w for w, _ in rows]
        events = {e.seq: e for _, pending in rows for e in pending}
        log.info(
            "Collecting Bulk job %s (%s %d %s record(s), %s)",
            record.id,
            record.operation,
            len(writes),
            record.sobject,
            state,
        )
        report = bulk.write_collected(record.job(state), writes, rest=rest)
        yield report, events
        ledger.forget(record.id)


def accounted(report: WriteReport, events: Mapping[int, PendingEvent]) -> Counter[str]:
    """The keys of the events ``report`` settled (not left unsent)."""
    unsent = {seq for w in report.unsent for seq in w.sources}
    return Counter(e.key for seq, e in events.items() if seq not in unsent)
