"""What Bulk API 2.0 ingest jobs (writes) and query jobs (exports) share: their end states, the first poll wait,
reading a job's state and aborting it."""

from __future__ import annotations

import logging
from typing import Any, Literal

from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.errors import SalesforceApiError

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
FIRST_POLL_SECONDS = 1.0  # the first wait before a job's state is read; doubled up to poll_interval

JobKind = Literal["ingest", "query"]


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
