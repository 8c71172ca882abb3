"""Pure parts of the Salesforce layer: SOQL literals, chunking, error table, settings, back-off, session trust."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus, urlencode

import pytest
import requests
from simple_salesforce.format import format_soql

from airflow_provider_rudder_sf.salesforce.client import RetryPolicy, parse_limit_info
from airflow_provider_rudder_sf.salesforce.errors import Outcome, classify, classify_exception
from airflow_provider_rudder_sf.salesforce.session import PinnedTrustSession
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings
from airflow_provider_rudder_sf.salesforce.soql import (
    check_api_name,
    in_clause_chunks,
    soql_literal,
    url_encoded_length,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("o'brien@example.com", r"'o\'brien@example.com'"),
        ("back\\slash@example.com", r"'back\\slash@example.com'"),
        ("50%+off@example.com", "'50%+off@example.com'"),
        ("zoë@exämple.com", "'zoë@exämple.com'"),
        ("x' OR Email != '", r"'x\' OR Email != \''"),
        ('a"b\nc', r"'a\"b\nc'"),
    ],
)
def test_soql_literal_escapes_quote_and_backslash(value, expected):
    assert soql_literal(value) == expected
    assert soql_literal(value) == format_soql("{}", value)


def test_soql_literal_quotes_as_simple_salesforce_does_with_or_without_escapes():
    alphabet = "ab@.' \"\\\n\r\t\b\f\x00\x1fü€😀%+"
    for length in range(4):
        for chars in itertools.product(alphabet, repeat=length):
            value = "".join(chars)
            assert soql_literal(value) == format_soql("{}", value), value


def test_check_api_name_rejects_injection():
    assert check_api_name("Custom_Object__c") == "Custom_Object__c"
    # "Lead\n": a trailing newline passed a ``^...$`` pattern with ``match`` (``$`` matches before it).
    for bad in ("Lead WHERE Id != null", "Lead;", "1Lead", "", "Lead/Email", "Le ad", "Lead\n", None):
        with pytest.raises(ValueError, match="not a valid Salesforce API name"):
            check_api_name(bad)


def _url(values: list[str]) -> str:
    soql = "SELECT Id FROM Lead WHERE Email IN (" + ",".join(soql_literal(v) for v in values) + ")"
    return "https://127.0.0.1:8443/services/data/v59.0/query/?" + urlencode({"q": soql})


def test_in_clause_chunks_keep_every_url_within_the_budget_and_lose_nothing():
    values = [f"user{i}+tag%x'y\\z.ü@example.com" for i in range(2_000)]
    base = len(_url([]))
    chunks = list(in_clause_chunks(values, base_length=base, max_length=10_000))
    assert len(chunks) > 5
    assert [v for chunk in chunks for v in chunk] == values
    for chunk in chunks:
        assert len(_url(chunk)) <= 10_000
    # chunks are filled: adding the next value would have overflowed
    for chunk, nxt in itertools.pairwise(chunks):
        assert len(_url([*chunk, nxt[0]])) > 10_000


@pytest.mark.parametrize(
    "text",
    ["", "plain", "a b  c", "+%&=?/#", "ü€😀", "'quoted'\\", "\t\n\r\x00\x7f", "~_.-", "".join(map(chr, range(256)))],
)
def test_url_encoded_length_is_the_length_quote_plus_gives(text):
    assert url_encoded_length(text) == len(quote_plus(text))


def test_in_clause_chunks_drop_a_value_that_can_never_fit():
    base = len(_url([]))
    huge = "x" * 20_000
    assert list(in_clause_chunks(["a@b.c", huge, "d@e.f"], base_length=base, max_length=1_000)) == [["a@b.c", "d@e.f"]]
    assert len(quote_plus(huge)) > 1_000


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("UNABLE_TO_LOCK_ROW", 400, Outcome.TRANSIENT),
        (None, 500, Outcome.TRANSIENT),
        (None, 502, Outcome.TRANSIENT),
        ("SERVER_UNAVAILABLE", 503, Outcome.TRANSIENT),
        ("INVALID_SESSION_ID", 401, Outcome.RELOGIN),
        (None, 401, Outcome.RELOGIN),
        ("REQUEST_LIMIT_EXCEEDED", 403, Outcome.STOP),
        ("INSUFFICIENT_ACCESS_OR_READONLY", 403, Outcome.PERMANENT),
        ("REQUIRED_FIELD_MISSING", None, Outcome.PERMANENT),
        ("CANNOT_UPDATE_CONVERTED_LEAD", 400, Outcome.PERMANENT),
        (None, 404, Outcome.PERMANENT),
    ],
)
def test_error_table(code, status, outcome):
    assert classify(code, status) is outcome


def test_transport_errors_are_transient_but_tls_is_not():
    assert classify_exception(requests.exceptions.ConnectionError()) is Outcome.TRANSIENT
    assert classify_exception(requests.exceptions.ReadTimeout()) is Outcome.TRANSIENT
    assert classify_exception(requests.exceptions.SSLError()) is Outcome.PERMANENT
    assert classify_exception(ValueError()) is Outcome.PERMANENT


def test_settings_repr_masks_secrets():
    s = SalesforceSettings(
        username="u@example.com",
        password="hunter2-pass",
        security_token="TOKEN123abc",
        consumer_secret="shh-secret",
        private_key="-----BEGIN PRIVATE KEY-----xyz",
    )
    for text in (repr(s), str(s), f"{s}"):
        assert "u@example.com" in text
        for secret in ("hunter2-pass", "TOKEN123abc", "shh-secret", "BEGIN PRIVATE"):
            assert secret not in text
    assert "security_token='***'" in repr(s)
    assert "consumer_key=None" in repr(s)


def test_settings_login_url_defaults_and_auth_mode():
    assert SalesforceSettings().effective_login_url == "https://login.salesforce.com"
    assert SalesforceSettings(sandbox=True).effective_login_url == "https://test.salesforce.com"
    assert SalesforceSettings(login_url="https://127.0.0.1:8443/").effective_login_url == "https://127.0.0.1:8443"
    assert SalesforceSettings(api_version="v60.0").api_version == "60.0"
    with pytest.raises(ValueError, match="https"):
        SalesforceSettings(login_url="http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="api_version"):
        SalesforceSettings(api_version="latest")
    assert SalesforceSettings(username="u", password="p").auth_mode == "soap"
    assert SalesforceSettings(username="u", password="p", consumer_key="k", consumer_secret="s").auth_mode == (
        "oauth_password"
    )
    assert SalesforceSettings(consumer_key="k", consumer_secret="s").auth_mode == "client_credentials"
    assert SalesforceSettings(username="u", consumer_key="k", private_key="pem").auth_mode == "jwt"


def test_retry_policy_is_bounded_exponential_with_jitter():
    policy = RetryPolicy()
    assert [policy.delay(n, lambda: 1.0) for n in (1, 2, 3, 4, 10)] == [0.5, 1.0, 2.0, 4.0, 20.0]
    assert [policy.delay(n, lambda: 0.0) for n in (1, 2, 10)] == [0.25, 0.5, 10.0]


def test_parse_limit_info():
    assert parse_limit_info("api-usage=18/15000") == (18, 15000)
    assert parse_limit_info("api-usage=10018/100000; api-bursts=1/750") == (10018, 100000)
    assert parse_limit_info(None) is None
    assert parse_limit_info("per-app-api-usage=") is None


def test_session_ca_bundle_beats_environment_variables(tmp_path: Path, monkeypatch):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not used for a handshake here")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    pinned = PinnedTrustSession(ca_bundle=str(bundle))
    merged = pinned.merge_environment_settings("https://example.com/", {}, None, None, None)
    assert merged["verify"] == str(bundle)
    assert merged["proxies"].get("https") == "http://proxy.invalid:3128"
    # a plain requests.Session lets the environment win: the trap this class exists for
    plain = requests.Session()
    plain.verify = str(bundle)
    assert plain.merge_environment_settings("https://example.com/", {}, None, None, None)["verify"] != str(bundle)


def test_session_never_turns_verification_off(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = PinnedTrustSession()
    session.verify = False
    assert session.merge_environment_settings("https://x/", {}, None, False, None)["verify"] is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    pinned = PinnedTrustSession(ca_bundle=str(bundle))
    assert pinned.merge_environment_settings("https://x/", {}, None, False, None)["verify"] == str(bundle)
    with pytest.raises(FileNotFoundError, match="ca_bundle"):
        PinnedTrustSession(ca_bundle=str(tmp_path / "missing.pem"))


def test_salesforce_package_imports_no_airflow():
    code = (
        "import airflow_provider_rudder_sf.salesforce.writer, airflow_provider_rudder_sf.salesforce.auth, sys; "
        "bad = [m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')]; "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
