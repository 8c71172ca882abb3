"""Logins (SOAP partner ``login()`` and OAuth 2.0 token) and the sessions they hand out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qs

from .ids import ORG_ID, USER_ID

INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
MUST_USE_TOKEN = (
    "Invalid username, password, security token; or user locked out. Are you at a new location? When accessing"
    " Salesforce--either via a desktop client or the API--from outside of your company's trusted networks, you must"
    " add a security token to your password to log in. To get your new security token, log in to Salesforce. From"
    " your personal settings, enter Reset My Security Token in the Quick Find box, then select Reset My Security"
    " Token."
)
API_DISABLED = "The API is not enabled for this Organization or Partner"


@dataclass(frozen=True)
class Credentials:
    """Who may log in: a user (SOAP, OAuth password flow) and a connected app (OAuth). The defaults are the
    emulator's documented demo login; the command line, its help, ``Config`` and ``EmulatorHandle`` take them from
    ``DEFAULT_CREDENTIALS``."""

    username: str = "demo@example.com"
    password: str = "demo-password"
    security_token: str = "DemoToken123"  # SOAP logins send the password followed by it; "" needs none
    consumer_key: str = "demo-consumer-key"
    consumer_secret: str = "demo-consumer-secret"


DEFAULT_CREDENTIALS = Credentials()


@dataclass
class Session:
    session_id: str
    calls: int = 0
    created: float = field(default_factory=time.time)


class LoginError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_session_id() -> str:
    return f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"


def check_password(creds: Credentials, username: str, password: str, api_disabled: bool) -> None:
    """Raise ``LoginError`` unless ``password`` is the password followed by the security token."""
    if username.strip().lower() != creds.username.lower():
        raise LoginError("INVALID_LOGIN", INVALID_LOGIN)
    if password == creds.password + creds.security_token:
        if api_disabled:
            raise LoginError("API_DISABLED_FOR_ORG", API_DISABLED)
        return
    if creds.security_token and password == creds.password:
        raise LoginError("LOGIN_MUST_USE_SECURITY_TOKEN", MUST_USE_TOKEN)
    raise LoginError("INVALID_LOGIN", INVALID_LOGIN)


def parse_soap_login(body: bytes) -> tuple[str, str]:
    """``(username, password)`` from a partner-API login envelope; raises ``LoginError`` if unreadable."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise LoginError("INVALID_LOGIN", f"Bad SOAP request: {exc}") from None
    values: dict[str, str] = {}
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local in {"username", "password"}:
            values[local] = element.text or ""
    if "username" not in values:
        raise LoginError("INVALID_LOGIN", INVALID_LOGIN)
    return values["username"], values.get("password", "")


def soap_login_response(base_url: str, version: str, session_id: str, username: str) -> str:
    server = f"{base_url}/services/Soap/u/{version}/{ORG_ID[:15]}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base_url}/services/Soap/m/{version}/{ORG_ID[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{escape(session_id)}</sessionId><userId>{USER_ID}</userId>"
        "<userInfo><accessibilityMode>false</accessibilityMode><currencySymbol>$</currencySymbol>"
        f"<orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><organizationId>{ORG_ID}</organizationId>"
        "<organizationMultiCurrency>false</organizationMultiCurrency>"
        "<organizationName>Rudder SF Emulator</organizationName><sessionSecondsValid>7200</sessionSecondsValid>"
        f"<userEmail>{escape(username)}</userEmail><userFullName>Demo User</userFullName><userId>{USER_ID}</userId>"
        f"<userName>{escape(username)}</userName><userType>Standard</userType></userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def soap_fault(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode>"
        f"<faultstring>{code}: {escape(message)}</faultstring>"
        f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def oauth_check(
    creds: Credentials, body: bytes, authorization: str | None, api_disabled: bool
) -> tuple[int, dict[str, str]]:
    """Validate a token request: ``(200, {})`` or ``(400, error body)``."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    grant = form.get("grant_type", "")
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if authorization and authorization.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
    if grant not in {"password", "client_credentials"}:
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
    if client_id != creds.consumer_key:
        return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
    if client_secret != creds.consumer_secret:
        return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
    if grant == "password":
        try:
            check_password(creds, form.get("username", ""), form.get("password", ""), api_disabled)
        except LoginError:
            return 400, {"error": "invalid_grant", "error_description": "authentication failure"}
    elif api_disabled:
        return 400, {"error": "invalid_grant", "error_description": "authentication failure"}
    return 200, {}


def oauth_token(creds: Credentials, base_url: str, session_id: str) -> dict[str, Any]:
    issued_at = str(int(time.time() * 1000))
    identity = f"{base_url}/id/{ORG_ID}/{USER_ID}"
    digest = hmac.new(creds.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    return {
        "access_token": session_id,
        "instance_url": base_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(digest).decode(),
        "scope": "api",
    }
