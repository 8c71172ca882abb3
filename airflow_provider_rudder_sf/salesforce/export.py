"""Reading whole objects through Bulk API 2.0 query jobs, one result page at a time.

A look-up of many values (e-mails, rETL identifiers) costs one SOQL ``IN`` request per few hundred values. When the
values are a large share of the object's rows, reading the object's few needed columns once is cheaper: one query
job costs a create, a few state polls and one request per result page, whatever the number of values.

* ``POST jobs/query`` (``operation: query``) creates the job;
* ``GET jobs/query/<id>`` is polled (waits of ``poll_first``, doubled up to ``poll_interval``) until ``JobComplete``;
  ``Failed`` or ``Aborted`` raise :class:`QueryJobFailed` before any row is read, so a caller can fall back;
* ``GET jobs/query/<id>/results?maxRecords=N[&locator=L]`` gives N rows of CSV and the next page's locator in the
  ``Sforce-Locator`` header (``null`` after the last page).

Only one page is held in memory at a time. Every request goes through :class:`SalesforceClient` (counted, retried,
budgeted). :func:`estimate_export_calls` and :func:`choose_strategy` are the pure cost rule the writer applies.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.util import call_salesforce

from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.csvcodec import iter_csv
from airflow_provider_rudder_sf.salesforce.errors import PermanentError
from airflow_provider_rudder_sf.salesforce.jobs import FIRST_POLL_SECONDS, TERMINAL_STATES, Polling, abort_job, job_info

log = logging.getLogger(__name__)

LookupStrategy = Literal["auto", "in", "export"]
LOOKUP_STRATEGIES: tuple[str, ...] = ("auto", "in", "export")
DEFAULT_PAGE_SIZE = 50_000  # maxRecords per result page (simple-salesforce's default too)
POLL_ESTIMATE = 4  # state polls a query job is expected to need, for the cost estimate only
EXPORT_MIN_CALLS = 20  # below this many IN requests, the look-up never spends a COUNT() on weighing an export


class QueryJobFailed(PermanentError):
    """The query job ended ``Failed`` or ``Aborted`` (or was aborted after the time-out); no row was read."""


@dataclass(frozen=True)
class LookupPlan:
    """How one look-up was (or will be) run, with the figures behind the choice (counts only, never values).

    ``rows`` and ``export_calls`` are None when the object was not counted (few values, or a forced strategy).
    """

    sobject: str
    field: str
    values: int
    strategy: Literal["in", "export"]
    in_calls: int
    rows: int | None = None
    export_calls: int | None = None
    reason: str = ""
    in_estimated: bool = False  # ``in_calls`` from a sample of the values: the values were never split

    def describe(self) -> str:
        about = "about " if self.in_estimated else ""
        figures = (
            f"{self.sobject} look-up by {self.field}: {self.values:,} value(s); IN: {about}{self.in_calls:,} request(s)"
        )
        if self.rows is not None and self.export_calls is not None:
            figures += f"; export: {self.rows:,} row(s), about {self.export_calls:,} request(s)"
        return f"{figures}; using {self.strategy} ({self.reason})"


def estimate_export_calls(rows: int, page_size: int, polls: int = POLL_ESTIMATE) -> int:
    """API calls of one query job over ``rows`` rows: create, ``polls`` state reads, one call per result page."""
    return 1 + polls + max(1, math.ceil(rows / page_size))


def choose_strategy(in_calls: int, rows: int, page_size: int) -> Literal["in", "export"]:
    """The cheaper of ``in_calls`` SOQL ``IN`` requests and an export of ``rows`` rows (a tie stays on ``IN``)."""
    return "export" if estimate_export_calls(rows, page_size) < in_calls else "in"


class BulkQuery:
    """Bulk API 2.0 query jobs through one :class:`SalesforceClient`.

    ``page_size`` is the ``maxRecords`` of each result page (the memory bound). ``sleep`` and ``clock`` are
    injectable so tests never wait; a job still running after ``poll_timeout`` seconds is aborted. ``polls``,
    ``pages`` and ``rows_read`` count what the last jobs cost and returned.
    """

    def __init__(
        self,
        client: SalesforceClient,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        poll_first: float = FIRST_POLL_SECONDS,
        poll_interval: float = 15.0,
        poll_timeout: float = 2 * 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.client = client
        self.page_size = page_size
        self.polling = Polling(poll_first, poll_interval, poll_timeout, sleep, clock)
        self._started: dict[str, float] = {}  # job id -> when it was created
        self.polls = 0
        self.pages = 0
        self.rows_read = 0

    def run(self, soql: str) -> Iterator[dict[str, str]]:
        """Create the job and wait for it (raising :class:`QueryJobFailed` if it does not complete), then return an
        iterator over its rows, fetched page by page as it is consumed. Row keys are the CSV header's names,
        lower-cased; an empty cell (a null) is ``""``."""
        return self.results(self.start(soql))

    def results(self, job_id: str) -> Iterator[dict[str, str]]:
        """:meth:`run`'s wait and rows, for a job :meth:`start` created (the time since then counts as waited)."""
        self._wait(job_id)
        return self._rows(job_id)

    def start(self, soql: str) -> str:
        """Create the query job (Salesforce starts running it) and return its id."""
        job_id = self._create(soql)
        self._started[job_id] = self.polling.clock()
        return job_id

    def _create(self, soql: str) -> str:
        spec = {
            "operation": "query",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        info = self.client.restful("jobs/query", method="POST", json=spec)
        if not isinstance(info, dict) or not info.get("id"):
            raise PermanentError(
                "Salesforce answered a query job creation without a job id", code="UNEXPECTED_RESPONSE"
            )
        return str(info["id"])

    def _wait(self, job_id: str) -> None:
        waited = self.polling.clock() - self._started.pop(job_id, self.polling.clock())
        for overdue in self.polling.rounds(waited=waited):
            if overdue:
                abort_job(self.client, "query", job_id)
                raise QueryJobFailed(
                    f"Bulk query job {job_id} did not complete within {self.polling.timeout:.0f} s and was aborted",
                    code="BULK_QUERY_TIMEOUT",
                )
            info = job_info(self.client, "query", job_id)
            self.polls += 1
            state = str(info.get("state"))
            log.info(
                "Bulk query job %s: %s, %s record(s) processed", job_id, state, info.get("numberRecordsProcessed", "?")
            )
            if state == "JobComplete":
                return
            if state in TERMINAL_STATES:
                reason = str(info.get("errorMessage") or "no reason given")[:500]
                raise QueryJobFailed(
                    f"Bulk query job {job_id} ended {state}: {reason}", code=f"BULK_QUERY_{state.upper()}"
                )

    def _rows(self, job_id: str) -> Iterator[dict[str, str]]:
        path = f"jobs/query/{job_id}/results"
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": self.page_size}
            if locator is not None:
                params["locator"] = locator

            def get(sf: Salesforce, params: dict[str, Any] = params) -> requests.Response:
                headers = {"Accept": "text/csv"}
                return call_salesforce(
                    sf.base_url + path, "GET", sf.session, dict(sf.headers), additional_headers=headers, params=params
                )

            response = self.client.call(get, name=f"GET {path}")
            self.pages += 1
            following = response.headers.get("Sforce-Locator")
            yield from self._page(response.content)
            del response  # only one page is ever held
            if not following or following == "null":
                return
            if following == locator:
                raise PermanentError(
                    f"Bulk query job {job_id} answered the same locator twice", code="UNEXPECTED_RESPONSE"
                )
            locator = following

    def _page(self, content: bytes) -> Iterator[dict[str, str]]:
        for row in iter_csv(content, lower_names=True):
            self.rows_read += 1
            yield row
