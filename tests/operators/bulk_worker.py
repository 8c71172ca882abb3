"""A worker that dies: runs the operator in Bulk mode and SIGKILLs itself at one step of a Bulk job.

    python bulk_worker.py <events.json> <dead-letter base> <step>

``step`` is where the process kills itself (``kill -9``, no clean-up of any kind): ``before_upload`` (the job is
created, nothing uploaded), ``after_upload`` (data uploaded, the job still Open), ``after_close`` (the job is
processing), ``while_polling`` (the first poll of the job's state). The test then runs the retry.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from types import SimpleNamespace
from typing import Any

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from airflow_provider_rudder_sf.salesforce.bulk import BulkWriter


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_around(name: str, *, before: bool) -> None:
    original = getattr(BulkWriter, name)

    @functools.wraps(original)
    def wrapped(self: BulkWriter, *args: Any, **kwargs: Any) -> Any:
        if before:
            die()
        result = original(self, *args, **kwargs)
        die()
        return result

    setattr(BulkWriter, name, wrapped)


STEPS = {
    "before_upload": ("_upload", True),
    "after_upload": ("_upload", False),
    "after_close": ("_close", False),
    "while_polling": ("job_info", True),
}


def context(try_number: int) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="bulk_resume", run_id="manual__1", task_id="sync", map_index=-1, try_number=try_number)
    return {"ti": ti}


def operator(events: list[dict[str, Any]], dead_letter: str, **kwargs: Any) -> IdentifyToSalesforceOperator:
    return IdentifyToSalesforceOperator(
        task_id="sync", events=events, dead_letter=dead_letter, write_mode="bulk", poll_interval=0.2, **kwargs
    )


if __name__ == "__main__":
    events_file, base, step = sys.argv[1:4]
    with open(events_file, encoding="utf-8") as handle:
        staged = json.load(handle)
    kill_around(*STEPS[step][:1], before=STEPS[step][1])
    operator(staged, base).execute(context(1))
    sys.exit("the worker was meant to die before the end")
