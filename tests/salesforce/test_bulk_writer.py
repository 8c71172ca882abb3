"""Bulk API 2.0 writes over HTTPS against the emulator: jobs, CSV fidelity, results equal to REST, call counts."""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from typing import Any

import pytest
import requests
from sf_writes import lead_create, lead_creates

from airflow_provider_rudder_sf.mapping.model import Write
from airflow_provider_rudder_sf.salesforce.bulk import BulkJob, BulkWriter, choose_write_mode
from airflow_provider_rudder_sf.salesforce.csvcodec import encode_fields, encode_value, parse_error
from airflow_provider_rudder_sf.salesforce.results import BatchProgress, WriteReport
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter

JOB_CALLS = ("POST jobs/ingest", "PUT jobs/ingest", "PATCH jobs/ingest", "GET jobs/ingest")


def poll_briefly(delay: float) -> None:
    """The emulator processes a job in a background thread, as Salesforce does: the writer polls its state, and
    the tests poll every 10 ms instead of the production back-off."""
    time.sleep(min(delay, 0.01))


def bulk_writer(client, **kwargs: Any) -> BulkWriter:
    kwargs.setdefault("sleep", poll_briefly)
    return BulkWriter(client, **kwargs)


def bulk_write(writer: BulkWriter, writes: list[Write], **kwargs: Any) -> WriteReport:
    """``writer.write`` with a REST writer on the same client for the records Bulk API 2.0 cannot carry."""
    rest = SalesforceWriter(writer.client)
    return writer.write(writes, rest=lambda subset: rest.write(subset, on_batch=kwargs.get("on_batch")), **kwargs)


def only_jobs(counters: dict[str, Any]) -> dict[str, int]:
    assert set(counters["by_endpoint"]) <= set(JOB_CALLS), counters["by_endpoint"]
    return dict(counters["by_endpoint"])


def leads_by_email(handle) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for lead in handle.records("Lead"):
        assert lead["Email"] not in found, f"two Leads for {lead['Email']}"
        found[lead["Email"]] = lead
    return found


def outcome(report) -> list[tuple[str, str, str | None, str | None]]:
    return [(r.write.key, r.status, r.code, r.message) for r in report.results]


# -- jobs and call counts -------------------------------------------------------------------------------------
def test_one_thousand_creates_are_one_insert_job_of_four_calls_and_its_state_polls(salesforce_emulator, make_client):
    writes = lead_creates(1_000)
    progress: list[BatchProgress] = []
    writer = bulk_writer(make_client(api_reserve=0))
    report = bulk_write(writer, writes, on_batch=progress.append)

    assert writer.polls >= 1  # the emulator processes the job in the background, as Salesforce does
    assert only_jobs(salesforce_emulator.counters()) == {
        "POST jobs/ingest": 1,  # create the job
        "PUT jobs/ingest": 1,  # upload the CSV
        "PATCH jobs/ingest": 1,  # close it (UploadComplete)
        "GET jobs/ingest": 1 + writer.polls,  # successfulResults (no failures: failedResults is never read)
    }
    assert (report.api_calls, report.created, report.failed, report.unsent, report.stop_reason) == (
        4 + writer.polls,
        1_000,
        0,
        (),
        None,
    )
    assert [r.write for r in report.results] == writes
    assert [(p.index, p.total, p.records, p.ok, p.failed) for p in progress] == [(1, 1, 1_000, 1_000, 0)]
    leads = leads_by_email(salesforce_emulator)
    assert {r.record_id: str(r.write.fields["Email"]) for r in report.results} == {
        lead["Id"]: email for email, lead in leads.items()
    }


def test_five_thousand_creates_cost_four_calls_and_the_polls_in_bulk_and_twenty_five_over_rest(
    salesforce_emulator, make_client
):
    writes = lead_creates(5_000)
    writer = bulk_writer(make_client(api_reserve=0))
    bulk = bulk_write(writer, writes)
    bulk_calls = salesforce_emulator.counters()["api_calls"]
    assert len(leads_by_email(salesforce_emulator)) == 5_000

    salesforce_emulator.reset()
    rest = SalesforceWriter(make_client(api_reserve=0)).write(writes)
    rest_calls = salesforce_emulator.counters()["api_calls"]

    print(f"\n5,000 creates: Bulk API 2.0 {bulk_calls} API calls, sObject Collections {rest_calls} API calls")
    assert (bulk.api_calls, bulk_calls) == (4 + writer.polls, 4 + writer.polls)
    assert (rest.api_calls, rest_calls) == (25, 25)
    assert [(r.write, r.status) for r in bulk.results] == [(r.write, r.status) for r in rest.results]
    assert len(leads_by_email(salesforce_emulator)) == 5_000


