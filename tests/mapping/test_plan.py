"""Rules 3b, 5, 6, 7, 8 and 9: resolution, defaults, custom fields, as-is traits, folding, re-runs."""

from __future__ import annotations

import pytest

from airflow_provider_rudder_sf.mapping import LeadMatch, MappingOptions, record_key, shard_of

from .helpers import eligible, identify, only_write_fields, plan_for

ADA = "ada@example.com"
LEAD_ID = "00Q000000000001AAA"
CONTACT_ID = "003000000000001AAA"


def test_unknown_email_creates_one_lead_with_email_as_natural_key():
    (write,) = plan_for([identify({"email": "Ada@Example.com", "lastName": "Lovelace", "company": "Acme"})]).writes
    assert (write.sobject, write.operation, write.record_id) == ("Lead", "create", None)
    assert write.natural_key == ("Email", ADA)


def test_one_open_lead_is_updated():
    plan = plan_for([identify({"email": ADA, "title": "CTO"})], {ADA: (LeadMatch(LEAD_ID, False, None),)})
    (write,) = plan.writes
    assert (write.sobject, write.operation, write.record_id, dict(write.fields)) == (
        "Lead",
        "update",
        LEAD_ID,
        {"Email": ADA, "Title": "CTO"},
    )


def test_converted_lead_with_use_contact_id_updates_its_contact():
    plan = plan_for(
        [identify({"email": ADA, "department": "R&D"})],
        {ADA: (LeadMatch(LEAD_ID, True, CONTACT_ID),)},
        MappingOptions(use_contact_id=True),
    )
    (write,) = plan.writes
    assert (write.sobject, write.operation, write.record_id) == ("Contact", "update", CONTACT_ID)
    assert write.fields["Department"] == "R&D"


@pytest.mark.parametrize(
    ("matches", "options", "code"),
    [
        ((LeadMatch(LEAD_ID, True, CONTACT_ID),), MappingOptions(), "lead_converted"),
        ((LeadMatch(LEAD_ID, True, None),), MappingOptions(use_contact_id=True), "converted_contact_missing"),
        (
            (LeadMatch(LEAD_ID, False, None), LeadMatch("00Q000000000002AAA", False, None)),
            MappingOptions(),
            "ambiguous_match",
        ),
    ],
)
def test_lead_path_rejects(matches, options, code):
    plan = plan_for([identify({"email": ADA})], {ADA: matches}, options)
    assert plan.writes == ()
    (rejected,) = plan.rejected
    assert (rejected.stage, rejected.code) == ("validate", code)


def test_create_fills_last_name_and_company_with_na():
    fields = only_write_fields([identify({"email": ADA})])
    assert (fields["LastName"], fields["Company"]) == ("n/a", "n/a")


def test_update_never_sends_na_over_real_values():
    fields = only_write_fields(
        [identify({"email": ADA, "title": "CTO"})], matches={ADA: (LeadMatch(LEAD_ID, False, None),)}
    )
    assert "LastName" not in fields and "Company" not in fields


def test_contact_create_by_external_id_fills_only_last_name():
    (write,) = plan_for(
        [identify({"firstName": "Ada"}, context={"externalId": [{"type": "Salesforce-Contact"}]})]
    ).writes
    assert (write.sobject, write.operation) == ("Contact", "create")
    assert write.fields["LastName"] == "n/a" and "Company" not in write.fields


def test_external_id_with_id_updates_and_other_objects_get_traits_as_they_are():
    event = identify(
        {"Name": "Acme", "Industry": "Tech", "email": "x@acme.io", "nested": {"a": 1}},
        context={"externalId": [{"type": "Salesforce-Account", "id": "001000000000001AAA"}]},
    )
    (write,) = plan_for([event]).writes
    assert (write.sobject, write.operation, write.record_id) == ("Account", "update", "001000000000001AAA")
    assert dict(write.fields) == {"Name": "Acme", "Industry": "Tech", "email": "x@acme.io", "nested": '{"a":1}'}


def test_several_external_ids_give_several_writes():
    event = identify(
        {"lastName": "Lovelace"},
        context={
            "externalId": [
                {"type": "Salesforce-Lead", "id": LEAD_ID},
                {"type": "Salesforce-Contact", "id": CONTACT_ID},
            ]
        },
    )
    writes = plan_for([event]).writes
    assert sorted((w.sobject, w.record_id, w.fields["LastName"]) for w in writes) == [
        ("Contact", CONTACT_ID, "Lovelace"),
        ("Lead", LEAD_ID, "Lovelace"),
    ]


def test_keyless_create_becomes_an_upsert_on_the_configured_external_id_field():
    event = identify({"Name": "Acme"}, messageId="msg-1", context={"externalId": [{"type": "Salesforce-Account"}]})
    (write,) = plan_for([event], options=MappingOptions(external_id_field="Rudder_Message_Id__c")).writes
    assert (write.operation, write.external_id_field) == ("upsert", "Rudder_Message_Id__c")
    assert write.fields["Rudder_Message_Id__c"] == "msg-1"


def test_other_traits_become_custom_fields_with_false_and_zero_kept_and_null_skipped():
    fields = only_write_fields(
        [identify({"email": ADA, "newProp": "x", "vip": False, "logins": 0, "gone": None, "plan__c": "pro"})]
    )
    assert fields["newProp__c"] == "x"
    assert fields["vip__c"] is False
    assert fields["logins__c"] == 0
    assert "gone__c" not in fields
    assert fields["plan__c"] == "pro"


