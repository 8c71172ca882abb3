"""Bulk API 2.0 ingest jobs: create, upload CSV, close (processed synchronously), poll, results.

Jobs live in memory (they do not survive a restart, as the records they wrote do). Each row is written on its
own (no all-or-none), with the same validation as every other write. CSV rules as Salesforce: empty values are
ignored, ``#N/A`` sets null.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http_types import Request, Response
from .store import Txn
from .writes import USER_ID, RecordError, Writer, now_iso

if TYPE_CHECKING:
    from .app import Emulator

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_job_numbers = itertools.count(1)


@dataclass
class Job:
    id: str
    object: str
    operation: str
    external_id: str | None
    delimiter: str
    line_ending: str
    version: str
    state: str = "Open"
    created: str = field(default_factory=now_iso)
    data: bytes = b""
    header: list[str] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

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
            "jobType": "V2Ingest",
            "lineEnding": self.line_ending,
            "columnDelimiter": next(k for k, v in _DELIMITERS.items() if v == self.delimiter),
            "contentUrl": f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
            "numberRecordsProcessed": len(self.successes) + len(self.failures),
            "numberRecordsFailed": len(self.failures),
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if self.external_id:
            info["externalIdFieldName"] = self.external_id
        return info


def ingest(app: Emulator, req: Request, version: str, parts: list[str], txn: Txn) -> Response:
    if not parts:
        if req.method == "POST":
            return create_job(app, req, version)
        records = [j.info() for j in app.jobs.values()]
        return Response.json(200, {"done": True, "records": records, "nextRecordsUrl": None})
    job = app.jobs.get(parts[0])
    if job is None:
        return Response.error(404, "NOT_FOUND", "The requested resource does not exist")
    rest = [p.lower() for p in parts[1:]]
    if rest == ["batches"] and req.method == "PUT":
        if job.state != "Open":
            return Response.error(409, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads: {job.state}")
        job.data += req.body
        return Response.empty(201)
    if not rest and req.method == "PATCH":
        body = req.json() or {}
        target = body.get("state")
        if target == "UploadComplete" and job.state == "Open":
            process(app, job, txn)
        elif target == "Aborted" and job.state in {"Open", "UploadComplete"}:
            job.state = "Aborted"
        else:
            return Response.error(400, "INVALIDJOBSTATE", f"Cannot change state from {job.state} to {target}")
        return Response.json(200, job.info())
    if not rest and req.method == "GET":
        return Response.json(200, job.info())
    if not rest and req.method == "DELETE":
        del app.jobs[job.id]
        return Response.empty()
    if rest == ["successfulresults"]:
        return _csv(["sf__Id", "sf__Created", *job.header], job.successes)
    if rest == ["failedresults"]:
        return _csv(["sf__Id", "sf__Error", *job.header], job.failures)
    if rest == ["unprocessedrecords"]:
        return _csv(job.header, job.unprocessed)
    return Response.error(404, "NOT_FOUND", "The requested resource does not exist")


def create_job(app: Emulator, req: Request, version: str) -> Response:
    body = req.json() or {}
    obj = app.schema.get(str(body.get("object", "")))
    operation = body.get("operation")
    if obj is None:
        return Response.error(400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API.")
    if operation not in {"insert", "update", "upsert", "delete"}:
        return Response.error(400, "INVALIDJOB", f"Invalid operation: {operation}")
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        Writer(app.schema, Txn(app.store)).external_field(obj, str(external or ""))
    if body.get("contentType", "CSV") != "CSV":
        return Response.error(400, "INVALIDJOB", "contentType must be CSV")
    delimiter = _DELIMITERS.get(str(body.get("columnDelimiter", "COMMA")))
    if delimiter is None:
        return Response.error(400, "INVALIDJOB", f"Invalid columnDelimiter: {body.get('columnDelimiter')}")
    job = Job(
        id=f"7508Z{next(_job_numbers):010d}AAA",
        object=obj.name,
        operation=str(operation),
        external_id=str(external) if external else None,
        delimiter=delimiter,
        line_ending=str(body.get("lineEnding", "LF")),
        version=version,
    )
    app.jobs[job.id] = job
    return Response.json(200, job.info())


def process(app: Emulator, job: Job, txn: Txn) -> None:
    obj = app.schema.get(job.object)
    assert obj is not None
    rows = list(csv.reader(io.StringIO(job.data.decode("utf-8-sig"), newline=""), delimiter=job.delimiter))
    if not rows:
        job.state = "Failed"
        return
    job.header, data = rows[0], [r for r in rows[1:] if r]
    operation = {"insert": "create"}.get(job.operation, job.operation)
    app.request_log.note(app.schema, obj.name, operation, job.header, records=len(data))
    for row in data:
        values: dict[str, Any] = {}
        for name, value in zip(job.header, row, strict=False):
            if value == "#N/A":
                values[name] = None
            elif value != "":
                values[name] = value
        one = Txn(txn)
        writer = Writer(app.schema, one, version=job.version, csv=True)  # no duplicate header in Bulk 2.0
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
            job.successes.append([record_id, "true" if created else "false", *row])
        except RecordError as err:
            job.failures.append(["", f"{err.code}:{err.message}:{','.join(err.fields)}", *row])
    job.state = "JobComplete"


def _csv(header: list[str], rows: list[list[str]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(200, out.getvalue().encode("utf-8"), "text/csv")
