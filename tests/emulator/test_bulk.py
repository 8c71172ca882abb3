"""Bulk API 2.0 over HTTPS: jobs that progress over time, results, abort, mid-job faults, upload limit, query jobs."""

from __future__ import annotations

import csv
import io
import time

import pytest
from conftest import BulkClient
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from rudder_sf_emulator import EmulatorHandle


def _leads_csv(n: int, bad: frozenset[int] = frozenset()) -> str:
    lines = ["LastName,Company,Email"]
    lines += [f"L{i:04d},Acme,{'nope' if i in bad else f'l{i}@x.io'}" for i in range(n)]
    return "\n".join(lines) + "\n"


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_ingest_job_moves_through_states_with_growing_counts(
    salesforce_emulator: EmulatorHandle, bulk: BulkClient
) -> None:
    salesforce_emulator.set_faults(bulk_rows_per_second=0)  # paused: the job waits in InProgress
    closed = bulk.ingest("Lead", "insert", _leads_csv(200, bad=frozenset({3, 160})))
    assert closed["state"] == "UploadComplete" and closed["numberRecordsProcessed"] == 0
    job_id = closed["id"]
    states = [closed["state"]]
    info = bulk.poll("ingest", job_id, lambda i: i["state"] != "UploadComplete")
    states.append(info["state"])
    assert (info["state"], info["numberRecordsProcessed"]) == ("InProgress", 0)
    early = bulk.call("GET", f"ingest/{job_id}/successfulResults/")
    assert early.status_code == 409 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"

    salesforce_emulator.set_faults(bulk_rows_per_second=40)  # about 5 s for the 200 rows
    first = bulk.poll("ingest", job_id, lambda i: i["numberRecordsProcessed"] > 0)
    later = bulk.poll("ingest", job_id, lambda i: i["numberRecordsProcessed"] > first["numberRecordsProcessed"])
    assert first["state"] == later["state"] == "InProgress"
    assert 0 < first["numberRecordsProcessed"] < later["numberRecordsProcessed"] < 200
    assert len(salesforce_emulator.records("Lead")) <= later["numberRecordsProcessed"]

    salesforce_emulator.set_faults(bulk_rows_per_second=20_000)
    done = bulk.poll("ingest", job_id)
    states.append(done["state"])
    assert states == ["UploadComplete", "InProgress", "JobComplete"]
    assert (done["numberRecordsProcessed"], done["numberRecordsFailed"]) == (200, 2)
    assert done["totalProcessingTime"] > 0 and "errorMessage" not in done
    assert len(salesforce_emulator.records("Lead")) == 198


