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

import hashlib
import logging
import os
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any, Literal

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.util import call_salesforce

from airflow_provider_rudder_sf.mapping.model import Write
from airflow_provider_rudder_sf.mapping.names import all_api_names, is_api_name
from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.csvcodec import (
    cell_text,
    csv_line,
    encode_fields,
    iter_csv,
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
from airflow_provider_rudder_sf.salesforce.jobs import FIRST_POLL_SECONDS, TERMINAL_STATES, Polling, abort_job, job_info
from airflow_provider_rudder_sf.salesforce.results import BatchProgress, RestWrite, WriteReport, WriteResult

log = logging.getLogger(__name__)

WriteMode = Literal["auto", "rest", "bulk"]
WRITE_MODES: tuple[str, ...] = ("auto", "rest", "bulk")
DEFAULT_BULK_THRESHOLD = 10_000
# One upload may hold 150 MB once Salesforce has base64-encoded it, which leaves 100 MB of raw CSV (note §3.7).
MAX_UPLOAD_BYTES = 100_000_000
BULK_OPERATIONS = {"create": "insert", "update": "update", "upsert": "upsert"}
_STOP_PRIORITY: tuple[StopReason, ...] = ("request_limit", "api_reserve", "session_expired", "transient")

#: A row as uploaded, as two 64-bit digests: of all its cells, and of its key cell case-folded. Enough to match a
#: result row to its upload without keeping the values (personal data) anywhere.
Fingerprint = tuple[int, int | None]
JobStarted = Callable[["BulkJob"], None]


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
    key: str | None = None  # the column results are matched by first (Id, the External ID, the natural key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sobject": self.sobject,
            "operation": self.operation,
            "external_id_field": self.external_id_field,
            "columns": list(self.columns),
            "indices": list(self.indices),
            "state": self.state,
            "key": self.key,
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
            key=data.get("key"),
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
        self.client = client
        self.max_upload_bytes = max_upload_bytes
        self.polling = Polling(poll_first, poll_interval, poll_timeout, sleep, clock)
        self.polls = 0  # job-state requests sent while waiting (each one API call)

    # -- the whole write ------------------------------------------------------------------------------------
    def write(
        self,
        writes: Sequence[Write],
        *,
        rest: RestWrite,
        on_batch: Callable[[BatchProgress], None] | None = None,
    ) -> WriteReport:
        """Submit, collect, then send over REST (``rest``) what Bulk could not."""
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
            rest_results, rest_unsent, rest_stop = _by_position(by_rest, writes, rest)
            results.extend(rest_results)
            unsent.extend(rest_unsent)
            stops.append(rest_stop)
        results.sort(key=lambda pair: pair[0])
        return WriteReport(
            results=tuple(r for _, r in results),
            unsent=tuple(writes[i] for i in sorted(unsent)),
            stop_reason=worst_stop(stops),
            api_calls=self.client.api_calls - started,
            api_usage=self.client.api_usage,
        )

    # -- step 1: submit -------------------------------------------------------------------------------------
    def submit(self, writes: Sequence[Write]) -> BulkSubmission:
        """Create, upload and close the jobs for ``writes``; nothing is waited for."""
        groups: dict[tuple[str, str, str | None], list[int]] = {}
        rest: list[int] = []
        for index, w in enumerate(writes):
            if bulk_can_take(w):
                groups.setdefault((w.sobject, w.operation, w.external_id_field), []).append(index)
            else:
                rest.append(index)
        jobs: list[BulkJob] = []
        unsent: list[int] = []
        stop: StopReason | None = None
        if groups:
            self.client.sf  # noqa: B018 - a first login that fails raises here, before anything is sent
        for (sobject, operation, external), members in groups.items():
            columns = record_columns(operation, (writes[i] for i in members))
            key = key_column(operation, external, writes[members[0]], columns)
            draft = BulkJob("", sobject, BULK_OPERATIONS[operation], external, columns, (), "Open", key)
            for chunk, body in self._chunks(writes, members, columns, rest):
                if stop is not None:
                    unsent.extend(chunk)
                    continue
                try:
                    job = self.open_job(replace(draft, indices=tuple(chunk)), body)
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
            cells = row_cells(writes[index], columns)
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

    def open_job(self, draft: BulkJob, body: bytes | IO[bytes], on_job: JobStarted | None = None) -> BulkJob:
        """Create the job, upload ``body`` (bytes, or a file read from its start) and close it. ``on_job`` is
        called once Salesforce has created the job and before its data is uploaded (the job is ``Open``: nothing of
        it can be processed yet), so a caller can record it where a retry will find it."""
        spec: dict[str, Any] = {
            "object": draft.sobject,
            "operation": draft.operation,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        if draft.external_id_field:
            spec["externalIdFieldName"] = draft.external_id_field
        # A retried create may leave an empty Open job behind: it holds no data and Salesforce drops it.
        info = self.client.restful("jobs/ingest", method="POST", json=spec)
        job = replace(draft, id=str(info["id"]))
        try:
            if on_job is not None:
                on_job(job)
            self._upload(job.id, body)
        except Exception:
            self.abort(job.id)
            raise
        state = self._close(job.id)
        log.info(
            "Bulk job %s: %s %d %s record(s) in %s bytes of CSV, %s",
            job.id,
            job.operation,
            len(job.indices),
            job.sobject,
            f"{_size(body):,}",
            state,
        )
        return replace(job, state=state)

    def _upload(self, job_id: str, body: bytes | IO[bytes]) -> None:
        path = f"jobs/ingest/{job_id}/batches"

        def put(sf: Salesforce) -> requests.Response:
            headers = {"Content-Type": "text/csv; charset=UTF-8", "Accept": "application/json"}
            if not isinstance(body, bytes):
                body.seek(0)  # streamed from disk; a resend after a new login starts over
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
                state = str(self.job_info(job_id).get("state"))
            except SalesforceApiError:
                state = "Unknown"
            if state not in ("Open", "Unknown"):
                return state
            self.abort(job_id)
            raise exc from None
        return str((info or {}).get("state") or "UploadComplete")

    def abort(self, job_id: str) -> None:
        abort_job(self.client, "ingest", job_id)

    def job_info(self, job_id: str) -> dict[str, Any]:
        return job_info(self.client, "ingest", job_id)

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
                rows = self.collect_job(job, row_fingerprints(job, writes))
            except SalesforceApiError as exc:
                outcome.stop_reason = worst_stop([outcome.stop_reason, collect_stop(exc)])
                outcome.unsent.extend(job.indices)
                log.warning(
                    "Could not read Bulk job %s (%s); its %d record(s) are left for the next run: %s",
                    job.id,
                    exc.code,
                    len(job.indices),
                    exc,
                )
                continue
            outcome.results.extend((r.index, r.for_write(writes[r.index])) for r in rows.results)
            outcome.unsent.extend(rows.unsent)
            outcome.rest.extend(rows.rest)
            if rows.unsent:
                outcome.stop_reason = worst_stop([outcome.stop_reason, "transient"])
            ok = rows.ok
            log.info(
                "Bulk job %d of %d (%s): %s %d %s record(s): %d ok, %d failed, %d over REST, %d not processed",
                number,
                len(jobs),
                job.id,
                job.operation,
                len(job.indices),
                job.sobject,
                ok,
                len(rows.results) - ok,
                len(rows.rest),
                len(rows.unsent),
            )
            if on_batch is not None:
                on_batch(BatchProgress(number, len(jobs), len(job.indices), ok, len(rows.results) - ok))
        return outcome

    def collect_job(
        self,
        job: BulkJob,
        prints: Iterable[Fingerprint],
        info: Mapping[str, Any] | None = None,
        *,
        record_ids: bool = True,
    ) -> JobRows:
        """One job's per-row outcome, by position in the writes it was submitted with: ``prints[k]`` is the
        fingerprint of the row ``job.indices[k]``. Needs no record values, so another process can collect.
        ``info``: the job's description if the caller just read it (saves a poll). Without ``record_ids``, a job
        whose every row was saved is settled from its counts alone, and the results carry no record Ids."""
        state, info = self._wait(job, info)
        if not record_ids and _all_succeeded(job, state, info):
            # Nothing to correlate: skipping the result files saves their calls and the worker's time on them.
            status: Literal["created", "updated"] = "created" if job.operation == "insert" else "updated"
            return JobRows(state, every_row=status)
        return self._results(job, state, prints)

    def _wait(self, job: BulkJob, info: Mapping[str, Any] | None = None) -> tuple[str, Mapping[str, Any] | None]:
        """Poll the job until it ends (a job already ended at close is not polled); abort it after the timeout.
        Returns its end state and its last description read (None if none was)."""
        state = str(info.get("state")) if info is not None else job.state
        if state in TERMINAL_STATES:
            return state, info
        aborted = False
        for overdue in self.polling.rounds():
            if overdue:
                log.warning("Bulk job %s still %s after %ss: aborting it", job.id, state, self.polling.timeout)
                self.abort(job.id)
                aborted = True
            info = self.job_info(job.id)
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
            if state in TERMINAL_STATES:
                break
            if aborted:
                raise TransientError(f"Bulk job {job.id} is still {state} after the abort", code="BULK_JOB_RUNNING")
        return state, info

    def _results(self, job: BulkJob, state: str, prints: Iterable[Fingerprint]) -> JobRows:
        """Result files → per-row outcomes. Each file is read only while rows are unaccounted for."""
        match = _Correlator(job, prints)
        rows = JobRows(state)
        for row in self._download(job.id, "successfulResults"):
            index = match.take(row)
            if index is not None:
                rows.results.append(_success(index, job.operation, row))
        if match.unmatched:
            for row in self._download(job.id, "failedResults"):
                index = match.take(row)
                if index is None:
                    continue
                code, message = parse_error(row.get("sf__Error", ""))
                outcome = classify(code)
                if outcome is Outcome.TRANSIENT:
                    rows.rest.append(index)  # e.g. a row still locked after Salesforce's own retries: REST retries
                elif outcome is Outcome.STOP:
                    rows.unsent.append(index)
                else:
                    rows.results.append(_failure(index, code, message))
        if match.unmatched:
            never = [i for row in self._download(job.id, "unprocessedrecords") if (i := match.take(row)) is not None]
            # A job that failed as a whole (bad header, ...) would fail again: REST gives each row its own answer.
            (rows.rest if state == "Failed" else rows.unsent).extend(never)
        if match.unmatched:
            missing = sorted(match.left)
            log.warning("Bulk job %s: %d record(s) are in no result file", job.id, len(missing))
            if state == "JobComplete":
                text = f"Bulk job {job.id} reported no result for this record; check it in Salesforce"
                rows.results.extend(RowResult(i, "failed", None, "BULK_RESULT_MISSING", text) for i in missing)
            else:
                (rows.rest if state == "Failed" else rows.unsent).extend(missing)
        return rows

    def _download(self, job_id: str, kind: str) -> Iterator[dict[str, str]]:
        """A result file, read through a private temporary file: a million rows of results never sit in memory
        whole. The download happens inside the client's choke point, so a connection lost mid-file is retried."""
        path = f"jobs/ingest/{job_id}/{kind}/"

        def get(sf: Salesforce) -> IO[bytes]:
            headers = {"Accept": "text/csv"}
            response = call_salesforce(
                sf.base_url + path, "GET", sf.session, dict(sf.headers), additional_headers=headers, stream=True
            )
            spooled = tempfile.TemporaryFile()  # noqa: SIM115 - the caller reads it, then closes it (0600, unlinked)
            try:
                for block in response.iter_content(1 << 20):
                    spooled.write(block)
            except BaseException:
                spooled.close()
                raise
            finally:
                response.close()
            spooled.seek(0)
            return spooled

        return _rows_of(self.client.call(get, name=f"GET {path}"))


def _rows_of(spooled: IO[bytes]) -> Iterator[dict[str, str]]:
    with spooled:
        yield from iter_csv(spooled)


@dataclass(frozen=True, slots=True)
class RowResult:
    """What Salesforce did with one uploaded row (``index``: its position in the submitted writes)."""

    index: int
    status: Literal["created", "updated", "failed"]
    record_id: str | None = None
    code: str | None = None
    message: str | None = None

    def for_write(self, w: Write) -> WriteResult:
        if self.status == "failed" and self.code == "DUPLICATES_DETECTED":
            text = (
                "a duplicate rule matched existing record(s) (Bulk API results do not name them; Block rules refuse "
                "always, Alert rules save over REST with allow_duplicate_save=True): "
                f"{self.message or 'duplicates detected'}"
            )
            return WriteResult(w, "failed", w.record_id, "duplicate_rule", text)
        return WriteResult(w, self.status, self.record_id or w.record_id, self.code, self.message)


@dataclass
class JobRows:
    """One job's rows by outcome: answered (``results``), to send over REST, or not processed (``unsent``).

    ``every_row``: Salesforce's counts say every row was saved, as this (``results`` is then empty: a million
    identical answers would cost the worker a second for nothing)."""

    state: str
    results: list[RowResult] = field(default_factory=list)
    rest: list[int] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)
    every_row: Literal["created", "updated"] | None = None

    @property
    def ok(self) -> int:
        """Rows answered as saved (those of an ``every_row`` job are not listed: only settling asks for those)."""
        return sum(1 for r in self.results if r.status != "failed")


def collect_stop(exc: SalesforceApiError) -> StopReason:
    """Why collecting stopped: a job Salesforce will not show (a refused read) is treated as transient trouble."""
    return stop_reason(exc) if not isinstance(exc, PermanentError) else "transient"


def _size(body: bytes | IO[bytes]) -> int:
    if isinstance(body, bytes):
        return len(body)
    return os.fstat(body.fileno()).st_size


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def fingerprint(content: Sequence[str], key_position: int) -> Fingerprint:
    """A row as Salesforce reads it back (cell texts in column order) → its :data:`Fingerprint`."""
    key = _digest(content[key_position].casefold()) if key_position >= 0 else None
    return _digest("\x1f".join(content)), key


def write_fingerprint(w: Write, columns: tuple[str, ...], key: str | None) -> Fingerprint:
    """The fingerprint of the row ``w`` was uploaded as, under the job's header ``columns`` and key column."""
    cells = row_cells(w, columns) or [""] * len(columns)
    return fingerprint([cell_text(c) for c in cells], columns.index(key) if key is not None else -1)


def row_fingerprints(job: BulkJob, writes: Sequence[Write]) -> list[Fingerprint]:
    return [write_fingerprint(writes[index], job.columns, job.key) for index in job.indices]


class _Correlator:
    """Finds the uploaded row a result row belongs to: by the job's key column (``Id`` for updates, the External ID
    for upserts, the natural key for creates), then by the whole row as uploaded (results echo the original columns;
    their order is not the upload's). Works on fingerprints, so it needs no record values; plain dicts of ints keep
    it small at a million rows (a digest seen twice keeps its rows in a list)."""

    def __init__(self, job: BulkJob, prints: Iterable[Fingerprint]) -> None:
        self.columns = job.columns
        self.key = job.key
        self._key_position = job.columns.index(job.key) if job.key is not None else -1
        self.indices = job.indices
        # By position in the job (k for indices[k]): compact arrays, not a million Python objects.
        self._rows = array("Q")
        self._left = bytearray(b"\x01") * len(job.indices)
        self._by_key: dict[int, int | list[int]] = {}
        self._by_row: dict[int, int | list[int]] = {}
        for k, (row, key) in enumerate(prints):
            self._rows.append(row)
            _add(self._by_row, row, k)
            if key is not None:
                _add(self._by_key, key, k)
        if len(self._rows) != len(job.indices):
            raise ValueError(f"Bulk job {job.id}: {len(self._rows)} fingerprints for {len(job.indices)} rows")
        self.unmatched = len(job.indices)

    @property
    def left(self) -> list[int]:
        """The rows no result row has matched yet (as indices into the submitted writes)."""
        return [self.indices[k] for k, flag in enumerate(self._left) if flag]

    def take(self, row: dict[str, str]) -> int | None:
        content, key = fingerprint([row.get(c, "") for c in self.columns], self._key_position)
        found: int | None = None
        if key is not None and self.key in row:
            candidates = [k for k in _get(self._by_key, key) if self._left[k]]
            exact = [k for k in candidates if self._rows[k] == content]
            if exact or candidates:
                found = (exact or candidates)[0]
        if found is None:
            found = next((k for k in _get(self._by_row, content) if self._left[k]), None)
        if found is None:
            log.warning("A Bulk result row matches no record that was uploaded in its job")
            return None
        self._left[found] = 0
        self.unmatched -= 1
        return self.indices[found]


def _add(table: dict[int, int | list[int]], digest: int, index: int) -> None:
    present = table.get(digest)
    if present is None:
        table[digest] = index
    elif isinstance(present, list):
        present.append(index)
    else:
        table[digest] = [present, index]


def _get(table: dict[int, int | list[int]], digest: int) -> list[int]:
    present = table.get(digest)
    if present is None:
        return []
    return present if isinstance(present, list) else [present]


def leading_columns(operation: str) -> tuple[str, ...]:
    """What a job's CSV header starts with, before the fields its records set: ``Id`` for an update."""
    return ("Id",) if operation == "update" else ()


def header_columns(operation: str, field_names: Iterable[str]) -> tuple[str, ...]:
    """A job's CSV header from the field names its records set, in first-seen order."""
    return union_columns([field_names], leading_columns(operation))


def key_column(operation: str, external: str | None, first: Write, columns: tuple[str, ...]) -> str | None:
    if operation == "update":
        return "Id"
    if operation == "upsert":
        return external
    natural = first.natural_key
    return natural[0] if natural is not None and natural[0] in columns else None


def bulk_can_take(w: Write) -> bool:
    """A write REST would refuse before sending (INVALID_WRITE) goes over REST to get exactly that answer."""
    if w.operation not in BULK_OPERATIONS or not is_api_name(w.sobject or ""):
        return False
    if not all_api_names(w.fields.keys()):
        return False
    if w.operation == "update":
        return bool(w.record_id)
    if w.operation == "upsert":
        ext = w.external_id_field
        return bool(ext and is_api_name(ext) and w.fields.get(ext) not in (None, ""))
    return True


def bulk_record(w: Write) -> dict[str, Any]:
    """The record as REST would send it (without ``attributes``; an update carries its id in ``Id``)."""
    values = {k: v for k, v in w.fields.items() if k != "attributes"}
    if w.operation == "update":
        values.pop("id", None)
        values.pop("Id", None)
        return {"Id": w.record_id, **values}
    return values


def record_columns(operation: str, writes: Iterator[Write]) -> tuple[str, ...]:
    return header_columns(operation, (name for w in writes for name in bulk_record(w)))


def encoded_cells(w: Write) -> dict[str, str] | None:
    """The record's CSV cells by field name; None when CSV cannot carry one of its values."""
    plain = w.operation != "update" and "attributes" not in w.fields  # most records: no copy needed
    return encode_fields(w.fields if plain else bulk_record(w))


def row_cells(w: Write, columns: tuple[str, ...]) -> list[str] | None:
    """The row's encoded fields in column order (an empty cell: a field this record does not set)."""
    cells = encoded_cells(w)
    return None if cells is None else [cells.get(name, "") for name in columns]


def _all_succeeded(job: BulkJob, state: str, info: Mapping[str, Any] | None) -> bool:
    """Salesforce's own counts say every row of an insert or update job was saved. An upsert's rows still need
    their result rows: only those tell a created record from an updated one."""
    if info is None or state != "JobComplete" or job.operation not in ("insert", "update"):
        return False
    processed, failed = info.get("numberRecordsProcessed"), info.get("numberRecordsFailed")
    return failed == 0 and processed == len(job.indices)


def _success(index: int, operation: str, row: dict[str, str]) -> RowResult:
    if operation == "insert":
        status: Literal["created", "updated"] = "created"
    elif operation == "upsert":
        status = "created" if row.get("sf__Created", "").lower() == "true" else "updated"
    else:
        status = "updated"
    return RowResult(index, status, row.get("sf__Id") or None)


def _failure(index: int, code: str, message: str) -> RowResult:
    return RowResult(index, "failed", None, code, message or None)


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


def worst_stop(stops: Sequence[StopReason | None]) -> StopReason | None:
    present = [s for s in stops if s is not None]
    return min(present, key=_STOP_PRIORITY.index) if present else None
