"""Transient trouble (locked rows, HTTP 503s) and an expiring session: every eligible event applied exactly once."""

from __future__ import annotations

import math

import pytest

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from airflow_provider_rudder_sf.synthetic import email_for

from .conftest import assert_counts_add_up, assert_exactly_once, latest_traits, synthetic_lines, write_lines


@pytest.mark.slow
def test_locked_rows_503s_and_an_expired_session_apply_every_event_exactly_once(crm, tmp_path):
    lines = synthetic_lines(3_000, 2_000)
    expected = latest_traits(lines)
    # Half the people already exist (stale values), so the run both creates and updates under faults.
    crm.seed(
        "Lead",
        [{"LastName": "Old", "Company": "Old", "Email": email_for(i), "Title": "stale"} for i in range(0, 2_000, 2)],
    )
    crm.set_faults(lock_row_ratio=0.05, fail_every_nth=20, expire_session_after=12, seed=3)

    summary = IdentifyToSalesforceOperator(
        task_id="sync",
        events=write_lines(tmp_path / "events.jsonl", lines),
        dead_letter=str(tmp_path / "dead"),
        max_dead_letter_ratio=0.05,
    ).execute(context={})

    counters = crm.counters()
    # The faults really happened (else this test proves nothing).
    injected = counters["injected_faults"]
    assert injected.get("session_expired", 0) >= 1, injected
    assert injected.get("server_unavailable", 0) >= 1, injected
    # Locked rows are not in injected_faults: they show as extra Collections calls re-sending the locked rows.
    writes = summary["created"] + summary["updated"]
    collections = sum(n for name, n in counters["by_endpoint"].items() if "composite/sobjects" in name)
    assert collections >= 1.5 * math.ceil(writes / 200), counters["by_endpoint"]
    assert counters["logins"] >= 2
    assert summary["unsent"] == 0 and summary["stop_reason"] is None
    assert_counts_add_up(summary)
    assert summary["dead_lettered"] == summary["rejected"]  # only the synthetic bad lines, no Salesforce failures
    seeded = {email_for(i) for i in range(0, 2_000, 2)}
    assert summary["created"] == len(set(expected) - seeded)
    assert_exactly_once(crm, expected, extra_emails=seeded - set(expected))
