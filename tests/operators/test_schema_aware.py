"""Schema-aware writes (design.md section 8) through the operator, over real HTTPS, on the emulator's realistic
``minimal`` org: what reaches Salesforce, what is stored, what goes to the dead letter, and what the summary says."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook
from airflow_provider_rudder_sf.mapping import MappingOptions
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from airflow_provider_rudder_sf.sources import open_source
from airflow_provider_rudder_sf.sync import LogOnlyDeadLetters, run_sync

TITLE_LENGTH = 128  # Lead.Title in the emulator's standard schema


@pytest.fixture
def org(salesforce_emulator, monkeypatch):
    """The emulator as a realistic restricted org: no declared custom fields, the ``minimal`` profile."""
    salesforce_emulator.reset(schema=True, profile="minimal")
    monkeypatch.setenv("AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT", salesforce_emulator.connection_json())
    return salesforce_emulator


def identify(email: str | None, ts: str = "2026-11-28T10:00:00Z", **traits: Any) -> dict[str, Any]:
    if email is not None:
        traits["email"] = email
    return {"type": "identify", "timestamp": ts, "integrations": {"Salesforce": True}, "traits": traits}


def run(events: Any, tmp_path, name: str = "dead-letters", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("dead_letter", str(tmp_path / name))
    return IdentifyToSalesforceOperator(task_id="sync", events=events, **kwargs).execute(context={})


def letters(tmp_path, name: str = "dead-letters") -> list[dict[str, Any]]:
    return list(read_dead_letters(str(tmp_path / name), allow_missing=True))


def sent_fields(org, sobject: str = "Lead", op: str = "create") -> set[str]:
    """Every field name any client sent for ``sobject``/``op``, refused records included (the request log)."""
    return set(org.requests()["writes"].get(sobject, {}).get(op, {}).get("fields", ()))


def only_lead(org) -> dict[str, Any]:
    (lead,) = org.records("Lead")
    return lead


def write_calls(org) -> int:
    by_endpoint = org.counters()["by_endpoint"]
    return sum(n for name, n in by_endpoint.items() if "composite" in name or name.endswith(" sobjects"))


# 1 ----------------------------------------------------------------------------------------------------------------
def test_missing_standard_and_custom_fields_are_skipped_and_the_lead_is_written(org, tmp_path):
    event = identify("ada@example.com", lastName="Lovelace", title="CTO", currencyIsoCode="EUR", stateCode="CA")
    event["traits"]["plan"] = "pro"
    result = run([event], tmp_path)

    lead = only_lead(org)
    assert (lead["LastName"], lead["Title"], lead["Company"]) == ("Lovelace", "CTO", "n/a")
    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"], letter["event"]) == ("schema", "fields_skipped", event)
    skipped = {(f["object"], f["field"], f["code"]) for f in letter["fields"]}
    assert skipped == {
        ("Lead", "CurrencyIsoCode", "missing_field"),
        ("Lead", "StateCode", "missing_field"),
        ("Lead", "plan__c", "missing_field"),
    }
    assert all(f["reason"] for f in letter["fields"])
    assert (result["applied"], result["partial"], result["dead_lettered"], result["created"]) == (1, 1, 0, 1)
    assert result["fields_skipped"] == {"Lead.CurrencyIsoCode": 1, "Lead.StateCode": 1, "Lead.plan__c": 1}
    sent = {name.lower() for name in sent_fields(org)}
    assert {"lastname", "title", "email"} <= sent
    assert not sent & {"currencyisocode", "statecode", "plan__c"}


# 2 ----------------------------------------------------------------------------------------------------------------
def test_hidden_and_read_only_fields_are_skipped_and_never_sent(org, tmp_path):
    event = identify("ada@example.com", company={"name": "Acme", "annualRevenue": 5_000_000}, rating="Hot")
    result = run([event], tmp_path)

    lead = only_lead(org)
    assert lead["Company"] == "Acme"
    (letter,) = letters(tmp_path)
    assert {(f["field"], f["code"]) for f in letter["fields"]} == {
        ("AnnualRevenue", "missing_field"),
        ("Rating", "read_only"),
    }
    assert result["fields_skipped"] == {"Lead.AnnualRevenue": 1, "Lead.Rating": 1}
    assert not sent_fields(org) & {"AnnualRevenue", "Rating"}
    assert org.counters()["records_created"] == {"Lead": 1}


# 3 ----------------------------------------------------------------------------------------------------------------
# (field type, trait value, value stored by Salesforce, coercion named by a dry run)
COERCIONS = [
    ("boolean", "true", True, "text -> boolean"),
    ("boolean", 1, True, "number -> boolean"),
    ("double", "12.5", 12.5, "text -> number"),
    ("int", 7.0, 7, "float -> int"),
    ("date", "2026-03-04T23:30:00-05:00", "2026-03-05", "datetime -> date"),
    ("date", 1_767_268_800_000, "2026-01-01", "epoch -> date"),
    ("datetime", "2026-03-04T05:06:07", "2026-03-04T05:06:07.000Z", "datetime -> UTC datetime"),
    ("string", 12345, "12345", "number -> text"),
    ("multipicklist", ["Red", "Blue"], "Red;Blue", "list -> multipicklist"),
]
COERCION_IDS = [f"{kind}-{value!r}" for kind, value, _, _ in COERCIONS]


def probe_event(org, kind: str, value: Any) -> dict[str, Any]:
    """Declare ``Lead.Probe__c`` of type ``kind`` and return a new Lead's event whose ``Probe`` trait is ``value``."""
    spec: dict[str, Any] = {"type": kind}
    if kind == "multipicklist":
        spec["values"] = ["Red", "Green", "Blue"]
    org.declare_fields("Lead", {"Probe__c": spec})
    event = identify("ada@example.com", lastName="Lovelace")
    event["traits"]["Probe"] = value
    return event


