"""Transient trouble (locked rows, HTTP 503s) and an expiring session: every eligible event applied exactly once."""

from __future__ import annotations

import math

import pytest

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from rudder_sf_emulator.synthetic import email_for

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


@pytest.mark.slow
def test_a_steady_503_pattern_still_makes_progress_without_reconciling(crm, tmp_path):
    """503 SERVER_UNAVAILABLE is refused before processing: creates are resent as they are (no look-up first), and a
    fault on every other request never stops the run, because each round that makes progress resets the back-off."""
    lines = synthetic_lines(1_500, 1_200, seed=8, bad_fraction=0.0)
    expected = latest_traits(lines)
    crm.set_faults(fail_every_nth=2, seed=1)

    summary = IdentifyToSalesforceOperator(
        task_id="sync", events=write_lines(tmp_path / "events.jsonl", lines), dead_letter=str(tmp_path / "dead")
    ).execute(context={})

    counters = crm.counters()
    assert counters["injected_faults"]["server_unavailable"] >= 10, counters["injected_faults"]
    assert summary["stop_reason"] is None and summary["unsent"] == 0
    assert_counts_add_up(summary)
    assert_exactly_once(crm, expected)
    # Every create was resent directly: the only queries are the e-mail look-ups (no reconciliation look-ups).
    lookups = math.ceil(len(expected) / 250)
    assert counters["by_endpoint"]["GET query"] <= lookups + 2, counters["by_endpoint"]
