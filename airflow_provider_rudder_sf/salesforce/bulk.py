"""Writes through Bulk API 2.0 ingest jobs, with the same per-record outcomes as sObject Collections.

One job per (sObject, operation, external id field), split so that no upload exceeds ``max_upload_bytes``:
``insert`` for creates, ``update`` by ``Id``, ``upsert`` by the External ID field. A job costs a handful of API
calls whatever its size (create, upload, close, then result downloads), against one call per 200 records over REST.

Two steps, so that a deferrable operator can persist the job ids in between:

* :meth:`BulkWriter.submit` creates, fills and closes the jobs and returns :class:`BulkJob` values (plain data);
* :meth:`BulkWriter.collect` polls those jobs until they end and turns their result files into ``WriteResult``\\ s.

Records Bulk cannot carry (a value CSV cannot say, a write REST would refuse as invalid, an object the Bulk API
does not support, rows of a job that failed as a whole, rows Salesforce left locked) go over REST in the same run,
so every write ends with exactly the result REST would give it, or in ``WriteReport.unsent`` for the retry.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.util import call_salesforce

from airflow_provider_rudder_sf.mapping.model import Write
from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.csvcodec import (
    cell_text,
    csv_line,
    encode_value,
    parse_csv,
    parse_error,
    union_columns,
)
from airflow_provider_rudder_sf.salesforce.errors import (
    BudgetExhausted,
    Outcome,
    PermanentError,
    SalesforceApiError,
    SalesforceLoginError,
    SessionExpired,
    StopReason,
    TransientError,
    classify,
    stop_reason,
)
from airflow_provider_rudder_sf.salesforce.soql import API_NAME
from airflow_provider_rudder_sf.salesforce.writer import (
    BatchProgress,
    SalesforceWriter,
    WriteReport,
    WriteResult,
)

log = logging.getLogger(__name__)

WriteMode = Literal["auto", "rest", "bulk"]
WRITE_MODES: tuple[str, ...] = ("auto", "rest", "bulk")
DEFAULT_BULK_THRESHOLD = 10_000
# One upload may hold 150 MB once Salesforce has base64-encoded it, which leaves 100 MB of raw CSV (note §3.7).
MAX_UPLOAD_BYTES = 100_000_000
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_OPERATIONS = {"create": "insert", "update": "update", "upsert": "upsert"}
FIRST_POLL_SECONDS = 1.0  # the first wait before a job's state is read; doubled up to poll_interval
_STOP_PRIORITY: tuple[StopReason, ...] = ("request_limit", "api_reserve", "session_expired", "transient")

RestWrite = Callable[[Sequence[Write]], WriteReport]


def choose_write_mode(mode: WriteMode, writes: int, threshold: int) -> Literal["rest", "bulk"]:
    """``auto``: Bulk when ``writes`` reaches ``threshold``, REST below it; ``rest`` and ``bulk`` force it."""
    if mode == "auto":
        return "bulk" if writes >= threshold else "rest"
    if mode in ("rest", "bulk"):
        return mode
    raise ValueError(f"write_mode must be one of {WRITE_MODES}, got {mode!r}")


@dataclass(frozen=True)
class BulkJob:
    """One submitted ingest job: enough to collect it later, in this process or another one.

    ``indices`` are the positions, in the ``writes`` given to :meth:`BulkWriter.submit`, of the records uploaded;
    ``columns`` is the CSV header sent. ``state`` is the last state Salesforce reported.
    """

    id: str
    sobject: str
    operation: str
    external_id_field: str | None
    columns: tuple[str, ...]
    indices: tuple[int, ...]
    state: str = "UploadComplete"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sobject": self.sobject,
            "operation": self.operation,
            "external_id_field": self.external_id_field,
            "columns": list(self.columns),
            "indices": list(self.indices),
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkJob:
        return cls(
            id=str(data["id"]),
            sobject=str(data["sobject"]),
            operation=str(data["operation"]),
            external_id_field=data.get("external_id_field"),
            columns=tuple(data["columns"]),
            indices=tuple(int(i) for i in data["indices"]),
            state=str(data.get("state", "UploadComplete")),
        )


@dataclass(frozen=True)
class BulkSubmission:
    """What :meth:`BulkWriter.submit` did: the jobs now on Salesforce's side, the writes to send over REST
    instead, and the writes not sent because the submission stopped (``stop_reason``)."""

    jobs: tuple[BulkJob, ...]
    rest: tuple[int, ...]
    unsent: tuple[int, ...]
    stop_reason: StopReason | None


@dataclass
class BulkOutcome:
    """What :meth:`BulkWriter.collect` found, by position in ``writes``."""

    results: list[tuple[int, WriteResult]] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)
    rest: list[int] = field(default_factory=list)
    stop_reason: StopReason | None = None


class BulkWriter:
    """Bulk API 2.0 writes through one :class:`SalesforceClient` (every request counted, retried, budgeted there).

    ``poll_first`` is the first wait between two state polls, doubled up to ``poll_interval``; a job still running
    after ``poll_timeout`` seconds is aborted (the rows it processed keep their results, the others are unsent).
    ``sleep`` and ``clock`` are injectable so tests never wait.
    """

    def __init__(
        self,
        client: SalesforceClient,
        *,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        poll_first: float = FIRST_POLL_SECONDS,
        poll_interval: float = 15.0,
        poll_timeout: float = 6 * 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= max_upload_bytes <= MAX_UPLOAD_BYTES:
            raise ValueError(f"max_upload_bytes must be between 1 and {MAX_UPLOAD_BYTES}, got {max_upload_bytes}")
        if not 0 < poll_first <= poll_interval:
            raise ValueError(f"need 0 < poll_first <= poll_interval, got {poll_first} and {poll_interval}")
        self.client = client
        self.max_upload_bytes = max_upload_bytes
        self.poll_first = poll_first
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self._sleep = sleep
        self._clock = clock
        self.polls = 0  # job-state requests sent while waiting (each one API call)

    # -- the whole write ------------------------------------------------------------------------------------
    def write(
        self,
        writes: Sequence[Write],
        *,
        on_batch: Callable[[BatchProgress], None] | None = None,
        rest: RestWrite | None = None,
    ) -> WriteReport:
        """Submit, collect, then send over REST (``rest``, default a plain SalesforceWriter) what Bulk could not."""
        started = self.client.api_calls
        submission = self.submit(writes)
        outcome = self.collect(submission.jobs, writes, on_batch=on_batch)
        stops = [submission.stop_reason, outcome.stop_reason]
        unsent = [*submission.unsent, *outcome.unsent]
        results = list(outcome.results)
        by_rest = sorted({*submission.rest, *outcome.rest})
        if by_rest and any(s is not None and s != "transient" for s in stops):
            unsent.extend(by_rest)  # the budget or the session is gone: REST would stop at once too
        elif by_rest:
            log.info("Sending %d record(s) over REST (Bulk API 2.0 cannot carry them as they are)", len(by_rest))
            rest_results, rest_unsent, rest_stop = _by_position(by_rest, writes, self._rest(rest, on_batch))
            results.extend(rest_results)
            unsent.extend(rest_unsent)
            stops.append(rest_stop)
        results.sort(key=lambda pair: pair[0])
        return WriteReport(
            results=tuple(r for _, r in results),
            unsent=tuple(writes[i] for i in sorted(unsent)),
            stop_reason=_worst(stops),
            api_calls=self.client.api_calls - started,
            api_usage=self.client.api_usage,
        )

    def _rest(self, rest: RestWrite | None, on_batch: Callable[[BatchProgress], None] | None) -> RestWrite:
        if rest is not None:
            return rest
        writer = SalesforceWriter(self.client)
        return lambda subset: writer.write(subset, on_batch=on_batch)

    # -- step 1: submit -------------------------------------------------------------------------------------
    def submit(self, writes: Sequence[Write]) -> BulkSubmission:
        """Create, upload and close the jobs for ``writes``; nothing is waited for."""
        groups: dict[tuple[str, str, str | None], list[int]] = {}
        rest: list[int] = []
        for index, w in enumerate(writes):
            if _bulk_can_take(w):
                groups.setdefault((w.sobject, w.operation, w.external_id_field), []).append(index)
            else:
                rest.append(index)
        jobs: list[BulkJob] = []
        unsent: list[int] = []
        stop: StopReason | None = None
        if groups:
            self.client.sf  # noqa: B018 - a first login that fails raises here, before anything is sent
        for (sobject, operation, external), members in groups.items():
            columns = _columns(operation, (writes[i] for i in members))
            for chunk, body in self._chunks(writes, members, columns, rest):
                if stop is not None:
                    unsent.extend(chunk)
                    continue
                try:
                    job = self._open(sobject, _OPERATIONS[operation], external, columns, chunk, body)
                except PermanentError as exc:
                    log.warning(
                        "Bulk API refused a %s %s job (%s); sending its %d record(s) over REST",
                        operation,
                        sobject,
                        exc.code,
                        len(chunk),
                    )
                    rest.extend(chunk)
                except (TransientError, BudgetExhausted, SessionExpired, SalesforceLoginError) as exc:
                    stop = stop_reason(exc)
                    unsent.extend(chunk)
                    log.warning("Stopping the Bulk submission (%s): %s", stop, exc)
                else:
                    jobs.append(job)
        return BulkSubmission(tuple(jobs), tuple(sorted(rest)), tuple(sorted(unsent)), stop)

    def _chunks(
        self, writes: Sequence[Write], members: list[int], columns: tuple[str, ...], rest: list[int]
    ) -> Iterator[tuple[list[int], bytes]]:
        """The group's rows as CSV bodies of at most ``max_upload_bytes`` (one row at least); rows CSV cannot
        carry are added to ``rest``."""
        header = csv_line(columns)
        chunk: list[int] = []
        lines: list[bytes] = []
        size = len(header)
        for index in members:
            cells = _cells(writes[index], columns)
            if cells is None:
                rest.append(index)
                continue
            line = csv_line(cells)
            if chunk and size + len(line) > self.max_upload_bytes:
                yield chunk, header + b"".join(lines)
                chunk, lines, size = [], [], len(header)
            chunk.append(index)
            lines.append(line)
            size += len(line)
        if chunk:
            yield chunk, header + b"".join(lines)

    def _open(
        self,
        sobject: str,
        operation: str,
        external: str | None,
        columns: tuple[str, ...],
        chunk: list[int],
        body: bytes,
    ) -> BulkJob:
        spec: dict[str, Any] = {
            "object": sobject,
            "operation": operation,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        if external:
            spec["externalIdFieldName"] = external
        # A retried create may leave an empty Open job behind: it holds no data and Salesforce drops it.
        info = self.client.restful("jobs/ingest", method="POST", json=spec)
        job_id = str(info["id"])
        try:
            self._upload(job_id, body)
        except SalesforceApiError:
            self._abort(job_id)
            raise
        state = self._close(job_id)
        log.info(
            "Bulk job %s: %s %d %s record(s) in %s bytes of CSV, %s",
            job_id,
            operation,
            len(chunk),
            sobject,
            f"{len(body):,}",
            state,
        )
        return BulkJob(job_id, sobject, operation, external, columns, tuple(chunk), state)

    def _upload(self, job_id: str, body: bytes) -> None:
        path = f"jobs/ingest/{job_id}/batches"

        def put(sf: Salesforce) -> requests.Response:
            headers = {"Content-Type": "text/csv; charset=UTF-8", "Accept": "application/json"}
            return call_salesforce(
                sf.base_url + path, "PUT", sf.session, dict(sf.headers), additional_headers=headers, data=body
            )

        # Not resent blindly: an upload that may have landed would double the rows.
        self.client.call(put, name=f"PUT {path}", idempotent=False)

    def _close(self, job_id: str) -> str:
        path = f"jobs/ingest/{job_id}"
        try:
            info = self.client.restful(path, method="PATCH", json={"state": "UploadComplete"})
        except (TransientError, PermanentError) as exc:
            # The close may have landed before the failure: a closed job is processing, never abort it then.
            try:
                state = str(self._info(job_id).get("state"))
            except SalesforceApiError:
                state = "Unknown"
            if state not in ("Open", "Unknown"):
                return state
            self._abort(job_id)
            raise exc from None
        return str((info or {}).get("state") or "UploadComplete")

    def _abort(self, job_id: str) -> None:
        try:
            self.client.restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": "Aborted"})
        except SalesforceApiError as exc:
            log.warning("Could not abort Bulk job %s (%s); Salesforce drops unclosed jobs on its own", job_id, exc.code)

    def _info(self, job_id: str) -> dict[str, Any]:
        info = self.client.restful(f"jobs/ingest/{job_id}")
        return info if isinstance(info, dict) else {}

    # -- step 2: collect ------------------------------------------------------------------------------------
    def collect(
        self,
        jobs: Sequence[BulkJob],
        writes: Sequence[Write],
        *,
        on_batch: Callable[[BatchProgress], None] | None = None,
    ) -> BulkOutcome:
        """Wait for each job to end, then read its results. ``writes`` are the ones given to :meth:`submit`."""
        outcome = BulkOutcome()
        for number, job in enumerate(jobs, start=1):
            if outcome.stop_reason is not None and outcome.stop_reason != "transient":
                outcome.unsent.extend(job.indices)
                continue
            try:
                state = self._wait(job)
                done, unsent, rest = self._results(job, state, writes)
            except SalesforceApiError as exc:
                stop = stop_reason(exc) if not isinstance(exc, PermanentError) else "transient"
                outcome.stop_reason = _worst([outcome.stop_reason, stop])
                outcome.unsent.extend(job.indices)
                log.warning(
                    "Could not read Bulk job %s (%s); its %d record(s) are left for the next run: %s",
                    job.id,
                    exc.code,
                    len(job.indices),
                    exc,
                )
                continue
            outcome.results.extend(done)
            outcome.unsent.extend(unsent)
            outcome.rest.extend(rest)
            if unsent:
                outcome.stop_reason = _worst([outcome.stop_reason, "transient"])
            ok = sum(1 for _, r in done if r.ok)
            log.info(
                "Bulk job %d of %d (%s): %s %d %s record(s): %d ok, %d failed, %d over REST, %d not processed",
                number,
                len(jobs),
                job.id,
                job.operation,
                len(job.indices),
                job.sobject,
                ok,
                len(done) - ok,
                len(rest),
                len(unsent),
            )
            if on_batch is not None:
                on_batch(BatchProgress(number, len(jobs), len(job.indices), ok, len(done) - ok))
        return outcome

    def _wait(self, job: BulkJob) -> str:
        """Poll the job until it ends (a job already ended at close is not polled); abort it after the timeout."""
        state = job.state
        delay = self.poll_first
        started = self._clock()
        aborted = False
        while state not in TERMINAL_STATES:
            if self._clock() - started >= self.poll_timeout and not aborted:
                log.warning("Bulk job %s still %s after %ss: aborting it", job.id, state, self.poll_timeout)
                self._abort(job.id)
                aborted = True
            elif not aborted:
                self._sleep(delay)
                delay = min(self.poll_interval, delay * 2)
            info = self._info(job.id)
            self.polls += 1
            state = str(info.get("state"))
            log.info(
                "Bulk job %s: %s, %s of %d record(s) processed, %s failed",
                job.id,
                state,
                info.get("numberRecordsProcessed", "?"),
                len(job.indices),
                info.get("numberRecordsFailed", "?"),
            )
            if aborted and state not in TERMINAL_STATES:
                raise TransientError(f"Bulk job {job.id} is still {state} after the abort", code="BULK_JOB_RUNNING")
        return state

    def _results(
        self, job: BulkJob, state: str, writes: Sequence[Write]
    ) -> tuple[list[tuple[int, WriteResult]], list[int], list[int]]:
        """Result files → (results, unsent, to send over REST). Each file is read only while rows are unaccounted."""
        match = _Correlator(job, writes)
        done: list[tuple[int, WriteResult]] = []
        unsent: list[int] = []
        rest: list[int] = []
        for row in self._download(job.id, "successfulResults"):
            index = match.take(row)
            if index is not None:
                done.append((index, _success(writes[index], job.operation, row)))
        if match.left:
            for row in self._download(job.id, "failedResults"):
                index = match.take(row)
                if index is None:
                    continue
                code, message = parse_error(row.get("sf__Error", ""))
                outcome = classify(code)
                if outcome is Outcome.TRANSIENT:
                    rest.append(index)  # e.g. a row still locked after Salesforce's own retries: REST retries it
                elif outcome is Outcome.STOP:
                    unsent.append(index)
                else:
                    done.append((index, _failure(writes[index], code, message)))
        if match.left:
            never = [i for row in self._download(job.id, "unprocessedrecords") if (i := match.take(row)) is not None]
            # A job that failed as a whole (bad header, ...) would fail again: REST gives each row its own answer.
            (rest if state == "Failed" else unsent).extend(never)
        if match.left:
            missing = sorted(match.left)
            log.warning("Bulk job %s: %d record(s) are in no result file", job.id, len(missing))
            if state == "JobComplete":
                text = f"Bulk job {job.id} reported no result for this record; check it in Salesforce"
                done.extend((i, _failure(writes[i], "BULK_RESULT_MISSING", text)) for i in missing)
            else:
                (rest if state == "Failed" else unsent).extend(missing)
        return done, unsent, rest

    def _download(self, job_id: str, kind: str) -> list[dict[str, str]]:
        path = f"jobs/ingest/{job_id}/{kind}/"

        def get(sf: Salesforce) -> requests.Response:
            headers = {"Accept": "text/csv"}
            return call_salesforce(sf.base_url + path, "GET", sf.session, dict(sf.headers), additional_headers=headers)

        response = self.client.call(get, name=f"GET {path}")
        return parse_csv(response.content)[1]


class _Correlator:
    """Finds the write a result row belongs to: by the job's key column (``Id`` for updates, the External ID for
    upserts, the natural key for creates), then by the whole row as uploaded (results echo the original columns;
    their order is not the upload's)."""

    def __init__(self, job: BulkJob, writes: Sequence[Write]) -> None:
        self.columns = job.columns
        self.key = _key_column(job, writes)
        self.left: set[int] = set(job.indices)
        self._contents: dict[int, tuple[str, ...]] = {}
        self._by_key: dict[str, deque[int]] = {}
        self._by_row: dict[tuple[str, ...], deque[int]] = {}
        position = self.columns.index(self.key) if self.key is not None else -1
        for index in job.indices:
            cells = _cells(writes[index], self.columns) or [""] * len(self.columns)
            content = tuple(cell_text(c) for c in cells)
            self._contents[index] = content
            self._by_row.setdefault(content, deque()).append(index)
            if position >= 0:
                self._by_key.setdefault(content[position].casefold(), deque()).append(index)

    def take(self, row: dict[str, str]) -> int | None:
        content = tuple(row.get(c, "") for c in self.columns)
        found: int | None = None
        if self.key is not None and self.key in row:
            candidates = [i for i in self._by_key.get(row[self.key].casefold(), ()) if i in self.left]
            exact = [i for i in candidates if self._contents[i] == content]
            if exact or candidates:
                found = (exact or candidates)[0]
        if found is None:
            found = next((i for i in self._by_row.get(content, ()) if i in self.left), None)
        if found is None:
            log.warning("A Bulk result row matches no record that was uploaded in its job")
            return None
        self.left.discard(found)
        return found


def _key_column(job: BulkJob, writes: Sequence[Write]) -> str | None:
    if job.operation == "update":
        return "Id"
    if job.operation == "upsert":
        return job.external_id_field
    natural = writes[job.indices[0]].natural_key if job.indices else None
    return natural[0] if natural is not None and natural[0] in job.columns else None


def _bulk_can_take(w: Write) -> bool:
    """A write REST would refuse before sending (INVALID_WRITE) goes over REST to get exactly that answer."""
    if w.operation not in _OPERATIONS or not API_NAME.match(w.sobject or ""):
        return False
    if any(name != "attributes" and not API_NAME.match(str(name)) for name in w.fields):
        return False
    if w.operation == "update":
        return bool(w.record_id)
    if w.operation == "upsert":
        ext = w.external_id_field
        return bool(ext and API_NAME.match(ext) and w.fields.get(ext) not in (None, ""))
    return True


def _record(w: Write) -> dict[str, Any]:
    """The record as REST would send it (without ``attributes``; an update carries its id in ``Id``)."""
    values = {k: v for k, v in w.fields.items() if k != "attributes"}
    if w.operation == "update":
        values.pop("id", None)
        values.pop("Id", None)
        return {"Id": w.record_id, **values}
    return values


def _columns(operation: str, writes: Iterator[Write]) -> tuple[str, ...]:
    first = ("Id",) if operation == "update" else ()
    return union_columns((_record(w) for w in writes), first)


def _cells(w: Write, columns: tuple[str, ...]) -> list[str] | None:
    """The row's encoded fields in column order (an empty cell: a field this record does not set)."""
    record = _record(w)
    cells = []
    for name in columns:
        if name not in record:
            cells.append("")
            continue
        encoded = encode_value(record[name])
        if encoded is None:
            return None
        cells.append(encoded)
    return cells


def _success(w: Write, operation: str, row: dict[str, str]) -> WriteResult:
    if operation == "insert":
        status: Literal["created", "updated"] = "created"
    elif operation == "upsert":
        status = "created" if row.get("sf__Created", "").lower() == "true" else "updated"
    else:
        status = "updated"
    return WriteResult(w, status, row.get("sf__Id") or w.record_id)


def _failure(w: Write, code: str, message: str) -> WriteResult:
    if code == "DUPLICATES_DETECTED":
        text = (
            "a duplicate rule matched existing record(s) (Bulk API results do not name them; Block rules refuse "
            f"always, Alert rules save over REST with allow_duplicate_save=True): {message or 'duplicates detected'}"
        )
        return WriteResult(w, "failed", w.record_id, "duplicate_rule", text)
    return WriteResult(w, "failed", w.record_id, code, message or None)


def _by_position(
    positions: list[int], writes: Sequence[Write], send: RestWrite
) -> tuple[list[tuple[int, WriteResult]], list[int], StopReason | None]:
    """Send ``writes[positions]`` over REST and give the answers back by position (REST keeps input order)."""
    subset = [writes[i] for i in positions]
    report = send(subset)
    results = iter(report.results)
    unsent = iter(report.unsent)
    next_result, next_unsent = next(results, None), next(unsent, None)
    done: list[tuple[int, WriteResult]] = []
    left: list[int] = []
    for position, w in zip(positions, subset, strict=True):
        if next_result is not None and next_result.write is w:
            done.append((position, next_result))
            next_result = next(results, None)
        elif next_unsent is w:
            left.append(position)
            next_unsent = next(unsent, None)
        else:
            raise AssertionError("the REST writer answered records out of order")
    return done, left, report.stop_reason


def _worst(stops: Sequence[StopReason | None]) -> StopReason | None:
    present = [s for s in stops if s is not None]
    return min(present, key=_STOP_PRIORITY.index) if present else None