def test_result_csvs_have_salesforce_columns(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    job_id = bulk.ingest("Lead", "insert", _leads_csv(4, bad=frozenset({2})))["id"]
    assert bulk.poll("ingest", job_id)["state"] == "JobComplete"
    ok = _rows(bulk.call("GET", f"ingest/{job_id}/successfulResults/").text)
    failed = _rows(bulk.call("GET", f"ingest/{job_id}/failedResults/").text)
    unprocessed = _rows(bulk.call("GET", f"ingest/{job_id}/unprocessedrecords/").text)
    assert ok[0] == ["sf__Id", "sf__Created", "LastName", "Company", "Email"]
    ids = {r["Id"] for r in salesforce_emulator.records("Lead")}
    assert {r[0] for r in ok[1:]} == ids and len(ids) == 3
    assert all(r[1] == "true" for r in ok[1:])
    assert failed[0] == ["sf__Id", "sf__Error", "LastName", "Company", "Email"]
    [row] = failed[1:]
    assert row[0] == "" and row[2:] == ["L0002", "Acme", "nope"]
    code, _, rest = row[1].partition(":")
    message, _, fields = rest.rpartition(":")  # CODE:message:fields (the message may hold colons)
    assert (code, fields) == ("INVALID_EMAIL_ADDRESS", "Email") and "nope" in message
    assert unprocessed == [["LastName", "Company", "Email"]]


def test_abort_mid_job_stops_writing(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    salesforce_emulator.set_faults(bulk_rows_per_second=50)
    job_id = bulk.ingest("Lead", "insert", _leads_csv(200))["id"]
    bulk.poll("ingest", job_id, lambda i: i["numberRecordsProcessed"] > 0)
    aborted = bulk.call("PATCH", f"ingest/{job_id}", json={"state": "Aborted"}).json()
    done = aborted["numberRecordsProcessed"]
    assert aborted["state"] == "Aborted" and 0 < done < 200

    # let the workers run on: a second job completing proves time passed for the first one's worker too
    salesforce_emulator.set_faults(bulk_rows_per_second=20_000)
    other = bulk.ingest("Contact", "insert", "LastName\nC\n")["id"]
    assert bulk.poll("ingest", other)["state"] == "JobComplete"
    info = bulk.info("ingest", job_id)
    assert (info["state"], info["numberRecordsProcessed"]) == ("Aborted", done)
    assert len(salesforce_emulator.records("Lead")) == done
    ok = _rows(bulk.call("GET", f"ingest/{job_id}/successfulResults/").text)
    unprocessed = _rows(bulk.call("GET", f"ingest/{job_id}/unprocessedrecords/").text)
    assert len(ok) - 1 == done
    assert unprocessed[0] == ["LastName", "Company", "Email"]
    assert [r[0] for r in unprocessed[1:]] == [f"L{i:04d}" for i in range(done, 200)]
    again = bulk.call("PATCH", f"ingest/{job_id}", json={"state": "Aborted"})
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_abort_open_job_lists_the_upload_as_unprocessed(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    job_id = bulk.ingest("Lead", "insert", _leads_csv(3), close=False)["id"]
    aborted = bulk.call("PATCH", f"ingest/{job_id}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert len(_rows(bulk.call("GET", f"ingest/{job_id}/unprocessedrecords/").text)) == 4
    assert salesforce_emulator.records("Lead") == []
    assert salesforce_emulator.requests()["writes"] == {}  # nothing was submitted for processing


def test_fail_after_rows_leaves_the_rest_unprocessed(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    salesforce_emulator.set_faults(bulk_fail_after_rows=7)
    job_id = bulk.ingest("Lead", "insert", _leads_csv(20))["id"]
    info = bulk.poll("ingest", job_id)
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("Failed", 7, 0)
    assert "bulk_fail_after_rows" in info["errorMessage"]
    assert len(salesforce_emulator.records("Lead")) == 7
    assert len(_rows(bulk.call("GET", f"ingest/{job_id}/successfulResults/").text)) == 8
    unprocessed = _rows(bulk.call("GET", f"ingest/{job_id}/unprocessedrecords/").text)
    assert [r[0] for r in unprocessed[1:]] == [f"L{i:04d}" for i in range(7, 20)]


def test_failed_job_raises_in_simple_salesforce(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.set_faults(bulk_fail_after_rows=2)
    records = [{"LastName": f"L{i}", "Company": "c"} for i in range(5)]
    with pytest.raises(SalesforceOperationError, match="bulk_fail_after_rows"):
        sf.bulk2.Lead.insert(records=records, wait=0.05)
    [job] = salesforce_emulator.bulk_jobs()
    assert (job["state"], job["numberRecordsProcessed"]) == ("Failed", 2)


def test_503_hits_job_polls_and_result_downloads(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    job_id = bulk.ingest("Lead", "insert", _leads_csv(2))["id"]
    bulk.poll("ingest", job_id)
    salesforce_emulator.set_faults(fail_every_nth=2)  # counting restarts: requests 2, 4 ... fail
    paths = [f"ingest/{job_id}", f"ingest/{job_id}", f"ingest/{job_id}/successfulResults/"]
    paths += [f"ingest/{job_id}/successfulResults/", f"ingest/{job_id}/failedResults/"]
    answers = [bulk.call("GET", path) for path in paths]
    assert [a.status_code for a in answers] == [200, 503, 200, 503, 200]
    assert answers[1].json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert answers[2].text.startswith("sf__Id,sf__Created")
    assert salesforce_emulator.counters()["injected_faults"] == {"server_unavailable": 2}


def test_upload_limit(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    assert salesforce_emulator.set_faults()["bulk_max_upload_bytes"] == 100 * 1024 * 1024
    salesforce_emulator.set_faults(bulk_max_upload_bytes=64)
    job_id = bulk.call("POST", "ingest", json={"object": "Lead", "operation": "insert"}).json()["id"]
    body = _leads_csv(3)
    assert len(body.encode()) > 64
    too_big = bulk.call("PUT", f"ingest/{job_id}/batches", data=body.encode(), headers={"Content-Type": "text/csv"})
    assert too_big.status_code == 400 and too_big.json()[0]["errorCode"] == "INVALIDBATCH"
    assert "64" in too_big.json()[0]["message"]
    small = b"LastName,Company\nA,B\n"
    assert bulk.call("PUT", f"ingest/{job_id}/batches", data=small).status_code == 201
    assert bulk.info("ingest", job_id)["state"] == "Open"


def test_every_bulk_request_is_one_api_call(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    job_id = bulk.ingest("Lead", "insert", _leads_csv(2))["id"]
    deadline = time.monotonic() + 30
    while salesforce_emulator.bulk_jobs()[0]["state"] != "JobComplete":  # the admin API costs no API call
        assert time.monotonic() < deadline
        time.sleep(0.01)
    bulk.call("GET", f"ingest/{job_id}/successfulResults/")
    query_id = bulk.call("POST", "query", json={"operation": "query", "query": "SELECT Id FROM Lead"}).json()["id"]
    bulk.call("GET", f"query/{query_id}")
    counters = salesforce_emulator.counters()
    assert counters["by_endpoint"] == {
        "POST jobs/ingest": 1,
        "PUT jobs/ingest": 1,
        "PATCH jobs/ingest": 1,
        "GET jobs/ingest": 1,
        "POST jobs/query": 1,
        "GET jobs/query": 1,
    }
    assert counters["api_calls"] == 6


def test_delete_and_reset_forget_jobs(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    open_id = bulk.ingest("Lead", "insert", _leads_csv(1), close=False)["id"]
    refused = bulk.call("DELETE", f"ingest/{open_id}")
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    done_id = bulk.ingest("Lead", "insert", _leads_csv(1))["id"]
    bulk.poll("ingest", done_id)
    assert bulk.call("DELETE", f"ingest/{done_id}").status_code == 204
    assert bulk.call("GET", f"ingest/{done_id}").status_code == 404
    assert [j["id"] for j in salesforce_emulator.bulk_jobs()] == [open_id]
    salesforce_emulator.reset()
    assert salesforce_emulator.bulk_jobs() == []
    assert bulk.call("GET", f"ingest/{open_id}").status_code == 401  # sessions are gone too


def test_query_job_pages_with_locators(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    salesforce_emulator.seed("Lead", [{"LastName": f"N{i:02d}", "Company": "Acme"} for i in range(25)])
    salesforce_emulator.seed("Lead", [{"LastName": "Gone", "Company": "Acme", "IsDeleted": True}])
    salesforce_emulator.set_faults(bulk_rows_per_second=0)
    soql = "SELECT Id, LastName, IsDeleted FROM Lead WHERE Company = 'Acme' ORDER BY LastName"
    created = bulk.call("POST", "query", json={"operation": "query", "query": soql}).json()
    assert (created["state"], created["jobType"], created["object"]) == ("UploadComplete", "V2Query", "Lead")
    job_id = created["id"]
    assert bulk.poll("query", job_id, lambda i: i["state"] == "InProgress")["numberRecordsProcessed"] == 0
    early = bulk.call("GET", f"query/{job_id}/results")
    assert early.status_code == 409 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    salesforce_emulator.set_faults(bulk_rows_per_second=20_000)
    assert bulk.poll("query", job_id)["numberRecordsProcessed"] == 25

    pages: list[int] = []
    names: list[str] = []
    locators: list[str] = []
    locator = ""
    while True:
        params = {"maxRecords": 10, **({"locator": locator} if locator else {})}
        resp = bulk.call("GET", f"query/{job_id}/results", params=params)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
        rows = _rows(resp.text)
        assert rows[0] == ["Id", "LastName", "IsDeleted"]
        assert resp.text.splitlines()[0] == '"Id","LastName","IsDeleted"'
        assert int(resp.headers["Sforce-NumberOfRecords"]) == len(rows) - 1
        pages.append(len(rows) - 1)
        names += [r[1] for r in rows[1:]]
        assert all(r[2] == "false" for r in rows[1:])
        locator = resp.headers["Sforce-Locator"]
        locators.append(locator)
        if locator == "null":
            break
    assert pages == [10, 10, 5]
    assert names == [f"N{i:02d}" for i in range(25)]
    again = bulk.call("GET", f"query/{job_id}/results", params={"maxRecords": 10, "locator": locators[0]})
    assert _rows(again.text)[1][1] == "N10"  # a locator can be used again
    bad = bulk.call("GET", f"query/{job_id}/results", params={"locator": "bm9wZQ"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDLOCATOR"
    whole = bulk.call("GET", f"query/{job_id}/results")
    assert whole.headers["Sforce-Locator"] == "null" and whole.headers["Sforce-NumberOfRecords"] == "25"


def test_query_all_abort_delete_and_bad_soql(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    salesforce_emulator.seed("Lead", [{"LastName": "Kept", "Company": "A"}, {"LastName": "Gone", "IsDeleted": True}])
    all_id = bulk.call("POST", "query", json={"operation": "queryAll", "query": "SELECT LastName FROM Lead"}).json()
    assert bulk.poll("query", all_id["id"])["numberRecordsProcessed"] == 2
    assert sorted(_rows(bulk.call("GET", f"query/{all_id['id']}/results").text)[1:]) == [["Gone"], ["Kept"]]
    assert bulk.call("DELETE", f"query/{all_id['id']}").status_code == 204
    assert bulk.call("GET", f"query/{all_id['id']}").status_code == 404

    salesforce_emulator.set_faults(bulk_rows_per_second=0)
    job_id = bulk.call("POST", "query", json={"operation": "query", "query": "SELECT Id FROM Lead"}).json()["id"]
    aborted = bulk.call("PATCH", f"query/{job_id}", json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"
    assert bulk.call("GET", f"query/{job_id}/results").status_code == 409
    assert bulk.call("GET", f"ingest/{job_id}").status_code == 404  # a query job is not an ingest job

    bad = bulk.call("POST", "query", json={"operation": "query", "query": "SELECT Nope__c FROM Lead"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    count = bulk.call("POST", "query", json={"operation": "query", "query": "SELECT COUNT() FROM Lead"})
    assert count.status_code == 400


def test_simple_salesforce_bulk_query_pages(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.seed("Lead", [{"LastName": f"Q{i}", "Company": "Acme"} for i in range(7)])
    pages = list(sf.bulk2.Lead.query("SELECT LastName FROM Lead", max_records=3, wait=0.05))
    assert [len(_rows(p)) - 1 for p in pages] == [3, 3, 1]
    assert sorted(r[0] for p in pages for r in _rows(p)[1:]) == [f"Q{i}" for i in range(7)]


def test_query_jobs_can_have_a_pace_of_their_own(salesforce_emulator: EmulatorHandle, bulk: BulkClient) -> None:
    salesforce_emulator.seed("Lead", [{"LastName": f"N{i:02d}", "Company": "Acme"} for i in range(25)])
    salesforce_emulator.set_faults(bulk_rows_per_second=0, bulk_query_rows_per_second=20_000)  # writes stand still
    ingest_id = bulk.ingest("Lead", "insert", _leads_csv(5))["id"]
    soql = "SELECT Id FROM Lead WHERE Company = 'Acme'"
    query_id = bulk.call("POST", "query", json={"operation": "query", "query": soql}).json()["id"]

    assert bulk.poll("query", query_id)["numberRecordsProcessed"] == 25
    ingest = bulk.call("GET", f"ingest/{ingest_id}").json()
    assert (ingest["state"], ingest["numberRecordsProcessed"]) == ("InProgress", 0)

    salesforce_emulator.set_faults(bulk_query_rows_per_second=0)  # 0: queries follow bulk_rows_per_second again
    paused = bulk.call("POST", "query", json={"operation": "query", "query": soql}).json()["id"]
    waiting = bulk.poll("query", paused, lambda i: i["state"] == "InProgress")
    assert waiting["numberRecordsProcessed"] == 0


def test_a_row_with_more_or_fewer_values_than_the_header_is_refused(
    salesforce_emulator: EmulatorHandle, bulk: BulkClient
) -> None:
    text = "LastName,Company,Email\nShort,Acme\nLong,Acme,long@x.io,extra\nGood,Acme,good@x.io\n"
    job_id = bulk.ingest("Lead", "insert", text)["id"]
    done = bulk.poll("ingest", job_id)
    assert (done["state"], done["numberRecordsProcessed"], done["numberRecordsFailed"]) == ("JobComplete", 3, 2)
    failed = _rows(bulk.call("GET", f"ingest/{job_id}/failedResults/").text)
    assert [row[1].split(":")[0] for row in failed[1:]] == ["INVALID_FIELD", "INVALID_FIELD"]
    assert [lead["LastName"] for lead in salesforce_emulator.records("Lead")] == ["Good"]
