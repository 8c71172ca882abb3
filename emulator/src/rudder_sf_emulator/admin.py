"""The admin API under ``/__admin/`` (no authentication, never counted as API usage).

==========================================  ====================================================================
``POST /__admin/reset``                     records, faults, counters, sessions, settings, request log and
                                            duplicate rules back to the start-up configuration; body
                                            ``{"schema": true}`` also drops declared schema; ``{"profile":
                                            "minimal"}`` switches the org profile (omitted: the start-up one)
``GET /__admin/profile``                    ``{"profile": active name, "profiles": [known names]}``
``POST /__admin/records/<Obj>``             seed a list of records (``[...]`` or ``{"records": [...]}``); system
                                            fields (``IsConverted``, ``ConvertedContactId``, ``Id``...) allowed,
                                            no validation besides unknown fields -> ``{"ids": [...]}``
``GET /__admin/records/<Obj>``              every record of the object (deleted ones included, ``IsDeleted``)
``GET /__admin/counters``                   ``{"api_calls", "by_endpoint", "logins", "login_failures",
                                            "injected_faults", "daily_limit", "max_concurrent_requests",
                                            "records_created", "records_updated", "records_deleted"}``
                                            (the last three: ``{object: count}`` of committed writes)
``GET /__admin/requests``                   ``{"writes": {Obj: {op: {"records": n, "fields": [...]}}},
                                            "allow_save_requests": n}`` (``requestlog.py``)
``GET|POST /__admin/duplicate-rules``       the rules in force; POST a list to replace them (``[]``: none);
                                            format in ``duplicates.py``
``GET|POST /__admin/faults``                read / change fault settings (``faults.Faults`` field names),
                                            Bulk 2.0 pace and limits included (``bulk_rows_per_second``,
                                            ``bulk_fail_after_rows``, ``bulk_max_upload_bytes``)
``GET /__admin/jobs``                       every Bulk 2.0 job's info (ingest and query), as the API shows it
``POST /__admin/schema``                    declare fields / custom objects (see ``Org.apply_declarations``)
``GET /__admin/schema``                     the declarations in force
``GET|POST /__admin/settings``              ``daily_limit``, ``api_usage`` (used calls), ``api_disabled``,
                                            ``username``, ``password``, ``security_token``, ``consumer_key``,
                                            ``consumer_secret``
``POST /__admin/sessions/expire``           invalidate every session (clients must log in again)
==========================================  ====================================================================
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from . import ids
from .auth import Credentials
from .http_types import Request, Response
from .org import Org
from .profiles import PROFILES
from .store import Txn
from .writes import RecordError, Writer

_CREDENTIAL_SETTINGS = frozenset(f.name for f in fields(Credentials))


def handle_admin(org: Org, req: Request) -> Response:
    parts = req.path.strip("/").split("/")[1:]
    try:
        body = req.json() if req.method in {"POST", "PUT", "PATCH"} else None
        return _route(org, req.method, parts, body)
    except RecordError as err:
        return Response.json(400, [err.rest_error()])
    except (ValueError, TypeError, KeyError) as err:
        return Response.json(400, {"error": str(err)})


def _route(org: Org, method: str, parts: list[str], body: Any) -> Response:
    head = parts[0] if parts else ""
    if head == "reset" and method == "POST":
        body = body or {}
        org.reset(schema=bool(body.get("schema", False)), profile=body.get("profile"))
        return Response.json(200, {"reset": True, "profile": org.profile})
    if head == "profile" and method == "GET":
        return Response.json(200, {"profile": org.profile, "profiles": sorted(PROFILES)})
    if head == "requests" and method == "GET":
        return Response.json(200, org.request_log.as_dict())
    if head == "duplicate-rules":
        if method == "POST":
            org.schema.set_duplicate_rules(body)
        return Response.json(200, [rule.as_dict() for rule in org.schema.duplicate_rules])
    if head == "records" and len(parts) == 2:
        obj = org.schema.get(parts[1])
        if obj is None:
            return Response.json(404, {"error": f"unknown object {parts[1]}"})
        if method == "GET":
            return Response.json(200, org.store.records(obj.name))
        if method == "POST":
            records = body.get("records") if isinstance(body, dict) else body
            if not isinstance(records, list):
                raise ValueError("expected a list of records")
            return Response.json(200, {"ids": seed(org, obj.name, records)})
    if head == "counters" and method == "GET":
        return Response.json(200, org.counters())
    if head == "faults":
        if method == "POST":
            body = dict(body or {})
            if "daily_limit" in body:
                org.daily_limit = int(body.pop("daily_limit"))
            org.faults.update(body)
        return Response.json(200, org.faults.as_dict())
    if head == "jobs" and method == "GET" and len(parts) == 1:
        return Response.json(200, [job.info() for job in org.jobs.values()])
    if head == "schema":
        if method == "POST":
            names = org.apply_declarations(body)
            return Response.json(200, {"objects": names})
        return Response.json(200, org.schema.declarations)
    if head == "settings":
        if method == "POST":
            apply_settings(org, dict(body or {}))
        return Response.json(
            200,
            {
                "daily_limit": org.daily_limit,
                "api_usage": org.api_used,
                "api_disabled": org.api_disabled,
                "username": org.credentials.username,
            },
        )
    if head == "sessions" and parts[1:] == ["expire"] and method == "POST":
        count = len(org.sessions)
        org.sessions.clear()
        return Response.json(200, {"expired": count})
    return Response.json(404, {"error": f"no admin route {method} /__admin/{'/'.join(parts)}"})


def apply_settings(org: Org, body: dict[str, Any]) -> None:
    for name, value in body.items():
        if name == "daily_limit":
            org.daily_limit = int(value)
        elif name == "api_usage":
            org.api_used = int(value)
        elif name == "api_disabled":
            org.api_disabled = bool(value)
        elif name in _CREDENTIAL_SETTINGS:
            org.credentials = replace(org.credentials, **{name: str(value)})
        else:
            raise ValueError(f"unknown setting {name!r}")


def seed(org: Org, obj_name: str, records: list[Any]) -> list[str]:
    """Insert records as given (system fields allowed), fast: one SQLite transaction."""
    obj = org.schema.get(obj_name)
    assert obj is not None
    writer = Writer(org.schema, Txn(org.store))
    built = []
    for values in records:
        if not isinstance(values, dict):
            raise ValueError("each record must be an object")
        record_id = values.get("Id") or values.get("id")
        if record_id is not None and not ids.is_well_formed(record_id):
            raise ValueError(f"malformed Id {record_id!r}")
        fields = {k: v for k, v in values.items() if k.lower() != "id"}
        clean: dict[str, Any] = {}
        for name, value in fields.items():
            spec = obj.any_field(name)  # the admin sees fields hidden from the integration user
            if spec is None:
                raise RecordError("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}", [name])
            if spec.type == "email" and isinstance(value, str):
                value = value.lower()
            clean[spec.name] = value
        if record_id is not None and len(record_id) == 15:
            record_id += ids.checksum(record_id)
        built.append(writer.new_record(obj, clean, record_id))
    org.store.put_many(obj.name, built)
    return [str(r["Id"]) for r in built]
