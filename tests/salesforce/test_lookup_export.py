"""Look-ups that scale: the Bulk API 2.0 export strategy against SOQL ``IN`` chunks, over HTTPS to the emulator.

The emulator runs each query job in a background thread, as Salesforce does: the look-up polls the job's state,
and these tests poll every 10 ms instead of the production back-off (the number of polls is read back from the
writer, so call counts stay exact).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_rudder_sf.mapping import MappingOptions
from airflow_provider_rudder_sf.salesforce.errors import SalesforceLoginError
from airflow_provider_rudder_sf.salesforce.export import (
    BulkQuery,
    QueryJobFailed,
    choose_strategy,
    estimate_export_calls,
)
from airflow_provider_rudder_sf.salesforce.jobs import Polling
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter
from airflow_provider_rudder_sf.sources import open_source
from airflow_provider_rudder_sf.sync import LogOnlyDeadLetters, run_sync


def poll_briefly(delay: float) -> None:
    time.sleep(min(delay, 0.01))


def _lead(email: str | None, **extra: Any) -> dict[str, Any]:
    return {"LastName": "Doe", "Company": "Acme", "Email": email, **extra}


def make_writer(client, **kwargs: Any) -> SalesforceWriter:
    kwargs.setdefault("export_sleep", poll_briefly)
    return SalesforceWriter(client, **kwargs)


def endpoints(handle) -> dict[str, int]:
    return dict(handle.counters()["by_endpoint"])


def results_requests(client) -> list[dict[str, list[str]]]:
    """The query strings of every ``jobs/query/<id>/results`` request the client sends from now on."""
    seen: list[dict[str, list[str]]] = []

    def hook(response, *args: Any, **kwargs: Any):
        url = urlsplit(response.request.url)
        if url.path.endswith("/results"):
            seen.append({**parse_qs(url.query), "rows": [response.headers.get("Sforce-NumberOfRecords", "")]})
        return response

    client.session.hooks["response"].append(hook)
    return seen


# -- the cost rule (pure) -------------------------------------------------------------------------------------
def test_export_estimate_is_create_polls_and_one_call_per_page():
    assert estimate_export_calls(0, 50_000) == 1 + 4 + 1
    assert estimate_export_calls(100_000, 50_000) == 1 + 4 + 2
    assert estimate_export_calls(100_001, 50_000) == 1 + 4 + 3
    assert estimate_export_calls(1_000_000, 50_000, polls=2) == 1 + 2 + 20


def test_choice_takes_the_cheaper_and_a_tie_stays_on_in():
    assert choose_strategy(in_calls=2_400, rows=1_000_000, page_size=50_000) == "export"  # 25 calls against 2,400
    assert choose_strategy(in_calls=100, rows=10_000_000, page_size=50_000) == "in"  # 205 calls against 100
    assert choose_strategy(in_calls=7, rows=100_000, page_size=50_000) == "in"  # 7 = 7
    assert choose_strategy(in_calls=8, rows=100_000, page_size=50_000) == "export"


# -- the choice against the emulator ---------------------------------------------------------------------------
# lookup_chunk_bytes=1000 (the smallest allowed) makes a few hundred e-mails cost dozens of IN requests.
def test_auto_exports_when_the_values_are_most_of_the_rows(salesforce_emulator, make_client, caplog):
    emails = [f"lead{n:04d}@example.com" for n in range(600)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in emails])
    client = make_client(api_reserve=0)
    writer = make_writer(client, lookup_chunk_bytes=1_000, export_page_size=250)
    with caplog.at_level(logging.INFO, logger="airflow_provider_rudder_sf"):
        found = writer.lookup_leads(emails)

    assert set(found) == set(emails)
    (plan,) = writer.lookups
    assert (plan.strategy, plan.values, plan.rows, plan.export_calls) == ("export", 600, 600, 1 + 4 + 3)
    assert plan.in_calls > plan.export_calls
    assert writer.export_polls >= 1
    assert endpoints(salesforce_emulator) == {
        "GET query": 1,  # SELECT COUNT()
        "POST jobs/query": 1,  # create the job
        "GET jobs/query": writer.export_polls + 3,  # state polls, then 600 rows in pages of 250
    }
    assert client.api_calls == 1 + 1 + writer.export_polls + 3
    text = caplog.text
    assert f"IN: {plan.in_calls} request(s); export: 600 row(s), about 8 request(s); using export" in text
    assert "@example.com" not in text  # counts only: no e-mail reaches the log


def test_auto_stays_on_in_when_the_object_is_much_larger(salesforce_emulator, make_client):
    emails = [f"lead{n:04d}@example.com" for n in range(2_000)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in emails])
    client = make_client(api_reserve=0)
    writer = make_writer(client, lookup_chunk_bytes=1_000, export_page_size=50)
    asked = emails[:600]
    found = writer.lookup_leads(asked)

    assert set(found) == set(asked)
    (plan,) = writer.lookups
    assert (plan.strategy, plan.rows, plan.export_calls) == ("in", 2_000, 1 + 4 + 40)
    assert 20 < plan.in_calls < 45
    assert endpoints(salesforce_emulator) == {"GET query": 1 + plan.in_calls}  # COUNT(), then the IN requests
    assert client.api_calls == 1 + plan.in_calls


def test_a_few_values_are_looked_up_with_in_without_counting(salesforce_emulator, make_client):
    salesforce_emulator.seed("Lead", [_lead(f"lead{n}@example.com") for n in range(50)])
    client = make_client(api_reserve=0)
    writer = make_writer(client)
    found = writer.lookup_leads([f"LEAD{n}@example.com" for n in range(30)])
    assert len(found) == 30
    (plan,) = writer.lookups
    assert (plan.strategy, plan.in_calls, plan.rows) == ("in", 1, None)
    assert endpoints(salesforce_emulator) == {"GET query": 1}


def test_forced_in_never_counts_even_for_many_values(salesforce_emulator, make_client):
    emails = [f"lead{n:04d}@example.com" for n in range(600)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in emails])
    writer = make_writer(make_client(api_reserve=0), lookup_chunk_bytes=1_000, lookup_strategy="in")
    assert len(writer.lookup_leads(emails)) == 600
    (plan,) = writer.lookups
    assert plan.strategy == "in" and plan.rows is None
    assert endpoints(salesforce_emulator) == {"GET query": plan.in_calls}


def test_an_unknown_strategy_is_refused(make_client):
    with pytest.raises(ValueError, match="lookup_strategy"):
        SalesforceWriter(make_client(api_reserve=0), lookup_strategy="bulk")  # type: ignore[arg-type]


# -- same answers both ways ------------------------------------------------------------------------------------
ODD_EMAILS = [
    "o'brien@example.com",
    "back\\slash@example.com",
    '"comma,inside"@example.com',
    'quote"d@example.com',
    "zoë.ünïcode@exämple.com",
    "first+tag@example.com",
]


def _seed_mixed_org(handle) -> dict[str, Any]:
    (contact,) = handle.seed("Contact", [{"LastName": "Doe", "Email": "conv@example.com"}])
    plain = [f"person{n:03d}@example.com" for n in range(40)]
    handle.seed(
        "Lead",
        [
            *[_lead(e.upper() if n % 3 == 0 else e) for n, e in enumerate(plain)],  # stored in mixed case
            _lead("conv@example.com", IsConverted=True, ConvertedContactId=contact),
            _lead("twice@example.com"),
            _lead("TWICE@Example.com"),  # a duplicate Lead, in another case
            _lead("gone@example.com", IsDeleted=True),  # deleted: neither strategy sees it
            _lead(None),  # no e-mail at all
            *[_lead(e) for e in ODD_EMAILS],
            _lead("not-asked@example.com"),
        ],
    )
    asked = [e.upper() if n % 2 else e for n, e in enumerate(plain)]  # asked in mixed case too
    asked += ["Conv@Example.com", "twice@example.com", "gone@example.com", "missing@example.com", *ODD_EMAILS]
    return {"asked": asked, "contact": contact}


def test_both_strategies_find_the_same_leads(salesforce_emulator, make_client):
    org = _seed_mixed_org(salesforce_emulator)
    by_in = make_writer(make_client(api_reserve=0), lookup_strategy="in").lookup_leads(org["asked"])
    export_writer = make_writer(make_client(api_reserve=0), lookup_strategy="export", export_page_size=10)
    by_export = export_writer.lookup_leads(org["asked"])

    assert export_writer.lookups[0].strategy == "export"
    assert by_export == by_in
    assert len(by_in) == 40 + 2 + len(ODD_EMAILS)
    assert "gone@example.com" not in by_in and "missing@example.com" not in by_in
    assert "not-asked@example.com" not in by_export  # read by the export, not asked for: dropped
    (conv,) = by_export["conv@example.com"]
    assert conv.is_converted and conv.converted_contact_id == org["contact"]
    assert len(by_export["twice@example.com"]) == 2
    assert not any(m.is_converted for e, ms in by_export.items() if e != "conv@example.com" for m in ms)
    assert all(m.converted_contact_id is None for e, ms in by_export.items() if e != "conv@example.com" for m in ms)
    counters = endpoints(salesforce_emulator)
    assert counters["POST jobs/query"] == 1 and "GET query" in counters


def test_export_pages_follow_the_locator_with_small_pages(salesforce_emulator, make_client):
    emails = [f"p{n:02d}@example.com" for n in range(30)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in emails])
    client = make_client(api_reserve=0)
    pages = results_requests(client)
    writer = make_writer(client, lookup_strategy="export", export_page_size=7)
    found = writer.lookup_leads(emails)

    assert set(found) == set(emails)
    assert [p["rows"] for p in pages] == [["7"], ["7"], ["7"], ["7"], ["2"]]  # never more than a page at once
    assert all(p["maxRecords"] == ["7"] for p in pages)
    assert "locator" not in pages[0]
    locators = [p["locator"][0] for p in pages[1:]]
    assert len(set(locators)) == 4 and "null" not in locators
    assert endpoints(salesforce_emulator) == {"POST jobs/query": 1, "GET jobs/query": writer.export_polls + 5}


def test_an_export_of_an_object_with_no_matching_rows_reads_one_empty_page(salesforce_emulator, make_client):
    salesforce_emulator.seed("Lead", [_lead(None)])
    client = make_client(api_reserve=0)
    writer = make_writer(client, lookup_strategy="export")
    assert writer.lookup_leads(["a@example.com"]) == {}
    assert endpoints(salesforce_emulator) == {"POST jobs/query": 1, "GET jobs/query": writer.export_polls + 1}


# -- failures ---------------------------------------------------------------------------------------------------
def test_a_failed_query_job_raises_before_any_row(salesforce_emulator, make_client):
    salesforce_emulator.seed("Lead", [_lead(f"f{n}@example.com") for n in range(30)])
    salesforce_emulator.set_faults(bulk_fail_after_rows=10)
    query = BulkQuery(make_client(api_reserve=0), sleep=poll_briefly, page_size=5)
    with pytest.raises(QueryJobFailed, match=r"ended Failed: .*20 rows were not processed") as raised:
        query.run("SELECT Id, Email FROM Lead WHERE Email != null")
    assert raised.value.code == "BULK_QUERY_FAILED"
    assert (query.pages, query.rows_read) == (0, 0)
    assert [job["state"] for job in salesforce_emulator.bulk_jobs()] == ["Failed"]


def test_a_failed_export_falls_back_to_in_with_the_same_answer(salesforce_emulator, make_client, caplog):
    org = _seed_mixed_org(salesforce_emulator)
    expected = make_writer(make_client(api_reserve=0), lookup_strategy="in").lookup_leads(org["asked"])
    before = Counter(endpoints(salesforce_emulator))
    salesforce_emulator.set_faults(bulk_fail_after_rows=3)
    writer = make_writer(make_client(api_reserve=0), lookup_strategy="export")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_rudder_sf"):
        found = writer.lookup_leads(org["asked"])

    assert found == expected and len(found) == 48
    assert Counter(endpoints(salesforce_emulator)) - before == Counter(
        {
            "POST jobs/query": 1,
            "GET jobs/query": writer.export_polls,  # the polls that saw it fail; no result page
            "GET query": writer.lookups[0].in_calls,
        }
    )
    assert "export failed (BULK_QUERY_FAILED); looking the values up with IN instead" in caplog.text
    assert "@example.com" not in caplog.text


def test_a_query_job_that_runs_too_long_is_aborted(salesforce_emulator, make_client):
    salesforce_emulator.seed("Lead", [_lead("slow@example.com")])
    salesforce_emulator.set_faults(bulk_rows_per_second=0)  # the job never progresses
    now = [0.0]

    def fake_sleep(delay: float) -> None:
        now[0] += delay

    query = BulkQuery(make_client(api_reserve=0), sleep=fake_sleep, clock=lambda: now[0], poll_timeout=60)
    with pytest.raises(QueryJobFailed, match="did not complete within 60 s") as raised:
        query.run("SELECT Id FROM Lead")
    assert raised.value.code == "BULK_QUERY_TIMEOUT"
    assert query.polls == 7  # at 1, 3, 7, 15, 30, 45 and 60 s; then the time-out
    assert [job["state"] for job in salesforce_emulator.bulk_jobs()] == ["Aborted"]


# -- rETL identifiers -------------------------------------------------------------------------------------------
def test_match_records_by_export_compares_numbers_as_numbers_and_text_case_insensitively(
    salesforce_emulator, make_client
):
    salesforce_emulator.declare_fields(
        "Account",
        {
            "Erp_Id__c": {"type": "double", "precision": 18, "scale": 2},
            "Ext_Key__c": {"type": "string", "length": 40},
        },
    )
    accounts = [
        {"Name": f"A{n}", "Erp_Id__c": n + 0.5 if n % 5 == 0 else n, "Ext_Key__c": f"Key-{n}"} for n in range(40)
    ]
    accounts += [{"Name": "Twin", "Erp_Id__c": 7, "Ext_Key__c": "KEY-7"}, {"Name": "Blank"}]
    salesforce_emulator.seed("Account", accounts)
    numbers: list[Any] = [7, "7.0", 10.5, "10.50", "1e1", 3, 999, "abc", True]
    keys: list[Any] = ["key-7", "KEY-3", "key-999", "", 12]

    answers = {}
    for strategy in ("in", "export"):
        writer = make_writer(make_client(api_reserve=0), lookup_strategy=strategy, export_page_size=9)
        writer.describe("Account")
        answers[strategy] = (
            writer.match_records("Account", "Erp_Id__c", numbers),
            writer.match_records("Account", "ext_key__c", keys),
        )
        assert [p.strategy for p in writer.lookups] == [strategy, strategy]
    assert answers["export"] == answers["in"]
    by_number, by_key = answers["export"]
    assert set(by_number) == {"n:7", "n:10.5", "n:3"}  # "1e1" is 10, stored as 10.5: no match; 999 absent
    assert len(by_number["n:7"]) == 2
    assert set(by_key) == {"s:key-7", "s:key-3"}  # "" is no identifier; 12 is the text "12": absent
    assert len(by_key["s:key-7"]) == 2
    assert endpoints(salesforce_emulator)["POST jobs/query"] == 2


def test_match_records_on_a_field_of_unknown_type_stays_on_in(salesforce_emulator, make_client):
    (account,) = salesforce_emulator.seed("Account", [{"Name": "Acme", "AccountNumber": "A-1"}])
    writer = make_writer(make_client(api_reserve=0), lookup_strategy="export")  # no describe: the type is unknown
    assert writer.match_records("Account", "AccountNumber", ["a-1"]) == {"s:a-1": (account,)}
    assert [(p.strategy, p.reason) for p in writer.lookups] == [("in", "field type not exportable")]
    assert endpoints(salesforce_emulator) == {"GET query": 1}


def test_an_export_rides_out_transient_failures_while_polling_and_paging(salesforce_emulator, make_client, sleeps):
    emails = [f"t{n:02d}@example.com" for n in range(30)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in emails])
    salesforce_emulator.set_faults(fail_every_nth=2)  # every other request answers 503 SERVER_UNAVAILABLE
    client = make_client(api_reserve=0)
    writer = make_writer(client, lookup_strategy="export", export_page_size=4)
    found = writer.lookup_leads(emails)

    assert set(found) == set(emails) and all(len(m) == 1 for m in found.values())
    counters = salesforce_emulator.counters()
    refused = counters["injected_faults"]["server_unavailable"]
    assert refused >= 8  # 8 pages: every one of them was refused once first
    assert len(sleeps) == refused  # the client's back-off (not the poll schedule) waited before each resend
    assert client.api_calls == counters["api_calls"] + refused  # every try is counted


# -- the export started while the run still reads ------------------------------------------------------------
@pytest.mark.parametrize(("waited", "waits"), [(0.0, [1.0, 2.0, 4.0]), (0.25, [0.75, 2.0, 4.0]), (5.0, [2.0, 4.0])])
def test_the_time_a_job_has_run_is_taken_off_its_first_wait(waited, waits):
    slept: list[float] = []
    rounds = Polling(first=1.0, interval=4.0, sleep=slept.append, clock=lambda: 0.0).rounds(waited=waited)
    assert [next(rounds) for _ in range(3)] == [False] * 3
    assert slept == waits  # a job started long ago is read at once; the back-off goes on from there


def test_few_emails_start_nothing_and_spend_no_call(salesforce_emulator, make_client):
    client = make_client(api_reserve=0)
    writer = make_writer(client)  # 10,000-byte IN requests: 1,100 e-mails fit in 4 of them
    assert writer.start_lead_export({f"few{n:05d}@example.com" for n in range(1_100)}) is False
    assert client.api_calls == 0 and salesforce_emulator.bulk_jobs() == []


def test_the_in_estimate_while_reading_stays_close_to_the_real_split(salesforce_emulator, make_client):
    emails = [f"person.{n:06d}+{'x' * (n % 17)}@example.com" for n in range(12_000)]
    writer = make_writer(make_client(api_reserve=0), lookup_chunk_bytes=4_000)
    select = "Id, Email, IsConverted, ConvertedContactId"
    for size in (3_000, 6_000, 12_000):  # as a run grows: the values per request are measured on the first ask
        exact = len(writer._in_chunks(select, "Lead", "Email", emails[:size]))
        estimate = writer._estimated_in_calls(select, "Lead", "Email", emails[:size])
        assert abs(estimate - exact) <= max(1, exact // 50), (size, estimate, exact)
    short = [f"{n:03x}" for n in range(4_000)]  # a thousand of them fit one request of 16,000 bytes
    roomy = make_writer(make_client(api_reserve=0), lookup_chunk_bytes=16_000)
    exact = len(roomy._in_chunks(select, "Lead", "Email", short))
    assert exact >= 3
    assert exact - 1 <= roomy._estimated_in_calls(select, "Lead", "Email", short) <= exact + 1  # not one request


def test_the_count_taken_while_reading_is_the_look_ups_own(salesforce_emulator, make_client):
    emails = [f"lead{n:04d}@example.com" for n in range(2_000)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in emails])
    client = make_client(api_reserve=0)
    writer = make_writer(client, lookup_chunk_bytes=1_000, export_page_size=50)
    assert writer.start_lead_export(set(emails[:600])) is False  # IN is cheaper against 2,000 rows: ask again later
    assert endpoints(salesforce_emulator) == {"GET query": 1}
    assert writer.start_lead_export(set(emails[:700])) is False  # the count is kept: no second COUNT()
    found = writer.lookup_leads(emails[:700])

    assert set(found) == set(emails[:700])
    (plan,) = writer.lookups
    assert (plan.strategy, plan.rows) == ("in", 2_000)
    assert endpoints(salesforce_emulator) == {"GET query": 1 + plan.in_calls}  # one COUNT() in all


def test_an_export_started_while_reading_gives_the_same_answers_for_fewer_polls(salesforce_emulator, make_client):
    org = _seed_mixed_org(salesforce_emulator)
    expected = make_writer(make_client(api_reserve=0), lookup_strategy="in").lookup_leads(org["asked"])
    before = Counter(endpoints(salesforce_emulator))
    client = make_client(api_reserve=0)
    writer = make_writer(client, lookup_strategy="export", export_page_size=10)
    assert writer.start_lead_export({e.lower() for e in org["asked"][:5]}) is True
    (job,) = salesforce_emulator.bulk_jobs()
    assert job["operation"] == "query" and job["object"] == "Lead"
    deadline = time.monotonic() + 10
    while salesforce_emulator.bulk_jobs()[0]["state"] != "JobComplete":  # the emulator's own pace, polled
        assert time.monotonic() < deadline
        time.sleep(0.01)
    found = writer.lookup_leads(org["asked"])

    assert found == expected
    assert [(p.strategy, p.reason) for p in writer.lookups] == [("export", "started while reading")]
    assert writer.export_polls == 1  # done already: read once
    assert Counter(endpoints(salesforce_emulator)) - before == Counter(
        {"POST jobs/query": 1, "GET jobs/query": 1 + 5}  # one state read, then 50 rows in pages of 10
    )


def test_an_export_started_while_reading_that_fails_falls_back_to_in_with_the_same_answer(
    salesforce_emulator, make_client, caplog
):
    org = _seed_mixed_org(salesforce_emulator)
    expected = make_writer(make_client(api_reserve=0), lookup_strategy="in").lookup_leads(org["asked"])
    before = Counter(endpoints(salesforce_emulator))
    salesforce_emulator.set_faults(bulk_fail_after_rows=3)
    writer = make_writer(make_client(api_reserve=0), lookup_strategy="export")
    assert writer.start_lead_export({e.lower() for e in org["asked"][:5]}) is True
    with caplog.at_level(logging.INFO, logger="airflow_provider_rudder_sf"):
        found = writer.lookup_leads(org["asked"])

    assert found == expected and len(found) == 48
    (plan,) = writer.lookups
    assert (plan.strategy, plan.reason, plan.in_estimated) == ("export", "started while reading", True)
    assert f"IN: about {plan.in_calls} request(s)" in caplog.text  # estimated: the values were not split then
    in_requests = Counter(endpoints(salesforce_emulator))["GET query"] - before["GET query"]
    assert in_requests >= 1  # split when the export failed, and every asked e-mail was found through them
    assert "export failed (BULK_QUERY_FAILED); looking the values up with IN instead" in caplog.text


def test_a_run_starts_its_lead_export_before_it_has_read_everything(salesforce_emulator, make_client):
    existing = [f"known{n:04d}@example.com" for n in range(700)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in existing])
    people = existing + [f"new{n:04d}@example.com" for n in range(700)]
    events = [
        {
            "type": "identify",
            "messageId": f"m{n}",
            "timestamp": "2026-11-28T10:00:00Z",
            "integrations": {"Salesforce": True},
            "traits": {"email": email.upper() if n % 2 else email, "lastName": f"L{n}", "company": "Acme"},
        }
        for n, email in enumerate(people)
    ]
    jobs_when_read: list[dict[str, Any]] = []

    def records():
        yield from open_source(events)
        jobs_when_read.extend(salesforce_emulator.bulk_jobs())  # runs once the engine asks past the last event

    client = make_client(api_reserve=0)
    writer = make_writer(client, lookup_chunk_bytes=1_000)
    summary = run_sync(records(), writer, LogOnlyDeadLetters(logging.getLogger(__name__)), options=MappingOptions())

    assert [(job["operation"], job["object"]) for job in jobs_when_read] == [("query", "Lead")]
    assert [(p.strategy, p.reason, p.values) for p in writer.lookups] == [("export", "started while reading", 1_400)]
    assert (summary.created, summary.updated, summary.dead_lettered) == (700, 700, 0)
    leads = salesforce_emulator.records("Lead")
    assert len(leads) == 1_400 and len({lead["Email"].lower() for lead in leads}) == 1_400  # no Lead twice
    counters = endpoints(salesforce_emulator)
    assert counters["GET query"] == 1  # the one COUNT(), taken while reading; the look-up spent no IN request
    assert counters["POST jobs/query"] == 1


def test_a_wrong_password_met_while_reading_ends_the_run_there_with_one_login(
    salesforce_emulator, make_client, make_settings
):
    events = [
        {"type": "identify", "integrations": {"Salesforce": True}, "traits": {"email": f"p{n:04d}@example.com"}}
        for n in range(1_500)
    ]
    read: list[int] = []

    def records():
        for record in open_source(events):
            read.append(1)
            yield record

    writer = make_writer(make_client(make_settings(password="wrong")), lookup_chunk_bytes=1_000)
    with pytest.raises(SalesforceLoginError):
        run_sync(records(), writer, LogOnlyDeadLetters(logging.getLogger(__name__)), options=MappingOptions())
    assert len(read) < 1_500  # it stopped while reading, at the COUNT() that weighs the export
    assert salesforce_emulator.counters()["login_failures"] == 1
    assert salesforce_emulator.records("Lead") == []


def test_a_spilled_run_looks_its_retl_identifiers_up_once_for_all_partitions(salesforce_emulator, make_client):
    salesforce_emulator.declare_fields("Account", {"Ext_Key__c": {"type": "string", "length": 40}})
    salesforce_emulator.seed("Account", [{"Name": f"A{n}", "Ext_Key__c": f"K-{n:05d}"} for n in range(2_000)])
    events = [
        {
            "type": "identify",
            "timestamp": "2026-11-28T10:00:00Z",
            "integrations": {"Salesforce": True},
            "context": {
                "mappedToDestination": True,
                "externalId": [{"type": "Salesforce-Account", "id": f"k-{n:05d}", "identifierType": "Ext_Key__c"}],
            },
            "traits": {"Name": f"B{n}"},
        }
        for n in range(4_000)  # half of them name an existing Account, in another case
    ]
    log = logging.getLogger(__name__)
    writer = make_writer(make_client(api_reserve=0), lookup_chunk_bytes=1_000)
    summary = run_sync(
        open_source(events), writer, LogOnlyDeadLetters(log), options=MappingOptions(), memory_limit=100, partitions=4
    )

    assert [(p.sobject, p.strategy, p.values) for p in writer.lookups] == [("Account", "export", 4_000)]
    assert (summary.created, summary.updated, summary.dead_lettered) == (2_000, 2_000, 0)
    accounts = salesforce_emulator.records("Account")
    assert len(accounts) == 4_000 and len({a["Ext_Key__c"].lower() for a in accounts}) == 4_000
    counters = endpoints(salesforce_emulator)
    assert counters["POST jobs/query"] == 1
    assert counters["GET query"] == 1  # the COUNT(); per partition, 1,000 values each took 19 IN requests: 76
