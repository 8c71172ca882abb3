"""Waits in the triggerer for Bulk API 2.0 ingest jobs to end, so no worker slot is held meanwhile.

The trigger's serialized form holds the connection id, the job ids and the poll interval: never a session id or a
password. It logs in itself, through the same hook and client as a task (so it trusts the connection's
``ca_bundle`` and keeps the API budget check), running each blocking request in a thread so the triggerer's event
loop never waits on the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow_provider_rudder_sf.compat import BaseTrigger, TriggerEvent
from airflow_provider_rudder_sf.salesforce.errors import SalesforceApiError
from airflow_provider_rudder_sf.salesforce.jobs import TERMINAL_STATES, Polling, abort_job, first_wait, job_info


class BulkJobsTrigger(BaseTrigger):
    """Fires once every job in ``job_ids`` has ended (``JobComplete``, ``Failed`` or ``Aborted``).

    The event is ``{"status": "done", "states": {job id: state}, "polls": n, "api_calls": n}`` (every request the
    trigger sent, its budget check included), or ``{"status": "error", "message": ...}`` when Salesforce could not be
    asked (the task then fails and its retry collects the jobs).
    """

    def __init__(
        self,
        *,
        salesforce_conn_id: str,
        job_ids: Sequence[str],
        poll_interval: float = 15.0,
        api_reserve: float = 0.10,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.salesforce_conn_id = salesforce_conn_id
        self.job_ids = list(job_ids)
        self.poll_interval = float(poll_interval)
        self.api_reserve = float(api_reserve)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "salesforce_conn_id": self.salesforce_conn_id,
                "job_ids": list(self.job_ids),
                "poll_interval": self.poll_interval,
                "api_reserve": self.api_reserve,
            },
        )

    def _client(self) -> Any:
        from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook

        return RudderSalesforceHook(salesforce_conn_id=self.salesforce_conn_id, api_reserve=self.api_reserve).get_conn()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        states: dict[str, str] = {}
        polls = 0
        client: Any = None
        try:
            client = await asyncio.to_thread(self._client)
            waiting = list(self.job_ids)
            # The worker's waits, slept without blocking the triggerer's event loop.
            delays = Polling(first_wait(self.poll_interval), self.poll_interval).delays()
            while waiting:
                await asyncio.sleep(next(delays))
                for job_id in list(waiting):
                    info = await asyncio.to_thread(job_info, client, "ingest", job_id)
                    polls += 1
                    state = str(info.get("state"))
                    self.log.info(
                        "Bulk job %s: %s, %s record(s) processed, %s failed",
                        job_id,
                        state,
                        info.get("numberRecordsProcessed", "?"),
                        info.get("numberRecordsFailed", "?"),
                    )
                    if state in TERMINAL_STATES:
                        states[job_id] = state
                        waiting.remove(job_id)
        except SalesforceApiError as exc:  # scrubbed of secrets by the client
            yield TriggerEvent(
                {"status": "error", "message": f"{exc.code}: {exc}", "polls": polls, "api_calls": _calls(client)}
            )  # type: ignore[no-untyped-call]
            return
        yield TriggerEvent({"status": "done", "states": states, "polls": polls, "api_calls": _calls(client)})  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """A user marked the deferred task failed (or cleared it): abort the jobs still running. Not on a triggerer
        restart or shutdown (``cleanup``), so a rolling deploy never aborts a job."""
        client = await asyncio.to_thread(self._client)
        for job_id in self.job_ids:
            if await asyncio.to_thread(abort_job, client, "ingest", job_id):
                self.log.warning("Aborted Bulk job %s", job_id)


def _calls(client: Any) -> int:
    return int(client.api_calls) if client is not None else 0
