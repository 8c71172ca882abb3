"""IdentifyToSalesforceOperator against the emulator over real HTTPS: outcomes, dead letters, policy, dry run."""

from __future__ import annotations

import json
import sys

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from rudder_sf_emulator.synthetic import SyntheticSpec, email_for, generate_lines

SUMMARY_KEYS = ("read", "ignored", "rejected", "created", "updated", "failed", "api_calls")


def identify(email: str | None, ts: str = "2026-11-28T10:00:00Z", **traits) -> dict:
    if email is not None:
        traits["email"] = email
    return {"type": "identify", "timestamp": ts, "integrations": {"Salesforce": True}, "traits": traits}


def operator(events, tmp_path, **kwargs) -> IdentifyToSalesforceOperator:
    kwargs.setdefault("dead_letter", str(tmp_path / "dead-letters"))
    return IdentifyToSalesforceOperator(task_id="sync", events=events, **kwargs)


def leads_by_email(crm) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for lead in crm.records("Lead"):
        found.setdefault(lead["Email"], []).append(lead)
    return found


def staged_file(tmp_path, events: int, people: int, **spec) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(generate_lines(SyntheticSpec(events=events, distinct_emails=people, **spec))) + "\n")
    return str(path)


def test_execute_outside_a_dag_returns_the_summary_and_counts_add_up(crm, tmp_path):
    result = operator(staged_file(tmp_path, 1_000, 700), tmp_path, max_dead_letter_ratio=0.1).execute(context={})
    assert all(isinstance(result[key], int) for key in SUMMARY_KEYS)
    assert result["read"] == 1_000
    assert result["read"] == result["applied"] + result["ignored"] + result["dead_lettered"] + result["unsent"]
    leads = leads_by_email(crm)
    assert result["created"] == len(leads)
    assert all(len(records) == 1 for records in leads.values())
    assert result["api_calls"] <= 12


def test_a_second_run_of_the_same_events_creates_nothing_and_keeps_the_state(crm, tmp_path):
    events = staged_file(tmp_path, 600, 400)
    first = operator(events, tmp_path, max_dead_letter_ratio=0.1).execute(context={})
    state = {email: dict(records[0]) for email, records in leads_by_email(crm).items()}
    second = operator(events, tmp_path, max_dead_letter_ratio=0.1).execute(context={})
    assert first["created"] > 0
    assert (second["created"], second["updated"]) == (0, first["created"])
    after = {email: dict(records[0]) for email, records in leads_by_email(crm).items()}
    strip = ("LastModifiedDate", "SystemModstamp")
    assert {e: {k: v for k, v in r.items() if k not in strip} for e, r in after.items()} == {
        e: {k: v for k, v in r.items() if k not in strip} for e, r in state.items()
    }


def test_events_for_one_new_email_create_one_lead_with_the_latest_values(crm, tmp_path):
    events = [
        identify("Ada@Example.com", "2026-11-28T12:00:00Z", title="CTO", lastName="Lovelace"),
        identify("ada@example.com", "2026-11-28T09:00:00Z", title="Engineer", phone="+1-555-0100"),
    ]
    result = operator(events, tmp_path).execute(context={})
    (lead,) = crm.records("Lead")
    assert (result["created"], result["applied"]) == (1, 2)
    assert (lead["Title"], lead["Phone"], lead["LastName"], lead["Company"]) == (
        "CTO",
        "+1-555-0100",
        "Lovelace",
        "n/a",
    )


def test_events_given_as_a_list_run_with_a_storage_connection_set(crm, tmp_path):
    """storage_conn_id also serves dead_letter, so it is no mistake next to a list of events (it used to be refused
    as if it could only mean the events' location)."""
    result = operator([identify("ada@example.com", lastName="L")], tmp_path, storage_conn_id="unused").execute({})
    assert result["created"] == 1


def test_update_never_overwrites_real_values_with_na(crm, tmp_path):
    crm.seed("Lead", [{"Email": "ada@example.com", "LastName": "Lovelace", "Company": "Analytical"}])
    operator([identify("ada@example.com", title="Countess")], tmp_path).execute(context={})
    (lead,) = crm.records("Lead")
    assert (lead["LastName"], lead["Company"], lead["Title"]) == ("Lovelace", "Analytical", "Countess")


def test_converted_lead_updates_its_contact_only_with_use_contact_id(crm, tmp_path):
    (contact_id,) = crm.seed("Contact", [{"Email": "c@example.com", "LastName": "Hopper"}])
    crm.seed(
        "Lead",
        [
            {
                "Email": "c@example.com",
                "LastName": "Hopper",
                "Company": "Navy",
                "IsConverted": True,
                "ConvertedContactId": contact_id,
            }
        ],
    )
    with pytest.raises(AirflowFailException, match="lead_converted"):
        operator([identify("c@example.com", department="R&D")], tmp_path).execute(context={})
    result = operator([identify("c@example.com", department="R&D")], tmp_path, use_contact_id=True).execute(context={})
    (contact,) = crm.records("Contact")
    assert (result["updated"], contact["Department"]) == (1, "R&D")


