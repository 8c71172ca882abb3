"""Duplicate rules: the minimal profile's Alert (Lead vs Contact email) and Block (Lead phone + company) rules on
every create path, the allow-save header, result shapes, and the admin routes."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import VERSION
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from rudder_sf_emulator.client import EmulatorHandle

ALLOW = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}
MESSAGE = "Use one of these records?"


def _lead(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": "Doe", "Company": "Acme", **fields}


def _create(sf: Salesforce, *records: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return list(sf.restful("composite/sobjects", method="POST", json={"records": list(records)}, headers=headers or {}))


def _match_ids(result: dict[str, Any]) -> list[str]:
    [match] = result["matchResults"]
    return [m["record"]["Id"] for m in match["matchRecords"]]


@pytest.fixture
def contact_id(minimal: EmulatorHandle) -> str:
    return minimal.seed("Contact", [{"LastName": "Ann", "Email": "Ann@Example.com"}])[0]


@pytest.fixture
def lead_id(minimal: EmulatorHandle) -> str:
    return minimal.seed("Lead", [{"LastName": "Old", "Company": "Acme Inc", "Phone": "+1 555 0100"}])[0]


def test_alert_rule_refuses_single_rest_create_without_header(
    minimal: EmulatorHandle, msf: Salesforce, contact_id: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        msf.Lead.create({"LastName": "Doe", "Company": "Acme", "Email": "ann@EXAMPLE.com"})
    [error] = err.value.content
    assert set(error) == {"errorCode", "message", "duplicateResut"}
    assert (error["errorCode"], error["message"]) == ("DUPLICATES_DETECTED", MESSAGE)
    result = error["duplicateResut"]
    assert result["allowSave"] is True and result["duplicateRule"] == "Standard_Lead_Duplicate_Rule"
    assert (result["duplicateRuleEntityType"], result["errorMessage"]) == ("Lead", MESSAGE)
    [match] = result["matchResults"]
    assert (match["entityType"], match["matchEngine"], match["size"], match["success"]) == (
        "Contact",
        "ExactMatchEngine",
        1,
        True,
    )
    [record] = match["matchRecords"]
    assert record == {
        "matchConfidence": 100.0,
        "additionalInformation": [],
        "fieldDiffs": [],
        "record": {
            "attributes": {"type": "Contact", "url": f"/services/data/v{VERSION}/sobjects/Contact/{contact_id}"},
            "Id": contact_id,
        },
    }
    assert minimal.records("Lead") == []


def test_alert_rule_lets_single_rest_create_through_with_header(
    minimal: EmulatorHandle, msf: Salesforce, contact_id: str
) -> None:
    created = msf.Lead.create({"LastName": "Doe", "Company": "Acme", "Email": "ann@example.com"}, headers=ALLOW)
    assert created["success"] is True
    assert [r["Id"] for r in minimal.records("Lead")] == [created["id"]]


def test_alert_rule_in_collections_with_and_without_header(
    minimal: EmulatorHandle, msf: Salesforce, contact_id: str
) -> None:
    refused, fine = _create(msf, _lead(Email="ann@example.com"), _lead(Email="other@example.com"))
    assert fine["success"] is True
    [error] = refused["errors"]
    assert (error["statusCode"], error["message"], error["fields"]) == ("DUPLICATES_DETECTED", MESSAGE, [])
    assert error["duplicateResult"]["allowSave"] is True and _match_ids(error["duplicateResult"]) == [contact_id]
    [saved] = _create(msf, _lead(Email="ann@example.com"), headers=ALLOW)
    assert saved["success"] is True
    assert len(minimal.records("Lead")) == 2


def test_block_rule_refuses_even_with_header(minimal: EmulatorHandle, msf: Salesforce, lead_id: str) -> None:
    [res] = _create(msf, _lead(Phone="+1 555 0100", Company="ACME INC"), headers=ALLOW)
    [error] = res["errors"]
    assert error["statusCode"] == "DUPLICATES_DETECTED"
    result = error["duplicateResult"]
    assert (result["allowSave"], result["duplicateRule"]) == (False, "Block_Lead_Same_Phone_Company")
    assert _match_ids(result) == [lead_id] and result["matchResults"][0]["entityType"] == "Lead"
    with pytest.raises(SalesforceMalformedRequest) as err:
        msf.Lead.create({"LastName": "x", "Company": "Acme Inc", "Phone": "+1 555 0100"}, headers=ALLOW)
    assert err.value.content[0]["duplicateResut"]["allowSave"] is False
    assert len(minimal.records("Lead")) == 1


def test_block_rule_needs_every_match_field(minimal: EmulatorHandle, msf: Salesforce, lead_id: str) -> None:
    res = _create(
        msf,
        _lead(Phone="+1 555 0100", Company="Other Co"),
        _lead(Phone="+1 555 0199", Company="Acme Inc"),
        _lead(Company="Acme Inc"),
    )
    assert [r["success"] for r in res] == [True, True, True]


def test_deleted_records_and_same_request_records_do_not_match(minimal: EmulatorHandle, msf: Salesforce) -> None:
    [gone] = minimal.seed("Contact", [{"LastName": "Gone", "Email": "gone@example.com", "IsDeleted": True}])
    assert gone
    twins = _create(msf, _lead(Email="gone@example.com", Phone="1", Company="Twin"), _lead(Phone="1", Company="Twin"))
    assert [r["success"] for r in twins] == [True, True]
    [again] = _create(msf, _lead(Phone="1", Company="twin"))
    assert again["errors"][0]["duplicateResult"]["matchResults"][0]["size"] == 2


def test_upsert_checks_rules_only_when_it_creates(minimal: EmulatorHandle, msf: Salesforce, contact_id: str) -> None:
    [lead_id] = minimal.seed("Lead", [{"LastName": "L", "Company": "C", "Email": "mine@example.com"}])
    updated = list(
        msf.restful(
            "composite/sobjects/Lead/Email",
            method="PATCH",
            json={"records": [_lead(Email="mine@example.com", Title="t"), _lead(Email="ann@example.com")]},
        )
    )
    assert updated[0] == {"id": lead_id, "success": True, "errors": [], "created": False}
    assert updated[1]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED" and updated[1]["created"] is False


def test_composite_subrequest_header(minimal: EmulatorHandle, msf: Salesforce, contact_id: str) -> None:
    url = f"/services/data/v{VERSION}/sobjects/Lead"
    body = {"LastName": "Doe", "Company": "Acme", "Email": "ann@example.com"}
    res = msf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {"method": "POST", "url": url, "referenceId": "plain", "body": body},
                {"method": "POST", "url": url, "referenceId": "allowed", "body": body, "httpHeaders": ALLOW},
            ]
        },
    )["compositeResponse"]
    assert [r["httpStatusCode"] for r in res] == [400, 201]
    assert res[0]["body"][0]["duplicateResut"]["duplicateRule"] == "Standard_Lead_Duplicate_Rule"


def test_bulk_refuses_alert_duplicates(minimal: EmulatorHandle, msf: Salesforce, contact_id: str) -> None:
    [result] = msf.bulk2.Lead.insert(
        records=[{"LastName": "a", "Company": "c", "Email": "ann@example.com"}, {"LastName": "b", "Company": "c"}],
        wait=0.05,
    )
    assert result["numberRecordsFailed"] == 1
    failed = msf.bulk2.Lead.get_failed_records(result["job_id"])
    assert "DUPLICATES_DETECTED:Use one of these records?:" in failed


def test_update_is_not_checked(minimal: EmulatorHandle, msf: Salesforce, contact_id: str) -> None:
    [lead_id] = minimal.seed("Lead", [{"LastName": "L", "Company": "C"}])
    assert msf.Lead.update(lead_id, {"Email": "ann@example.com"}) == 204


def test_admin_lists_replaces_and_resets_rules(minimal: EmulatorHandle, msf: Salesforce, contact_id: str) -> None:
    assert [(r["name"], r["action"]) for r in minimal.duplicate_rules()] == [
        ("Standard_Lead_Duplicate_Rule", "alert"),
        ("Block_Lead_Same_Phone_Company", "block"),
    ]
    assert minimal.set_duplicate_rules([]) == []
    assert _create(msf, _lead(Email="ann@example.com"))[0]["success"] is True
    rule = {"name": "Contact_By_Last_Name", "object": "contact", "action": "block"}
    stored = minimal.set_duplicate_rules([{**rule, "match_object": "Contact", "match_fields": ["lastname"]}])
    assert stored[0]["object"] == "Contact" and stored[0]["match_fields"] == ["LastName"]
    [res] = _create(msf, {"attributes": {"type": "Contact"}, "LastName": "ANN"})
    assert res["errors"][0]["duplicateResult"]["duplicateRule"] == "Contact_By_Last_Name"
    with pytest.raises(RuntimeError, match="not a field of both objects"):
        minimal.set_duplicate_rules([{**rule, "match_object": "Lead", "match_fields": ["Birthdate"]}])
    minimal.reset(profile="minimal")
    assert len(minimal.duplicate_rules()) == 2


def test_full_profile_has_no_rules(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.seed("Contact", [{"LastName": "Ann", "Email": "ann@example.com"}])
    assert salesforce_emulator.duplicate_rules() == []
    assert _create(sf, _lead(Email="ann@example.com"))[0]["success"] is True


def test_bulk_compares_a_create_with_earlier_internal_batches_only(minimal: EmulatorHandle, msf: Salesforce) -> None:
    """Salesforce runs a job in internal batches of 10,000 records: a batch's creates are not compared with each
    other (rows 0 and 5,000, written in different steps of the worker), a later batch's are (row 10,000)."""
    twin = {"Company": "Acme", "Phone": "+1 555 0199"}
    records = [{"LastName": f"Filler{n}", "Company": "Acme"} for n in range(10_002)]
    for n in (0, 5_000, 10_000):
        records[n] = {"LastName": f"Twin{n}", **twin}
    [result] = msf.bulk2.Lead.insert(records=records, wait=0.05)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (10_002, 1)
    failed = msf.bulk2.Lead.get_failed_records(result["job_id"])
    assert "DUPLICATES_DETECTED" in failed and "Twin10000" in failed
    twins = sorted(lead["LastName"] for lead in minimal.records("Lead") if lead["LastName"].startswith("Twin"))
    assert twins == ["Twin0", "Twin5000"]
