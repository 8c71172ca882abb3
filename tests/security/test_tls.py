"""TLS verification is never off: the emulator's self-signed certificate is trusted only through ca_bundle, even
when REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE point at the system bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook

SYSTEM_BUNDLE = next(
    (p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt") if Path(p).exists()), None
)


@pytest.fixture(params=["no-env", "env-points-at-system-bundle"])
def ca_env(request, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    if request.param != "no-env":
        if SYSTEM_BUNDLE is None:
            pytest.skip("no system CA bundle on this machine")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_BUNDLE)
        monkeypatch.setenv("CURL_CA_BUNDLE", SYSTEM_BUNDLE)
    return request.param


def _connect(salesforce_emulator, monkeypatch, ca_bundle: str | None) -> tuple[bool, str]:
    conn = salesforce_emulator.connection_dict()
    conn["extra"] = {k: v for k, v in conn["extra"].items() if k != "ca_bundle"}
    if ca_bundle is not None:
        conn["extra"]["ca_bundle"] = ca_bundle
    monkeypatch.setenv("AIRFLOW_CONN_TLS_TEST", json.dumps(conn))
    return RudderSalesforceHook(salesforce_conn_id="tls_test").test_connection()


def test_without_ca_bundle_the_emulator_certificate_is_refused(salesforce_emulator, monkeypatch, ca_env):
    ok, message = _connect(salesforce_emulator, monkeypatch, ca_bundle=None)
    assert not ok
    assert "ca_bundle" in message and "certificate" in message
    counters = salesforce_emulator.counters()
    assert counters["logins"] == 0 and counters["api_calls"] == 0


def test_a_ca_bundle_of_another_authority_is_refused(salesforce_emulator, monkeypatch, ca_env):
    if SYSTEM_BUNDLE is None:
        pytest.skip("no system CA bundle on this machine")
    ok, message = _connect(salesforce_emulator, monkeypatch, ca_bundle=SYSTEM_BUNDLE)
    assert not ok and "certificate" in message
    assert salesforce_emulator.counters()["logins"] == 0


def test_with_ca_bundle_the_connection_works_whatever_the_environment_says(salesforce_emulator, monkeypatch, ca_env):
    ok, message = _connect(salesforce_emulator, monkeypatch, ca_bundle=salesforce_emulator.ca_path)
    assert ok, message
    assert salesforce_emulator.counters()["logins"] == 1