@pytest.mark.parametrize(("kind", "value", "stored", "coercion"), COERCIONS, ids=COERCION_IDS)
def test_each_coercion_reaches_salesforce_as_the_field_type_wants(org, tmp_path, kind, value, stored, coercion):
    result = run([probe_event(org, kind, value)], tmp_path)

    value_stored = only_lead(org)["Probe__c"]
    assert (value_stored, type(value_stored)) == (stored, type(stored))
    assert (result["partial"], result["created"], letters(tmp_path)) == (0, 1, [])


@pytest.mark.parametrize(("kind", "value", "stored", "coercion"), COERCIONS, ids=COERCION_IDS)
def test_a_dry_run_names_each_coercion(org, tmp_path, kind, value, stored, coercion):
    # Salesforce itself takes "true", 7.0 and 12345 for these types, so the stored value alone cannot show them.
    result = run([probe_event(org, kind, value)], tmp_path, dry_run=True)

    assert result["schema_report"]["Lead"]["coercions"] == {"Probe__c": {coercion: 1}}


REFUSALS = [("double", "twelve"), ("boolean", "yes")]


@pytest.mark.parametrize(("kind", "value"), REFUSALS, ids=[k for k, _ in REFUSALS])
def test_a_value_that_cannot_be_coerced_is_skipped_as_invalid_value(org, tmp_path, kind, value):
    org.declare_fields("Lead", {"Probe__c": {"type": kind}})
    event = identify("ada@example.com", lastName="Lovelace")
    event["traits"]["Probe"] = value
    result = run([event], tmp_path)

    lead = only_lead(org)
    assert lead["LastName"] == "Lovelace" and lead.get("Probe__c") in (None, False)
    (letter,) = letters(tmp_path)
    assert [(f["field"], f["code"]) for f in letter["fields"]] == [("Probe__c", "invalid_value")]
    assert result["fields_skipped"] == {"Lead.Probe__c": 1}
    assert "Probe__c" not in sent_fields(org)


# 4 ----------------------------------------------------------------------------------------------------------------
def test_a_value_outside_a_restricted_picklist_is_skipped(org, tmp_path):
    result = run([identify("ada@example.com", company={"name": "Acme", "industry": "Manufacturing"})], tmp_path)

    assert only_lead(org).get("Industry") is None
    (letter,) = letters(tmp_path)
    assert [(f["field"], f["code"]) for f in letter["fields"]] == [("Industry", "restricted_picklist")]
    assert result["fields_skipped"] == {"Lead.Industry": 1}
    assert "Industry" not in sent_fields(org)


def test_a_restricted_picklist_value_in_another_case_is_stored_in_the_orgs_spelling(org, tmp_path):
    result = run([identify("ada@example.com", company={"name": "Acme", "industry": "finance"})], tmp_path)

    assert only_lead(org)["Industry"] == "Finance"
    assert (result["partial"], letters(tmp_path)) == (0, [])


