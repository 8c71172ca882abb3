"""SOQL queries over the records: ``/query`` and ``/queryAll`` with their cursors, and the execution that Bulk 2.0
query jobs (``bulk.py``) share with them."""

from __future__ import annotations

import itertools
import re
from typing import Any

from . import soql
from .http_types import Request, Response
from .org import Org
from .schema import ObjectSpec
from .store import Txn
from .writes import RecordError

_cursor_numbers = itertools.count(1)


def invalid_type(name: str) -> RecordError:
    return RecordError(
        "INVALID_TYPE",
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append"
        " the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
        [],
        404,
    )


def render(record: dict[str, Any], obj: ObjectSpec, fields: list[str], version: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"}
    }
    for name in fields:
        out[name] = record.get(name)
    return out


def run_query(org: Org, req: Request, version: str, txn: Txn, include_deleted: bool) -> Response:
    text = req.query.get("q")
    if text is None:
        return Response.error(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        return Response.json(200, execute_query(org, text, version, txn, include_deleted, _batch_size(req)))
    except soql.SoqlError as err:
        status = 404 if err.code == "INVALID_TYPE" else 400
        return Response.error(status, err.code, err.message)


def _batch_size(req: Request) -> int:
    match = re.search(r"batchSize\s*=\s*(\d+)", req.header("sforce-query-options") or "")
    return max(200, min(2000, int(match.group(1)))) if match else 2000


def execute_query(
    org: Org, text: str, version: str, txn: Txn, include_deleted: bool = False, batch: int = 2000
) -> dict[str, Any]:
    query = soql.parse(text)
    obj = org.schema.get(query.sobject)
    if obj is None:
        raise soql.SoqlError("INVALID_TYPE", invalid_type(query.sobject).message)

    def resolve(name: str) -> str:
        spec = obj.field(name)
        if spec is None:
            raise soql.SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be"
                " sure to append the '__c' after the custom field name. Please reference your WSDL or the describe"
                " call for the appropriate names.",
            )
        return spec.name

    fields = [resolve(f) for f in query.fields]
    predicate = soql.compile_where(query.where, resolve)
    hint = soql.index_hint(query.where, resolve)
    if hint is not None:
        keys: set[str] = set()
        for value in hint[1]:
            keys.update(txn.find_by(obj.name, hint[0], value))
        seqs = txn.store.seqs
        candidates = [r for k in sorted(keys, key=lambda k: seqs.get(k, 0)) if (r := txn.get(obj.name, k))]
    else:
        candidates = txn.records(obj.name)
    matched = [r for r in candidates if (include_deleted or not r.get("IsDeleted")) and predicate(r)]
    if query.order_by:
        matched = soql.sort_records(matched, tuple((resolve(f), d, n) for f, d, n in query.order_by))
    matched = matched[query.offset :]
    if query.limit is not None:
        matched = matched[: query.limit]
    if query.count:
        return {"totalSize": len(matched), "done": True, "records": []}
    rendered = [render(r, obj, fields, version) for r in matched]
    return page(org, rendered, 0, batch, version)


def page(org: Org, rendered: list[dict[str, Any]], start: int, batch: int, version: str) -> dict[str, Any]:
    chunk = rendered[start : start + batch]
    result: dict[str, Any] = {"totalSize": len(rendered), "done": start + batch >= len(rendered), "records": chunk}
    if not result["done"]:
        cursor = f"01g8Z{next(_cursor_numbers):010d}AAA"
        org.cursors[cursor] = (rendered, batch, version)
        while len(org.cursors) > 200:
            org.cursors.pop(next(iter(org.cursors)))
        result["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor}-{start + batch}"
    return result


def query_more(org: Org, locator: str) -> Response:
    cursor, _, start = locator.partition("-")
    found = org.cursors.get(cursor)
    if found is None or not start.isdigit():
        return Response.error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    rendered, batch, version = found
    result = page(org, rendered, int(start), batch, version)
    return Response.json(200, result)
