"""Batched writes over HTTPS: call counts, per-record results, and every fault ending in exactly-once records."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from sf_writes import lead_create, lead_creates

from airflow_provider_rudder_sf.mapping.model import Write
from airflow_provider_rudder_sf.salesforce.results import BatchProgress
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter


def _emails(handle) -> Counter[str]:
    return Counter(r["Email"] for r in handle.records("Lead") if not r.get("IsDeleted"))


def _assert_exactly_once(handle, writes: list[Write]) -> None:
    emails = _emails(handle)
    assert len(emails) == len(writes)
    assert set(emails.values()) == {1}
    assert set(emails) == {str(w.fields["Email"]).lower() for w in writes}


def test_one_thousand_creates_take_exactly_five_collections_calls(salesforce_emulator, make_client):
    writes = lead_creates(1_000)
    progress: list[BatchProgress] = []
    writer = SalesforceWriter(make_client(api_reserve=0))
    report = writer.write(writes, on_batch=progress.append)
    counters = salesforce_emulator.counters()
    assert counters["by_endpoint"] == {"POST composite/sobjects": 5}
    assert writer.batch_count(writes) == 5  # what a dry run reports
    assert SalesforceWriter(make_client(), batch_size=150).batch_count(writes) == 7
    assert report.api_calls == 5
    assert report.created == 1_000 and report.failed == 0 and report.unsent == () and report.stop_reason is None
    assert [(p.index, p.total, p.records, p.ok, p.failed) for p in progress] == [
        (i, 5, 200, 200, 0) for i in range(1, 6)
    ]
    assert [r.write for r in report.results] == writes
    records = {r["Id"]: r["Email"] for r in salesforce_emulator.records("Lead")}
    assert all(records[r.record_id] == r.write.fields["Email"] for r in report.results)
    _assert_exactly_once(salesforce_emulator, writes)


def test_updates_and_upserts_are_grouped_per_object_and_operation(salesforce_emulator, make_client):
    salesforce_emulator.declare_fields("Lead", {"Ext_Id__c": {"type": "string", "length": 40, "externalId": True}})
    ids = salesforce_emulator.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Email": "u@example.com"}])
    salesforce_emulator.seed("Lead", [{"LastName": "Ext", "Company": "Acme", "Ext_Id__c": "E-1"}])
    writes = [
        Write("u", "Lead", "update", ids[0], {"LastName": "New"}, (0,)),
        Write("e1", "Lead", "upsert", None, {"Ext_Id__c": "E-1", "Title": "Boss"}, (1,), None, "Ext_Id__c"),
        Write(
            "e2", "Lead", "upsert", None, {"Ext_Id__c": "E-2", "LastName": "X", "Company": "Y"}, (2,), None, "Ext_Id__c"
        ),
        lead_create(3),
    ]
    writer = SalesforceWriter(make_client(api_reserve=0))
    report = writer.write(writes)
    assert [r.status for r in report.results] == ["updated", "updated", "created", "created"]
    assert salesforce_emulator.counters()["by_endpoint"] == {
        "PATCH composite/sobjects": 2,  # one update batch, one upsert batch
        "POST composite/sobjects": 1,
    }
    assert writer.batch_count(writes) == 3  # what a dry run reports
    by_id = {r["Id"]: r for r in salesforce_emulator.records("Lead")}
    assert by_id[ids[0]]["LastName"] == "New"


def test_per_record_failures_map_to_the_right_writes(salesforce_emulator, make_client):
    (converted,) = salesforce_emulator.seed(
        "Lead", [{"LastName": "C", "Company": "A", "Email": "c@example.com", "IsConverted": True}]
    )
    writes = [
        lead_create(0),
        Write("bad", "Lead", "create", None, {"Email": "nolast@example.com"}, (1,)),
        lead_create(2),
        Write("conv", "Lead", "update", converted, {"Title": "x"}, (3,)),
        lead_create(4, email="not-an-email"),
        Write("name", "Lead", "create", None, {"Bad Field": 1}, (5,)),
    ]
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes)
    got = [(r.write.key, r.status, r.code) for r in report.results]
    assert got == [
        (writes[0].key, "created", None),
        ("bad", "failed", "REQUIRED_FIELD_MISSING"),
        (writes[2].key, "created", None),
        ("conv", "failed", "CANNOT_UPDATE_CONVERTED_LEAD"),
        (writes[4].key, "failed", "INVALID_EMAIL_ADDRESS"),
        ("name", "failed", "INVALID_WRITE"),
    ]
    assert all(r.message for r in report.results if r.status == "failed")
    assert report.unsent == () and report.stop_reason is None


def test_injected_503s_end_with_every_record_written_once(salesforce_emulator, make_client, sleeps):
    salesforce_emulator.set_faults(fail_every_nth=3)
    writes = lead_creates(1_000)
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes)
    assert report.created == 1_000 and report.unsent == ()
    assert salesforce_emulator.counters()["injected_faults"]["server_unavailable"] >= 2
    assert sleeps
    _assert_exactly_once(salesforce_emulator, writes)


class _LoseResponses(HTTPAdapter):
    """Network fault on our side: the request reaches the emulator and is applied, then the answer is lost."""

    def __init__(self, lose: set[int]) -> None:
        super().__init__()
        self.lose = lose
        self.creates = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        if request.method == "POST" and str(request.url).endswith("/composite/sobjects"):
            self.creates += 1
            if self.creates in self.lose:
                raise requests.exceptions.ReadTimeout("read timed out (injected by the test)")
        return response


def test_applied_batch_with_lost_answer_is_reconciled_not_duplicated(salesforce_emulator, make_client, sleeps):
    client = make_client(api_reserve=0)
    client.session.mount(salesforce_emulator.base_url, _LoseResponses(lose={2, 3}))
    writes = lead_creates(600)
    report = SalesforceWriter(client).write(writes)
    assert report.unsent == () and report.failed == 0
    assert report.created == 600  # creates found applied are reported as created (then updated by Id)
    endpoints = salesforce_emulator.counters()["by_endpoint"]
    assert endpoints["GET query"] == 2  # one natural-key look-up per lost answer
    assert endpoints["PATCH composite/sobjects"] == 2  # the found records were updated, never created twice
    _assert_exactly_once(salesforce_emulator, writes)


def test_row_locks_are_resent_alone_until_written_once(salesforce_emulator, make_client, sleeps):
    salesforce_emulator.set_faults(lock_row_ratio=0.2, seed=7)  # deterministic; 0.2**5 * 400 << 1
    writes = lead_creates(400)
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes)
    assert report.created == 400 and report.unsent == ()
    assert salesforce_emulator.counters()["by_endpoint"]["POST composite/sobjects"] > 2
    assert sleeps
    _assert_exactly_once(salesforce_emulator, writes)


def test_row_locks_that_never_clear_are_kept_unsent(salesforce_emulator, make_client):
    salesforce_emulator.set_faults(lock_row_ratio=1.0)
    writes = lead_creates(10)
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes)
    assert report.results == () and report.unsent == tuple(writes)
    assert report.stop_reason == "transient"
    assert salesforce_emulator.counters()["by_endpoint"] == {"POST composite/sobjects": 5}


def test_session_expiry_mid_run_relogs_in_and_writes_once(salesforce_emulator, make_client):
    salesforce_emulator.set_faults(expire_session_after=2)
    writes = lead_creates(1_000)
    client = make_client(api_reserve=0)
    report = SalesforceWriter(client).write(writes)
    assert report.created == 1_000 and report.unsent == ()
    assert client.logins == 3
    _assert_exactly_once(salesforce_emulator, writes)


def test_daily_limit_stops_cleanly_and_the_rest_can_be_sent_later(salesforce_emulator, make_client):
    salesforce_emulator.settings(daily_limit=3)
    writes = lead_creates(1_000)
    progress: list[BatchProgress] = []
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes, on_batch=progress.append)
    assert report.stop_reason == "request_limit"
    assert report.created == 600
    assert report.unsent == tuple(writes[600:])
    assert [p.index for p in progress] == [1, 2, 3, 4]
    assert progress[-1].ok == 0
    salesforce_emulator.settings(daily_limit=100)
    again = SalesforceWriter(make_client(api_reserve=0)).write(list(report.unsent))
    assert again.created == 400 and again.unsent == ()
    _assert_exactly_once(salesforce_emulator, writes)


def test_reserve_stops_before_eating_into_the_daily_allocation(salesforce_emulator, make_client):
    salesforce_emulator.settings(daily_limit=100, api_usage=85)
    writes = lead_creates(1_000)
    report = SalesforceWriter(make_client(api_reserve=0.10)).write(writes)
    # /limits takes usage to 86; four batches take it to 90 = 100 - 10 % reserve; the fifth is never sent
    assert report.stop_reason == "api_reserve"
    assert report.created == 800
    assert report.unsent == tuple(writes[800:])
    assert report.api_usage == (90, 100)
    assert salesforce_emulator.counters()["by_endpoint"] == {"GET limits": 1, "POST composite/sobjects": 4}


def test_stop_before_any_batch_keeps_every_write(salesforce_emulator, make_client):
    salesforce_emulator.settings(daily_limit=100, api_usage=100)
    writes = [*lead_creates(250), Write("u", "Lead", "update", "00Q000000000001AAA", {"Title": "t"}, (9,))]
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes)
    assert report.stop_reason == "request_limit"
    assert report.results == () and report.unsent == tuple(writes)


def test_login_failing_mid_run_stops_cleanly_with_the_rest_unsent(salesforce_emulator, make_client):
    h = salesforce_emulator

    def after_batch(progress: BatchProgress) -> None:
        if progress.index == 2:  # the password is changed and every session ends: the re-login fails
            h.settings(password="rotated-password")
            h.expire_sessions()

    writes = lead_creates(1_000)
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes, on_batch=after_batch)
    assert report.stop_reason == "session_expired"
    assert report.created == 400
    assert report.unsent == tuple(writes[400:])


def test_a_first_login_that_fails_raises_before_anything_is_sent(make_client, make_settings):
    from airflow_provider_rudder_sf.salesforce.errors import SalesforceLoginError

    client = make_client(make_settings(password="wrong"), api_reserve=0)
    with pytest.raises(SalesforceLoginError, match="INVALID_LOGIN"):
        SalesforceWriter(client).write(lead_creates(3))
    assert client.api_calls == 0


def test_transient_trouble_that_outlasts_the_retries_keeps_everything_unsent(salesforce_emulator, make_client, sleeps):
    salesforce_emulator.set_faults(fail_every_nth=1)  # every data request answers 503
    writes = [*lead_creates(300), Write("u", "Lead", "update", "00Q000000000001AAA", {"Title": "t"}, (9,))]
    report = SalesforceWriter(make_client(api_reserve=0)).write(writes)
    assert report.stop_reason == "transient"
    assert report.results == () and report.unsent == tuple(writes)
    assert salesforce_emulator.records("Lead") == []
    assert sleeps and max(sleeps) <= 20
