"""SalesforceClient over HTTPS: pinned trust, accounting, re-login, retries, budget and reserve."""

from __future__ import annotations

import pytest

from airflow_provider_rudder_sf.salesforce.errors import (
    BudgetExhausted,
    ReserveReached,
    SessionExpired,
    TransientError,
)

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def test_ca_bundle_wins_over_environment_for_login_and_queries(salesforce_emulator, make_client, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_BUNDLE)  # does not contain the emulator's certificate
    monkeypatch.setenv("CURL_CA_BUNDLE", SYSTEM_BUNDLE)
    verified_with: list[object] = []
    client = make_client(api_reserve=0)
    client.session.hooks["response"].append(lambda r, *a, **k: verified_with.append(k.get("verify")))
    assert client.query("SELECT Id FROM Lead")["records"] == []
    assert client.logins == 1
    assert client.api_calls == 1
    assert verified_with == [salesforce_emulator.ca_path] * 2  # the SOAP login and the query
    assert salesforce_emulator.counters()["by_endpoint"] == {"GET query": 1}


def test_without_ca_bundle_the_environment_bundle_is_used_and_fails(make_client, make_settings, monkeypatch):
    from airflow_provider_rudder_sf.salesforce.errors import SalesforceLoginError

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_BUNDLE)
    client = make_client(make_settings(ca_bundle=None), api_reserve=0)
    with pytest.raises(SalesforceLoginError, match="ca_bundle"):
        client.query("SELECT Id FROM Lead")


def test_counts_calls_and_reads_the_usage_header(salesforce_emulator, make_client):
    salesforce_emulator.settings(daily_limit=5_000, api_usage=1_234)
    client = make_client()  # reserve on: reads /limits once before the first call
    client.query("SELECT Id FROM Lead")
    client.query("SELECT Id FROM Contact")
    assert client.api_calls == 3
    assert client.api_usage == (1_237, 5_000)
    assert salesforce_emulator.counters()["by_endpoint"] == {"GET limits": 1, "GET query": 2}
    assert client.limits() == 5_000 - 1_238


def test_expired_session_relogs_in_once_and_resends(salesforce_emulator, make_client):
    client = make_client(api_reserve=0)
    client.query("SELECT Id FROM Lead")
    salesforce_emulator.expire_sessions()
    assert client.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert client.logins == 2
    assert salesforce_emulator.counters()["logins"] == 2


def test_a_session_refused_right_after_login_stops_instead_of_looping(salesforce_emulator, make_client):
    # Every fresh session is invalidated at once (admin API), so the 401 never goes away (upstream #804 case).
    client = make_client(api_reserve=0, on_session_id=lambda _sid: salesforce_emulator.expire_sessions())
    with pytest.raises(SessionExpired, match="fresh login"):
        client.query("SELECT Id FROM Lead")
    assert client.logins == 2
    assert client.api_calls == 2


def test_transient_503_is_retried_with_bounded_backoff(salesforce_emulator, make_client, sleeps):
    client = make_client(api_reserve=0)
    client.query("SELECT Id FROM Lead")  # log in first
    salesforce_emulator.set_faults(fail_every_nth=2)
    client.query("SELECT Id FROM Lead")  # the 2nd data request after the fault setting: fine
    client.query("SELECT Id FROM Lead")  # 503 once, then retried
    assert sleeps == [0.375]
    assert client.api_calls == 4
    assert salesforce_emulator.counters()["injected_faults"] == {"server_unavailable": 1}


def test_transient_failures_that_outlast_the_retries_raise(salesforce_emulator, make_client, sleeps):
    client = make_client(api_reserve=0)
    client.query("SELECT Id FROM Lead")
    salesforce_emulator.set_faults(fail_every_nth=1)
    with pytest.raises(TransientError, match="after 5 attempt"):
        client.query("SELECT Id FROM Lead")
    assert sleeps == [0.375, 0.75, 1.5, 3.0]
    assert all(delay <= 20 for delay in sleeps)


def test_request_limit_exceeded_raises_budget_exhausted(salesforce_emulator, make_client):
    salesforce_emulator.settings(daily_limit=10, api_usage=10)
    client = make_client(api_reserve=0)
    with pytest.raises(BudgetExhausted) as info:
        client.query("SELECT Id FROM Lead")
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert not isinstance(info.value, ReserveReached)


def test_reserve_refuses_a_call_with_a_clear_message(salesforce_emulator, make_client):
    salesforce_emulator.settings(daily_limit=1_000, api_usage=899)
    client = make_client(api_reserve=0.10)
    with pytest.raises(ReserveReached, match="100 \\(10%\\) are kept in reserve"):
        client.query("SELECT Id FROM Lead")
    # only /limits was spent (899 -> 900); the query was never sent
    assert salesforce_emulator.counters()["by_endpoint"] == {"GET limits": 1}


def test_api_reserve_must_be_a_share():
    from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
    from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings

    with pytest.raises(ValueError, match="api_reserve"):
        SalesforceClient(SalesforceSettings(), api_reserve=1.5)
