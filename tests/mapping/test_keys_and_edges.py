"""Keys that find one record however it is spelled, and values at the edges that must never stop a run."""

from __future__ import annotations

import pytest

from airflow_provider_rudder_sf.mapping import (
    FieldSchema,
    MappingOptions,
    Rejected,
    build_plan,
    classify,
    coerce,
    identifier_key,
    object_schema,
    record_key,
)

from .helpers import eligible, identify

LEAD = object_schema(
    {
        "name": "Lead",
        "fields": [
            {"name": n, "type": t, "length": 80, "createable": True, "updateable": True}
            for n, t in (("Email", "email"), ("LastName", "string"), ("Company", "string"), ("OwnerId", "reference"))
        ],
    }
)


def retl(traits, id_, identifier, type_="Salesforce-Lead"):
    context = {"mappedToDestination": True, "externalId": [{"type": type_, "id": id_, "identifierType": identifier}]}
    return identify(traits, context=context)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_datetimes_outside_the_representable_range_are_field_errors_not_crashes(value):
    assert coerce("Lead", FieldSchema("F", "datetime"), value).code == "invalid_value"
    assert coerce("Lead", FieldSchema("F", "date"), value).code == "invalid_value"


def test_years_before_1000_keep_four_digits():
    assert coerce("Lead", FieldSchema("F", "datetime"), "0200-01-01T00:00:00").value == "0200-01-01T00:00:00.000Z"


def test_a_numeric_identifier_with_a_huge_exponent_is_no_key():
    assert identifier_key("1e1000000", numeric=True) is None
    event = eligible(retl({"LastName": "x"}, "1e1000000", "Score__c"))
    assert record_key(event)  # sharding never raises on it


def test_an_rETL_match_by_email_and_an_identify_for_that_email_create_one_lead():
    events = [identify({"email": "Pat@x.com", "lastName": "A"}), retl({"LastName": "B"}, "pat@X.com", "Email")]
    options = MappingOptions()
    classified = [eligible(e, i) for i, e in enumerate(events)]
    plan = build_plan(classified, {}, options, schemas={"lead": LEAD})
    assert len(plan.writes) == 1 and plan.writes[0].sources == (0, 1)
    assert len({record_key(e) for e in classified}) == 1, "one person, one shard"


def test_an_rETL_identifier_naming_a_protected_field_never_writes_it():
    plan = build_plan(
        [eligible(retl({"LastName": "x"}, "005000000000001AAA", "OwnerId"))],
        {},
        MappingOptions(),
        schemas={"lead": LEAD},
    )
    assert plan.writes == ()
    (rejected,) = plan.rejected
    assert (rejected.code, [f.code for f in rejected.fields]) == ("field_error", ["protected_field"])


def test_a_create_stored_under_another_key_than_the_look_up_is_refused():
    options = MappingOptions(map_properties=False)
    event = eligible(identify({"email": "a@x.com", "Email": "b@x.com", "LastName": "L"}), options=options)
    plan = build_plan([event], {}, options, schemas={"lead": LEAD})
    (rejected,) = plan.rejected
    assert (rejected.code, rejected.fields[0].code) == ("field_error", "key_mismatch")


def test_one_record_is_one_shard_key_whatever_the_id_length_or_object_case():
    a = eligible(identify({}, context={"externalId": [{"type": "Salesforce-Contact", "id": "003000000000001"}]}))
    b = eligible(identify({}, context={"externalId": [{"type": "Salesforce-contact", "id": "003000000000001AAA"}]}))
    assert record_key(a) == record_key(b)


def test_a_time_without_a_date_is_rejected_not_read_as_today():
    outcome = classify(identify({"email": "a@x.com"}, timestamp="12:00"), 0, MappingOptions())
    assert isinstance(outcome, Rejected) and outcome.code == "invalid_timestamp"


def test_a_lookup_salesforce_refused_never_becomes_a_create():
    event = eligible(retl({"LastName": "x"}, "A-1", "LastName"))
    plan = build_plan(
        [event], {}, MappingOptions(), record_matches={("lead", "lastname"): None}, schemas={"lead": LEAD}
    )
    assert plan.writes == () and plan.rejected[0].code == "lookup_failed"
