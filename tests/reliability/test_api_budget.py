"""The daily API allocation runs out mid-run: a clean, retryable stop; the re-run completes with no duplicates."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

from .conftest import (
    assert_counts_add_up,
    assert_exactly_once,
    latest_traits,
    leads_by_email,
    synthetic_lines,
    write_lines,
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api_reserve", "stop_reason"),
    [(0.0, "request_limit"), (0.10, "api_reserve")],
    ids=["salesforce-refuses-REQUEST_LIMIT_EXCEEDED", "our-reserve-stops-first"],
)
def test_budget_stop_mid_run_then_rerun_completes_without_duplicates(crm, tmp_path, api_reserve, stop_reason):
    lines = synthetic_lines(5_000, 4_000, seed=9)
    expected = latest_traits(lines)
    events = write_lines(tmp_path / "events.jsonl", lines)
    # A look-up needs ~20 queries and the creates ~20 Collections calls: 30 calls stop the run among the writes.
    crm.settings(daily_limit=30)

    def task():
        return IdentifyToSalesforceOperator(
            task_id="sync",
            events=events,
            dead_letter=str(tmp_path / "dead"),
            max_dead_letter_ratio=0.05,
            api_reserve=api_reserve,
        )

    with pytest.raises(AirflowException) as stopped:
        task().execute(context={})
    assert not isinstance(stopped.value, AirflowFailException), "a budget stop must stay retryable"
    assert "Stopped early" in str(stopped.value)
    assert stop_reason in str(stopped.value)
    partial = leads_by_email(crm)
    assert 0 < len(partial) < len(expected), "the stop must come in the middle of the writes"
    assert all(len(found) == 1 for found in partial.values())
    first_try_dead = list(read_dead_letters(tmp_path / "dead"))
    assert all(d["stage"] != "salesforce" for d in first_try_dead), "unsent events must not be dead-lettered"

    crm.settings(daily_limit=1_000_000)
    summary = task().execute(context={})

    assert summary["unsent"] == 0 and summary["stop_reason"] is None
    assert_counts_add_up(summary)
    assert summary["created"] == len(expected) - len(partial)
    assert_exactly_once(crm, expected)