def test_dead_letters_hold_the_original_event_stage_code_and_reason(crm, tmp_path):
    good = identify("ok@example.com", lastName="Fine")
    # The describe cannot know that Salesforce refuses this address (no top-level domain): Salesforce says so.
    events = [good, identify(None, firstName="NoEmail"), identify("someone@localhost", lastName="Local")]
    with pytest.raises(AirflowFailException) as failure:
        operator(events, tmp_path).execute(context={})
    letters = list(read_dead_letters(str(tmp_path / "dead-letters")))
    by_code = {letter["code"]: letter for letter in letters}
    assert set(by_code) == {"missing_email", "INVALID_EMAIL_ADDRESS"}
    assert by_code["missing_email"]["stage"] == "validate"
    assert by_code["missing_email"]["event"] == events[1]
    assert by_code["INVALID_EMAIL_ADDRESS"]["stage"] == "salesforce"
    assert by_code["INVALID_EMAIL_ADDRESS"]["event"] == events[2]
    assert all(letter["reason"] for letter in letters)
    assert "2 of 3 events" in str(failure.value) and "dead-letters" in str(failure.value)
    assert [lead["Email"] for lead in crm.records("Lead")] == ["ok@example.com"]  # good input still went through


def test_dead_letters_below_the_ratio_do_not_fail_the_task(crm, tmp_path):
    events = [identify(f"u{i}@example.com") for i in range(9)] + [identify(None)]
    result = operator(events, tmp_path, max_dead_letter_ratio=0.1).execute(context={})
    assert (result["created"], result["dead_lettered"]) == (9, 1)


def test_dry_run_looks_up_and_plans_but_writes_nothing(crm, tmp_path):
    crm.seed("Lead", [{"Email": email_for(i), "LastName": "Seed", "Company": "Co"} for i in range(100)])
    before = crm.records("Lead")
    events = staged_file(tmp_path, 500, 300, bad_fraction=0.0, not_enabled_fraction=0.0, track_fraction=0.0)
    result = operator(events, tmp_path, dry_run=True).execute(context={})
    assert crm.records("Lead") == before
    assert "POST composite/sobjects" not in crm.counters()["by_endpoint"]
    assert "PATCH composite/sobjects" not in crm.counters()["by_endpoint"]
    assert result["planned_updates"] == 100
    assert result["planned_creates"] == 200
    assert result["planned_write_calls"] == 2
    assert result["sample_changes"] and "fields" in result["sample_changes"][0]
    assert result["created"] == result["updated"] == 0


def test_the_api_budget_stop_is_retryable_and_the_retry_finishes_without_duplicates(crm, tmp_path):
    events = staged_file(tmp_path, 1_500, 1_200, bad_fraction=0.0)
    crm.settings(daily_limit=9)  # the look-ups and a few batches fit, the rest does not
    with pytest.raises(AirflowException) as stopped:
        operator(events, tmp_path, api_reserve=0.0).execute(context={})
    assert not isinstance(stopped.value, AirflowFailException)
    assert "not sent" in str(stopped.value)
    partial = len(crm.records("Lead"))
    crm.settings(daily_limit=100_000)
    result = operator(events, tmp_path).execute(context={})
    leads = leads_by_email(crm)
    assert 0 < partial < len(leads)
    assert all(len(records) == 1 for records in leads.values())
    assert result["unsent"] == 0 and result["created"] == len(leads) - partial


def test_the_summary_and_progress_go_to_the_task_log(crm, tmp_path, caplog, capsys):
    caplog.set_level("INFO")
    operator(staged_file(tmp_path, 450, 450, bad_fraction=0.0), tmp_path, max_dead_letter_ratio=1).execute(context={})
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err  # the task logger writes through structlog
    assert "Batch 1 of 3" in text and "Batch 3 of 3" in text
    assert "events read" in text and "records created" in text and "daily API calls left" in text


def test_the_summary_is_small_json_whatever_the_run_size(crm, tmp_path):
    result = operator(staged_file(tmp_path, 2_000, 1_500), tmp_path, max_dead_letter_ratio=1).execute(context={})
    assert len(json.dumps(result)) < 4_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of events"),
        ({"events": "x", "sql": "select 1"}, "exactly one of events"),
        ({"sql": "select 1"}, "needs sql_conn_id"),
        ({"events": "x", "max_dead_letter_ratio": 2}, "max_dead_letter_ratio"),
        ({"events": "x", "external_id_field": "bad name"}, "not a valid Salesforce field name"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IdentifyToSalesforceOperator(task_id="sync", **kwargs)


def test_template_fields_cover_paths_queries_and_connections():
    assert set(IdentifyToSalesforceOperator.template_fields) == {
        "events",
        "event_files",
        "sql",
        "dead_letter",
        "salesforce_conn_id",
        "sql_conn_id",
        "storage_conn_id",
    }


def test_clearing_a_task_copies_the_dag_with_its_sync_task(tmp_path):
    # Airflow deep-copies tasks to clear them with their downstream (partial_subset) and in Airflow 3.0's dags test;
    # options holding read-only mapping views once made that raise "cannot pickle 'mappingproxy' object".
    import pendulum
    from airflow.sdk import DAG

    with DAG("copy_check", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC")) as dag:
        sync = IdentifyToSalesforceOperator(
            task_id="sync",
            events=str(tmp_path / "events.jsonl"),
            dead_letter=str(tmp_path / "dead-letters"),
            field_map={"Lead": {"plan": "Plan__c"}},
            allowed_objects=["Lead"],
        )
        IdentifyToSalesforceOperator(task_id="after", events=str(tmp_path / "more.jsonl")).set_upstream(sync)

    limit = sys.getrecursionlimit()
    try:
        subset = dag.partial_subset(task_ids=["sync"], include_downstream=True)
    finally:
        sys.setrecursionlimit(limit)  # BaseOperator.__deepcopy__ raises it for the whole process: not for later tests

    copied = subset.task_dict["sync"]
    assert copied is not sync and sorted(subset.task_dict) == ["after", "sync"]
    assert copied.options == sync.options and copied.options.explicit_for("lead") == {"plan": "Plan__c"}
