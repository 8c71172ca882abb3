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

import contextlib
import functools
import gzip
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

import msgspec

from airflow_provider_rudder_sf.mapping import FieldIssue, Plan, Write
from airflow_provider_rudder_sf.salesforce.bulk import (
    BULK_OPERATIONS,
    BulkJob,
    BulkWriter,
    JobRows,
    bulk_can_take,
    encoded_cells,
    key_column,
    leading_columns,
    write_fingerprint,
)
from airflow_provider_rudder_sf.salesforce.csvcodec import csv_line
from airflow_provider_rudder_sf.salesforce.errors import (
    BudgetExhausted,
    PermanentError,
    SalesforceLoginError,
    SessionExpired,
    StopReason,
    TransientError,
    stop_reason,
)
from airflow_provider_rudder_sf.sync.spool import (
    SPOOL_PREFIX,
    _create_private,
    _host_tag,
    _private_parent,
    spool_parent,
)

LEDGER = "_bulk-jobs.json"
SUMMARY = "_bulk-summary.json"
_VERSION = 2  # 2: ledger rows hold no fingerprints; they are derived from the write when results are read
_encode = msgspec.json.Encoder(order="sorted").encode
_encode_any = msgspec.json.Encoder(order="sorted", enc_hook=str).encode
# Ledger rows are decoded lazily: a record or an event is parsed only when it is needed.
_ROW = msgspec.json.Decoder(tuple[msgspec.Raw, msgspec.Raw])
Line = tuple[msgspec.Raw, msgspec.Raw]


def rows_name(job_id: str) -> str:
    return f"_bulk-rows-{job_id}.jsonl.gz"


class LedgerStore(Protocol):
    """Small named files in one directory that every worker can reach (local paths owner-only)."""

    @property
    def location(self) -> str: ...

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...

    def delete(self, name: str) -> None: ...

    def open_write(self, name: str) -> AbstractContextManager[IO[bytes]]: ...

    def open_read(self, name: str) -> AbstractContextManager[IO[bytes] | None]: ...


class PendingEvent(NamedTuple):
    """An event behind a row of a Bulk job: enough to dead-letter it or to say it was applied. ``raw`` stays
    encoded until :func:`raw_event` needs it."""

    seq: int
    key: str
    origin: str
    raw: msgspec.Raw
    issues: tuple[FieldIssue, ...] = ()


# Built straight from a ledger row by msgspec: settling reads every event of a run once.
_EVENTS = msgspec.json.Decoder(list[PendingEvent])


def event_key(raw: object) -> str:
    """Names one staged event across tries without keeping it: the same line (or row) gives the same key, before
    and after the spool (which writes a row's dates and decimals as the text msgspec gives them)."""
    if isinstance(raw, str):
        data = raw.encode("utf-8", "surrogatepass")
    else:
        try:
            data = _encode_any(raw)
        except UnicodeEncodeError:
            data = json.dumps(raw, sort_keys=True, ensure_ascii=True, default=str).encode("ascii")
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
    # The events behind the rows, and those of them with skipped fields (None in a ledger written before they were
    # recorded): a job saved whole whose events have no skipped field is settled from these counts alone.
    events: int | None = None
    events_with_issues: int | None = None

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
        jobs = [JobRecord(**{**j, "columns": tuple(j["columns"])}) for j in content["jobs"]]
        return cls(store, jobs)

    def record(self, job: BulkJob, rows: int, staged_rows: str, events: int, events_with_issues: int) -> None:
        """Before the upload: the job id first (an id without rows is an Open job to abort), then its rows, copied
        from ``staged_rows`` (a gzipped file of :func:`row_line` lines, in upload order)."""
        self.jobs.append(
            JobRecord(
                job.id,
                job.sobject,
                job.operation,
                job.external_id_field,
                job.columns,
                job.key,
                rows,
                events,
                events_with_issues,
            )
        )
        self._save_index()
        with open(staged_rows, "rb") as source, self.store.open_write(rows_name(job.id)) as target:
            shutil.copyfileobj(source, target, 1 << 20)

    def lines(self, job_id: str) -> Iterator[Line] | None:
        """The job's rows in upload order: (the write, its events), both still encoded (see
        :func:`write_of` and :func:`events_of`); None without a rows file."""
        with self.store.open_read(rows_name(job_id)) as handle:
            if handle is None:
                return None
        return self.read_lines(job_id)

    def read_lines(self, job_id: str) -> Iterator[Line]:
        with self.store.open_read(rows_name(job_id)) as handle:
            assert handle is not None
            with gzip.open(handle, "rb") as stream:
                yield from _read_rows(stream)

    def forget(self, job_id: str) -> None:
        """The job is settled: drop it (the ledger file goes with its last job)."""
        self.jobs = [j for j in self.jobs if j.id != job_id]
        if self.jobs:
            self._save_index()
        else:
            self.store.delete(LEDGER)
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
        jobs = [asdict(j) for j in self.jobs]
        self.store.write(LEDGER, _encode({"version": _VERSION, "jobs": jobs}))


