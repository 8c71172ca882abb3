"""Python helpers around a running emulator: ``EmulatorHandle`` (admin calls, connection strings) and
``start_emulator`` (launch a subprocess, wait for its readiness line, stop it at exit).

The admin client always passes ``verify=ca_path`` per request on a session with ``trust_env=False``, so
``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` in the environment cannot override the emulator's certificate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from .auth import DEFAULT_CREDENTIALS

READY_PREFIX = "EMULATOR READY "


@dataclass
class EmulatorHandle:
    base_url: str
    ca_path: str
    data_dir: str
    username: str = DEFAULT_CREDENTIALS.username
    password: str = DEFAULT_CREDENTIALS.password
    security_token: str = DEFAULT_CREDENTIALS.security_token
    consumer_key: str = DEFAULT_CREDENTIALS.consumer_key
    consumer_secret: str = DEFAULT_CREDENTIALS.consumer_secret
    process: subprocess.Popen[str] | None = field(default=None, repr=False)
    _http: requests.Session | None = field(default=None, repr=False)

    # -- connections --
    def connection_dict(self, conn_id: str = "rudder_salesforce_default") -> dict[str, Any]:
        return {
            "conn_type": "rudder_salesforce",
            "host": self.base_url,
            "login": self.username,
            "password": self.password,
            "extra": {"security_token": self.security_token, "ca_bundle": self.ca_path},
        }

    def connection_json(self, conn_id: str = "rudder_salesforce_default") -> str:
        """Airflow connection JSON, e.g. for ``AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT``."""
        return json.dumps(self.connection_dict(conn_id))

    def connection_uri(self) -> str:
        """Airflow connection URI (``__extra__`` carries the JSON extras; the host keeps its https scheme)."""
        extra = json.dumps({"security_token": self.security_token, "ca_bundle": self.ca_path})
        return (
            f"rudder-salesforce://{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
            f"{quote(self.base_url, safe='')}/?__extra__={quote(extra, safe='')}"
        )

    def session(self) -> requests.Session:
        """A ``requests.Session`` that trusts only the emulator certificate, whatever the environment says."""
        http = requests.Session()
        http.trust_env = False
        http.verify = self.ca_path
        return http

    def simple_salesforce(self, session: requests.Session | None = None, version: str = "59.0") -> Any:
        """A ``simple_salesforce.Salesforce`` client logged in to the emulator by SOAP, as user code would be."""
        from simple_salesforce.api import Salesforce  # only when asked for: keeps this module light
        from simple_salesforce.login import SalesforceLogin

        http = session or self.session()
        session_id, instance = SalesforceLogin(
            username=self.username,
            password=self.password,
            security_token=self.security_token,
            scratch_url=self.base_url,
            session=http,
            sf_version=version,
        )
        return Salesforce(session_id=session_id, instance=instance, session=http, version=version)

    # -- admin API --
    def _admin(self, method: str, path: str, payload: Any = None) -> Any:
        if self._http is None:
            self._http = self.session()
        resp = self._http.request(
            method, f"{self.base_url}/__admin/{path}", json=payload, verify=self.ca_path, timeout=120
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"emulator admin {method} {path} failed: {resp.status_code} {resp.text}")
        return resp.json()

    def reset(self, schema: bool = False, profile: str | None = None) -> None:
        """Back to the start-up state (``schema``: drop declarations too; ``profile``: switch org profile,
        ``None`` = the one the emulator started with)."""
        payload: dict[str, Any] = {"schema": schema}
        if profile is not None:
            payload["profile"] = profile
        self._admin("POST", "reset", payload)

    def profile(self) -> str:
        """The active org profile's name."""
        return str(self._admin("GET", "profile")["profile"])

    def requests(self) -> dict[str, Any]:
        """What clients sent: ``{"writes": {Obj: {op: {"records", "fields"}}}, "allow_save_requests": n}``."""
        return dict(self._admin("GET", "requests"))

    def duplicate_rules(self) -> list[dict[str, Any]]:
        return list(self._admin("GET", "duplicate-rules"))

    def set_duplicate_rules(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the duplicate rules in force (``[]`` disables them); returns them as stored."""
        return list(self._admin("POST", "duplicate-rules", rules))

    def seed(self, obj: str, records: list[dict[str, Any]]) -> list[str]:
        return list(self._admin("POST", f"records/{obj}", records)["ids"])

    def records(self, obj: str) -> list[dict[str, Any]]:
        return list(self._admin("GET", f"records/{obj}"))

    def counters(self) -> dict[str, Any]:
        return dict(self._admin("GET", "counters"))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return dict(self._admin("POST", "faults", faults))

    def bulk_jobs(self) -> list[dict[str, Any]]:
        """Every Bulk 2.0 job's info (ingest and query), without spending API calls."""
        return list(self._admin("GET", "jobs"))

    def declare_fields(self, obj: str, fields: dict[str, dict[str, Any]]) -> None:
        self._admin("POST", "schema", {"object": obj, "fields": fields})

    def settings(self, **values: Any) -> dict[str, Any]:
        return dict(self._admin("POST", "settings", values))

    def expire_sessions(self) -> int:
        return int(self._admin("POST", "sessions/expire", {})["expired"])

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def _flag_args(flags: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in flags.items():
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                args.append(option)
        elif isinstance(value, dict):
            args += [option, json.dumps(value)]
        elif value is not None:
            args += [option, str(value)]
    return args


@contextmanager
def start_emulator(
    data_dir: str | os.PathLike[str], port: int = 0, timeout: float = 60.0, **flags: Any
) -> Iterator[EmulatorHandle]:
    """Run the emulator in a subprocess until the block ends; flags are the CLI options in snake_case
    (``daily_limit=500``, ``fail_every_nth=3``, ``security_token="X"``...)."""
    data_dir = Path(data_dir)
    cmd = [
        sys.executable,
        "-m",
        "rudder_sf_emulator",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *_flag_args(flags),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True, bufsize=1)
    line_box: list[str] = []

    def read_ready() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY_PREFIX):
                line_box.append(line)
                return

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(timeout)
    if not line_box:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"emulator did not become ready within {timeout}s (exit code {proc.returncode})")
    fields_ = dict(part.split("=", 1) for part in line_box[0][len(READY_PREFIX) :].split())
    handle = EmulatorHandle(
        base_url=fields_["base_url"],
        ca_path=fields_["ca"],
        data_dir=fields_.get("data_dir", str(data_dir)),
        process=proc,
        # the login the emulator was started with: the flags that set one, the defaults for the others
        **{name: flags.get(name, default) for name, default in asdict(DEFAULT_CREDENTIALS).items()},
    )
    try:
        yield handle
    finally:
        handle.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