def test_reserved_traits_are_never_copied_as_custom_fields():
    traits = {"email": ADA, "name": "Ada L", "anonymousId": "a", "userId": "u", "age": 3, "gender": "f", "avatar": "p"}
    traits |= {"birthday": "1815-12-10", "address": "street", "company": {"name": "Acme"}}
    fields = only_write_fields([identify(traits)])
    assert not [name for name in fields if name.endswith("__c")]


def test_nested_custom_traits_become_sorted_compact_json_text():
    fields = only_write_fields([identify({"email": ADA, "prefs": {"b": [1, 2], "a": "é"}})])
    assert fields["prefs__c"] == '{"a":"é","b":[1,2]}'


@pytest.mark.parametrize("key", ["bad key", "has__double", "trailing_", "9lives", "x" * 41, "dash-ed"])
def test_a_trait_that_cannot_be_a_field_name_rejects_the_event(key):
    plan = plan_for([identify({"email": ADA, key: 1})])
    (rejected,) = plan.rejected
    assert rejected.code == "invalid_field_name"
    assert repr(key[:20]).strip("'") in rejected.reason


def test_a_mapped_trait_with_an_object_value_rejects_the_event():
    plan = plan_for([identify({"email": ADA, "phone": {"home": "1"}})])
    (rejected,) = plan.rejected
    assert rejected.code == "invalid_trait_type" and "'phone'" in rejected.reason


def test_system_fields_are_recognised_never_sent_and_counted():
    traits = {"email": ADA, "id": "x", "createdAt": "2020-01-01", "isConverted": True, "systemModstamp": "y"}
    plan = plan_for([identify(traits), identify({**traits, "email": "b@x.io"})])
    for write in plan.writes:
        assert not {"Id", "CreatedDate", "IsConverted", "SystemModstamp"} & set(write.fields)
        assert not [name for name in write.fields if name.endswith("__c")]
    assert plan.dropped_system_fields == {"Id": 2, "CreatedDate": 2, "IsConverted": 2, "SystemModstamp": 2}


def test_map_properties_false_sends_traits_as_they_are_minus_read_only_fields():
    options = MappingOptions(map_properties=False)
    fields = only_write_fields(
        [identify({"Email": ADA, "FirstName": "Ada", "Plan__c": "pro", "Id": "x"})], options=options
    )
    assert fields == {"Email": ADA, "FirstName": "Ada", "Plan__c": "pro", "LastName": "n/a", "Company": "n/a"}


def test_map_properties_false_rejects_a_key_that_is_not_a_field_name():
    plan = plan_for([identify({"Email": ADA, "first name": "Ada"})], options=MappingOptions(map_properties=False))
    assert [r.code for r in plan.rejected] == ["invalid_field_name"]


def test_events_for_one_record_fold_into_one_write_and_the_later_timestamp_wins_per_field():
    events = [
        identify({"email": ADA, "title": "Late", "plan": "pro"}, timestamp="2026-11-28T12:00:00Z"),
        identify({"email": "ADA@example.com", "title": "Early", "phone": "1"}, timestamp="2026-11-28T09:00:00Z"),
    ]
    plan = plan_for(events)
    (write,) = plan.writes
    assert write.operation == "create"  # two events for a new e-mail: exactly one Lead
    assert write.sources == (1, 0)
    assert (write.fields["Title"], write.fields["phone"] if "phone" in write.fields else write.fields["Phone"]) == (
        "Late",
        "1",
    )
    assert write.fields["plan__c"] == "pro"


def test_equal_timestamps_keep_arrival_order():
    events = [identify({"email": ADA, "title": "First"}), identify({"email": ADA, "title": "Second"})]
    assert only_write_fields(events)["Title"] == "Second"


def test_fifteen_and_eighteen_character_ids_of_one_record_fold_together():
    events = [
        identify({"title": "A"}, context={"externalId": [{"type": "Salesforce-Account", "id": "001000000000001"}]}),
        identify({"title": "B"}, context={"externalId": [{"type": "Salesforce-Account", "id": "001000000000001AAA"}]}),
    ]
    assert len(plan_for(events).writes) == 1


def test_a_rerun_after_the_lead_exists_updates_instead_of_creating():
    event = identify({"email": ADA, "lastName": "Lovelace"})
    first = plan_for([event])
    second = plan_for([event], {ADA: (LeadMatch(LEAD_ID, False, None),)})
    assert [w.operation for w in first.writes] == ["create"]
    assert [(w.operation, w.record_id) for w in second.writes] == [("update", LEAD_ID)]
    assert second.writes[0].fields["LastName"] == first.writes[0].fields["LastName"]


def test_record_key_and_shard_are_stable_and_shared_by_all_events_of_a_record():
    a = eligible(identify({"email": "Ada@Example.com"}))
    b = eligible(identify({"email": "ada@example.com", "title": "x"}))
    assert record_key(a) == record_key(b) == "lead-email:ada@example.com"
    assert shard_of(record_key(a), 8) == shard_of(record_key(b), 8) == shard_of("lead-email:ada@example.com", 8)
    assert {shard_of(f"lead-email:user{i}@x.io", 8) for i in range(200)} == set(range(8))


def test_a_custom_trait_nested_deeper_than_python_can_serialise_rejects_the_event():
    deep: dict = {}
    node = deep
    for _ in range(5_000):
        node["a"] = {}
        node = node["a"]
    plan = plan_for([identify({"email": ADA, "prefs": deep})])
    assert [r.code for r in plan.rejected] == ["invalid_trait_type"]
