"""The emulator's state and its top-level request handling: logins, API accounting, faults, then routing."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import auth, rest
from .faults import Faults
from .http_types import Request, Response
from .profiles import DEFAULT_PROFILE, get_profile
from .requestlog import RequestLog
from .schema import Schema
from .store import Store, Txn

MAX_URL_BYTES = 16_384
_DATA_RE = re.compile(r"^/services/data/v(\d+\.\d+)(/.*)?$")
_SOAP_RE = re.compile(r"^/services/Soap/u/(\d+\.\d+)/?$")


@dataclass
class Config:
    """What the process was started with; ``reset`` returns to it."""

    data_dir: Path
    credentials: auth.Credentials = field(default_factory=auth.Credentials)
    daily_limit: int = 100_000
    api_disabled: bool = False
    faults: dict[str, Any] = field(default_factory=dict)
    schema_file: Path | None = None
    org_profile: str = DEFAULT_PROFILE


class Emulator:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.base_url = ""
        self.store = Store(config.data_dir / "records.sqlite3")
        self.profile = get_profile(config.org_profile).name
        self.schema = Schema(self.profile)
        self.load_schema()
        self.cursors: dict[str, tuple[list[dict[str, Any]], int, str]] = {}
        self.jobs: dict[str, Any] = {}
        # data requests in flight, counted by the HTTP handler outside ``lock`` (so overlapping requests show)
        self.gauge = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.reset_runtime()

    # -- state --
    def reset_runtime(self) -> None:
        self.credentials = auth.Credentials(**vars(self.config.credentials))
        self.daily_limit = self.config.daily_limit
        self.api_disabled = self.config.api_disabled
        self.faults = Faults()
        self.faults.update(self.config.faults)
        self.sessions: dict[str, auth.Session] = {}
        self.api_used = 0
        self.by_endpoint: Counter[str] = Counter()
        self.logins = 0
        self.login_failures = 0
        self.injected: Counter[str] = Counter()
        self.request_log = RequestLog()
        with self.gauge:
            self.max_in_flight = self.in_flight
        self.cursors.clear()
        self.jobs.clear()

    def enter_data_request(self) -> None:
        with self.gauge:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave_data_request(self) -> None:
        with self.gauge:
            self.in_flight -= 1

    def load_schema(self) -> None:
        self.schema.reset(self.profile)
        if self.config.schema_file is not None:
            self.apply_declarations(json.loads(self.config.schema_file.read_text()), persist=False)
        for decl in self.store.get_meta("declarations", []):
            self.schema.declare(decl["object"], decl["fields"])

    def apply_declarations(self, payload: Any, persist: bool = True) -> list[str]:
        """Declare fields/objects from ``{"object": X, "fields": {...}}``, a list of those, or ``{Obj: fields}``."""
        if isinstance(payload, dict) and "object" in payload:
            decls = [payload]
        elif isinstance(payload, dict):
            objects = payload.get("objects", payload)
            decls = [{"object": name, "fields": fields} for name, fields in objects.items()]
        elif isinstance(payload, list):
            decls = payload
        else:
            raise ValueError("schema declaration must be an object or a list")
        names = []
        for decl in decls:
            obj = self.schema.declare(str(decl["object"]), dict(decl.get("fields") or {}))
            names.append(obj.name)
            if persist:
                saved = self.store.get_meta("declarations", [])
                saved.append({"object": obj.name, "fields": decl.get("fields") or {}})
                self.store.set_meta("declarations", saved)
        return names

    def reset(self, schema: bool = False, profile: str | None = None) -> None:
        """Back to the start-up state; ``profile`` switches the org profile (none: the start-up one). Duplicate
        rules return to the profile's; declarations are kept unless ``schema``."""
        self.profile = get_profile(profile or self.config.org_profile).name
        self.store.clear()
        if schema:
            self.store.set_meta("declarations", [])
        self.load_schema()
        self.reset_runtime()

    def limits(self) -> dict[str, Any]:
        return {
            "DailyApiRequests": {"Max": self.daily_limit, "Remaining": max(0, self.daily_limit - self.api_used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        }

    def limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.daily_limit}"}

    # -- request handling --
    def handle(self, req: Request, raw_target: str) -> Response:
        path = req.path
        if path.startswith("/__admin/"):
            from .admin import handle_admin

            with self.lock:
                return handle_admin(self, req)
        if len(raw_target.encode("latin-1", "replace")) > MAX_URL_BYTES:
            return Response.error(414, "URI_TOO_LONG", "URI Too Long")
        if (match := _SOAP_RE.match(path)) and req.method == "POST":
            with self.lock:
                return self.soap_login(req, match.group(1))
        if path.rstrip("/") == "/services/oauth2/token" and req.method == "POST":
            with self.lock:
                return self.oauth_login(req)
        if path.rstrip("/") == "/services/data" and req.method == "GET":
            return Response.json(
                200, [{"label": f"v{v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"} for v in range(31, 65)]
            )
        match = _DATA_RE.match(path)
        if match is None:
            return Response.error(404, "NOT_FOUND", "The requested resource does not exist")
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        with self.lock:
            resp = self.data_request(req, match.group(1), (match.group(2) or "/")[1:])
            resp.headers.update(self.limit_header())
            return resp

    def data_request(self, req: Request, version: str, sub: str) -> Response:
        if self.faults.next_request_fails():
            self.injected["server_unavailable"] += 1
            return Response.error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable (injected fault)")
        authz = req.header("authorization") or ""
        token = authz[7:].strip() if authz.lower().startswith("bearer ") else authz.strip()
        session = self.sessions.get(token)
        limit = self.faults.expire_session_after
        if session is not None and limit and session.calls >= limit:
            del self.sessions[token]
            self.injected["session_expired"] += 1
            session = None
        if session is None:
            return Response.error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.api_disabled:
            return Response.error(403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization.")
        if self.api_used >= self.daily_limit:
            return Response.error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        session.calls += 1
        self.api_used += 1
        self.by_endpoint[endpoint_name(req.method, sub)] += 1
        txn = Txn(self.store)
        resp = rest.dispatch(self, req, version, sub, txn)
        txn.commit()  # only validated changes reach the txn; all-or-none rollbacks never commit into it
        return resp

    def _new_session(self) -> str:
        sid = auth.new_session_id()
        self.sessions[sid] = auth.Session(sid)
        self.logins += 1
        return sid

    def soap_login(self, req: Request, version: str) -> Response:
        try:
            username, password = auth.parse_soap_login(req.body)
            auth.check_password(self.credentials, username, password, self.api_disabled)
        except auth.LoginError as err:
            self.login_failures += 1
            return Response(500, auth.soap_fault(err.code, err.message).encode(), "text/xml;charset=UTF-8")
        body = auth.soap_login_response(self.base_url, version, self._new_session(), username)
        return Response(200, body.encode(), "text/xml;charset=UTF-8")

    def oauth_login(self, req: Request) -> Response:
        status, error = auth.oauth_check(self.credentials, req.body, req.header("authorization"), self.api_disabled)
        if status != 200:
            self.login_failures += 1
            return Response.json(status, error)
        return Response.json(200, auth.oauth_token(self.credentials, self.base_url, self._new_session()))

    def counters(self) -> dict[str, Any]:
        return {
            "api_calls": self.api_used,
            "by_endpoint": dict(self.by_endpoint),
            "logins": self.logins,
            "login_failures": self.login_failures,
            "injected_faults": dict(self.injected),
            "daily_limit": self.daily_limit,
            "max_concurrent_requests": self.max_in_flight,
            **{f"records_{op}": self._written(op) for op in ("created", "updated", "deleted")},
        }

    def _written(self, operation: str) -> dict[str, int]:
        return {obj: n for (obj, op), n in sorted(self.store.stats.items()) if op == operation}


def endpoint_name(method: str, sub: str) -> str:
    """A coarse name for counters: ``query``, ``sobjects``, ``composite/sobjects``, ``jobs/ingest``,
    ``jobs/query`` ..."""
    parts = sub.strip("/").split("/")
    head = parts[0] if parts[0] else "resources"
    if head == "composite" and len(parts) > 1 and parts[1] == "sobjects":
        head = "composite/sobjects"
    elif head == "jobs" and len(parts) > 1:
        head = "jobs/query" if parts[1] == "query" else "jobs/ingest"
    elif head == "sobjects" and parts[-1] == "describe":
        head = "describe"
    return f"{method} {head}"
