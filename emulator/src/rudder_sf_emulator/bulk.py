"""Bulk API 2.0 ingest and query jobs, processed over time by a background worker thread per job.

Ingest: ``POST /jobs/ingest`` (``Open``), ``PUT .../batches`` (CSV), ``PATCH {"state": "UploadComplete"}`` answers
at once; the job's worker then turns it ``InProgress`` and writes its rows at ``faults.bulk_rows_per_second``
(read on every step, so a test can slow, pause with 0 or resume a running job), then ``JobComplete``. Each row is
written on its own (no all-or-none), with the same validation as every other write. CSV rules as Salesforce: empty
values are ignored, ``#N/A`` sets null. ``faults.bulk_fail_after_rows`` (N > 0) turns a job ``Failed`` once it has
processed N rows; the rows left are its unprocessed records, as after an abort.

Query: ``POST /jobs/query`` runs the SOQL at once (results are a snapshot of that moment; a bad query answers
400 like ``/query``); the worker then "processes" the rows at the same pace (``numberRecordsProcessed`` grows) and
the results are paged out as CSV with ``Sforce-Locator`` / ``Sforce-NumberOfRecords`` headers.

Jobs live in memory only: a restart or ``reset`` forgets them (the records they wrote stay). Every worker step runs
under ``org.lock``, like a request, and stops as soon as its job is terminal, deleted or forgotten by a reset.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import soql
from .http_types import Request, Response
from .ids import USER_ID
from .org import Org
from .queries import execute_query
from .store import Txn
from .writes import RecordError, Writer, now_iso

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_job_numbers = itertools.count(1)
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
DELETABLE = frozenset({"UploadComplete", *TERMINAL})
TICK_SECONDS = 0.02  # the worker's step; each step writes what the rate allows since the last one
MAX_ROWS_PER_STEP = 2_000  # bounds how long one step holds the org lock
# Salesforce processes a job in internal batches of 10,000 records; duplicate rules do not compare the records one
# batch creates with each other, whatever the pace the worker writes them at.
INTERNAL_BATCH_ROWS = 10_000


@dataclass
class Job:
    id: str
    kind: str  # "ingest" | "query"
    object: str
    operation: str
    external_id: str | None
    delimiter: str
    line_ending: str
    version: str
    query: str | None = None
    state: str = "Open"
    created: str = field(default_factory=now_iso)
    data: bytes = b""
    parsed: bool = False
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # ingest: rows to write; query: result rows
    done: int = 0  # rows processed so far
    fail_after: int = 0  # bulk_fail_after_rows when processing was asked for
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    error_message: str | None = None
    started: float | None = None
    finished: float | None = None
    batch_created: set[str] = field(default_factory=set)  # ids created by the internal batch being processed

    @property
    def unprocessed(self) -> list[list[str]]:
        return self.rows[self.done :] if self.state in {"Failed", "Aborted"} else []

    def processing_ms(self) -> int:
        if self.started is None:
            return 0
        return int(((self.finished or time.monotonic()) - self.started) * 1000)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": USER_ID,
            "createdDate": self.created,
            "systemModstamp": now_iso(),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "jobType": "V2Ingest" if self.kind == "ingest" else "V2Query",
            "lineEnding": self.line_ending,
            "columnDelimiter": next(k for k, v in _DELIMITERS.items() if v == self.delimiter),
            "numberRecordsProcessed": self.done,
            "retries": 0,
            "totalProcessingTime": self.processing_ms(),
        }
        if self.kind == "ingest":
            info["contentUrl"] = f"services/data/v{self.version}/jobs/ingest/{self.id}/batches"
            info["numberRecordsFailed"] = len(self.failures)
            info["apiActiveProcessingTime"] = self.processing_ms()
            info["apexProcessingTime"] = 0
        if self.external_id:
            info["externalIdFieldName"] = self.external_id
        if self.error_message is not None:
            info["errorMessage"] = self.error_message
        return info


# -- routing --
def jobs(org: Org, req: Request, version: str, parts: list[str], txn: Txn) -> Response:
    """``parts`` is the path after ``jobs/``: ``ingest[/<id>[/...]]`` or ``query[/<id>[/results]]``."""
    kind = parts[0]
    if len(parts) == 1:
        if req.method == "POST":
            return create_ingest_job(org, req, version) if kind == "ingest" else create_query_job(org, req, version)
        if req.method == "GET":
            records = [j.info() for j in org.jobs.values() if j.kind == kind]
            return Response.json(200, {"done": True, "records": records, "nextRecordsUrl": None})
        return _not_found()
    job = org.jobs.get(parts[1])
    if job is None or job.kind != kind:
        return _not_found()
    rest = [p.lower() for p in parts[2:]]
    if not rest and req.method == "GET":
        return Response.json(200, job.info())
    if not rest and req.method == "PATCH":
        return change_state(org, job, req)
    if not rest and req.method == "DELETE":
        if job.state not in DELETABLE:
            return Response.error(400, "INVALIDJOBSTATE", f"Job {job.id} cannot be deleted in state {job.state}")
        del org.jobs[job.id]
        return Response.empty()
    if kind == "ingest":
        return _ingest_resource(org, job, req, rest)
    if rest == ["results"] and req.method == "GET":
        return query_results(job, req, version)
    return _not_found()


def _not_found() -> Response:
    return Response.error(404, "NOT_FOUND", "The requested resource does not exist")


def _ingest_resource(org: Org, job: Job, req: Request, rest: list[str]) -> Response:
    if rest == ["batches"] and req.method == "PUT":
        if job.state != "Open":
            return Response.error(409, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads: {job.state}")
        limit = org.faults.bulk_max_upload_bytes
        if len(req.body) > limit:
            return Response.error(
                400, "INVALIDBATCH", f"Upload of {len(req.body)} bytes exceeds the maximum of {limit} bytes per request"
            )
        job.data += req.body
        return Response.empty(201)
    if req.method != "GET" or rest not in (["successfulresults"], ["failedresults"], ["unprocessedrecords"]):
        return _not_found()
    if job.state not in TERMINAL:
        return Response.error(409, "INVALIDJOBSTATE", f"Job {job.id} has no results yet: its state is {job.state}")
    if rest == ["successfulresults"]:
        return _csv(["sf__Id", "sf__Created", *job.header], job.successes)
    if rest == ["failedresults"]:
        return _csv(["sf__Id", "sf__Error", *job.header], job.failures)
    return _csv(job.header, job.unprocessed)


def change_state(org: Org, job: Job, req: Request) -> Response:
    target = (req.json() or {}).get("state")
    if target == "UploadComplete" and job.kind == "ingest" and job.state == "Open":
        _parse_upload(org, job)
        job.state = "UploadComplete"
        job.fail_after = org.faults.bulk_fail_after_rows
        start_worker(org, job)
    elif target == "Aborted" and job.state in {"Open", "UploadComplete", "InProgress"}:
        if job.kind == "ingest" and not job.parsed:
            _parse_upload(org, job, note=False)  # an aborted open job lists what was uploaded as unprocessed
        _finish(job, "Aborted")
    else:
        return Response.error(400, "INVALIDJOBSTATE", f"Cannot change state from {job.state} to {target}")
    return Response.json(200, job.info())


# -- creation --
def _common_options(body: dict[str, Any]) -> tuple[str, str] | Response:
    delimiter = _DELIMITERS.get(str(body.get("columnDelimiter", "COMMA")))
    if delimiter is None:
        return Response.error(400, "INVALIDJOB", f"Invalid columnDelimiter: {body.get('columnDelimiter')}")
    line_ending = str(body.get("lineEnding", "LF"))
    if line_ending not in _LINE_ENDINGS:
        return Response.error(400, "INVALIDJOB", f"Invalid lineEnding: {line_ending}")
    if body.get("contentType", "CSV") != "CSV":
        return Response.error(400, "INVALIDJOB", "contentType must be CSV")
    return delimiter, line_ending


def _new_id() -> str:
    return f"7508Z{next(_job_numbers):010d}AAA"


def create_ingest_job(org: Org, req: Request, version: str) -> Response:
    body = req.json() or {}
    obj = org.schema.get(str(body.get("object", "")))
    operation = body.get("operation")
    if obj is None:
        return Response.error(400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API.")
    if operation not in {"insert", "update", "upsert", "delete"}:
        return Response.error(400, "INVALIDJOB", f"Invalid operation: {operation}")
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        Writer(org.schema, Txn(org.store)).external_field(obj, str(external or ""))
    options = _common_options(body)
    if isinstance(options, Response):
        return options
    job = Job(
        id=_new_id(),
        kind="ingest",
        object=obj.name,
        operation=str(operation),
        external_id=str(external) if external else None,
        delimiter=options[0],
        line_ending=options[1],
        version=version,
    )
    org.jobs[job.id] = job
    return Response.json(200, job.info())


def create_query_job(org: Org, req: Request, version: str) -> Response:
    body = req.json() or {}
    operation = body.get("operation", "query")
    if operation not in {"query", "queryAll"}:
        return Response.error(400, "INVALIDJOB", f"Invalid operation: {operation}")
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        return Response.error(400, "INVALIDJOB", "A query is required for a query job")
    options = _common_options(body)
    if isinstance(options, Response):
        return options
    try:
        parsed = soql.parse(text)
        if parsed.count or parsed.offset:
            return Response.error(400, "INVALIDJOB", "COUNT() and OFFSET are not supported by Bulk API 2.0 queries")
        result = execute_query(org, text, version, Txn(org.store), operation == "queryAll", batch=2**62)
    except soql.SoqlError as err:
        return Response.error(404 if err.code == "INVALID_TYPE" else 400, err.code, err.message)
    obj = org.schema.get(parsed.sobject)
    assert obj is not None
    records: list[dict[str, Any]] = result["records"]
    header = [name for name in (records[0] if records else {}) if name != "attributes"]
    if not records:
        header = [spec.name for name in parsed.fields if (spec := obj.field(name)) is not None]
    job = Job(
        id=_new_id(),
        kind="query",
        object=obj.name,
        operation=str(operation),
        external_id=None,
        delimiter=options[0],
        line_ending=options[1],
        version=version,
        query=text,
        state="UploadComplete",
        parsed=True,
        header=header,
        rows=[[_cell(r.get(name)) for name in header] for r in records],
    )
    job.fail_after = org.faults.bulk_fail_after_rows
    org.jobs[job.id] = job
    start_worker(org, job)
    return Response.json(200, job.info())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_upload(org: Org, job: Job, note: bool = True) -> None:
    """Split the uploaded CSV into header and rows (once); ``note`` it in the request log."""
    job.parsed = True
    try:
        text = job.data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter))
    except (UnicodeDecodeError, csv.Error) as err:
        job.error_message = f"InvalidBatch : Failed to parse the CSV data: {err}"
        return
    if not rows:
        job.error_message = "InvalidBatch : No content was uploaded for this job"
        return
    job.header, job.rows = rows[0], [r for r in rows[1:] if r]
    if not note:
        return
    operation = {"insert": "create"}.get(job.operation, job.operation)
    org.request_log.note(org.schema, job.object, operation, job.header, records=len(job.rows))


# -- processing --
def start_worker(org: Org, job: Job) -> None:
    threading.Thread(target=_work, args=(org, job), name=f"bulk-{job.id}", daemon=True).start()


def _work(org: Org, job: Job) -> None:
    budget = 0.0
    last = time.monotonic()
    while True:
        time.sleep(TICK_SECONDS)
        with org.lock:
            if org.jobs.get(job.id) is not job or job.state in TERMINAL:
                return  # aborted, deleted, or forgotten by a reset
            now = time.monotonic()
            if job.state == "UploadComplete":
                job.state, job.started, last = "InProgress", now, now
                if job.error_message is not None:  # the upload could not be read
                    _finish(job, "Failed")
                continue
            budget += org.faults.rows_per_second(job.kind) * (now - last)
            last = now
            allowed = min(int(budget), MAX_ROWS_PER_STEP)
            budget = min(budget - allowed, float(MAX_ROWS_PER_STEP))  # no burst after a long wait for the lock
            step(org, job, allowed)


def step(org: Org, job: Job, allowed: int) -> None:
    """Process up to ``allowed`` more rows of a job in progress; finish it when nothing is left."""
    end = min(len(job.rows), job.done + allowed)
    if job.fail_after:
        end = min(end, job.fail_after)
    if job.kind == "ingest" and end > job.done:
        _write_rows(org, job, end)
    job.done = end
    if job.fail_after and job.done >= job.fail_after and job.done < len(job.rows):
        job.error_message = (
            f"InternalServerError : the job failed after {job.done} rows (fault bulk_fail_after_rows); "
            f"{len(job.rows) - job.done} rows were not processed"
        )
        _finish(job, "Failed")
    elif job.done >= len(job.rows):
        _finish(job, "JobComplete")


def _finish(job: Job, state: str) -> None:
    job.state = state
    job.finished = time.monotonic()


def _write_rows(org: Org, job: Job, end: int) -> None:
    obj = org.schema.get(job.object)
    assert obj is not None
    txn = Txn(org.store)
    for position, row in enumerate(job.rows[job.done : end], start=job.done):
        if position % INTERNAL_BATCH_ROWS == 0:
            job.batch_created = set()
        if len(row) != len(job.header):  # strict: a short row is not read as trailing empty cells
            message = f"the row has {len(row)} value(s) and the header {len(job.header)} column(s)"
            job.failures.append(["", f"INVALID_FIELD:{message}:", *row])
            continue
        values: dict[str, Any] = {}
        for name, value in zip(job.header, row, strict=True):
            if value == "#N/A":
                values[name] = None
            elif value != "":
                values[name] = value
        one = Txn(txn)
        # No duplicate header in Bulk 2.0.
        writer = Writer(org.schema, one, version=job.version, csv=True, same_request=job.batch_created)
        try:
            created = False
            if job.operation == "insert":
                record_id = writer.create(obj, values)
                created = True
            elif job.operation == "update":
                record_id = writer.update(obj, values.pop("Id", values.pop("id", "")), values)
            elif job.operation == "delete":
                record_id = str(values.get("Id", ""))
                writer.delete(obj, record_id)
            else:
                key = str(job.external_id)
                record_id, created = writer.upsert(obj, key, values.get(key), values)
            one.commit()
            if created:
                job.batch_created.add(record_id)
            job.successes.append([record_id, "true" if created else "false", *row])
        except RecordError as err:
            job.failures.append(["", f"{err.code}:{err.message}:{','.join(err.fields)}", *row])
    txn.commit()


# -- results --
def query_results(job: Job, req: Request, version: str) -> Response:
    if version != job.version:
        return Response.error(409, "INVALIDJOBSTATE", f"Use API version {job.version}, the job's, for its results")
    if job.state != "JobComplete":
        return Response.error(409, "INVALIDJOBSTATE", f"Job {job.id} has no results: its state is {job.state}")
    start = 0
    locator = req.query.get("locator") or ""
    if locator and locator != "null":
        try:
            start = int(base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode("ascii"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            start = -1
        if not 0 < start < len(job.rows):
            return Response.error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    raw_max = req.query.get("maxRecords")
    size = len(job.rows) - start
    if raw_max is not None:
        if not raw_max.isdigit() or int(raw_max) < 1:
            return Response.error(400, "INVALIDPARAMETER", f"maxRecords must be a positive integer: {raw_max}")
        size = int(raw_max)
    chunk = job.rows[start : start + size]
    following = start + len(chunk)
    next_locator = "null"
    if following < len(job.rows):
        next_locator = base64.urlsafe_b64encode(str(following).encode("ascii")).decode("ascii").rstrip("=")
    out = io.StringIO()
    writer = csv.writer(
        out, delimiter=job.delimiter, lineterminator=_LINE_ENDINGS[job.line_ending], quoting=csv.QUOTE_ALL
    )
    writer.writerow(job.header)
    writer.writerows(chunk)
    headers = {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(chunk))}
    return Response(200, out.getvalue().encode("utf-8"), "text/csv", headers=headers)


def _csv(header: list[str], rows: list[list[str]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(200, out.getvalue().encode("utf-8"), "text/csv")