# 5 ----------------------------------------------------------------------------------------------------------------
def test_over_long_text_is_skipped_as_string_too_long(org, tmp_path):
    result = run([identify("ada@example.com", title="T" * (TITLE_LENGTH + 1))], tmp_path)

    assert only_lead(org).get("Title") is None
    (letter,) = letters(tmp_path)
    assert [(f["field"], f["code"]) for f in letter["fields"]] == [("Title", "string_too_long")]
    assert result["fields_skipped"] == {"Lead.Title": 1}
    assert "Title" not in sent_fields(org)


def test_truncate_text_stores_over_long_text_cut_to_the_field_length(org, tmp_path):
    result = run([identify("ada@example.com", title="T" * 200)], tmp_path, truncate_text=True)

    assert only_lead(org)["Title"] == "T" * TITLE_LENGTH
    assert (result["partial"], letters(tmp_path)) == (0, [])


# 6 ----------------------------------------------------------------------------------------------------------------
def test_a_custom_field_is_found_whatever_the_case_of_the_trait(org, tmp_path):
    org.declare_fields("Lead", {"newProp__c": {"type": "string"}})
    event = identify("ada@example.com")
    event["traits"]["newprop"] = "value"
    result = run([event], tmp_path)

    assert only_lead(org)["newProp__c"] == "value"
    assert "newProp__c" in sent_fields(org)
    assert (result["partial"], letters(tmp_path)) == (0, [])


# 7 ----------------------------------------------------------------------------------------------------------------
def test_field_map_sends_a_trait_to_the_named_field_instead_of_key__c(org, tmp_path):
    org.declare_fields("Lead", {"Plan_Tier__c": {"type": "string"}})
    event = identify("ada@example.com")
    event["traits"]["plan"] = "pro"
    result = run([event], tmp_path, field_map={"Lead": {"plan": "Plan_Tier__c"}})

    assert only_lead(org)["Plan_Tier__c"] == "pro"
    assert "Plan_Tier__c" in sent_fields(org)
    assert not {name.lower() for name in sent_fields(org)} & {"plan__c"}
    assert (result["partial"], letters(tmp_path)) == (0, [])


def test_a_field_map_target_the_org_lacks_fails_the_task_before_any_write(org, tmp_path):
    event = identify("ada@example.com")
    event["traits"]["plan"] = "pro"
    with pytest.raises(AirflowFailException, match="Plan_Tier__c"):
        run([event], tmp_path, field_map={"Lead": {"plan": "Plan_Tier__c"}})

    assert write_calls(org) == 0
    assert "GET query" not in org.counters()["by_endpoint"]
    assert org.records("Lead") == []


# 8 ----------------------------------------------------------------------------------------------------------------
def test_an_alert_duplicate_rule_refusal_is_a_dead_letter_with_the_matching_contact(org, tmp_path):
    (contact_id,) = org.seed("Contact", [{"LastName": "Hopper", "Email": "grace@example.com"}])
    event = identify("grace@example.com", lastName="Hopper")
    result = run([event], tmp_path, max_dead_letter_ratio=1)

    assert org.records("Lead") == []
    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"], letter["event"]) == ("salesforce", "duplicate_rule", event)
    assert letter["duplicates"] == [contact_id]
    assert (result["dead_lettered"], result["dead_letters_by_code"]) == (1, {"duplicate_rule": 1})


def test_allow_duplicate_save_lets_an_alert_rule_save(org, tmp_path):
    org.seed("Contact", [{"LastName": "Hopper", "Email": "grace@example.com"}])
    result = run([identify("grace@example.com", lastName="Hopper")], tmp_path, allow_duplicate_save=True)

    assert only_lead(org)["Email"] == "grace@example.com"
    assert org.requests()["allow_save_requests"] > 0
    assert (result["created"], result["dead_lettered"], letters(tmp_path)) == (1, 0, [])


def test_a_block_duplicate_rule_refuses_even_with_allow_duplicate_save(org, tmp_path):
    (lead_id,) = org.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Phone": "+1-555-0100", "Email": "o@x.com"}])
    event = identify("new@example.com", phone="+1-555-0100", company={"name": "Acme"})
    result = run([event], tmp_path, allow_duplicate_save=True, max_dead_letter_ratio=1)

    assert [lead["Id"] for lead in org.records("Lead")] == [lead_id]
    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"], letter["duplicates"]) == ("salesforce", "duplicate_rule", [lead_id])
    assert result["dead_letters_by_code"] == {"duplicate_rule": 1}