def test_a_tiny_upload_limit_splits_the_records_into_several_jobs_each_written_once(salesforce_emulator, make_client):
    writes = lead_creates(120)
    progress: list[BatchProgress] = []
    writer = bulk_writer(make_client(api_reserve=0), max_upload_bytes=2_000)
    report = bulk_write(writer, writes, on_batch=progress.append)

    jobs = salesforce_emulator.counters()["by_endpoint"]["POST jobs/ingest"]
    assert jobs == len(progress) >= 3
    assert sum(p.records for p in progress) == 120 and {p.total for p in progress} == {jobs}
    assert only_jobs(salesforce_emulator.counters()) == {
        **{f"{verb} jobs/ingest": jobs for verb in ("POST", "PUT", "PATCH")},
        "GET jobs/ingest": jobs + writer.polls,
    }
    assert report.created == 120 and [r.write for r in report.results] == writes
    assert set(leads_by_email(salesforce_emulator)) == {str(w.fields["Email"]) for w in writes}


def test_submit_returns_plain_jobs_that_collect_reads_back_after_a_round_trip(salesforce_emulator, make_client):
    writes = lead_creates(30)
    writer = bulk_writer(make_client(api_reserve=0), max_upload_bytes=1_000)
    submission = writer.submit(writes)
    stored = json.dumps([job.as_dict() for job in submission.jobs])  # what a deferred task would persist

    jobs = [BulkJob.from_dict(data) for data in json.loads(stored)]
    outcome = writer.collect(jobs, writes)

    assert len(jobs) >= 2 and submission.rest == submission.unsent == () and submission.stop_reason is None
    assert sorted(i for job in jobs for i in job.indices) == list(range(30))
    assert sorted(i for i, _ in outcome.results) == list(range(30))
    assert {r.status for _, r in outcome.results} == {"created"}


