"""SOAP and OAuth logins against the emulator, through simple-salesforce and plain requests."""

from __future__ import annotations

import pytest
from conftest import VERSION, login
from simple_salesforce import SalesforceAuthenticationFailed, SalesforceLogin

from rudder_sf_emulator.client import EmulatorHandle


def _soap(emu: EmulatorHandle, password: str, token: str, username: str | None = None) -> tuple[str, str]:
    return SalesforceLogin(
        username=username or emu.username,
        password=password,
        security_token=token,
        scratch_url=emu.base_url,
        session=emu.session(),
        sf_version=VERSION,
    )


def test_soap_login_returns_session_and_this_instance(salesforce_emulator: EmulatorHandle) -> None:
    sid, instance = _soap(salesforce_emulator, salesforce_emulator.password, salesforce_emulator.security_token)
    assert sid.startswith("00D") and "!" in sid
    assert f"https://{instance}" == salesforce_emulator.base_url
    assert salesforce_emulator.counters()["logins"] == 1


def test_soap_login_wrong_password_is_invalid_login(salesforce_emulator: EmulatorHandle) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        _soap(salesforce_emulator, "wrong", salesforce_emulator.security_token)
    assert err.value.code == "INVALID_LOGIN"
    assert err.value.auth_message == "Invalid username, password, security token; or user locked out."


def test_soap_login_unknown_user_is_invalid_login(salesforce_emulator: EmulatorHandle) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        _soap(salesforce_emulator, salesforce_emulator.password, salesforce_emulator.security_token, "x@y.z")
    assert err.value.code == "INVALID_LOGIN"


def test_soap_login_without_token_must_use_security_token(salesforce_emulator: EmulatorHandle) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        _soap(salesforce_emulator, salesforce_emulator.password, "")
    assert err.value.code == "LOGIN_MUST_USE_SECURITY_TOKEN"
    assert "Reset My Security Token" in err.value.auth_message


def test_soap_fault_is_http_500_with_sf_faultcode(salesforce_emulator: EmulatorHandle) -> None:
    body = (
        '<?xml version="1.0"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><env:Body><urn:login>'
        f"<urn:username>{salesforce_emulator.username}</urn:username><urn:password>nope</urn:password>"
        "</urn:login></env:Body></env:Envelope>"
    )
    resp = salesforce_emulator.session().post(
        f"{salesforce_emulator.base_url}/services/Soap/u/{VERSION}",
        data=body,
        headers={"content-type": "text/xml", "SOAPAction": "login"},
    )
    assert resp.status_code == 500
    assert "<faultcode>sf:INVALID_LOGIN</faultcode>" in resp.text


def test_api_disabled_for_org(salesforce_emulator: EmulatorHandle) -> None:
    salesforce_emulator.settings(api_disabled=True)
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        _soap(salesforce_emulator, salesforce_emulator.password, salesforce_emulator.security_token)
    assert err.value.code == "API_DISABLED_FOR_ORG"


def test_oauth_password_grant(salesforce_emulator: EmulatorHandle) -> None:
    emu = salesforce_emulator
    resp = emu.session().post(
        f"{emu.base_url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": emu.consumer_key,
            "client_secret": emu.consumer_secret,
            "username": emu.username,
            "password": emu.password + emu.security_token,
        },
    )
    assert resp.status_code == 200
    token = resp.json()
    assert token["instance_url"] == emu.base_url
    assert token["token_type"] == "Bearer"
    assert {"access_token", "id", "issued_at", "signature"} <= set(token)
    limits = emu.session().get(
        f"{emu.base_url}/services/data/v{VERSION}/limits",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert limits.status_code == 200


def test_oauth_bad_password_is_invalid_grant(salesforce_emulator: EmulatorHandle) -> None:
    emu = salesforce_emulator
    resp = emu.session().post(
        f"{emu.base_url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": emu.consumer_key,
            "client_secret": emu.consumer_secret,
            "username": emu.username,
            "password": "bad",
        },
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_oauth_client_credentials_with_basic_auth(salesforce_emulator: EmulatorHandle) -> None:
    emu = salesforce_emulator
    ok = emu.session().post(
        f"{emu.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(emu.consumer_key, emu.consumer_secret),
    )
    assert ok.status_code == 200 and ok.json()["access_token"]
    bad = emu.session().post(
        f"{emu.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(emu.consumer_key, "wrong"),
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"


def test_unknown_session_is_401_invalid_session_id(salesforce_emulator: EmulatorHandle) -> None:
    resp = salesforce_emulator.session().get(
        f"{salesforce_emulator.base_url}/services/data/v{VERSION}/limits",
        headers={"Authorization": "Bearer nope"},
    )
    assert resp.status_code == 401
    assert resp.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expire_sessions_forces_relogin(salesforce_emulator: EmulatorHandle) -> None:
    sf = login(salesforce_emulator)
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0
    assert salesforce_emulator.expire_sessions() == 1
    from simple_salesforce import SalesforceExpiredSession

    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead")
    assert login(salesforce_emulator).query("SELECT Id FROM Lead")["totalSize"] == 0


def test_settings_change_the_login_until_a_reset(salesforce_emulator: EmulatorHandle) -> None:
    salesforce_emulator.settings(password="rotated", security_token="")
    with pytest.raises(SalesforceAuthenticationFailed):
        _soap(salesforce_emulator, salesforce_emulator.password, salesforce_emulator.security_token)
    assert _soap(salesforce_emulator, "rotated", "")[0]
    salesforce_emulator.reset()
    assert _soap(salesforce_emulator, salesforce_emulator.password, salesforce_emulator.security_token)[0]