# 9 ----------------------------------------------------------------------------------------------------------------
def test_on_field_error_reject_dead_letters_the_event_before_any_request_and_writes_the_others(org, tmp_path):
    bad = identify("bad@example.com", lastName="Bad", currencyIsoCode="EUR")
    good = identify("good@example.com", lastName="Good")
    result = run([bad, good], tmp_path, on_field_error="reject", max_dead_letter_ratio=1)

    assert [lead["Email"] for lead in org.records("Lead")] == ["good@example.com"]
    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"], letter["event"]) == ("schema", "field_error", bad)
    assert [(f["field"], f["code"]) for f in letter["fields"]] == [("CurrencyIsoCode", "missing_field")]
    assert org.requests()["writes"]["Lead"]["create"]["records"] == 1
    assert "CurrencyIsoCode" not in sent_fields(org)
    assert (result["applied"], result["dead_lettered"], result["partial"]) == (1, 1, 0)


# 10 ---------------------------------------------------------------------------------------------------------------
def test_each_object_is_described_at_most_once_per_run_also_when_the_run_spills(org, tmp_path, caplog):
    leads = [identify(f"u{i}@example.com", lastName=f"U{i}", rating="Hot") for i in range(40)]
    contacts = [
        {
            "type": "identify",
            "timestamp": "2026-11-28T10:00:00Z",
            "integrations": {"Salesforce": True},
            "context": {
                "mappedToDestination": True,
                "externalId": [{"type": "Salesforce-Contact", "id": f"c{i}@example.com", "identifierType": "Email"}],
            },
            "traits": {"LastName": f"C{i}"},
        }
        for i in range(40)
    ]
    caplog.set_level(logging.INFO, logger=__name__)
    log = logging.getLogger(__name__)
    summary = run_sync(
        open_source(leads + contacts),
        RudderSalesforceHook().get_writer(),
        LogOnlyDeadLetters(log),
        options=MappingOptions(),
        log=log,
        memory_limit=5,
        partitions=8,
    )

    assert "spilled to 8 partitions" in caplog.text
    assert summary.read == 80 and summary.applied == 80
    assert summary.partial == 40  # Rating is read-only in every partition, found from the one describe
    assert summary.describe_calls == 2
    assert org.counters()["by_endpoint"]["GET describe"] == 2
    assert len(org.records("Lead")) == 40 and len(org.records("Contact")) == 40


# 11 ---------------------------------------------------------------------------------------------------------------
def test_events_fold_and_a_re_run_creates_nothing_new_with_skipped_fields(org, tmp_path):
    events = [
        identify("Ada@Example.com", "2026-11-28T12:00:00Z", title="CTO", currencyIsoCode="EUR"),
        identify("ada@example.com", "2026-11-28T09:00:00Z", title="Engineer", lastName="Lovelace", rating="Hot"),
    ]
    first = run(events, tmp_path, name="first")
    second = run(events, tmp_path, name="second")

    lead = only_lead(org)
    assert (lead["Title"], lead["LastName"]) == ("CTO", "Lovelace")
    assert (first["created"], first["applied"], first["partial"]) == (1, 2, 2)
    assert (second["created"], second["updated"], second["applied"], second["partial"]) == (0, 1, 2, 2)
    assert org.counters()["records_created"] == {"Lead": 1}
    assert len(letters(tmp_path, "first")) == len(letters(tmp_path, "second")) == 2


# 12 ---------------------------------------------------------------------------------------------------------------
def test_replaying_fields_skipped_dead_letters_after_the_fix_completes_the_record(org, tmp_path):
    event = identify("ada@example.com", lastName="Lovelace")
    event["traits"]["plan"] = "pro"
    run([event], tmp_path, name="first")
    assert only_lead(org).get("plan__c") is None

    org.declare_fields("Lead", {"Plan__c": {"type": "string"}})
    replay = [letter["event"] for letter in letters(tmp_path, "first") if letter["code"] == "fields_skipped"]
    result = run(replay, tmp_path, name="replay")

    lead = only_lead(org)
    assert (lead["Plan__c"], lead["LastName"]) == ("pro", "Lovelace")
    assert (result["created"], result["updated"], result["partial"]) == (0, 1, 0)
    assert letters(tmp_path, "replay") == []