def row_line(write: bytes | msgspec.Raw, events: bytes | msgspec.Raw) -> bytes:
    return b"[" + bytes(write) + b"," + bytes(events) + b"]\n"


def _read_rows(stream: gzip.GzipFile, block_size: int = 1 << 20) -> Iterator[Line]:
    # Read in blocks and split here: a row is one line (JSON escapes newlines), and a readline call per row costs.
    rest = b""
    while block := stream.read(block_size):
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield _ROW.decode(line)
    if rest.strip():
        yield _ROW.decode(rest)


def write_of(data: msgspec.Raw) -> Write:
    key, sobject, operation, record_id, fields, sources, natural, external = msgspec.json.decode(data)
    return Write(
        key, sobject, operation, record_id, fields, tuple(sources), tuple(natural) if natural else None, external
    )


def events_of(data: msgspec.Raw) -> list[PendingEvent]:
    """The events of a row (see :class:`PendingEvent`)."""
    return _EVENTS.decode(data)


def raw_event(raw: msgspec.Raw) -> object:
    return msgspec.json.decode(raw)


def _event_row(seq: int, event_origin: tuple[Any, str], issues: Iterable[FieldIssue]) -> list[Any]:
    event, origin = event_origin
    return [seq, event_key(event.raw), origin, event.raw, [list(i) for i in issues]]


@dataclass
class Flushed:
    """What :meth:`Handoff.flush` could not leave with Salesforce: rows Bulk refused (to send over REST now) and
    the events of rows not submitted because the submission stopped."""

    rest: list[tuple[Write, list[PendingEvent]]] = field(default_factory=list)
    unsent_events: int = 0
    stop_reason: StopReason | None = None
    jobs: int = 0


class _Group:
    """The staged rows of one future job (object, operation, External ID field), in one private file: for each row,
    its CSV line over the columns known when it was staged, then its ledger row (see :data:`_STAGED`). Columns are
    kept in first-seen order, so a row staged before a column appeared only lacks trailing empty cells."""

    def __init__(self, path: str, first: Write) -> None:
        self.path = path
        self.file = _create_private(path)
        self.first = first
        self.columns: dict[str, None] = dict.fromkeys(leading_columns(first.operation))


# Before each staged row: the bytes of its CSV line, the cells in it, the bytes of its ledger row, its events, and
# how many of them have skipped fields.
_STAGED = struct.Struct("<IIIII")


