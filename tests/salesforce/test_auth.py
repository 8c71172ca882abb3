"""Each login mode against the HTTPS emulator, and the actionable message of each failure."""

from __future__ import annotations

import socket

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_provider_rudder_sf.salesforce.auth import _auth_failure_message, _jwt_assertion, login
from airflow_provider_rudder_sf.salesforce.errors import SalesforceLoginError
from airflow_provider_rudder_sf.salesforce.session import PinnedTrustSession
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings


def _login_error(settings: SalesforceSettings) -> SalesforceLoginError:
    session = PinnedTrustSession(ca_bundle=settings.ca_bundle, timeout=30)
    with pytest.raises(SalesforceLoginError) as info:
        login(settings, session)
    text = str(info.value)
    for secret in settings.secrets:
        assert secret not in text
    return info.value


def test_soap_login_returns_session_and_instance(salesforce_emulator, make_settings):
    result = login(make_settings(), PinnedTrustSession(ca_bundle=salesforce_emulator.ca_path))
    assert result.instance_url == salesforce_emulator.base_url
    assert result.session_id and result.session_id not in repr(result)
    assert salesforce_emulator.counters()["logins"] == 1


def test_wrong_password_says_invalid_login_and_mentions_token_and_login_url(make_settings):
    err = _login_error(make_settings(password="wrong-password"))
    assert err.code == "INVALID_LOGIN"
    assert "username, password or security token" in err.message
    assert "Reset My Security Token" in err.message
    assert "Login URL" in err.message


def test_wrong_token_is_invalid_login(make_settings):
    assert _login_error(make_settings(security_token="WrongToken999")).code == "INVALID_LOGIN"


def test_missing_token_says_where_to_reset_it(make_settings):
    err = _login_error(make_settings(security_token=None))
    assert err.code == "LOGIN_MUST_USE_SECURITY_TOKEN"
    assert "Settings > My Personal Information > Reset My Security Token" in err.message
    assert "security_token" in err.message


def test_api_disabled_names_the_editions(salesforce_emulator, make_settings):
    salesforce_emulator.settings(api_disabled=True)
    err = _login_error(make_settings())
    assert err.code == "API_DISABLED_FOR_ORG"
    assert "Enterprise, Unlimited, Developer or Performance" in err.message


@pytest.mark.parametrize(
    ("sandbox", "hint"),
    [(False, "turn 'sandbox' on"), (True, "turn 'sandbox' off")],
)
def test_invalid_login_on_default_hosts_suggests_toggling_sandbox(sandbox, hint):
    message = _auth_failure_message(SalesforceSettings(username="u", sandbox=sandbox), "INVALID_LOGIN", "bad")
    assert hint in message
    expected_host = "test.salesforce.com" if sandbox else "login.salesforce.com"
    assert expected_host in message


def test_oauth_password_grant(salesforce_emulator, make_settings):
    h = salesforce_emulator
    result = login(
        make_settings(consumer_key=h.consumer_key, consumer_secret=h.consumer_secret),
        PinnedTrustSession(ca_bundle=h.ca_path),
    )
    assert result.instance_url == h.base_url
    assert h.counters()["logins"] == 1


def test_oauth_password_grant_wrong_password_is_actionable(salesforce_emulator, make_settings):
    h = salesforce_emulator
    err = _login_error(make_settings(consumer_key=h.consumer_key, consumer_secret=h.consumer_secret, password="nope"))
    assert err.code == "invalid_grant"
    assert "username, password or security token" in err.message


def test_oauth_wrong_consumer_secret_names_the_connected_app(salesforce_emulator, make_settings):
    h = salesforce_emulator
    err = _login_error(make_settings(consumer_key=h.consumer_key, consumer_secret="not-the-secret"))
    assert "consumer key or secret" in err.message


def test_client_credentials_grant(salesforce_emulator):
    h = salesforce_emulator
    settings = SalesforceSettings(
        login_url=h.base_url, ca_bundle=h.ca_path, consumer_key=h.consumer_key, consumer_secret=h.consumer_secret
    )
    assert settings.auth_mode == "client_credentials"
    assert login(settings, PinnedTrustSession(ca_bundle=h.ca_path)).instance_url == h.base_url


def _pem_key() -> tuple[str, object]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def test_jwt_assertion_is_rs256_signed_with_salesforce_claims():
    pem, public = _pem_key()
    settings = SalesforceSettings(username="u@example.com", consumer_key="ck", private_key=pem, sandbox=True)
    claims = jwt.decode(_jwt_assertion(settings), public, algorithms=["RS256"], audience="https://test.salesforce.com")
    assert claims["iss"] == "ck" and claims["sub"] == "u@example.com"


def test_jwt_bearer_posts_the_assertion_to_the_token_endpoint(salesforce_emulator):
    # The emulator has no JWT bearer grant (it answers unsupported_grant_type): this proves the request goes to
    # <login_url>/services/oauth2/token over the pinned session and the refusal comes back as a login error.
    h = salesforce_emulator
    pem, _ = _pem_key()
    settings = SalesforceSettings(
        username=h.username, consumer_key=h.consumer_key, private_key=pem, login_url=h.base_url, ca_bundle=h.ca_path
    )
    err = _login_error(settings)
    assert err.code == "unsupported_grant_type"
    assert "BEGIN" not in err.message


def test_invalid_private_key_is_reported_without_its_content(salesforce_emulator):
    h = salesforce_emulator
    settings = SalesforceSettings(
        username=h.username,
        consumer_key="ck",
        private_key="-----BEGIN PRIVATE KEY-----garbage",
        login_url=h.base_url,
        ca_bundle=h.ca_path,
    )
    err = _login_error(settings)
    assert err.code == "INVALID_PRIVATE_KEY"
    assert "garbage" not in err.message


def test_untrusted_certificate_says_to_set_ca_bundle(salesforce_emulator, make_settings, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    err = _login_error(make_settings(ca_bundle=None))
    assert err.code == "TLS_UNTRUSTED"
    assert "ca_bundle" in err.message
    assert "certificate verify failed" in err.message.lower()
    assert salesforce_emulator.counters()["logins"] == 0


def test_connection_refused_names_the_host(make_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    err = _login_error(make_settings(login_url=f"https://127.0.0.1:{port}"))
    assert err.code == "CONNECTION_FAILED"
    assert f"127.0.0.1:{port}" in err.message
    assert "refused" in err.message
