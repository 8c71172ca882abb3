"""RudderStack rETL / Visual Data Mapper events (context.mappedToDestination): match by any field, any sObject."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_rudder_sf.mapping import (
    IdentifyEvent,
    MappingOptions,
    Rejected,
    Target,
    build_plan,
    classify,
    match_requests,
    object_schema,
    record_key,
)

from .helpers import eligible, identify

OPTIONS = MappingOptions()
ACCOUNT = object_schema(
    {
        "name": "Account",
        "fields": [
            {"name": "Id", "type": "id", "createable": False, "updateable": False},
            {"name": "Name", "type": "string", "length": 255, "createable": True, "updateable": True},
            {"name": "AccountNumber", "type": "string", "length": 40, "createable": True, "updateable": True},
            {"name": "Erp_Id__c", "type": "double", "createable": True, "updateable": True},
            {"name": "Industry", "type": "picklist", "length": 255, "createable": True, "updateable": True},
        ],
    }
)
SCHEMAS = {"account": ACCOUNT}


def retl(
    traits: dict[str, Any],
    id_: Any,
    identifier: str = "AccountNumber",
    type_: str = "Salesforce-Account",
    **extra: Any,
):
    return identify(
        traits,
        context={"mappedToDestination": True, "externalId": [{"type": type_, "id": id_, "identifierType": identifier}]},
        **extra,
    )


def plan(events, matches=None, schemas=SCHEMAS, options=OPTIONS):
    return build_plan(
        [eligible(e, i, options) for i, e in enumerate(events)], {}, options, record_matches=matches, schemas=schemas
    )


@pytest.mark.parametrize("prefix", ["Salesforce-", "SALESFORCE-", "salesforce_oauth-", "SALESFORCE_OAUTH_SANDBOX-"])
def test_rETL_types_are_recognised_case_insensitively(prefix):
    event = eligible(retl({"Name": "Acme"}, "A-1", type_=prefix + "Account"))
    assert event.mapped and event.email is None
    assert event.targets == (Target("Account", None, "AccountNumber", "A-1"),)


def test_id_identifier_updates_that_record():
    event = eligible(retl({"Name": "Acme"}, "001000000000001AAA", identifier="ID"))
    assert event.targets == (Target("Account", "001000000000001AAA"),)
    (write,) = plan([retl({"Name": "Acme", "Id": "001000000000009AAA"}, "001000000000001AAA", "id")]).writes
    assert (write.operation, write.record_id) == ("update", "001000000000001AAA")
    assert "Id" not in write.fields and write.fields == {"Name": "Acme"}


@pytest.mark.parametrize(
    "external_id",
    [
        None,
        [],
        ["x"],
        [{"type": "Salesforce-Account", "id": "A"}],
        [{"type": "Salesforce-Account", "identifierType": "AccountNumber"}],
        [{"type": "Salesforce-Account", "id": "", "identifierType": "AccountNumber"}],
        [{"type": "Hubspot-Account", "id": "A", "identifierType": "AccountNumber"}],
        [{"type": "Salesforce-Account", "id": True, "identifierType": "AccountNumber"}],
        [{"type": "Salesforce-Account", "id": "A", "identifierType": "Name) OR (Id != null"}],
    ],
)
def test_bad_external_ids_are_dead_letters(external_id):
    event = identify({"Name": "Acme"}, context={"mappedToDestination": True, "externalId": external_id})
    outcome = classify(event, 0, OPTIONS)
    assert isinstance(outcome, Rejected) and outcome.code == "invalid_external_id", outcome


def test_an_injection_in_the_object_name_is_rejected():
    outcome = classify(retl({}, "A", type_="Salesforce-Account WHERE Name != ''"), 0, OPTIONS)
    assert isinstance(outcome, Rejected) and outcome.code == "invalid_object_name"


def test_found_once_updates_none_creates_with_the_identifier_several_is_ambiguous():
    events = [retl({"Name": "One"}, "A-1"), retl({"Name": "New"}, "A-2"), retl({"Name": "Two"}, "a-3")]
    matches = {("account", "accountnumber"): {"s:a-1": ("001000000000001AAA",), "s:a-3": ("001A", "001B")}}
    result = plan(events, matches)
    update, create = result.writes
    assert (update.operation, update.record_id, update.fields) == (
        "update",
        "001000000000001AAA",
        {"Name": "One"},
    )
    assert (create.operation, create.fields, create.natural_key) == (
        "create",
        {"Name": "New", "AccountNumber": "A-2"},
        ("AccountNumber", "A-2"),
    )
    (rejected,) = result.rejected
    assert (rejected.code, rejected.seq) == ("ambiguous_match", 2)


def test_numeric_identifiers_compare_as_numbers():
    events = [retl({"Name": "N"}, 42, "Erp_Id__c"), retl({"Name": "M"}, "42.0", "erp_id__c")]
    assert match_requests(eligible(e, i) for i, e in enumerate(events)) == {
        ("Account", "Erp_Id__c"): [42],
        ("Account", "erp_id__c"): ["42.0"],
    }
    matches = {("account", "erp_id__c"): {"n:42": ("001000000000001AAA",)}}
    (write,) = plan(events, matches).writes
    assert write.record_id == "001000000000001AAA" and write.sources == (0, 1)
    assert "Erp_Id__c" not in write.fields  # an update leaves the identifier as the record holds it


def test_two_events_for_one_new_identifier_create_one_record():
    events = [
        retl({"Name": "Old"}, "A-9", timestamp="2026-11-28T10:00:00Z"),
        retl({"Name": "New"}, "a-9", timestamp="2026-11-28T11:00:00Z"),
    ]
    (write,) = plan(events).writes
    assert write.operation == "create" and write.fields["Name"] == "New" and write.sources == (0, 1)
    keys = {record_key(eligible(e)) for e in events}
    assert len(keys) == 1, "both spellings must land in the same shard"


def test_traits_go_as_they_are_no_table_no_custom_suffix():
    (write,) = plan([retl({"Name": "Acme", "Industry": "Retail"}, "A-1")]).writes
    assert write.fields == {"Name": "Acme", "Industry": "Retail", "AccountNumber": "A-1"}


def test_schema_checks_apply_to_rETL_traits_and_identifier():
    result = plan([retl({"Name": "Acme", "Nope__c": 1}, "A-1")])
    assert [(i.field, i.code) for i in result.field_issues[0]] == [("Nope__c", "missing_field")]
    (rejected,) = plan([retl({"Name": "Acme"}, "A-1", "Missing__c")]).rejected
    assert (rejected.stage, rejected.code) == ("schema", "field_error")
    (rejected,) = plan([retl({"Name": "Acme"}, "not a number", "Erp_Id__c")]).rejected
    assert rejected.code == "invalid_external_id"


def test_rETL_respects_allowed_objects():
    options = MappingOptions(allowed_objects=["Lead"])
    (rejected,) = plan([retl({"Name": "Acme"}, "A-1")], options=options).rejected
    assert rejected.code == "object_not_allowed"


def test_an_ordinary_externalId_event_is_unchanged():
    event = eligible(identify({"name": "x"}, context={"externalId": [{"type": "Salesforce-Account", "id": None}]}))
    assert isinstance(event, IdentifyEvent) and not event.mapped and event.targets == (Target("Account", None),)