# 13 ---------------------------------------------------------------------------------------------------------------
def test_a_dry_run_reports_what_the_org_cannot_take_and_writes_nothing(org, tmp_path):
    events = [
        identify("a@example.com", currencyIsoCode="EUR", rating="Hot", company={"name": "A", "employee_count": "50"}),
        identify("b@example.com", currencyIsoCode="USD", company={"name": "B", "industry": "Manufacturing"}),
        identify("c@example.com", company={"name": "C", "annualRevenue": 10}),
    ]
    result = run(events, tmp_path, dry_run=True)

    assert result["schema_report"] == {
        "Lead": {
            "field_issues": {
                "AnnualRevenue": {"missing_field": 1},
                "CurrencyIsoCode": {"missing_field": 2},
                "Industry": {"restricted_picklist": 1},
                "Rating": {"read_only": 1},
            },
            "coercions": {"NumberOfEmployees": {"text -> number": 1}},
        }
    }
    assert result["planned_creates"] == 3 and result["created"] == 0
    assert org.records("Lead") == [] and write_calls(org) == 0 and org.requests()["writes"] == {}


# 14 ---------------------------------------------------------------------------------------------------------------
def test_address_accuracy_is_stored_in_geocode_accuracy_never_accuracy(org, tmp_path):
    result = run([identify("ada@example.com", address={"city": "London", "accuracy": "Zip"})], tmp_path)

    lead = only_lead(org)
    assert (lead["GeocodeAccuracy"], lead["City"]) == ("Zip", "London")
    assert "GeocodeAccuracy" in sent_fields(org)
    assert "Accuracy" not in sent_fields(org)
    assert (result["partial"], letters(tmp_path)) == (0, [])


# allowed_objects ----------------------------------------------------------------------------------------------------
def retl_event(sobject: str, identifier_type: str, value: Any, **traits: Any) -> dict[str, Any]:
    """A RudderStack rETL / Visual Data Mapper event for one record of ``sobject``, found by ``identifier_type``."""
    return {
        "type": "identify",
        "timestamp": "2026-11-28T10:00:00Z",
        "integrations": {"Salesforce": True},
        "context": {
            "mappedToDestination": True,
            "externalId": [{"type": f"Salesforce-{sobject}", "id": value, "identifierType": identifier_type}],
        },
        "traits": traits,
    }


def test_a_target_outside_allowed_objects_is_object_not_allowed_not_unknown_object(org, tmp_path):
    event = retl_event("Contact", "Email", "grace@example.com", LastName="Hopper")
    result = run([event], tmp_path, allowed_objects=["Lead"], max_dead_letter_ratio=1)

    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"], letter["event"]) == ("validate", "object_not_allowed", event)
    assert result["dead_letters_by_code"] == {"object_not_allowed": 1}
    assert org.records("Contact") == [] and write_calls(org) == 0


# rETL identifiers the org cannot store: a record created without its key would be created again by every re-run -----
def test_an_rETL_create_whose_identifier_field_is_read_only_is_a_field_error_and_creates_nothing(org, tmp_path):
    event = retl_event("Contact", "AssistantPhone", "+1-555-0100", LastName="Hopper")
    first = run([event], tmp_path, name="first", max_dead_letter_ratio=1)
    second = run([event], tmp_path, name="second", max_dead_letter_ratio=1)

    assert org.records("Contact") == [] and write_calls(org) == 0
    (letter,) = letters(tmp_path, "first")
    assert (letter["stage"], letter["code"], letter["event"]) == ("schema", "field_error", event)
    assert [(f["field"], f["code"]) for f in letter["fields"]] == [("AssistantPhone", "read_only")]
    assert first["created"] == second["created"] == 0


def test_an_rETL_identifier_longer_than_its_field_is_never_truncated(org, tmp_path):
    org.declare_fields("Contact", {"Member_Key__c": {"type": "string", "length": 10}})
    event = retl_event("Contact", "Member_Key__c", "ABCDEFGHIJKL", LastName="Hopper")
    result = run([event], tmp_path, truncate_text=True, max_dead_letter_ratio=1)

    assert org.records("Contact") == [] and write_calls(org) == 0
    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"]) == ("schema", "field_error")
    assert [(f["field"], f["code"]) for f in letter["fields"]] == [("Member_Key__c", "string_too_long")]
    assert result["dead_letters_by_code"] == {"field_error": 1}