class Handoff:
    """Gathers a run's Bulk-bound writes from every partition on private local disk, then submits them as the
    fewest jobs (one per object, operation and External ID field, split at ``max_upload_bytes``), each recorded in
    the ledger before its upload. Memory holds one upload body at most; each row is encoded once, when staged."""

    def __init__(self, ledger: Ledger, bulk: BulkWriter, *, staging_parent: str | None = None) -> None:
        self.ledger = ledger
        self.bulk = bulk
        self._parent = staging_parent
        self._dir: str | None = None
        self._groups: dict[tuple[str, str, str | None], _Group] = {}
        self.pending_events = 0

    def add(self, writes: Sequence[Write], events: Mapping[int, tuple[Any, str]], plan: Plan) -> list[int]:
        """Stage the writes Bulk can carry; returns the positions of the others (to send over REST now)."""
        rest: list[int] = []
        for index, w in enumerate(writes):
            cells = encoded_cells(w) if bulk_can_take(w) else None
            if cells is None:
                rest.append(index)
                continue
            group = self._group(w)
            columns = group.columns
            if not cells.keys() <= columns.keys():
                columns.update(dict.fromkeys(cells))
            line = csv_line([cells.get(name, "") for name in columns])
            issues = plan.field_issues
            rows = [_event_row(seq, events[seq], issues.get(seq, ())) for seq in w.sources]
            row = row_line(_encode(list(w)), _encode(rows))
            with_issues = sum(1 for seq in w.sources if seq in issues) if issues else 0
            group.file.write(_STAGED.pack(len(line), len(columns), len(row), len(rows), with_issues) + line + row)
            self.pending_events += len(rows)
        return rest

    def _group(self, w: Write) -> _Group:
        key = (w.sobject, w.operation, w.external_id_field)
        group = self._groups.get(key)
        if group is None:
            if self._dir is None:
                parent = _private_parent(Path(self._parent) if self._parent else spool_parent())
                self._dir = tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-{_host_tag()}-bulk-", dir=parent)
            path = os.path.join(self._dir, f"stage-{len(self._groups)}")
            group = self._groups[key] = _Group(path, w)
        return group

    def flush(self, log: Any) -> Flushed:
        """Submit everything staged; the staging files are gone afterwards, whatever happened."""
        flushed = Flushed()
        try:
            for key, group in self._groups.items():
                group.file.close()
                self._submit_group(key, group, flushed, log)
        finally:
            for group in self._groups.values():
                group.file.close()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
            self._groups, self._dir = {}, None
        return flushed

    def _submit_group(self, key: tuple[str, str, str | None], group: _Group, flushed: Flushed, log: Any) -> None:
        sobject, operation, external = key
        columns = tuple(group.columns)
        job_key = key_column(operation, external, group.first, columns)
        draft = BulkJob("", sobject, BULK_OPERATIONS[operation], external, columns, (), "Open", job_key)
        header = csv_line(columns)
        chunk = _Chunk(f"{group.path}.rows.gz", header)
        with open(group.path, "rb") as staged:
            while head := staged.read(_STAGED.size):
                line_bytes, cells, row_bytes, events, with_issues = _STAGED.unpack(head)
                line = staged.read(line_bytes)
                if cells < len(columns):  # staged before the last columns appeared: add their empty cells
                    line = line[:-1] + b"," * (len(columns) - max(cells, 1)) + b"\n"
                if chunk.rows and chunk.size + len(line) > self.bulk.max_upload_bytes:
                    self._submit_chunk(draft, chunk, flushed, log)
                    chunk = _Chunk(f"{group.path}.rows.gz", header)
                chunk.add(line, staged.read(row_bytes), events, with_issues)
        if chunk.rows:
            self._submit_chunk(draft, chunk, flushed, log)

    def _submit_chunk(self, draft: BulkJob, chunk: _Chunk, flushed: Flushed, log: Any) -> None:
        chunk.close()
        try:
            if flushed.stop_reason is not None:
                flushed.unsent_events += chunk.events
                return
            job = replace(draft, indices=tuple(range(chunk.rows)))
            try:
                self.bulk.open_job(
                    job,
                    chunk.body(),
                    lambda opened: self.ledger.record(
                        opened, chunk.rows, chunk.path, chunk.events, chunk.events_with_issues
                    ),
                )
                flushed.jobs += 1
            except PermanentError as exc:
                log.warning(
                    "Bulk API refused a %s %s job (%s); sending its %d record(s) over REST",
                    draft.operation,
                    draft.sobject,
                    exc.code,
                    chunk.rows,
                )
                flushed.rest.extend((write_of(w), events_of(e)) for w, e in chunk.read_back())
            except (TransientError, BudgetExhausted, SessionExpired, SalesforceLoginError) as exc:
                flushed.stop_reason = stop_reason(exc)
                flushed.unsent_events += chunk.events
                log.warning("Stopping the Bulk submission (%s): %s", flushed.stop_reason, exc)
        finally:
            chunk.remove()


