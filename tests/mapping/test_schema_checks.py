"""The org schema in the pure core: coercion by field type, the per-field policy, field_map and allowed objects."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_rudder_sf.mapping import (
    FieldSchema,
    MappingOptions,
    ObjectSchema,
    build_plan,
    coerce,
    identifier_key,
    object_schema,
)

from .helpers import eligible, identify

EMAIL = "ada@example.com"


def field(name: str, type_: str = "string", **kw: Any) -> dict[str, Any]:
    base = {"name": name, "type": type_, "length": 255 if type_ in ("string", "picklist") else 0}
    base.update({"createable": True, "updateable": True})
    base.update(kw)
    return base


LEAD_DESCRIBE = {
    "name": "Lead",
    "fields": [
        field("Id", "id", createable=False, updateable=False),
        field("Email", "email", length=80),
        field("LastName", length=80),
        field("FirstName", length=40),
        field("Company"),
        field("Title", length=10),
        field("Rating", "picklist", createable=False, updateable=False),
        field("OwnerId", "reference", length=18),
        field(
            "Industry",
            "picklist",
            restrictedPicklist=True,
            picklistValues=[{"value": v, "active": True} for v in ("Technology", "Finance")],
        ),
        field("newProp__c", length=50),
        field("Active__c", "boolean"),
        field("Seats__c", "double"),
        field("Licences__c", "int"),
        field("Renewal__c", "date"),
        field("LastSeen__c", "datetime"),
        field("Tags__c", "multipicklist", length=4099),
        field("IsConverted", "boolean", updateable=False),
    ],
}
SCHEMAS = {"lead": object_schema(LEAD_DESCRIBE)}


def plan(events: list[dict[str, Any]], options: MappingOptions | None = None, schemas=SCHEMAS, matches=None):
    options = options or MappingOptions()
    return build_plan([eligible(e, i, options) for i, e in enumerate(events)], matches or {}, options, schemas=schemas)


def spec(type_: str, **kw: Any) -> FieldSchema:
    return FieldSchema(name="F__c", type=type_, **kw)


@pytest.mark.parametrize(
    ("type_", "value", "sent", "how"),
    [
        ("boolean", True, True, None),
        ("boolean", "TRUE", True, "text -> boolean"),
        ("boolean", "false", False, "text -> boolean"),
        ("boolean", 1, True, "number -> boolean"),
        ("boolean", 0, False, "number -> boolean"),
        ("double", "12.5", 12.5, "text -> number"),
        ("double", 3, 3, None),
        ("currency", "1000", 1000, "text -> number"),
        ("int", 7.0, 7, "float -> int"),
        ("int", "42", 42, "text -> number"),
        ("date", "2026-11-28", "2026-11-28", None),
        ("date", "2026-11-28T23:30:00-02:00", "2026-11-29", "datetime -> date"),
        ("date", 1_764_288_000, "2025-11-28", "epoch -> date"),
        ("date", 1_764_288_000_000, "2025-11-28", "epoch -> date"),
        ("datetime", "2026-11-28T10:00:00", "2026-11-28T10:00:00.000Z", "datetime -> UTC datetime"),
        ("datetime", "2026-11-28T10:00:00+02:00", "2026-11-28T08:00:00.000Z", "datetime -> UTC datetime"),
        ("datetime", 1_764_288_000, "2025-11-28T00:00:00.000Z", "epoch -> datetime"),
        ("string", 12, "12", "number -> text"),
        ("string", 1.5, "1.5", "number -> text"),
        ("string", True, "true", "boolean -> text"),
        ("multipicklist", ["a", "b"], "a;b", "list -> multipicklist"),
        ("reference", "005000000000001AAA", "005000000000001AAA", None),
    ],
)
def test_coercion_table(type_, value, sent, how):
    result = coerce("Lead", spec(type_, length=255), value)
    assert (result.value, result.coercion) == (sent, how)


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("boolean", "yes"),
        ("boolean", 2),
        ("double", "twelve"),
        ("double", True),
        ("double", "1e999999"),
        ("double", float("nan")),
        ("int", 7.5),
        ("date", "next tuesday"),
        ("date", "2026-02-30"),
        ("datetime", "x" * 1_000_000),
        ("datetime", {"at": 1}),
        ("string", {"a": 1}),
        ("string", float("inf")),
        ("reference", "not-an-id"),
        ("multipicklist", ["a", 1]),
    ],
)
def test_values_that_do_not_fit_are_field_errors_never_exceptions(type_, value):
    result = coerce("Lead", spec(type_, length=255), value)
    assert result.code == "invalid_value"
    assert "F__c" in result.reason


def test_over_long_text_is_an_error_or_cut_with_truncate_text():
    assert coerce("Lead", spec("string", length=3), "abcdef").code == "string_too_long"
    assert coerce("Lead", spec("string", length=3), "abcdef", truncate_text=True) == ("abc", "truncated")


def test_restricted_picklist_takes_known_values_in_any_case_and_sends_the_org_spelling():
    pick = spec("picklist", length=40, restricted=True, picklist={"finance": "Finance"})
    assert coerce("Lead", pick, "FINANCE") == ("Finance", "picklist spelling")
    assert coerce("Lead", pick, "Manufacturing").code == "restricted_picklist"
    multi = spec("multipicklist", length=400, restricted=True, picklist={"a": "A", "b": "B"})
    assert coerce("Lead", multi, ["a", "B"]).value == "A;B"
    assert coerce("Lead", multi, ["a", "c"]).code == "restricted_picklist"


def test_unrestricted_picklists_take_any_value():
    pick = spec("picklist", length=40, restricted=False, picklist={"hot": "Hot"})
    assert coerce("Lead", pick, "Lukewarm") == ("Lukewarm", None)


def test_skip_policy_writes_the_record_without_the_fields_the_org_cannot_take():
    result = plan(
        [
            identify(
                {
                    "email": EMAIL,
                    "lastName": "Lovelace",
                    "plan": "pro",  # plan__c does not exist
                    "rating": "Hot",  # read-only for the user
                    "title": "Chief Analytical Engine Officer",  # longer than 10
                    "company": {"name": "Acme", "industry": "Manufacturing"},  # restricted picklist
                    "ownerId": "005000000000001AAA",  # protected
                    "newprop": "x",  # newProp__c in the org's spelling
                }
            )
        ]
    )
    assert not result.rejected
    (write,) = result.writes
    assert write.fields == {"Email": EMAIL, "LastName": "Lovelace", "Company": "Acme", "newProp__c": "x"}
    issues = {(i.field, i.code) for i in result.field_issues[0]}
    assert issues == {
        ("plan__c", "missing_field"),
        ("Rating", "read_only"),
        ("Title", "string_too_long"),
        ("Industry", "restricted_picklist"),
        ("OwnerId", "protected_field"),
    }
    assert result.schema_issues[("Lead", "plan__c", "missing_field")] == 1


def test_reject_policy_dead_letters_the_whole_event_before_any_request():
    options = MappingOptions(on_field_error="reject")
    result = plan([identify({"email": EMAIL, "plan": "pro"}), identify({"email": "b@example.com"})], options)
    (rejected,) = result.rejected
    assert (rejected.stage, rejected.code, rejected.seq) == ("schema", "field_error", 0)
    assert [(i.field, i.code) for i in rejected.fields] == [("plan__c", "missing_field")]
    assert "plan__c" in rejected.reason
    assert [w.fields["Email"] for w in result.writes] == ["b@example.com"]


def test_operation_decides_writability():
    describe = {"name": "Lead", "fields": [field("Email", "email", length=80), field("Score__c", updateable=False)]}
    schemas = {"lead": object_schema(describe)}
    created = plan([identify({"email": EMAIL, "score": "9"})], schemas=schemas)
    assert created.writes[0].fields["Score__c"] == "9"
    from airflow_provider_rudder_sf.mapping import LeadMatch

    updated = plan(
        [identify({"email": EMAIL, "score": "9"})],
        schemas=schemas,
        matches={EMAIL: (LeadMatch("00Q000000000001AAA", False, None),)},
    )
    assert "Score__c" not in updated.writes[0].fields
    assert [(i.field, i.code) for i in updated.field_issues[0]] == [("Score__c", "read_only")]


def test_coercions_are_applied_and_counted():
    result = plan([identify({"email": EMAIL, "active": "true", "seats": "3", "renewal": "2026-12-01T10:00:00Z"})])
    fields = result.writes[0].fields
    assert (fields["Active__c"], fields["Seats__c"], fields["Renewal__c"]) == (True, 3, "2026-12-01")
    assert result.coercions[("Lead", "Active__c", "text -> boolean")] == 1
    assert result.coercions[("Lead", "Renewal__c", "datetime -> date")] == 1


def test_folding_still_holds_with_case_variants_of_a_custom_trait():
    events = [
        identify({"email": EMAIL, "newprop": "old"}, timestamp="2026-11-28T10:00:00Z"),
        identify({"email": EMAIL, "newProp": "new"}, timestamp="2026-11-28T11:00:00Z"),
    ]
    (write,) = plan(events).writes
    assert write.fields["newProp__c"] == "new"
    assert write.sources == (0, 1)


def test_field_map_wins_over_the_table_and_over_custom_fields():
    options = MappingOptions(field_map={"Lead": {"plan": "newProp__c", "company.name": "Title"}})
    result = plan([identify({"email": EMAIL, "plan": "pro", "company": {"name": "Acme"}})], options)
    fields = result.writes[0].fields
    assert fields["newProp__c"] == "pro"
    assert fields["Title"] == "Acme"
    assert "Company" not in fields or fields["Company"] == "n/a"
    assert "plan__c" not in fields


def test_field_map_may_write_a_protected_field():
    options = MappingOptions(field_map={"Lead": {"salesOwner": "OwnerId"}})
    result = plan([identify({"email": EMAIL, "salesOwner": "005000000000001AAA"})], options)
    assert result.writes[0].fields["OwnerId"] == "005000000000001AAA"
    assert 0 not in result.field_issues


def test_field_map_is_validated_at_construction():
    with pytest.raises(ValueError, match="not a Salesforce field name"):
        MappingOptions(field_map={"Lead": {"plan": "Plan Tier"}})
    with pytest.raises(ValueError, match="malformed trait path"):
        MappingOptions(field_map={"Lead": {"address..city": "City"}})


def test_targets_outside_allowed_objects_are_dead_letters():
    options = MappingOptions(allowed_objects=["Lead", "Contact"])
    events = [
        identify({"name": "x"}, context={"externalId": [{"type": "Salesforce-Account", "id": "001000000000001AAA"}]}),
        identify({"email": EMAIL}),
    ]
    result = build_plan([eligible(e, i, options) for i, e in enumerate(events)], {}, options)
    (rejected,) = result.rejected
    assert (rejected.code, rejected.seq) == ("object_not_allowed", 0)
    assert [w.sobject for w in result.writes] == ["Lead"]


def test_an_object_the_org_lacks_is_a_schema_dead_letter():
    events = [identify({"name": "x"}, context={"externalId": [{"type": "Salesforce-Widget__c"}]})]
    (rejected,) = plan(events).rejected
    assert (rejected.stage, rejected.code) == ("schema", "unknown_object")


def test_object_names_take_the_orgs_spelling():
    events = [identify({"email": EMAIL}, context={"externalId": [{"type": "Salesforce-lead", "id": None}]})]
    (write,) = plan(events).writes
    assert write.sobject == "Lead" and write.fields["LastName"] == "n/a"


@pytest.mark.parametrize(
    ("value", "numeric", "key"),
    [(5, True, "n:5"), (5.0, True, "n:5"), ("5.00", True, "n:5"), ("ABC", False, "s:abc"), (12, False, "s:12")],
)
def test_identifier_keys_compare_like_salesforce(value, numeric, key):
    assert identifier_key(value, numeric=numeric) == key


def test_describe_parsing_keeps_what_a_writer_needs():
    schema = SCHEMAS["lead"]
    assert isinstance(schema, ObjectSchema) and schema.name == "Lead"
    industry = schema.field("INDUSTRY")
    assert (
        industry is not None
        and industry.restricted
        and industry.picklist
        == {
            "technology": "Technology",
            "finance": "Finance",
        }
    )
    assert schema.field("rating").createable is False
    assert schema.field("Accuracy") is None


@pytest.mark.parametrize("type_", ["boolean", "int", "double", "currency", "percent", "long", "string", "date"])
@pytest.mark.parametrize("value", [True, False, 0, 1, -7, 2**63, 10**30, 2.5, float("nan"), "12", "true", None])
def test_the_checker_sends_every_value_as_the_coercion_table_would(type_, value):
    # The checker skips the table for values it already takes as they are: the outcome must be the same.
    from airflow_provider_rudder_sf.mapping import FieldChecker
    from airflow_provider_rudder_sf.mapping.coerce import Coerced

    field = spec(type_, length=80)
    checked = FieldChecker(ObjectSchema(name="Thing__c", fields={"f__c": field}), "create").check({"F__c": value})
    expected = coerce("Thing__c", field, value)
    if isinstance(expected, Coerced):
        assert (checked.fields, checked.issues) == ({"F__c": expected.value}, ())
        assert checked.coercions == ((("F__c", expected.coercion),) if expected.coercion else ())
    else:
        assert (checked.fields, checked.issues) == ({}, (expected,))
