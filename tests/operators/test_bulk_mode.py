"""``write_mode`` and ``bulk_threshold`` through the operator, over HTTPS: which API writes, and that the outcome,
the summary and the dead letters do not depend on it."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

SAME_KEYS = ("read", "applied", "created", "updated", "failed", "dead_lettered", "dead_letters_by_code", "unsent")


def identify(email: str, **traits: Any) -> dict[str, Any]:
    traits["email"] = email
    return {
        "type": "identify",
        "timestamp": "2026-11-28T10:00:00Z",
        "integrations": {"Salesforce": True},
        "traits": traits,
    }


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [identify(f"p{n}@example.com", lastName=f"Last{n}", title=f"T{n}") for n in range(start, start + count)]


def run(events: Any, tmp_path, name: str = "dead-letters", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("dead_letter", str(tmp_path / name))
    return IdentifyToSalesforceOperator(task_id="sync", events=events, **kwargs).execute(context={})


def write_calls(org) -> dict[str, int]:
    """Calls that write: Collections or Bulk jobs (look-ups and describes left out)."""
    by_endpoint = org.counters()["by_endpoint"]
    return {name: n for name, n in by_endpoint.items() if "composite" in name or "jobs/ingest" in name}


def test_auto_stays_on_rest_one_below_the_threshold(crm, tmp_path):
    result = run(people(49), tmp_path, bulk_threshold=50)

    assert write_calls(crm) == {"POST composite/sobjects": 1}
    assert (result["write_mode"], result["created"]) == ("rest", 49)
    assert len(crm.records("Lead")) == 49


def test_auto_uses_bulk_at_the_threshold_and_only_bulk_writes(crm, tmp_path):
    result = run(people(50), tmp_path, bulk_threshold=50)

    calls = write_calls(crm)
    # One job: create, upload, close, then its state polls (the emulator works in the background) and one result.
    assert {name: calls[name] for name in ("POST jobs/ingest", "PUT jobs/ingest", "PATCH jobs/ingest")} == {
        "POST jobs/ingest": 1,
        "PUT jobs/ingest": 1,
        "PATCH jobs/ingest": 1,
    }
    assert set(calls) == {"POST jobs/ingest", "PUT jobs/ingest", "PATCH jobs/ingest", "GET jobs/ingest"}
    assert calls["GET jobs/ingest"] >= 2
    assert (result["write_mode"], result["created"], result["applied"]) == ("bulk", 50, 50)
    titles = {lead["Email"]: lead["Title"] for lead in crm.records("Lead")}
    assert titles == {f"p{n}@example.com": f"T{n}" for n in range(50)}


def test_a_bulk_rerun_updates_the_same_records_by_id(crm, tmp_path):
    run(people(60), tmp_path, write_mode="bulk")
    ids = {lead["Email"]: lead["Id"] for lead in crm.records("Lead")}
    changed = [identify(f"p{n}@example.com", title=f"New{n}") for n in range(60)]
    result = run(changed, tmp_path, write_mode="bulk")

    assert (result["write_mode"], result["created"], result["updated"]) == ("bulk", 0, 60)
    after = {lead["Email"]: (lead["Id"], lead["Title"]) for lead in crm.records("Lead")}
    assert after == {email: (ids[email], f"New{email[1:-12]}") for email in ids}
    assert crm.requests()["writes"]["Lead"]["update"]["records"] == 60


def _mixed_run(org, tmp_path, mode: str) -> tuple[dict[str, Any], list[tuple[Any, ...]], dict[str, Any]]:
    org.reset(schema=True, profile="minimal")
    org.seed("Contact", [{"LastName": "Hopper", "Email": "grace@example.com"}])
    org.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Phone": "+1-555-0100", "Email": "old@example.com"}])
    events = [
        *people(8),
        identify("grace@example.com", lastName="Hopper"),  # Alert rule: a Contact has this e-mail
        identify("new@example.com", phone="+1-555-0100", company={"name": "Acme"}),  # Block rule
        identify("old@example.com", title="Boss"),  # an update
    ]
    result = run(events, tmp_path, name=f"dl-{mode}", write_mode=mode, max_dead_letter_ratio=1)
    letters = [
        (letter["stage"], letter["code"], letter["event"], letter["seq"])
        for letter in read_dead_letters(str(tmp_path / f"dl-{mode}"), allow_missing=True)
    ]
    state = {lead["Email"]: (lead["LastName"], lead.get("Title"), lead.get("Phone")) for lead in org.records("Lead")}
    return result, sorted(letters, key=lambda letter: letter[3]), state


def test_refusals_give_the_same_summary_dead_letters_and_state_in_both_modes(crm, tmp_path):
    rest, rest_letters, rest_state = _mixed_run(crm, tmp_path, "rest")
    assert "POST jobs/ingest" not in crm.counters()["by_endpoint"]
    bulk, bulk_letters, bulk_state = _mixed_run(crm, tmp_path, "bulk")
    assert "POST composite/sobjects" not in crm.counters()["by_endpoint"]

    assert (rest["write_mode"], bulk["write_mode"]) == ("rest", "bulk")
    assert {k: bulk[k] for k in SAME_KEYS} == {k: rest[k] for k in SAME_KEYS}
    assert (bulk["created"], bulk["updated"], bulk["dead_letters_by_code"]) == (8, 1, {"duplicate_rule": 2})
    assert (
        bulk_letters == rest_letters
        and [letter[:2] for letter in bulk_letters] == [("salesforce", "duplicate_rule")] * 2
    )
    assert bulk_state == rest_state and bulk_state["old@example.com"][1] == "Boss"


def test_auto_stays_on_rest_when_alert_rules_must_let_saves_through(crm, tmp_path):
    result = run(people(5), tmp_path, bulk_threshold=1, allow_duplicate_save=True)

    assert result["write_mode"] == "rest" and "POST jobs/ingest" not in crm.counters()["by_endpoint"]
    assert result["created"] == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"write_mode": "fast"}, "write_mode must be one of auto, rest, bulk"),
        ({"bulk_threshold": 0}, "bulk_threshold must be"),
        ({"bulk_threshold": 2.5}, "bulk_threshold must be"),
        ({"bulk_threshold": True}, "bulk_threshold must be"),
        ({"write_mode": "bulk", "allow_duplicate_save": True}, "no duplicate-rule header"),
    ],
)
def test_bad_bulk_arguments_fail_when_the_dag_is_parsed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IdentifyToSalesforceOperator(task_id="sync", events=[], **kwargs)


def test_a_poll_interval_below_a_second_also_shortens_the_first_wait(crm, tmp_path):
    result = run(people(20), tmp_path, write_mode="bulk", poll_interval=0.2)
    assert (result["write_mode"], result["created"]) == ("bulk", 20)


def test_an_upsert_job_through_the_ledger_tells_created_from_updated_and_dead_letters_its_refusal(crm, tmp_path):
    # Upsert results must be read (only sf__Created tells created from updated), and each result row must find its
    # event again: the refused one becomes a dead letter with its own event.
    crm.declare_fields(
        "Subscription__c",
        {
            "Rudder_Message_Id__c": {"type": "string", "length": 80, "externalId": True, "unique": True},
            "Code__c": {"type": "string", "length": 20, "unique": True},
        },
    )
    crm.seed("Subscription__c", [{"Name": "S-0", "Rudder_Message_Id__c": "msg-0", "Code__c": "C-0"}])

    def keyless(message_id: str, **traits: Any) -> dict[str, Any]:
        return {
            "type": "identify",
            "messageId": message_id,
            "timestamp": "2026-11-28T10:00:00Z",
            "integrations": {"Salesforce": True},
            "context": {"externalId": [{"type": "Salesforce-Subscription__c"}]},
            "traits": traits,
        }

    clash = keyless("msg-9", Name="S-9", Code__c="C-0")  # another record already holds this unique code
    events = [keyless("msg-0", Name="S-0 renamed")] + [keyless(f"msg-{n}", Name=f"S-{n}") for n in (1, 2, 3)]
    events.append(clash)

    result = run(events, tmp_path, write_mode="bulk", external_id_field="Rudder_Message_Id__c", max_dead_letter_ratio=1)

    assert [j["operation"] for j in crm.bulk_jobs() if j.get("jobType") == "V2Ingest"] == ["upsert"]
    assert (result["created"], result["updated"], result["dead_lettered"]) == (3, 1, 1)
    (letter,) = read_dead_letters(str(tmp_path / "dead-letters"))
    assert (letter["code"], letter["event"]) == ("DUPLICATE_VALUE", clash)
    names = sorted(record["Name"] for record in crm.records("Subscription__c"))
    assert names == ["S-0 renamed", "S-1", "S-2", "S-3"]


def test_bulk_records_are_counted_per_object_for_lineage(crm, tmp_path):
    crm.seed("Lead", [{"LastName": f"Old{n}", "Company": "Acme", "Email": f"p{n}@example.com"} for n in range(10)])
    operator = IdentifyToSalesforceOperator(
        task_id="sync", events=people(50), bulk_threshold=50, dead_letter=str(tmp_path / "dead-letters")
    )
    result = operator.execute(context={})

    assert (result["write_mode"], result["created"], result["updated"]) == ("bulk", 40, 10)
    assert operator.lineage_record is not None
    assert {sobject: dict(counts) for sobject, counts in operator.lineage_record.written.items()} == {
        "Lead": {"created": 40, "updated": 10}
    }