_ROW_BATCH_BYTES = 1 << 18


class _Chunk:
    """One upload being built: its CSV in a private file (streamed to Salesforce from disk), its ledger rows in a
    private gzip file."""

    def __init__(self, path: str, header: bytes) -> None:
        self.path = path
        self.csv_path = path + ".csv"
        self._csv = _create_private(self.csv_path)
        self._csv.write(header)
        self.size = len(header)
        self.rows = 0
        self.events = 0
        self.events_with_issues = 0
        self._raw = _create_private(path)
        self._file = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1)
        # Rows go to the gzip file in batches: each GzipFile.write costs a CRC and a compress call, and a row is a
        # few hundred bytes.
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._body: IO[bytes] | None = None

    def add(self, line: bytes, row: bytes, count: int, with_issues: int = 0) -> None:
        """One row: its CSV ``line`` and its ledger ``row`` (a :func:`row_line`), behind ``count`` events, of which
        ``with_issues`` have skipped fields."""
        self._csv.write(line)
        self.size += len(line)
        self.rows += 1
        self.events += count
        self.events_with_issues += with_issues
        self._batch.append(row)
        self._batch_bytes += len(row)
        if self._batch_bytes >= _ROW_BATCH_BYTES:
            self._write_batch()

    def _write_batch(self) -> None:
        self._file.write(b"".join(self._batch))
        self._batch, self._batch_bytes = [], 0

    def close(self) -> None:
        if self._batch:
            self._write_batch()
        self._file.close()
        self._raw.close()
        self._csv.close()

    def body(self) -> IO[bytes]:
        self._body = open(self.csv_path, "rb")  # noqa: SIM115 - closed by remove()
        return self._body

    def remove(self) -> None:
        if self._body is not None:
            self._body.close()
        for path in (self.path, self.csv_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def read_back(self) -> Iterator[Line]:
        with gzip.open(self.path, "rb") as stream:
            yield from _read_rows(stream)


@dataclass
class JobOutcome:
    """One collected job: its per-row results and a way to read its rows (write, events) again, in upload order."""

    record: JobRecord
    rows: JobRows
    lines: Callable[[], Iterator[Line]]


def finish(ledger: Ledger, bulk: BulkWriter, *, log: Any) -> Iterator[JobOutcome]:
    """Collect every job of ``ledger`` one at a time (waiting for those still running), yielding its outcome; each
    job is forgotten once the caller has settled it (after the ``yield``). Open jobs are aborted and forgotten,
    their events left for a new plan. A Salesforce error while asking about a job stops here: the job stays in the
    ledger for the retry. Memory holds the job's fingerprints (when its results are read) and results, never all
    its records."""
    for record in list(ledger.jobs):
        try:
            info = bulk.job_info(record.id)
            state = str(info.get("state"))
        except PermanentError as exc:
            log.warning("Bulk job %s is unknown to Salesforce (%s): its events are planned again", record.id, exc.code)
            ledger.forget(record.id)
            continue
        lines = ledger.lines(record.id)
        if state == "Open" or lines is None:
            if state == "Open":
                bulk.abort(record.id)
            log.warning(
                "Bulk job %s was never closed (the try that submitted it ended first): aborted, its events are "
                "planned again",
                record.id,
            )
            ledger.forget(record.id)
            continue
        log.info(
            "Collecting Bulk job %s (%s %d %s record(s), %s)",
            record.id,
            record.operation,
            record.rows,
            record.sobject,
            state,
        )
        # Fingerprints are derived only here, from the rows as uploaded, and read only when results must be matched.
        prints = (write_fingerprint(write_of(write), record.columns, record.key) for write, _ in lines)
        rows = bulk.collect_job(record.job(state), prints, info, record_ids=False)  # settling needs only statuses
        yield JobOutcome(record, rows, functools.partial(ledger.read_lines, record.id))
        ledger.forget(record.id)
