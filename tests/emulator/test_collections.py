"""sObject Collections create/update/upsert with per-record validation and allOrNone."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from rudder_sf_emulator.client import EmulatorHandle


def _lead(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": "Doe", "Company": "Acme", **fields}


def _create(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False) -> list[dict[str, Any]]:
    return list(sf.restful("composite/sobjects", method="POST", json={"allOrNone": all_or_none, "records": records}))


def test_create_returns_results_in_order(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    res = _create(sf, [_lead(Email="A@Example.COM"), _lead(LastName=None)])
    assert res[0]["success"] is True and res[0]["id"].startswith("00Q") and len(res[0]["id"]) == 18
    assert res[1] == {
        "id": None,
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    stored = salesforce_emulator.records("Lead")
    assert [r["Email"] for r in stored] == ["a@example.com"]
    assert stored[0]["Name"] == "Doe" and stored[0]["IsConverted"] is False
    assert salesforce_emulator.counters()["api_calls"] == 1


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"Nope__c": 1}, "INVALID_FIELD", "Nope__c"),
        ({"CurrencyIsoCode": "USD"}, "INVALID_FIELD", "CurrencyIsoCode"),
        ({"IsConverted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", "IsConverted"),
        ({"Name": "Full Name"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "Name"),
        ({"CreatedDate": "2024-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "CreatedDate"),
        ({"Id": "00Q8Z0000000001UAA"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "Id"),
        ({"Company": None}, "REQUIRED_FIELD_MISSING", "Company"),
        ({"Company": ""}, "REQUIRED_FIELD_MISSING", "Company"),
        ({"FirstName": "x" * 41}, "STRING_TOO_LONG", "FirstName"),
        ({"LastName": "x" * 81}, "STRING_TOO_LONG", "LastName"),
        ({"CompanyDunsNumber": "1234567890"}, "STRING_TOO_LONG", "CompanyDunsNumber"),
        ({"PostalCode": "x" * 21}, "STRING_TOO_LONG", "PostalCode"),
        ({"Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", "Email"),
        ({"Email": "a" * 70 + "@example.com"}, "STRING_TOO_LONG", "Email"),
        ({"City": {"nested": 1}}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "City"),
        ({"NumberOfEmployees": "many"}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "NumberOfEmployees"),
        ({"HasOptedOutOfEmail": [True]}, "INVALID_TYPE_ON_FIELD_IN_RECORD", "HasOptedOutOfEmail"),
        ({"OwnerId": "bad"}, "MALFORMED_ID", "OwnerId"),
    ],
)
def test_lead_validation(sf: Salesforce, fields: dict[str, Any], code: str, field: str) -> None:
    [res] = _create(sf, [_lead(**fields)])
    assert res["success"] is False
    assert res["errors"][0]["statusCode"] == code
    assert res["errors"][0]["fields"] == [field]


def test_writable_standard_fields_are_accepted(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    fields = {
        "Salutation": "Ms.",
        "FirstName": "Ada",
        "MiddleName": "B",
        "Suffix": "Jr",
        "Title": "CTO",
        "Street": "1 Main",
        "City": "Paris",
        "State": "IDF",
        "PostalCode": "75001",
        "Country": "France",
        "CountryCode": "FR",
        "StateCode": "75",
        "Latitude": 48.8,
        "Longitude": 2.3,
        "GeocodeAccuracy": "Zip",
        "Phone": "1",
        "MobilePhone": "2",
        "Fax": "3",
        "Website": "https://x.fr",
        "Description": "d" * 32000,
        "LeadSource": "Web",
        "Status": "Working",
        "Industry": "Tech",
        "Rating": "Hot",
        "AnnualRevenue": 1e6,
        "NumberOfEmployees": 12,
        "HasOptedOutOfEmail": True,
        "HasOptedOutOfFax": False,
        "DoNotCall": True,
        "IsUnreadByOwner": True,
        "Jigsaw": "j",
        "CompanyDunsNumber": "123456789",
        "EmailBouncedReason": "r",
        "EmailBouncedDate": "2024-01-01T10:00:00Z",
        "OwnerId": "0058Z0000000001AAA",
    }
    [res] = _create(sf, [_lead(**fields)])
    assert res["success"] is True, res
    [contact] = list(
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={
                "records": [
                    {
                        "attributes": {"type": "Contact"},
                        "LastName": "C",
                        "MailingCity": "Lyon",
                        "Birthdate": "1990-05-01",
                        "Department": "R&D",
                        "AssistantName": "A",
                        "AssistantPhone": "1",
                        "HomePhone": "2",
                        "OtherPhone": "3",
                        "DoNotCall": True,
                        "LeadSource": "Web",
                        "ReportsToId": None,
                    }
                ]
            },
        )
    )
    assert contact["success"] is True, contact
    [bad] = list(
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={"records": [{"attributes": {"type": "Contact"}, "LastName": "C", "Company": "nope"}]},
        )
    )
    assert bad["errors"][0]["statusCode"] == "INVALID_FIELD"


def test_update_requires_id_and_keeps_required_fields(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    [lead_id] = salesforce_emulator.seed("Lead", [{"LastName": "Doe", "Company": "Acme", "Email": "a@b.co"}])
    res = list(
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={
                "records": [
                    {"attributes": {"type": "Lead"}, "Id": lead_id, "FirstName": "Jane", "Email": "NEW@B.CO"},
                    {"attributes": {"type": "Lead"}, "Id": lead_id, "LastName": None},
                    {"attributes": {"type": "Lead"}, "FirstName": "NoId"},
                    {"attributes": {"type": "Lead"}, "Id": "00Q8Z00000000ZZUAA", "FirstName": "Gone"},
                    {"attributes": {"type": "Lead"}, "Id": "garbage", "FirstName": "Bad"},
                    {"attributes": {"type": "Lead"}, "Id": lead_id[:15], "Title": "15-char id"},
                ]
            },
        )
    )
    assert res[0] == {"id": lead_id, "success": True, "errors": []}
    assert [r["errors"][0]["statusCode"] for r in res[1:5]] == [
        "REQUIRED_FIELD_MISSING",
        "MISSING_ARGUMENT",
        "NOT_FOUND",
        "MALFORMED_ID",
    ]
    assert res[5]["success"] is True and res[5]["id"] == lead_id
    [stored] = salesforce_emulator.records("Lead")
    assert (stored["FirstName"], stored["Email"], stored["LastName"], stored["Name"]) == (
        "Jane",
        "new@b.co",
        "Doe",
        "Jane Doe",
    )
    assert stored["Title"] == "15-char id"


def test_converted_lead_cannot_be_updated(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    [lead_id] = salesforce_emulator.seed(
        "Lead",
        [{"LastName": "Doe", "Company": "Acme", "IsConverted": True, "ConvertedContactId": "0038Z0000000009UAA"}],
    )
    [res] = list(
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={"records": [{"attributes": {"type": "Lead"}, "Id": lead_id, "FirstName": "X"}]},
        )
    )
    assert res["errors"] == [
        {"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference converted lead", "fields": []}
    ]
    row = sf.query(f"SELECT IsConverted, ConvertedContactId FROM Lead WHERE Id = '{lead_id}'")["records"][0]
    assert (row["IsConverted"], row["ConvertedContactId"]) == (True, "0038Z0000000009UAA")


def test_upsert_by_custom_external_id(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.declare_fields("Lead", {"Ext__c": {"type": "string", "length": 40, "externalId": True}})
    body = {"allOrNone": False, "records": [_lead(Ext__c="k1"), _lead(Ext__c="k2")]}
    first = list(sf.restful("composite/sobjects/Lead/Ext__c", method="PATCH", json=body))
    assert [r["created"] for r in first] == [True, True]
    body["records"][0]["FirstName"] = "Again"
    second = list(sf.restful("composite/sobjects/Lead/Ext__c", method="PATCH", json=body))
    assert [(r["created"], r["id"]) for r in second] == [(False, first[0]["id"]), (False, first[1]["id"])]
    assert len(salesforce_emulator.records("Lead")) == 2
    missing = list(sf.restful("composite/sobjects/Lead/Ext__c", method="PATCH", json={"records": [_lead()]}))
    assert missing[0]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"


def test_upsert_multiple_matches_fails_that_record(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.seed("Lead", [{"LastName": "a", "Company": "c", "Email": "dup@x.io"}] * 2)
    [res] = list(
        sf.restful("composite/sobjects/Lead/Email", method="PATCH", json={"records": [_lead(Email="dup@x.io")]})
    )
    assert res["success"] is False and res["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"


def test_all_or_none_rolls_back_everything(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    res = _create(sf, [_lead(Email="ok@x.io"), _lead(Email="bad"), _lead()], all_or_none=True)
    assert [r["success"] for r in res] == [False, False, False]
    assert [r["errors"][0]["statusCode"] for r in res] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_EMAIL_ADDRESS",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert salesforce_emulator.records("Lead") == []
    assert all(r["success"] for r in _create(sf, [_lead(), _lead()], all_or_none=True))
    assert len(salesforce_emulator.records("Lead")) == 2


def test_more_than_200_records_is_rejected(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    assert len(_create(sf, [_lead()] * 200)) == 200
    with pytest.raises(SalesforceMalformedRequest) as err:
        _create(sf, [_lead()] * 201)
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert len(salesforce_emulator.records("Lead")) == 200
    assert salesforce_emulator.counters()["api_calls"] == 2


def test_custom_object_and_field_declaration(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.declare_fields("Thing__c", {"Code__c": {"type": "string", "length": 5}})
    res = list(
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={
                "records": [
                    {"attributes": {"type": "Thing__c"}, "Name": "t", "Code__c": "12345"},
                    {"attributes": {"type": "Thing__c"}, "Code__c": "123456"},
                ]
            },
        )
    )
    assert res[0]["success"] and res[0]["id"].startswith("a0")
    assert res[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sf.query("SELECT Code__c FROM Thing__c")["records"][0]["Code__c"] == "12345"
