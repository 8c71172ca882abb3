"""Shared helpers for the emulator tests: a simple-salesforce client logged in over real HTTPS, raw Bulk 2.0 calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from rudder_sf_emulator.client import EmulatorHandle

VERSION = "59.0"


def login(emu: EmulatorHandle, session: requests.Session | None = None) -> Salesforce:
    return emu.simple_salesforce(session, VERSION)  # type: ignore[no-any-return]


@pytest.fixture
def sf(salesforce_emulator: EmulatorHandle) -> Salesforce:
    return login(salesforce_emulator)


@pytest.fixture
def data_url(salesforce_emulator: EmulatorHandle) -> str:
    return f"{salesforce_emulator.base_url}/services/data/v{VERSION}"


@pytest.fixture
def minimal(salesforce_emulator: EmulatorHandle) -> EmulatorHandle:
    """The emulator switched to the ``minimal`` org profile (the next test's reset returns to ``full``)."""
    salesforce_emulator.reset(schema=True, profile="minimal")
    return salesforce_emulator


@pytest.fixture
def msf(minimal: EmulatorHandle) -> Salesforce:
    """A client logged in to the ``minimal`` org."""
    return login(minimal)


class BulkClient:
    """Raw Bulk API 2.0 calls over HTTPS with a logged-in session (every call is a real API request)."""

    def __init__(self, emu: EmulatorHandle, sf: Salesforce) -> None:
        self.http = emu.session()
        self.base = f"{emu.base_url}/services/data/v{VERSION}/jobs"
        self.auth = {"Authorization": f"Bearer {sf.session_id}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base}/{path}", headers=headers, timeout=30, **kwargs)

    def ingest(self, obj: str, operation: str, csv_text: str, close: bool = True, **options: Any) -> dict[str, Any]:
        """Create an ingest job, upload ``csv_text`` and (unless ``close`` is false) close it; the close answer."""
        job = self.call("POST", "ingest", json={"object": obj, "operation": operation, **options})
        assert job.status_code == 200, job.text
        job_id = job.json()["id"]
        put = self.call("PUT", f"ingest/{job_id}/batches", data=csv_text.encode(), headers={"Content-Type": "text/csv"})
        assert put.status_code == 201, put.text
        if not close:
            return dict(job.json())
        closed = self.call("PATCH", f"ingest/{job_id}", json={"state": "UploadComplete"})
        assert closed.status_code == 200, closed.text
        return dict(closed.json())

    def info(self, kind: str, job_id: str) -> dict[str, Any]:
        resp = self.call("GET", f"{kind}/{job_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def poll(
        self, kind: str, job_id: str, until: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll the job's info until ``until`` holds (default: a terminal state); fail after ``timeout`` s."""
        until = until or (lambda info: info["state"] in {"JobComplete", "Failed", "Aborted"})
        deadline = time.monotonic() + timeout
        while True:
            info = self.info(kind, job_id)
            if until(info):
                return info
            assert time.monotonic() < deadline, f"job {job_id} never reached the condition: {info}"
            time.sleep(0.01)  # poll interval, not a wait for the change


@pytest.fixture
def bulk(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> BulkClient:
    return BulkClient(salesforce_emulator, sf)
