"""The task process is killed with SIGKILL in the middle of its writes; the retry loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

from .conftest import (
    assert_counts_add_up,
    assert_exactly_once,
    latest_traits,
    leads_by_email,
    synthetic_lines,
    write_lines,
)

TASK = """
import sys
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
IdentifyToSalesforceOperator(
    task_id="sync", events=sys.argv[1], dead_letter=sys.argv[2], max_dead_letter_ratio=0.05
).execute(context={})
print("FINISHED", flush=True)
"""


def _wait_for_creates(crm, proc: subprocess.Popen, at_least: int, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counters = crm.counters()
        if counters["by_endpoint"].get("POST composite/sobjects", 0) >= at_least:
            return counters
        if proc.poll() is not None:
            pytest.fail(f"the task ended (exit {proc.returncode}) before it could be killed mid-write")
        time.sleep(0.05)
    pytest.fail(f"no {at_least} Collections creates within {timeout} s: {crm.counters()}")


def _settled_lead_count(crm) -> int:
    """The request in flight at the kill still completes in the emulator: wait until the count stops moving."""
    previous = -1
    while True:
        count = len(crm.records("Lead"))
        if count == previous:
            return count
        previous = count
        time.sleep(0.3)


@pytest.mark.slow
def test_sigkill_mid_write_then_retry_has_no_duplicates_and_no_lost_events(crm, tmp_path):
    lines = synthetic_lines(10_000, 8_000, seed=13)
    expected = latest_traits(lines)
    events = write_lines(tmp_path / "events.jsonl", lines)
    crm.set_faults(latency_ms=40)  # every data request takes a while, so the kill lands among the writes

    proc = subprocess.Popen(
        [sys.executable, "-c", TASK, events, str(tmp_path / "dead")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_creates(crm, proc, at_least=5)
        os.kill(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert "FINISHED" not in output
    partial = _settled_lead_count(crm)
    assert 0 < partial < len(expected), "the kill must land in the middle of the writes"
    assert all(len(found) == 1 for found in leads_by_email(crm).values())

    crm.set_faults(latency_ms=0)
    summary = IdentifyToSalesforceOperator(
        task_id="sync", events=events, dead_letter=str(tmp_path / "dead"), max_dead_letter_ratio=0.05
    ).execute(context={})

    assert summary["unsent"] == 0
    assert_counts_add_up(summary)
    assert summary["created"] == len(expected) - partial
    assert_exactly_once(crm, expected)
