"""The REST data endpoints under ``/services/data/vXX.X/`` (queries live in ``queries.py``, Bulk 2.0 in ``bulk.py``)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import bulk, duplicates, queries
from .http_types import Request, Response
from .org import Org
from .schema import ObjectSpec
from .store import Txn
from .writes import RecordError, Writer

MAX_COLLECTION = 200
MAX_COMPOSITE = 25
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


def get_object(org: Org, name: str) -> ObjectSpec:
    obj = org.schema.get(name)
    if obj is None:
        raise queries.invalid_type(name)
    return obj


def dispatch(org: Org, req: Request, version: str, sub: str, txn: Txn) -> Response:
    """Route one data request (``sub`` is the path after ``/services/data/vXX.X/``)."""
    parts = [unquote(p) for p in sub.strip("/").split("/")] if sub.strip("/") else []
    method = req.method
    try:
        if not parts:
            return Response.json(200, resources(version))
        head = parts[0]
        if head == "limits":
            return Response.json(200, org.limits())
        if head in {"query", "queryAll"}:
            if len(parts) == 2:
                return queries.query_more(org, parts[1])
            return queries.run_query(org, req, version, txn, include_deleted=head == "queryAll")
        if head == "sobjects":
            return sobjects(org, req, version, parts[1:], txn)
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return collections(org, req, version, parts[2:], txn)
        if head == "composite" and len(parts) == 1 and method == "POST":
            return composite(org, req, version, txn)
        if head == "jobs" and len(parts) >= 2 and parts[1] in {"ingest", "query"}:
            return bulk.jobs(org, req, version, parts[1:], txn)
    except RecordError as err:
        if err.parser_message is not None:  # a wrong JSON type fails the whole single-record request
            return Response.error(400, "JSON_PARSER_ERROR", err.parser_message)
        return Response.json(err.status, [err.rest_error()])
    except (ValueError, TypeError) as err:
        return Response.error(400, "JSON_PARSER_ERROR", f"Unexpected request body: {err}")
    return Response.error(404, "NOT_FOUND", "The requested resource does not exist")


def resources(version: str) -> dict[str, str]:
    base = f"/services/data/v{version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
    return {name: f"{base}/{name}" for name in names}


# -- single-record sObject resources --
def writer_for(org: Org, req: Request, txn: Txn, version: str) -> Writer:
    """A writer for one write request, honouring (and counting) ``Sforce-Duplicate-Rule-Header``."""
    allowed = duplicates.allow_save(req.header("sforce-duplicate-rule-header"))
    if allowed:
        org.request_log.allow_save_requests += 1
    return Writer(org.schema, txn, allow_save=allowed, version=version)


def _write_operation(method: str, parts: list[str]) -> str | None:
    """The request-log operation of a single-record route, None when the route does not write."""
    if method == "POST" and (len(parts) == 1 or (len(parts) == 2 and parts[1].lower() == "id")):
        return "create"
    if method == "PATCH" and len(parts) in {2, 3}:
        return "update" if len(parts) == 2 else "upsert"
    return "delete" if method == "DELETE" and len(parts) == 2 else None


def sobjects(org: Org, req: Request, version: str, parts: list[str], txn: Txn) -> Response:
    if not parts:
        return Response.json(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [describe_object(o, version, short=True) for o in org.schema.objects.values()],
            },
        )
    obj = get_object(org, parts[0])
    method = req.method
    body: Any = None
    operation = _write_operation(method, parts)
    if operation is not None:
        writer = writer_for(org, req, txn, version)
        body = req.json() if method != "DELETE" else None
        org.request_log.note_body(org.schema, obj.name, operation, body)
    else:
        writer = Writer(org.schema, txn, version=version)
    if len(parts) == 1:
        if method == "POST":
            new_id = writer.create(obj, body)
            return Response.json(201, {"id": new_id, "success": True, "errors": []})
        return Response.json(200, {"objectDescribe": describe_object(obj, version, short=True), "recentItems": []})
    if len(parts) == 2 and parts[1] == "describe":
        return Response.json(200, describe_object(obj, version))
    if len(parts) == 2:
        if method == "GET":
            record = writer.existing(obj, parts[1])
            wanted = req.query.get("fields")
            names = (
                [s.name for s in obj.visible()]
                if not wanted
                else [_field_or_error(obj, n.strip()) for n in wanted.split(",")]
            )
            return Response.json(200, queries.render(record, obj, names, version))
        if method == "PATCH":
            writer.update(obj, parts[1], body)
            return Response.empty()
        if method == "DELETE":
            writer.delete(obj, parts[1])
            return Response.empty()
        if method == "POST" and parts[1].lower() == "id":
            new_id = writer.create(obj, body)
            return Response.json(201, {"id": new_id, "success": True, "errors": [], "created": True})
        return Response.error(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE"
        )
    if len(parts) == 3:
        spec = writer.external_field(obj, parts[1])
        if method == "PATCH":
            try:
                record_id, created = writer.upsert(obj, spec.name, parts[2], body or {})
            except RecordError as err:
                if err.status == 300:
                    keys = txn.find_by(obj.name, spec.name, parts[2])
                    urls = [
                        f"/services/data/v{version}/sobjects/{obj.name}/{txn.get(obj.name, k)['Id']}"  # type: ignore[index]
                        for k in keys
                    ]
                    return Response.json(300, urls)
                raise
            status = 201 if created else (200 if _version_number(version) >= 46 else 204)
            if status == 204:
                return Response.empty()
            return Response.json(status, {"id": record_id, "success": True, "errors": [], "created": created})
        if method == "GET":
            keys = txn.find_by(obj.name, spec.name, parts[2])
            live = [r for k in keys if (r := txn.get(obj.name, k)) and not r.get("IsDeleted")]
            if not live:
                return Response.error(404, "NOT_FOUND", "The requested resource does not exist")
            if len(live) > 1:
                return Response.json(300, [f"/services/data/v{version}/sobjects/{obj.name}/{r['Id']}" for r in live])
            return Response.json(200, queries.render(live[0], obj, [s.name for s in obj.visible()], version))
    return Response.error(404, "NOT_FOUND", "The requested resource does not exist")


def _version_number(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return 99.0


def _field_or_error(obj: ObjectSpec, name: str) -> str:
    spec = obj.field(name)
    if spec is None:
        raise RecordError("INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'.", [name], 400)
    return spec.name


def describe_object(obj: ObjectSpec, version: str, short: bool = False) -> dict[str, Any]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    label = obj.name.removesuffix("__c").replace("_", " ")
    info: dict[str, Any] = {
        "name": obj.name,
        "label": label,
        "labelPlural": f"{label}s",
        "keyPrefix": obj.key_prefix,
        "custom": obj.custom,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }
    if not short:
        info["fields"] = [spec.describe() for spec in obj.visible()]
    return info


# -- sObject Collections --
def collections(org: Org, req: Request, version: str, parts: list[str], txn: Txn) -> Response:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        return Response.error(400, "JSON_PARSER_ERROR", "Request body must be an object with a 'records' list")
    records: list[Any] = body["records"]
    if len(records) > MAX_COLLECTION:
        return Response.error(
            400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
        )
    all_or_none = bool(body.get("allOrNone", False))
    if req.method == "POST" and not parts:
        op = "create"
    elif req.method == "PATCH" and not parts:
        op = "update"
    elif req.method == "PATCH" and len(parts) == 2:
        op = "upsert"
        get_object(org, parts[0])
        Writer(org.schema, txn).external_field(get_object(org, parts[0]), parts[1])
    else:
        return Response.error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed.")
    writer = writer_for(org, req, txn, version)
    return Response.json(200, write_collection(org, op, records, all_or_none, txn, parts, writer))


def write_collection(
    org: Org, op: str, records: list[Any], all_or_none: bool, txn: Txn, parts: list[str], base: Writer
) -> list[dict[str, Any]]:
    batch = Txn(txn)
    results: list[dict[str, Any]] = []
    failed = False
    for record in records:
        result: dict[str, Any]
        try:
            if not isinstance(record, dict):
                raise RecordError("JSON_PARSER_ERROR", "Each record must be a JSON object")
            type_name = (
                (record.get("attributes") or {}).get("type") if isinstance(record.get("attributes"), dict) else None
            )
            if op == "upsert":
                type_name = type_name or parts[0]
                if type_name.lower() != parts[0].lower():
                    raise RecordError("INVALID_TYPE", f"The object type {type_name} does not match the URI", [])
            if not type_name:
                raise RecordError("INVALID_TYPE", "sObject type must be specified in attributes", [])
            org.request_log.note_body(org.schema, type_name, op, record)
            obj = get_object(org, type_name)
            if org.faults.lock_row():
                rid = record.get("Id") or record.get("id") or ""
                raise RecordError(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {rid}".strip(),
                    [],
                )
            one = Txn(batch)
            writer = Writer(org.schema, one, allow_save=base.allow_save, version=base.version)
            if op == "create":
                result = {"id": writer.create(obj, record), "success": True, "errors": []}
            elif op == "update":
                rid = record.get("Id", record.get("id"))
                if rid in (None, ""):
                    raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
                result = {"id": writer.update(obj, rid, record), "success": True, "errors": []}
            else:
                spec = writer.external_field(obj, parts[1])
                key = next((v for k, v in record.items() if k.lower() == spec.name.lower()), None)
                if key in (None, ""):
                    raise RecordError("MISSING_ARGUMENT", f"{spec.name} not specified", [spec.name])
                new_id, created = writer.upsert(obj, spec.name, key, record)
                result = {"id": new_id, "success": True, "errors": [], "created": created}
            one.commit()
        except RecordError as err:
            failed = True
            result = {"id": None, "success": False, "errors": [err.save_error()]}
            if op == "upsert":
                result["created"] = False
        results.append(result)
    if all_or_none and failed:
        for result in results:
            if result["success"]:
                result.update({"id": None, "success": False, "errors": [dict(ROLLED_BACK)]})
                if "created" in result:
                    result["created"] = False
        return results
    batch.commit()
    return results


# -- Composite --
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])+)\}")


def _resolve_ref(refs: dict[str, Any], name: str, path: str) -> Any:
    if name not in refs:
        raise KeyError(name)
    value = refs[name]
    for key in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        value = value[key[0]] if key[0] else value[int(key[1])]
    return value


def _substitute(value: Any, refs: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REF_RE.fullmatch(value)
        if whole:
            return _resolve_ref(refs, whole.group(1), whole.group(2))
        return _REF_RE.sub(lambda m: str(_resolve_ref(refs, m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {k: _substitute(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, refs) for v in value]
    return value


def composite(org: Org, req: Request, version: str, txn: Txn) -> Response:
    body = req.json()
    subs = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(subs, list) or not subs:
        return Response.error(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty list")
    if len(subs) > MAX_COMPOSITE:
        return Response.error(400, "INVALID_FIELD", "Maximum number of subrequests (25) exceeded")
    all_or_none = bool(body.get("allOrNone", False))
    outer = Txn(txn)
    refs: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    halted = {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same transaction failed.",
    }
    failed = False
    for sub in subs:
        ref_id = str(sub.get("referenceId", ""))
        if failed and all_or_none:
            out.append({"body": [halted], "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref_id})
            continue
        try:
            url = _substitute(str(sub.get("url", "")), refs)
            sub_body = _substitute(sub.get("body"), refs)
        except (KeyError, IndexError, TypeError):
            out.append(
                {
                    "body": [{"errorCode": "PROCESSING_HALTED", "message": f"Invalid reference specified in {ref_id}"}],
                    "httpHeaders": {},
                    "httpStatusCode": 400,
                    "referenceId": ref_id,
                }
            )
            failed = True
            continue
        split = urlsplit(url)
        match = re.match(r"^/services/data/v(\d+\.\d+)/?(.*)$", split.path)
        if not match:
            resp = Response.error(400, "INVALID_URL", f"Invalid URL for a composite subrequest: {url}")
        else:
            one = Txn(outer)
            sub_req = Request(
                method=str(sub.get("method", "GET")).upper(),
                path=split.path,
                query=dict(parse_qsl(split.query)),
                body=json.dumps(sub_body).encode() if sub_body is not None else b"",
                headers={k.lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()},
            )
            resp = dispatch(org, sub_req, match.group(1), match.group(2), one)
            if resp.status < 400:
                one.commit()
        headers = {}
        if resp.status == 201 and isinstance(resp.data, dict) and resp.data.get("id"):
            headers["Location"] = f"{split.path.rstrip('/')}/{resp.data['id']}"
        out.append({"body": resp.data, "httpHeaders": headers, "httpStatusCode": resp.status, "referenceId": ref_id})
        if resp.status >= 400:
            failed = True
        elif ref_id:
            refs[ref_id] = resp.data
    if all_or_none and failed:
        for item in out:
            if item["httpStatusCode"] < 400:
                item.update({"body": [halted], "httpHeaders": {}, "httpStatusCode": 400})
        return Response.json(200, {"compositeResponse": out})
    outer.commit()
    return Response.json(200, {"compositeResponse": out})
