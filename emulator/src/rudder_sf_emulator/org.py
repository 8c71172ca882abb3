"""The emulated org's state: what the process was started with (``Config``) and what it holds while it runs
(``Org``: records, schema, sessions, settings, faults, counters, query cursors and Bulk jobs).

Every request handler (``app.py`` at the top, then ``admin.py``, ``rest.py``, ``queries.py``, ``bulk.py``) works
on the one ``Org`` it is given. This module imports none of them, so that all of them can import it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import auth
from .faults import Faults
from .profiles import DEFAULT_PROFILE, get_profile
from .requestlog import RequestLog
from .schema import Schema
from .store import Store

DEFAULT_DAILY_LIMIT = 100_000  # API calls a day before REQUEST_LIMIT_EXCEEDED (the admin API can change it)


@dataclass
class Config:
    """What the process was started with; ``reset`` returns to it."""

    data_dir: Path
    credentials: auth.Credentials = auth.DEFAULT_CREDENTIALS
    daily_limit: int = DEFAULT_DAILY_LIMIT
    api_disabled: bool = False
    faults: dict[str, Any] = field(default_factory=dict)
    schema_file: Path | None = None
    org_profile: str = DEFAULT_PROFILE


class Org:
    """One emulated org. Requests and Bulk workers change it only while holding ``lock``; the in-flight gauge
    has a lock of its own."""

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

    def reset_runtime(self) -> None:
        self.credentials = self.config.credentials  # frozen: the admin API replaces it, never changes it
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

    def new_session(self) -> str:
        """A session for a successful login: its id, the bearer token of later data requests."""
        sid = auth.new_session_id()
        self.sessions[sid] = auth.Session(sid)
        self.logins += 1
        return sid

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
