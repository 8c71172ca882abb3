"""Production hardening from a new user's trial: no lock-outs, check before writing, no secret echoes, no session
sent to a foreign host, no asset event from a dry run, and who may write what."""

from __future__ import annotations

import json

import pytest

from airflow_provider_rudder_sf.compat import AirflowException, AirflowFailException
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from airflow_provider_rudder_sf.salesforce.auth import _check_instance_url, _scrub
from airflow_provider_rudder_sf.salesforce.errors import SalesforceLoginError
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings


def identify(email: str, **traits) -> dict:
    return {"type": "identify", "integrations": {"Salesforce": True}, "traits": {"email": email, **traits}}


def test_a_wrong_password_fails_once_without_retry_and_logs_in_once(crm, monkeypatch, tmp_path):
    conn = json.loads(crm.connection_json())
    conn["password"] = "wrong-password"
    monkeypatch.setenv("AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT", json.dumps(conn))
    operator = IdentifyToSalesforceOperator(task_id="sync", events=[identify("a@example.com")])
    with pytest.raises(AirflowFailException, match="INVALID_LOGIN") as failure:
        operator.execute(context={})
    assert "not retried" in str(failure.value)
    assert "wrong-password" not in str(failure.value)
    counters = crm.counters()
    assert (counters["login_failures"], counters["logins"]) == (1, 0)


def test_a_login_server_that_is_down_is_retryable(crm, monkeypatch):
    conn = json.loads(crm.connection_json())
    conn["host"] = "https://127.0.0.1:9"  # nothing listens on the discard port: connection refused
    monkeypatch.setenv("AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT", json.dumps(conn))
    operator = IdentifyToSalesforceOperator(task_id="sync", events=[identify("a@example.com")])
    with pytest.raises(AirflowException) as failure:
        operator.execute(context={})
    assert not isinstance(failure.value, AirflowFailException)
    assert "Could not connect" in str(failure.value)


def test_an_unwritable_dead_letter_location_fails_before_any_salesforce_request(crm, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")  # mkdir under a file fails, for root too
    operator = IdentifyToSalesforceOperator(
        task_id="sync", events=[identify("a@example.com")], dead_letter=str(blocker / "dead-letters")
    )
    with pytest.raises(AirflowFailException, match="dead-letter location") as failure:
        operator.execute(context={})
    assert str(blocker) in str(failure.value)
    counters = crm.counters()
    assert (counters["logins"], counters["api_calls"]) == (0, 0)


@pytest.mark.parametrize(
    "echo",
    [
        "p&ss<w>'rd\"%/+ é",
        "p&amp;ss&lt;w&gt;&#x27;rd&quot;%/+ é",
        'p&amp;ss&lt;w&gt;&apos;rd"%/+ é',
        "p%26ss%3Cw%3E%27rd%22%25%2F%2B%20%C3%A9",
        "p%26ss%3Cw%3E%27rd%22%25%2F%2B+%C3%A9",
        "p&ss<w>'rd\\\"%/+ \\u00e9",
    ],
)
def test_login_errors_never_echo_the_password_in_any_encoding(echo):
    settings = SalesforceSettings(username="u", password="p&ss<w>'rd\"%/+ é", security_token="Tok3n&<>")
    message = _scrub(f"Salesforce said: bad credentials [{echo}] for user u", settings)
    assert "***" in message and "ss<w>" not in message and "ss&lt;" not in message and "ss%3C" not in message


@pytest.mark.parametrize(
    ("instance_url", "ok"),
    [
        ("https://acme.my.salesforce.com", True),
        ("https://acme--dev.sandbox.my.salesforce.com", True),
        ("https://na1.force.com", True),
        ("https://login.example.org:8443", True),  # the configured login host (a My Domain or the emulator)
        ("http://acme.my.salesforce.com", False),
        ("https://salesforce.com.evil.example", False),
        ("https://evil.example/acme.my.salesforce.com", False),
        ("https://127.0.0.2", False),
    ],
)
def test_an_oauth_instance_url_must_be_https_on_salesforce_or_the_login_host(instance_url, ok):
    settings = SalesforceSettings(login_url="https://login.example.org:8443", consumer_key="k", consumer_secret="s")
    if ok:
        _check_instance_url(instance_url, settings)
    else:
        with pytest.raises(SalesforceLoginError, match="instance_url") as refused:
            _check_instance_url(instance_url, settings)
        assert not refused.value.retryable


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("INVALID_LOGIN", False),
        ("LOGIN_MUST_USE_SECURITY_TOKEN", False),
        ("API_DISABLED_FOR_ORG", False),
        ("TLS_UNTRUSTED", False),
        ("CONNECTION_FAILED", True),
        ("TIMEOUT", True),
        ("503", True),
        ("404", False),
    ],
)
def test_only_server_or_network_trouble_at_login_is_retryable(code, retryable):
    assert SalesforceLoginError("x", code=code).retryable is retryable


def test_protected_fields_from_traits_are_never_sent(crm, tmp_path):
    (owner,) = crm.seed("Lead", [{"Email": "seed@example.com", "LastName": "S", "Company": "C"}])
    operator = IdentifyToSalesforceOperator(
        task_id="sync",
        events=[identify("a@example.com", ownerId="005000000000001AAA", recordTypeId="012000000000001AAA")],
        dead_letter=str(tmp_path / "dead"),
    )
    result = operator.execute(context={})
    assert (result["created"], result["partial"]) == (1, 1)
    assert set(result["fields_skipped"]) == {"Lead.OwnerId", "Lead.RecordTypeId"}
    sent = crm.requests()["writes"]["Lead"]["create"]["fields"]
    assert "OwnerId" not in sent and "RecordTypeId" not in sent
    assert owner


def test_a_dry_run_declares_no_outlet_so_no_asset_event_is_recorded(crm):
    """Airflow records one asset event per outlet of a successful task, reading the task's outlets after execute
    (task_runner._handle_current_task_success): a dry run clears them, so asset-scheduled DAGs are not triggered."""
    from airflow_provider_rudder_sf.operators.identify import salesforce_asset

    asset = salesforce_asset("rudder_salesforce_default", "Lead")
    plan = IdentifyToSalesforceOperator(task_id="plan", events=[identify("a@example.com")], dry_run=True)
    real = IdentifyToSalesforceOperator(task_id="real", events=[identify("b@example.com")])
    assert plan.outlets == [asset] == real.outlets
    assert plan.execute(context={})["dry_run"] is True
    real.execute(context={})
    assert plan.outlets == [] and real.outlets == [asset]
    assert [lead["Email"] for lead in crm.records("Lead")] == ["b@example.com"]
