"""What Bulk API 2.0 ingest jobs (writes) and query jobs (exports) share: their end states, the waits between
reads of a job's state, reading it and aborting it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.errors import SalesforceApiError

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
FIRST_POLL_SECONDS = 1.0  # the first wait before a job's state is read; doubled up to poll_interval

JobKind = Literal["ingest", "query"]


def first_wait(interval: float) -> float:
    """The first wait for a longest wait of ``interval``: a poll interval below a second shortens it too."""
    return min(FIRST_POLL_SECONDS, interval)


@dataclass(frozen=True)
class Polling:
    """Waits between reads of a job's state: ``first``, doubled up to ``interval``; ``timeout`` seconds after the
    first wait began, the job is overdue. ``sleep`` and ``clock`` are injectable so tests never wait."""

    first: float = FIRST_POLL_SECONDS
    interval: float = 15.0
    timeout: float = 6 * 3600.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.interval:
            raise ValueError(f"need 0 < poll_first <= poll_interval, got {self.first} and {self.interval}")

    def delays(self) -> Iterator[float]:
        """The waits, endlessly: ``first``, doubled up to ``interval``."""
        delay = self.first
        while True:
            yield delay
            delay = min(self.interval, delay * 2)

    def rounds(self, *, waited: float = 0.0) -> Iterator[bool]:
        """One item before each read of the state: whether the job is overdue. An overdue job is read at once
        (the caller aborts it, then reads it once more or gives up); otherwise the next wait is slept first.
        ``waited``: seconds the job has already run, taken off the first wait (never more reads than from its start)."""
        delays = self.delays()
        started = self.clock()
        head_start = waited
        while True:
            overdue = self.clock() - started >= self.timeout
            if not overdue:
                delay = next(delays) - head_start
                if delay > 0:
                    self.sleep(delay)
            head_start = 0.0
            yield overdue


def job_info(client: SalesforceClient, kind: JobKind, job_id: str) -> dict[str, Any]:
    """The job's description (``state``, ``numberRecordsProcessed``, ...): one API call."""
    info = client.restful(f"jobs/{kind}/{job_id}")
    return info if isinstance(info, dict) else {}


def abort_job(client: SalesforceClient, kind: JobKind, job_id: str) -> bool:
    """Ask Salesforce to abort the job; False (logged) when it refused or could not be reached."""
    try:
        client.restful(f"jobs/{kind}/{job_id}", method="PATCH", json={"state": "Aborted"})
    except SalesforceApiError as exc:
        log.warning(
            "Could not abort Bulk %s job %s (%s); Salesforce removes old jobs on its own", kind, job_id, exc.code
        )
        return False
    return True
