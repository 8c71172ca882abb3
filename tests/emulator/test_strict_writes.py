"""Writes as strict as a real org: unknown/hidden fields, FLS read-only fields, restricted picklists, JSON types,
number ranges and unique fields, on every write path."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import VERSION
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from rudder_sf_emulator.client import EmulatorHandle


def _lead(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": "Doe", "Company": "Acme", **fields}


def _contact(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, "LastName": "Doe", **fields}


def _create(sf: Salesforce, *records: dict[str, Any]) -> list[dict[str, Any]]:
    return list(sf.restful("composite/sobjects", method="POST", json={"records": list(records)}))


def _only_error(result: dict[str, Any]) -> dict[str, Any]:
    assert result["success"] is False, result
    [error] = result["errors"]
    return dict(error)


@pytest.mark.parametrize(
    ("record", "name"),
    [
        (_lead(StateCode="CA"), "StateCode"),
        (_lead(CurrencyIsoCode="USD"), "CurrencyIsoCode"),
        (_lead(Division="Global"), "Division"),
        (_lead(MiddleName="B"), "MiddleName"),
        (_lead(Jigsaw="j"), "Jigsaw"),
        (_lead(AnnualRevenue=5), "AnnualRevenue"),
        (_contact(Birthdate="1990-01-01"), "Birthdate"),
        (_contact(MailingCountryCode="FR"), "MailingCountryCode"),
    ],
)
def test_minimal_missing_or_hidden_field_is_invalid_field(msf: Salesforce, record: dict[str, Any], name: str) -> None:
    error = _only_error(_create(msf, record)[0])
    obj = record["attributes"]["type"]
    assert error == {
        "statusCode": "INVALID_FIELD",
        "message": f"No such column '{name}' on sobject of type {obj}",
        "fields": [name],
    }


@pytest.mark.parametrize(
    ("record", "name"), [(_lead(Rating="Hot"), "Rating"), (_contact(AssistantPhone="1"), "AssistantPhone")]
)
def test_minimal_read_only_field_is_refused_on_create(msf: Salesforce, record: dict[str, Any], name: str) -> None:
    error = _only_error(_create(msf, record)[0])
    assert error["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and error["fields"] == [name]
    assert error["message"].startswith(f"Unable to create/update fields: {name}. Please check the security settings")


def test_minimal_read_only_field_is_refused_on_update(minimal: EmulatorHandle, msf: Salesforce) -> None:
    [lead_id] = minimal.seed("Lead", [{"LastName": "a", "Company": "b"}])
    [res] = msf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Lead"}, "Id": lead_id, "Rating": "Hot"}]},
    )
    assert _only_error(res)["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


@pytest.mark.parametrize(
    ("record", "name", "label", "value"),
    [
        (_lead(Industry="Manufacturing"), "Industry", "Industry", "Manufacturing"),
        (_lead(GeocodeAccuracy="Rooftop"), "GeocodeAccuracy", "Geocode Accuracy", "Rooftop"),
        (_lead(GeocodeAccuracy="zip"), "GeocodeAccuracy", "Geocode Accuracy", "zip"),
        (_lead(Salutation="Sir"), "Salutation", "Salutation", "Sir"),
        (_contact(MailingGeocodeAccuracy="Planet"), "MailingGeocodeAccuracy", "Mailing Geocode Accuracy", "Planet"),
    ],
)
def test_minimal_restricted_picklist_refuses_other_values(
    msf: Salesforce, record: dict[str, Any], name: str, label: str, value: str
) -> None:
    assert _only_error(_create(msf, record)[0]) == {
        "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "message": f"{label}: bad value for restricted picklist field: {value}",
        "fields": [name],
    }


def test_minimal_picklists_accept_listed_and_unrestricted_values(minimal: EmulatorHandle, msf: Salesforce) -> None:
    res = _create(
        msf,
        _lead(Industry="Technology", GeocodeAccuracy="Zip", Salutation="Mx.", Status="Nurturing", LeadSource="Podcast"),
        _contact(MailingGeocodeAccuracy="City", LeadSource="Anything"),
    )
    assert [r["success"] for r in res] == [True, True], res
    [lead] = minimal.records("Lead")
    assert (lead["Industry"], lead["Status"], lead["LeadSource"]) == ("Technology", "Nurturing", "Podcast")


def test_restricted_multipicklist_checks_each_value(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.declare_fields(
        "Lead", {"Topics__c": {"type": "multipicklist", "values": ["A", "B", "C"], "restricted": True}}
    )
    ok, bad = _create(sf, _lead(Topics__c="A;C"), _lead(Topics__c="A;D;B"))
    assert ok["success"] is True
    assert _only_error(bad)["message"] == "Topics: bad value for restricted picklist field: D"


@pytest.mark.parametrize(
    ("record", "name"),
    [
        (_lead(HasOptedOutOfEmail="yes"), "HasOptedOutOfEmail"),
        (_lead(HasOptedOutOfEmail="TRUE"), "HasOptedOutOfEmail"),
        (_lead(HasOptedOutOfEmail=1), "HasOptedOutOfEmail"),
        (_lead(NumberOfEmployees="12"), "NumberOfEmployees"),
        (_lead(NumberOfEmployees=True), "NumberOfEmployees"),
        (_lead(NumberOfEmployees=12.5), "NumberOfEmployees"),
        (_lead(AnnualRevenue="1000"), "AnnualRevenue"),
        (_lead(Latitude=False), "Latitude"),
        (_contact(Birthdate="2026-01-02T03:04:05Z"), "Birthdate"),
        (_contact(Birthdate="2026-02-30"), "Birthdate"),
        (_lead(EmailBouncedDate="2024-01-01 10:00:00"), "EmailBouncedDate"),
        (_lead(EmailBouncedDate="yesterday"), "EmailBouncedDate"),
        (_lead(Title=["CEO"]), "Title"),
        (_lead(OwnerId={"Id": "0058Z0000000001AAA"}), "OwnerId"),
    ],
)
def test_wrong_json_type_is_refused_per_record_in_collections(
    sf: Salesforce, record: dict[str, Any], name: str
) -> None:
    ok, bad = _create(sf, _lead(), record)
    assert ok["success"] is True  # one bad record does not hide the others
    error = _only_error(bad)
    assert (error["statusCode"], error["fields"]) == ("INVALID_TYPE_ON_FIELD_IN_RECORD", [name])
    assert "value not of required type" in error["message"]


def test_right_json_types_are_accepted_and_stored(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    res = _create(
        sf,
        _lead(HasOptedOutOfEmail="true", DoNotCall="false", NumberOfEmployees=12.0, Title=42, Latitude=48.85),
        _contact(Birthdate="1990-05-01", EmailBouncedDate="2024-01-01T10:00:00.000+0000"),
    )
    assert [r["success"] for r in res] == [True, True], res
    [lead] = salesforce_emulator.records("Lead")
    assert (lead["HasOptedOutOfEmail"], lead["DoNotCall"]) == (True, False)
    assert (lead["NumberOfEmployees"], lead["Title"], lead["Latitude"]) == (12, "42", 48.85)


def test_number_outside_valid_range(sf: Salesforce) -> None:
    ok, bad = _create(sf, _lead(NumberOfEmployees=99_999_999), _lead(NumberOfEmployees=100_000_000))
    assert ok["success"] is True
    assert _only_error(bad) == {
        "statusCode": "NUMBER_OUTSIDE_VALID_RANGE",
        "message": "Number Of Employees: value outside of valid range on numeric field: 100000000",
        "fields": ["NumberOfEmployees"],
    }


def test_wrong_json_type_on_single_record_rest_is_json_parser_error(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "Doe", "Company": "Acme", "HasOptedOutOfEmail": "yes"})
    assert err.value.status == 400
    [error] = err.value.content
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert error["message"].startswith("Cannot deserialize instance of boolean from VALUE_STRING value yes")


def test_single_record_rest_refusals_on_minimal(msf: Salesforce, minimal: EmulatorHandle) -> None:
    with pytest.raises(SalesforceMalformedRequest) as restricted:
        msf.Lead.create({"LastName": "Doe", "Company": "Acme", "Industry": "Manufacturing"})
    assert restricted.value.content == [
        {
            "message": "Industry: bad value for restricted picklist field: Manufacturing",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["Industry"],
        }
    ]
    [lead_id] = minimal.seed("Lead", [{"LastName": "a", "Company": "b"}])
    with pytest.raises(SalesforceMalformedRequest) as hidden:
        msf.Lead.update(lead_id, {"AnnualRevenue": 1})
    assert hidden.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as locked:
        msf.Lead.upsert("Email/x@y.io", {"LastName": "Doe", "Company": "Acme", "Rating": "Hot"})
    assert locked.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert minimal.records("Lead")[0].get("AnnualRevenue") is None


def test_composite_subrequest_refusals(msf: Salesforce) -> None:
    base = f"/services/data/v{VERSION}/sobjects"
    res = msf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{base}/Lead",
                    "referenceId": "a",
                    "body": {"LastName": "x", "Company": "c"},
                },
                {
                    "method": "PATCH",
                    "url": f"{base}/Lead/@{{a.id}}",
                    "referenceId": "b",
                    "body": {"Salutation": "Sir"},
                },
                {"method": "PATCH", "url": f"{base}/Lead/@{{a.id}}", "referenceId": "c", "body": {"DoNotCall": "no"}},
            ]
        },
    )["compositeResponse"]
    assert [r["httpStatusCode"] for r in res] == [201, 400, 400]
    assert res[1]["body"][0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert res[2]["body"][0]["errorCode"] == "JSON_PARSER_ERROR"


def test_bulk_rows_are_as_strict(minimal: EmulatorHandle, msf: Salesforce) -> None:
    rows = [
        {"LastName": "ok", "Company": "c", "Industry": "Retail", "DoNotCall": "TRUE", "NumberOfEmployees": "12"},
        {"LastName": "pick", "Company": "c", "Industry": "Manufacturing"},
        {"LastName": "type", "Company": "c", "NumberOfEmployees": "many"},
        {"LastName": "hidden", "Company": "c", "AnnualRevenue": "10"},
    ]
    [result] = msf.bulk2.Lead.insert(records=rows, wait=0.05)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (4, 3)
    failed = msf.bulk2.Lead.get_failed_records(result["job_id"])
    for code in ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "INVALID_TYPE_ON_FIELD_IN_RECORD", "INVALID_FIELD"):
        assert code in failed
    [lead] = minimal.records("Lead")
    assert (lead["LastName"], lead["DoNotCall"], lead["NumberOfEmployees"]) == ("ok", True, 12)


def test_field_names_are_case_insensitive_and_stored_canonically(
    salesforce_emulator: EmulatorHandle, sf: Salesforce
) -> None:
    [res] = _create(sf, {"attributes": {"type": "Lead"}, "lastname": "Doe", "COMPANY": "Acme", "eMail": "A@B.io"})
    assert res["success"] is True
    [lead] = salesforce_emulator.records("Lead")
    assert (lead["LastName"], lead["Company"], lead["Email"]) == ("Doe", "Acme", "a@b.io")
    assert "lastname" not in lead


def test_unique_field_refuses_a_second_value(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.declare_fields(
        "Lead",
        {
            "Code__c": {"type": "string", "unique": True},
            "Tag__c": {"type": "string", "unique": True, "caseSensitive": True},
        },
    )
    first, same, other_case = _create(sf, _lead(Code__c="K1", Tag__c="T"), _lead(Code__c="k1"), _lead(Tag__c="t"))
    assert first["success"] is True and other_case["success"] is True
    error = _only_error(same)
    assert error["statusCode"] == "DUPLICATE_VALUE" and error["fields"] == ["Code__c"]
    assert error["message"] == f"duplicate value found: Code__c duplicates value on record with id: {first['id']}"
