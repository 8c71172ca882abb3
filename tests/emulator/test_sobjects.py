"""Single-record sObject resources, describe, Composite and Bulk API 2.0 through simple-salesforce."""

from __future__ import annotations

import pytest
from conftest import VERSION, BulkClient
from simple_salesforce import (
    Salesforce,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from rudder_sf_emulator.client import EmulatorHandle


def test_create_read_update_delete(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    created = sf.Lead.create({"LastName": "Doe", "Company": "Acme", "Email": "Doe@X.io"})
    assert created["success"] is True and created["errors"] == []
    lead_id = created["id"]
    got = sf.Lead.get(lead_id)
    assert got["Email"] == "doe@x.io" and got["attributes"]["type"] == "Lead"
    assert sf.Lead.get(lead_id[:15])["Id"] == lead_id
    assert sf.Lead.update(lead_id, {"Title": "CEO"}) == 204
    assert sf.Lead.get(lead_id)["Title"] == "CEO"
    assert sf.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Lead.get(lead_id)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert salesforce_emulator.counters()["api_calls"] == 7


def test_single_record_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Lead.get("00Q8Z00000000ZZUAA")
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.Lead.update("not-an-id", {"Title": "x"})
    assert bad.value.content[0]["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Contact.create({"FirstName": "NoLast"})
    assert missing.value.content == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]
    with pytest.raises(SalesforceResourceNotFound) as typ:
        sf.Nope__c.create({"Name": "x"})
    assert typ.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_converted_lead_single_update_is_400(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    [lead_id] = salesforce_emulator.seed("Lead", [{"LastName": "a", "Company": "b", "IsConverted": True}])
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead_id, {"Title": "x"})
    assert err.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_upsert_created_updated_and_multiple(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.declare_fields("Lead", {"Ext__c": {"type": "string", "externalId": True}})
    assert sf.Lead.upsert("Ext__c/k1", {"LastName": "a", "Company": "b"}) == 201
    assert sf.Lead.upsert("Ext__c/k1", {"Title": "t"}) == 200
    [record] = salesforce_emulator.records("Lead")
    assert (record["Ext__c"], record["Title"]) == ("k1", "t")
    salesforce_emulator.seed("Lead", [{"LastName": "a", "Company": "b", "Ext__c": "dup"}] * 2)
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Lead.upsert("Ext__c/dup", {"Title": "t"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.upsert("NotExternal/x", {"Title": "t"})


def test_describe_reports_lengths_and_flags(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.declare_fields("Lead", {"Ext__c": {"type": "string", "length": 64, "externalId": True}})
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert (fields["LastName"]["length"], fields["LastName"]["nillable"]) == (80, True)
    assert (fields["Email"]["type"], fields["Email"]["length"]) == ("email", 80)
    assert fields["IsConverted"]["createable"] is False and fields["IsConverted"]["updateable"] is False
    assert fields["Ext__c"]["externalId"] is True and fields["Ext__c"]["length"] == 64
    assert "Company" not in {f["name"] for f in sf.Contact.describe()["fields"]}
    assert sf.Account.describe()["keyPrefix"] == "001"


def test_composite_with_references(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    base = f"/services/data/v{VERSION}"
    res = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": False,
            "compositeRequest": [
                {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Acme"}},
                {
                    "method": "POST",
                    "url": f"{base}/sobjects/Contact",
                    "referenceId": "ct",
                    "body": {"LastName": "Doe", "AccountId": "@{acct.id}"},
                },
                {"method": "GET", "url": f"{base}/query/?q=SELECT+Id,AccountId+FROM+Contact", "referenceId": "q"},
                {
                    "method": "PATCH",
                    "url": f"{base}/sobjects/Contact/@{{q.records[0].Id}}",
                    "referenceId": "up",
                    "body": {"Title": "Boss"},
                },
            ],
        },
    )
    codes = [r["httpStatusCode"] for r in res["compositeResponse"]]
    assert codes == [201, 201, 200, 204]
    [contact] = salesforce_emulator.records("Contact")
    [account] = salesforce_emulator.records("Account")
    assert (contact["AccountId"], contact["Title"]) == (account["Id"], "Boss")
    assert salesforce_emulator.counters()["api_calls"] == 1


def test_composite_all_or_none_rolls_back(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    base = f"/services/data/v{VERSION}"
    res = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "a", "body": {"Name": "Acme"}},
                {"method": "POST", "url": f"{base}/sobjects/Lead", "referenceId": "l", "body": {"LastName": "x"}},
            ],
        },
    )
    out = res["compositeResponse"]
    assert [r["httpStatusCode"] for r in out] == [400, 400]
    assert out[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert out[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert salesforce_emulator.records("Account") == []
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(
            "composite",
            method="POST",
            json={
                "compositeRequest": [
                    {"method": "GET", "url": f"{base}/limits", "referenceId": f"r{i}"} for i in range(26)
                ]
            },
        )


def test_bulk2_insert_and_results(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    records = [{"LastName": f"L{i}", "Company": "Acme", "Email": f"b{i}@x.io"} for i in range(5)]
    records.append({"LastName": "Bad", "Company": "Acme", "Email": "nope"})
    results = sf.bulk2.Lead.insert(records=records, batch_size=100, wait=0.05)
    assert results[0]["numberRecordsProcessed"] == 6 and results[0]["numberRecordsFailed"] == 1
    job_id = results[0]["job_id"]
    ok = sf.bulk2.Lead.get_successful_records(job_id)
    failed = sf.bulk2.Lead.get_failed_records(job_id)
    assert ok.splitlines()[0].startswith('"sf__Id","sf__Created"') or ok.startswith("sf__Id,sf__Created")
    assert len(ok.strip().splitlines()) == 6
    assert "INVALID_EMAIL_ADDRESS" in failed
    assert len(salesforce_emulator.records("Lead")) == 5


def test_bulk2_upsert_over_raw_http(salesforce_emulator: EmulatorHandle, sf: Salesforce, data_url: str) -> None:
    salesforce_emulator.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Email": "u@x.io"}])
    http = salesforce_emulator.session()
    auth = {"Authorization": f"Bearer {sf.session_id}"}
    job = http.post(
        f"{data_url}/jobs/ingest",
        headers=auth,
        json={
            "object": "Lead",
            "operation": "upsert",
            "externalIdFieldName": "Email",
            "contentType": "CSV",
            "lineEnding": "CRLF",
        },
    ).json()
    assert job["state"] == "Open"
    csv_body = "Email,LastName,Company,Title\r\nU@x.io,New,,#N/A\r\nnew@x.io,Fresh,Co,T\r\n"
    put = http.put(
        f"{data_url}/jobs/ingest/{job['id']}/batches",
        headers={**auth, "Content-Type": "text/csv"},
        data=csv_body.encode(),
    )
    assert put.status_code == 201
    closed = http.patch(f"{data_url}/jobs/ingest/{job['id']}", headers=auth, json={"state": "UploadComplete"})
    assert (closed.status_code, closed.json()["state"]) == (200, "UploadComplete")  # processed afterwards
    info = BulkClient(salesforce_emulator, sf).poll("ingest", job["id"])
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 2, 0)
    ok = http.get(f"{data_url}/jobs/ingest/{job['id']}/successfulResults/", headers=auth).text.splitlines()
    assert ok[0] == "sf__Id,sf__Created,Email,LastName,Company,Title"
    assert [line.split(",")[1] for line in ok[1:]] == ["false", "true"]
    unprocessed = http.get(f"{data_url}/jobs/ingest/{job['id']}/unprocessedrecords/", headers=auth)
    assert unprocessed.text.strip() == "Email,LastName,Company,Title"
    by_email = {r["Email"]: r for r in salesforce_emulator.records("Lead")}
    assert by_email["u@x.io"]["LastName"] == "New" and by_email["u@x.io"]["Company"] == "Acme"
    assert by_email["new@x.io"]["Title"] == "T"
