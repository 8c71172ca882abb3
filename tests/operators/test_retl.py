"""RudderStack rETL / Visual Data Mapper events through the operator, over real HTTPS against the emulator.

``context.mappedToDestination`` with ``context.externalId[0] = {type: "Salesforce-<Object>", id, identifierType}``:
find the record whose ``identifierType`` field holds ``id``; update the one match, create when none, dead-letter
several. Each test asserts Salesforce's final state and what the emulator saw (counters, request log, SOQL).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from airflow_provider_rudder_sf.salesforce.client import SalesforceClient

TS = "2026-11-28T10:00:00Z"


def retl(sobject: str, value: Any, identifier: str, ts: str = TS, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "timestamp": ts,
        "integrations": {"Salesforce": True},
        "context": {
            "mappedToDestination": True,
            "externalId": [{"type": f"Salesforce-{sobject}", "id": value, "identifierType": identifier}],
        },
        "traits": traits,
    }


def run(events, tmp_path, **kwargs) -> dict[str, Any]:
    kwargs.setdefault("dead_letter", str(tmp_path / "dead-letters"))
    kwargs.setdefault("max_dead_letter_ratio", 1.0)
    return IdentifyToSalesforceOperator(task_id="sync", events=events, **kwargs).execute(context={})


def letters(tmp_path) -> list[dict[str, Any]]:
    return list(read_dead_letters(str(tmp_path / "dead-letters"), allow_missing=True))


def by_id(crm, sobject: str) -> dict[str, dict[str, Any]]:
    return {record["Id"]: record for record in crm.records(sobject)}


@pytest.fixture
def soql(monkeypatch) -> list[str]:
    """Every SOQL query the client sends (the request still goes over HTTPS to the emulator)."""
    sent: list[str] = []
    original = SalesforceClient.query

    def spy(self, text: str) -> dict[str, Any]:
        sent.append(text)
        return original(self, text)

    monkeypatch.setattr(SalesforceClient, "query", spy)
    return sent


# -- identifierType Id -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["Id", "ID", "id"])
def test_identifier_type_id_in_any_case_updates_that_record_without_a_look_up(crm, tmp_path, soql, spelling):
    target, other = crm.seed("Account", [{"Name": "Acme"}, {"Name": "Other"}])

    result = run([retl("Account", target, spelling, Name="Acme Corp", Site="Paris")], tmp_path)

    accounts = by_id(crm, "Account")
    assert (accounts[target]["Name"], accounts[target]["Site"]) == ("Acme Corp", "Paris")
    assert accounts[other]["Name"] == "Other"
    assert (result["updated"], result["created"]) == (1, 0)
    assert soql == [] and "GET query" not in crm.counters()["by_endpoint"]
    assert "create" not in crm.requests()["writes"]["Account"]


def test_an_id_among_the_traits_never_redirects_or_reaches_the_body(crm, tmp_path):
    target, other = crm.seed("Account", [{"Name": "Acme", "AccountNumber": "A-1"}, {"Name": "Other"}])
    events = [
        retl("Account", "A-1", "AccountNumber", Id=other, Name="Acme Corp"),
        retl("Account", "A-2", "AccountNumber", Id=other, Name="New Co"),
    ]

    result = run(events, tmp_path)

    accounts = by_id(crm, "Account")
    assert accounts[target]["Name"] == "Acme Corp"
    assert accounts[other]["Name"] == "Other"
    (created,) = [a for a in accounts.values() if a.get("AccountNumber") == "A-2"]
    assert created["Id"] not in (target, other) and created["Name"] == "New Co"
    assert (result["updated"], result["created"]) == (1, 1)
    assert "Id" not in crm.requests()["writes"]["Account"]["create"]["fields"]
    assert result["dropped_system_fields"] == {"Id": 2} and letters(tmp_path) == []  # dropped, as RudderStack does


# -- a custom identifier -------------------------------------------------------------------------------------------


def test_one_record_with_the_identifier_is_updated_whatever_the_case_of_the_text(crm, tmp_path, soql):
    target, other = crm.seed(
        "Account", [{"Name": "Acme", "AccountNumber": "ACME-1"}, {"Name": "B", "AccountNumber": "B"}]
    )

    result = run([retl("Account", "acme-1", "AccountNumber", Industry="Energy")], tmp_path)

    accounts = by_id(crm, "Account")
    assert (accounts[target]["Industry"], accounts[target]["AccountNumber"]) == ("Energy", "ACME-1")
    assert accounts[other].get("Industry") is None
    assert (result["updated"], result["created"], result["dead_lettered"]) == (1, 0, 0)
    assert crm.counters()["records_created"] == {}
    assert len(soql) == 1 and "WHERE AccountNumber IN ('acme-1')" in soql[0]


def test_no_record_with_the_identifier_creates_one_with_the_identifier_set(crm, tmp_path):
    (existing,) = crm.seed("Account", [{"Name": "Acme", "AccountNumber": "A-1"}])

    result = run([retl("Account", "A-2", "AccountNumber", Name="New Co")], tmp_path)

    accounts = by_id(crm, "Account")
    (created,) = [a for key, a in accounts.items() if key != existing]
    assert (created["AccountNumber"], created["Name"]) == ("A-2", "New Co")
    assert accounts[existing]["Name"] == "Acme"
    assert (result["created"], crm.counters()["records_created"]) == (1, {"Account": 1})


def test_several_records_with_the_identifier_are_an_ambiguous_match_and_nothing_is_written(crm, tmp_path):
    crm.seed("Account", [{"Name": "One", "AccountNumber": "DUP"}, {"Name": "Two", "AccountNumber": "dup"}])
    before = crm.records("Account")

    result = run([retl("Account", "Dup", "AccountNumber", Name="Merged")], tmp_path)

    assert crm.records("Account") == before
    assert crm.requests()["writes"] == {}
    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"]) == ("validate", "ambiguous_match")
    assert result["dead_lettered"] == 1


# -- numbers -------------------------------------------------------------------------------------------------------


def test_a_number_field_is_matched_as_a_number_by_int_and_decimal_text(crm, tmp_path, soql):
    crm.declare_fields("Account", {"Erp_Id__c": {"type": "double", "precision": 18, "scale": 2}})
    target, other = crm.seed("Account", [{"Name": "Acme", "Erp_Id__c": 42}, {"Name": "B", "Erp_Id__c": 7}])
    events = [
        retl("Account", 42, "Erp_Id__c", "2026-11-28T10:00:00Z", Site="Paris"),
        retl("Account", "42.0", "Erp_Id__c", "2026-11-28T11:00:00Z", Name="Acme Corp"),
    ]

    result = run(events, tmp_path)

    accounts = by_id(crm, "Account")
    assert set(accounts) == {target, other}
    assert (accounts[target]["Site"], accounts[target]["Name"]) == ("Paris", "Acme Corp")
    assert accounts[other]["Name"] == "B"
    assert (result["updated"], result["applied"], result["created"]) == (1, 2, 0)
    (query,) = soql
    assert query.endswith("WHERE Erp_Id__c IN (42)")  # a number literal, one value for both spellings


def test_a_new_number_identifier_is_created_with_the_number(crm, tmp_path):
    crm.declare_fields("Account", {"Erp_Id__c": {"type": "double", "precision": 18, "scale": 2}})

    result = run([retl("Account", "17.50", "Erp_Id__c", Name="Decimal Co")], tmp_path)

    (created,) = crm.records("Account")
    assert created["Erp_Id__c"] == 17.5 and created["Name"] == "Decimal Co"
    assert result["created"] == 1


# -- a custom object -----------------------------------------------------------------------------------------------

SUBSCRIPTION_FIELDS = {
    "External_Key__c": {"type": "string", "length": 40, "externalId": True, "unique": True},
    "Plan__c": {"type": "picklist", "values": ["Free", "Pro"], "restricted": True},
    "Seats__c": {"type": "double", "precision": 6, "scale": 0},
}


def test_a_custom_object_is_updated_and_created_by_its_external_key(crm, tmp_path):
    crm.declare_fields("Subscription__c", SUBSCRIPTION_FIELDS)
    (existing,) = crm.seed("Subscription__c", [{"Name": "S-1", "External_Key__c": "sub-1", "Plan__c": "Free"}])
    events = [
        retl("Subscription__c", "SUB-1", "External_Key__c", Plan__c="pro", Seats__c="12"),
        retl("Subscription__c", "sub-2", "External_Key__c", Name="S-2", Plan__c="Free", Seats__c=3),
    ]

    result = run(events, tmp_path)

    records = by_id(crm, "Subscription__c")
    assert (records[existing]["Plan__c"], records[existing]["Seats__c"]) == ("Pro", 12)
    (created,) = [r for key, r in records.items() if key != existing]
    assert (created["External_Key__c"], created["Name"], created["Plan__c"], created["Seats__c"]) == (
        "sub-2",
        "S-2",
        "Free",
        3,
    )
    assert (result["updated"], result["created"], result["dead_lettered"]) == (1, 1, 0)
    assert crm.counters()["records_created"] == {"Subscription__c": 1}


def test_a_custom_object_named_in_another_case_takes_the_orgs_spelling(crm, tmp_path):
    crm.declare_fields("Subscription__c", SUBSCRIPTION_FIELDS)

    result = run([retl("subscription__C", "sub-9", "external_key__c", Name="S-9")], tmp_path)

    (created,) = crm.records("Subscription__c")
    assert (created["External_Key__c"], result["created"]) == ("sub-9", 1)
    assert list(crm.requests()["writes"]) == ["Subscription__c"]


# -- injection -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("identifier", ["Name) OR (Id != null", "Name' OR '1'='1", "Name OR Id", "Name;"])
def test_an_identifier_type_that_is_not_a_field_name_is_rejected_before_any_request(crm, tmp_path, identifier):
    crm.seed("Account", [{"Name": "Acme", "AccountNumber": "A-1"}])

    result = run([retl("Account", "A-1", identifier, Name="Hacked")], tmp_path)

    (letter,) = letters(tmp_path)
    assert letter["code"] == "invalid_external_id"
    assert result["dead_lettered"] == 1
    counters = crm.counters()
    assert (counters["api_calls"], counters["logins"]) == (0, 0)
    assert [a["Name"] for a in crm.records("Account")] == ["Acme"]


@pytest.mark.parametrize(
    "value",
    ["x' OR Name != '", "x\\' OR Name != \\'", "back\\slash", 'double"quote', "it's", "%", "_", "\\"],
)
def test_an_identifier_value_is_escaped_and_finds_only_the_record_holding_that_text(crm, tmp_path, value):
    exact, other = crm.seed(
        "Account", [{"Name": "Exact", "AccountNumber": value}, {"Name": "Other", "AccountNumber": "x"}]
    )

    result = run([retl("Account", value, "AccountNumber", Site="Matched")], tmp_path)

    accounts = by_id(crm, "Account")
    assert accounts[exact]["Site"] == "Matched"
    assert accounts[other].get("Site") is None
    assert (result["updated"], result["created"], result["dead_lettered"]) == (1, 0, 0)


def test_an_injection_in_the_identifier_value_matches_nothing_and_creates_that_literal(crm, tmp_path):
    crm.seed("Account", [{"Name": "One", "AccountNumber": "A-1"}, {"Name": "Two", "AccountNumber": "A-2"}])
    value = "x' OR Name != '"

    result = run([retl("Account", value, "AccountNumber", Name="Literal")], tmp_path)

    names = {a["AccountNumber"]: a["Name"] for a in crm.records("Account")}
    assert names == {"A-1": "One", "A-2": "Two", value: "Literal"}
    assert (result["created"], result["updated"]) == (1, 0)


# -- folding and re-runs -------------------------------------------------------------------------------------------


def test_two_events_for_one_identifier_make_one_write_with_the_latest_value_per_field(crm, tmp_path):
    events = [
        retl("Account", "A-7", "AccountNumber", "2026-11-28T12:00:00Z", Name="Later", Site="Lyon"),
        retl("Account", "a-7", "AccountNumber", "2026-11-28T09:00:00Z", Name="Earlier", Phone="+33 1 00"),
    ]

    result = run(events, tmp_path)

    (account,) = crm.records("Account")
    assert (account["Name"], account["Site"], account["Phone"]) == ("Later", "Lyon", "+33 1 00")
    assert crm.counters()["records_created"] == {"Account": 1}
    assert crm.requests()["writes"]["Account"] == {
        "create": {"records": 1, "fields": ["AccountNumber", "Name", "Phone", "Site"]}
    }
    assert (result["created"], result["applied"]) == (1, 2)


def test_running_the_same_events_again_creates_nothing_and_keeps_the_state(crm, tmp_path):
    crm.declare_fields("Subscription__c", SUBSCRIPTION_FIELDS)
    crm.seed("Account", [{"Name": "Acme", "AccountNumber": "A-1"}])
    events = [
        retl("Account", "A-1", "AccountNumber", Site="Paris"),
        retl("Account", "A-2", "AccountNumber", Name="New Co"),
        retl("Subscription__c", "sub-1", "External_Key__c", Name="S-1", Seats__c=2),
    ]
    strip = ("LastModifiedDate", "SystemModstamp")

    def state() -> dict[str, dict[str, Any]]:
        records = crm.records("Account") + crm.records("Subscription__c")
        return {r["Id"]: {k: v for k, v in r.items() if k not in strip} for r in records}

    first = run(events, tmp_path)
    after_first = state()
    second = run(events, tmp_path)

    assert (first["created"], first["updated"]) == (2, 1)
    assert (second["created"], second["updated"]) == (0, 3)
    assert state() == after_first


# -- the org's schema ----------------------------------------------------------------------------------------------


def test_a_trait_the_object_lacks_is_skipped_and_the_record_still_written(crm, tmp_path):
    result = run([retl("Account", "A-1", "AccountNumber", Name="Acme", Plan_Tier__c="pro")], tmp_path)

    (account,) = crm.records("Account")
    assert account["Name"] == "Acme"
    assert "Plan_Tier__c" not in crm.requests()["writes"]["Account"]["create"]["fields"]
    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"]) == ("schema", "fields_skipped")
    assert [f["field"] for f in letter["fields"]] == ["Plan_Tier__c"]
    assert (result["created"], result["partial"], result["dead_lettered"]) == (1, 1, 0)


def test_an_identifier_field_the_object_lacks_is_a_dead_letter_and_never_queried(crm, tmp_path, soql):
    crm.seed("Account", [{"Name": "Acme", "AccountNumber": "A-1"}])

    result = run([retl("Account", "A-1", "Erp_Key__c", Name="Hacked")], tmp_path)

    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"]) == ("schema", "field_error")
    assert "Erp_Key__c" in letter["reason"]
    assert soql == [] and "GET query" not in crm.counters()["by_endpoint"]
    assert crm.requests()["writes"] == {}
    assert result["dead_lettered"] == 1


def test_an_object_the_org_lacks_is_a_dead_letter(crm, tmp_path):
    result = run([retl("Nothing__c", "k", "Key__c", Name="x")], tmp_path)

    (letter,) = letters(tmp_path)
    assert (letter["stage"], letter["code"]) == ("schema", "unknown_object")
    assert crm.requests()["writes"] == {} and result["dead_lettered"] == 1


# -- allowed_objects -----------------------------------------------------------------------------------------------


def test_an_object_outside_allowed_objects_is_a_dead_letter_and_nothing_is_sent(crm, tmp_path):
    crm.seed("Account", [{"Name": "Acme", "AccountNumber": "A-1"}])

    result = run(
        [retl("Account", "A-1", "AccountNumber", Name="Hacked")], tmp_path, allowed_objects=["Lead", "Contact"]
    )

    (letter,) = letters(tmp_path)
    assert letter["code"] == "object_not_allowed"
    counters = crm.counters()
    assert (counters["api_calls"], counters["logins"]) == (0, 0)
    assert [a["Name"] for a in crm.records("Account")] == ["Acme"]
    assert result["dead_lettered"] == 1


@pytest.mark.parametrize("policy", ["skip", "reject"])
def test_a_match_on_a_key_the_user_cannot_update_updates_the_other_fields_cleanly(crm, tmp_path, policy):
    key = {"type": "string", "length": 40, "createable": True, "updateable": False, "unique": True}
    crm.declare_fields("Subscription__c", {**SUBSCRIPTION_FIELDS, "External_Key__c": key})
    (existing,) = crm.seed("Subscription__c", [{"Name": "S-1", "External_Key__c": "SUB-1", "Seats__c": 1}])

    result = run([retl("Subscription__c", "sub-1", "External_Key__c", Seats__c=5)], tmp_path, on_field_error=policy)

    (record,) = crm.records("Subscription__c")
    assert (record["Id"], record["Seats__c"], record["External_Key__c"]) == (existing, 5, "SUB-1")
    assert (result["updated"], result["partial"], result["dead_lettered"]) == (1, 0, 0)
    assert letters(tmp_path) == []


def test_shards_agree_on_the_record_of_a_number_written_two_ways(crm, tmp_path):
    crm.declare_fields("Account", {"Erp_Id__c": {"type": "double", "precision": 18, "scale": 2}})
    events = [
        retl("Account", 1, "Erp_Id__c", "2026-11-28T10:00:00Z", Name="One"),
        retl("Account", 1.0, "Erp_Id__c", "2026-11-28T11:00:00Z", Name="Uno", Site="Paris"),
    ]

    for index in (0, 1):  # what the mapped shard tasks of one run do, one after the other
        run(events, tmp_path, shard_index=index, shard_count=2)

    (account,) = crm.records("Account")
    assert (account["Erp_Id__c"], account["Name"], account["Site"]) == (1, "Uno", "Paris")