# -- CSV fidelity ---------------------------------------------------------------------------------------------
HOSTILE = {
    "quotes": 'She said "hi", then "bye"',
    "comma": "Acme, Inc.",
    "newlines": "line one\nline two\r\nline three\n",
    "unicode": "Zoë Ångström \u2013 東京 \u2013 Ελλάδα",
    "emoji": "🚀 launch 👩‍💻",
    "formula": '=HYPERLINK("http://evil.example","click")',
    "plus": "+1 (555) 0100",
    "looks_null": "#N/A (unknown)",
    "na_word": "N/A",
    "padded": "  spaces around  ",
    "only_quote": '"',
    "backslash": "C:\\path\\to\\",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_text_value_is_stored_exactly(salesforce_emulator, make_client, name):
    value = HOSTILE[name]
    writes = [lead_create(0, Description=value, Title=value[:128]), lead_create(1, Description="plain")]
    report = bulk_write(bulk_writer(make_client(api_reserve=0)), writes)

    assert only_jobs(salesforce_emulator.counters())["POST jobs/ingest"] == 1
    assert report.created == 2
    lead = leads_by_email(salesforce_emulator)["lead0@example.com"]
    assert (lead["Description"], lead["Title"]) == (value, value[:128])


def test_numbers_and_booleans_are_stored_as_their_values(salesforce_emulator, make_client):
    writes = [lead_create(0, NumberOfEmployees=250, AnnualRevenue=1.5e6, HasOptedOutOfEmail=True)]
    writes.append(lead_create(1, NumberOfEmployees=0, AnnualRevenue=0.25, HasOptedOutOfEmail=False))
    report = bulk_write(bulk_writer(make_client(api_reserve=0)), writes)

    assert report.created == 2
    leads = leads_by_email(salesforce_emulator)
    fields = ("NumberOfEmployees", "AnnualRevenue", "HasOptedOutOfEmail")
    got = [tuple(leads[f"lead{n}@example.com"][f] for f in fields) for n in (0, 1)]
    assert got == [(250, 1.5e6, True), (0, 0.25, False)]


def test_an_update_job_clears_only_explicit_nulls_and_leaves_unset_fields_alone(salesforce_emulator, make_client):
    ids = salesforce_emulator.seed(
        "Lead",
        [
            {"LastName": "A", "Company": "Acme", "Email": "a@example.com", "Title": "Keep", "Phone": "111"},
            {"LastName": "B", "Company": "Acme", "Email": "b@example.com", "Title": "Keep", "Phone": "222"},
        ],
    )
    writes = [
        Write("a", "Lead", "update", ids[0], {"Phone": None, "Description": "x"}, (0,)),  # Title: empty cell
        Write("b", "Lead", "update", ids[1], {"Title": "", "Description": "y"}, (1,)),  # "" clears, as over REST
    ]
    report = bulk_write(bulk_writer(make_client(api_reserve=0)), writes)

    assert [(r.status, r.record_id) for r in report.results] == [("updated", ids[0]), ("updated", ids[1])]
    leads = leads_by_email(salesforce_emulator)
    assert [leads["a@example.com"].get(f) for f in ("Title", "Phone", "Description")] == ["Keep", None, "x"]
    assert [leads["b@example.com"].get(f) for f in ("Title", "Phone", "Description")] == [None, "222", "y"]
    assert only_jobs(salesforce_emulator.counters())["POST jobs/ingest"] == 1
    assert salesforce_emulator.requests()["writes"]["Lead"]["update"]["records"] == 2


def test_the_text_hash_n_a_cannot_be_said_in_csv_and_goes_over_rest_stored_exactly(salesforce_emulator, make_client):
    writes = [lead_create(0, Title="#N/A"), lead_create(1, Title="#N/A!"), lead_create(2, Title=None)]
    report = bulk_write(bulk_writer(make_client(api_reserve=0)), writes)

    by_endpoint = salesforce_emulator.counters()["by_endpoint"]
    assert by_endpoint["POST composite/sobjects"] == 1 and by_endpoint["POST jobs/ingest"] == 1
    assert [r.status for r in report.results] == ["created"] * 3
    leads = leads_by_email(salesforce_emulator)
    assert [leads[f"lead{n}@example.com"].get("Title") for n in range(3)] == ["#N/A", "#N/A!", None]


# -- updates and upserts --------------------------------------------------------------------------------------
def test_an_update_job_by_id_updates_each_record_and_reports_it(salesforce_emulator, make_client):
    ids = salesforce_emulator.seed(
        "Lead", [{"LastName": f"L{n}", "Company": "Acme", "Email": f"u{n}@example.com"} for n in range(5)]
    )
    writes = [Write(f"k{n}", "Lead", "update", ids[n], {"Title": f"T{n}", "id": "ignored"}, (n,)) for n in range(5)]
    writer = bulk_writer(make_client(api_reserve=0))
    report = bulk_write(writer, list(reversed(writes)))

    assert [(r.write.key, r.status, r.record_id) for r in report.results] == [
        (f"k{n}", "updated", ids[n]) for n in reversed(range(5))
    ]
    titles = {lead["Id"]: lead["Title"] for lead in salesforce_emulator.records("Lead")}
    assert titles == {ids[n]: f"T{n}" for n in range(5)}
    assert only_jobs(salesforce_emulator.counters()) == {
        **{f"{v} jobs/ingest": 1 for v in ("POST", "PUT", "PATCH")},
        "GET jobs/ingest": 1 + writer.polls,
    }


def test_an_upsert_job_creates_and_updates_by_external_id(salesforce_emulator, make_client):
    salesforce_emulator.declare_fields("Lead", {"Ext_Id__c": {"type": "string", "length": 40, "externalId": True}})
    (old,) = salesforce_emulator.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Ext_Id__c": "E-1"}])

    def upsert(key: str, **fields: Any) -> Write:
        return Write(key, "Lead", "upsert", None, {"Ext_Id__c": key, **fields}, (0,), None, "Ext_Id__c")

    writes = [upsert("E-2", LastName="New", Company="Beta"), upsert("E-1", Title="Boss"), upsert("E-3", LastName="N")]
    report = bulk_write(bulk_writer(make_client(api_reserve=0)), writes)

    assert [(r.write.key, r.status, r.code) for r in report.results] == [
        ("E-2", "created", None),
        ("E-1", "updated", None),
        ("E-3", "failed", "REQUIRED_FIELD_MISSING"),  # no Company
    ]
    by_ext = {lead["Ext_Id__c"]: lead for lead in salesforce_emulator.records("Lead")}
    assert set(by_ext) == {"E-1", "E-2"}
    assert (by_ext["E-1"]["Id"], by_ext["E-1"]["Title"], by_ext["E-1"]["LastName"]) == (old, "Boss", "Old")
    assert report.results[0].record_id == by_ext["E-2"]["Id"]
    assert salesforce_emulator.requests()["writes"]["Lead"]["upsert"]["records"] == 3


# -- failures are the same as over REST -----------------------------------------------------------------------
def _refusal_writes(org) -> list[Write]:
    return [
        lead_create(0),
        lead_create(1, Industry="Manufacturing"),  # outside the minimal org's restricted picklist
        lead_create(2, email="grace@example.com"),  # Alert rule: a Contact has this e-mail
        lead_create(3, Phone="+1-555-0100"),  # Block rule: a Lead with this phone and company exists
        Write("nolast", "Lead", "create", None, {"Company": "Acme", "Email": "nolast@example.com"}, (4,)),
        lead_create(5, email="not-an-email"),
        lead_create(6, AnnualRevenue=10),  # hidden by field-level security in the minimal org
        Write("badname", "Lead", "create", None, {"Bad Field": 1}, (7,)),  # refused before any request
        lead_create(8, Industry="Technology"),
    ]


def _minimal_org(org) -> None:
    org.reset(schema=True, profile="minimal")
    org.seed("Contact", [{"LastName": "Hopper", "Email": "grace@example.com"}])
    org.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Phone": "+1-555-0100", "Email": "old@example.com"}])


def _state(org) -> dict[str, tuple[Any, ...]]:
    return {lead["Email"]: (lead["LastName"], lead.get("Industry"), lead.get("Phone")) for lead in org.records("Lead")}


def test_per_record_refusals_are_the_results_rest_gives(salesforce_emulator, make_client):
    _minimal_org(salesforce_emulator)
    rest = SalesforceWriter(make_client(api_reserve=0)).write(_refusal_writes(salesforce_emulator))
    rest_state = _state(salesforce_emulator)

    _minimal_org(salesforce_emulator)
    writer = bulk_writer(make_client(api_reserve=0))
    bulk = bulk_write(writer, _refusal_writes(salesforce_emulator))

    def same(report) -> list[tuple[Any, ...]]:  # duplicate_rule texts differ: Bulk results do not name the match
        return [(k, s, c, None if c == "duplicate_rule" else m) for k, s, c, m in outcome(report)]

    assert same(bulk) == same(rest)
    assert [r.code for r in bulk.results if not r.ok] == [
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "duplicate_rule",
        "duplicate_rule",
        "REQUIRED_FIELD_MISSING",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_FIELD",
        "INVALID_WRITE",
    ]
    assert "restricted picklist" in str(bulk.results[1].message)
    assert _state(salesforce_emulator) == rest_state
    assert (bulk.unsent, bulk.stop_reason) == ((), None)
    by_endpoint = salesforce_emulator.counters()["by_endpoint"]
    assert "POST composite/sobjects" not in by_endpoint  # the invalid write is refused without a request
    assert by_endpoint["GET jobs/ingest"] == 2 + writer.polls  # successfulResults and failedResults


def test_result_rows_in_any_order_find_their_records(salesforce_emulator, make_client):
    """Salesforce does not keep the upload order in result files: reverse every result file on the way in."""
    ids = salesforce_emulator.seed("Lead", [{"LastName": "U", "Company": "Acme", "Email": "u@example.com"}])
    same = {"LastName": "Twin", "Company": "Acme"}
    writes = [
        *lead_creates(20),
        Write("twin1", "Lead", "create", None, dict(same), (20,)),  # no natural key, identical rows
        Write("twin2", "Lead", "create", None, dict(same), (21,)),
        lead_create(22, email="LEAD3@example.com"),  # natural key differing only by case from lead3
        lead_create(23, email="bad-email"),
        Write("u", "Lead", "update", ids[0], {"Title": "T"}, (24,)),
    ]
    writes[3] = lead_create(3, Title="first")
    client = make_client(api_reserve=0)
    client.session.hooks["response"].append(_reverse_result_rows)
    report = bulk_write(bulk_writer(client), writes)

    assert [r.write for r in report.results] == writes
    statuses = Counter(r.status for r in report.results)
    assert statuses == {"created": 23, "updated": 1, "failed": 1}
    records = {lead["Id"]: lead for lead in salesforce_emulator.records("Lead")}
    for result in report.results:
        if result.status == "created":
            assert records[result.record_id].get("Email") == (str(result.write.fields.get("Email", "")).lower() or None)
    assert report.results[23].code == "INVALID_EMAIL_ADDRESS" and report.results[24].record_id == ids[0]


def _reverse_result_rows(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    if response.request.method == "GET" and response.url.rstrip("/").endswith(("Results", "records")):
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([rows[0], *reversed(rows[1:])] if rows else [])
        response._content = out.getvalue().encode("utf-8")
    return response


# -- polling --------------------------------------------------------------------------------------------------
def test_a_job_still_in_progress_is_polled_with_growing_waits_until_it_completes(salesforce_emulator, make_client):
    """The emulator processes the job in the background at 200 rows a second: the writer polls with growing waits."""
    salesforce_emulator.set_faults(bulk_rows_per_second=200)
    waits: list[float] = []

    def record_and_poll(delay: float) -> None:
        waits.append(delay)
        poll_briefly(delay)

    writer = BulkWriter(make_client(api_reserve=0), poll_first=0.5, poll_interval=1.5, sleep=record_and_poll)
    report = bulk_write(writer, lead_creates(100))

    assert len(waits) == writer.polls >= 3
    assert waits[:3] == [0.5, 1.0, 1.5] and set(waits[3:]) <= {1.5}
    assert report.created == 100 and len(leads_by_email(salesforce_emulator)) == 100
    assert salesforce_emulator.counters()["by_endpoint"]["GET jobs/ingest"] == writer.polls + 1  # + one result


def test_a_job_that_outlives_the_poll_timeout_is_aborted_and_its_rows_left_unsent(salesforce_emulator, make_client):
    salesforce_emulator.set_faults(bulk_rows_per_second=0)  # the job stands still
    now = [0.0]

    def sleep(delay: float) -> None:
        now[0] += delay  # time passes only while the writer waits

    writer = BulkWriter(
        make_client(api_reserve=0), poll_first=1, poll_interval=4, poll_timeout=10, sleep=sleep, clock=lambda: now[0]
    )
    writes = lead_creates(20)
    report = bulk_write(writer, writes)

    # Waits of 1, 2, 4, 4 s (11 s): overdue, so the job is aborted and read once more, without another wait.
    assert (now[0], writer.polls) == (11.0, 5)
    assert [job["state"] for job in salesforce_emulator.bulk_jobs()] == ["Aborted"]
    assert (report.created, report.stop_reason, list(report.unsent)) == (0, "transient", writes)
    assert leads_by_email(salesforce_emulator) == {}


# -- pure helpers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, "#N/A"),
        ("", "#N/A"),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (2.5, "2.5"),
        (1e20, "1e+20"),
        ("=1+1", '"=1+1"'),
        ('a "b"', '"a ""b"""'),
        ("#N/A", None),
        (float("nan"), None),
        ({"a": 1}, None),
        ([1], None),
    ],
)
def test_encode_value(value, cell):
    assert encode_value(value) == cell
    # A record's fields are encoded the same way, and one value CSV cannot carry sends the record elsewhere.
    encoded = encode_fields({"Title": "plain", "Field__c": value})
    assert encoded == (None if cell is None else {"Title": '"plain"', "Field__c": cell})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName",
            ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]"),
        ),
        ("DUPLICATES_DETECTED:Use one of these records?:", ("DUPLICATES_DETECTED", "Use one of these records?")),
        (
            "INVALID_EMAIL_ADDRESS:Email: invalid email address: x:Email --",
            ("INVALID_EMAIL_ADDRESS", "Email: invalid email address: x"),
        ),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION:Say why", ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Say why")),
        ("something odd", ("UNKNOWN_ERROR", "something odd")),
    ],
)
def test_parse_error(text, expected):
    assert parse_error(text) == expected


@pytest.mark.parametrize(
    ("mode", "writes", "expected"),
    [("auto", 9, "rest"), ("auto", 10, "bulk"), ("auto", 11, "bulk"), ("rest", 10**6, "rest"), ("bulk", 1, "bulk")],
)
def test_choose_write_mode(mode, writes, expected):
    assert choose_write_mode(mode, writes, 10) == expected


def test_rows_a_failed_job_never_processed_are_written_once_in_the_end(salesforce_emulator, make_client):
    """A job that fails mid-way (the emulator's bulk_fail_after_rows) reports its last rows in unprocessedrecords:
    none is lost and none is written twice."""
    salesforce_emulator.set_faults(bulk_fail_after_rows=14)
    writes = lead_creates(20)
    report = bulk_write(bulk_writer(make_client(api_reserve=0)), writes)

    written = {r.write.key for r in report.results if r.ok}
    unsent = {w.key for w in report.unsent}
    assert len(written) >= 14 and written.isdisjoint(unsent)
    assert written | unsent == {w.key for w in writes}
    leads = leads_by_email(salesforce_emulator)
    assert len(leads) == len(written)  # each written record exactly once, the rest left for the retry
