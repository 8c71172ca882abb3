"""Logging in to Salesforce: SOAP login, OAuth password, client-credentials and JWT bearer flows.

Every failure becomes one :class:`SalesforceLoginError` whose message says what to change; no password, token,
secret or session id ever reaches a message. SOAP login goes through ``simple_salesforce.SalesforceLogin`` with
``scratch_url`` so any base URL works (a My Domain or the local emulator); the OAuth flows POST to
``<login_url>/services/oauth2/token`` themselves because simple-salesforce can only build
``https://<domain>.salesforce.com`` token URLs.
"""

from __future__ import annotations

import html
import json
import logging
import time
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, urlparse

import jwt
import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import SalesforceLogin

from airflow_provider_rudder_sf.salesforce.errors import SalesforceLoginError
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings

log = logging.getLogger(__name__)

TOKEN_PATH = "/services/oauth2/token"
# Hosts an OAuth answer may send the session to: Salesforce's own domains, or the configured login host.
SALESFORCE_DOMAINS = (
    ".salesforce.com",
    ".force.com",
    ".cloudforce.com",
    ".salesforce.mil",
    ".sfcrmproducts.cn",
    ".salesforce-setup.com",
)
RESET_TOKEN_HINT = "Reset it in Salesforce under Settings > My Personal Information > Reset My Security Token"


@dataclass(frozen=True)
class LoginResult:
    """A fresh session: the bearer token and the https base URL of the org's instance."""

    session_id: str
    instance_url: str

    def __repr__(self) -> str:
        return f"LoginResult(session_id='***', instance_url={self.instance_url!r})"


def login(settings: SalesforceSettings, session: requests.Session) -> LoginResult:
    """Log in with the flow the settings select; raise :class:`SalesforceLoginError` with an actionable message."""
    url = settings.effective_login_url
    log.info("Logging in to Salesforce at %s (%s)", url, settings.auth_mode)
    try:
        if settings.auth_mode == "soap":
            return _soap_login(settings, session)
        return _token_login(settings, session)
    except SalesforceLoginError:
        raise
    except SalesforceAuthenticationFailed as exc:
        message = _auth_failure_message(settings, str(exc.code), str(exc.auth_message))
        raise SalesforceLoginError(_scrub(message, settings), code=str(exc.code)) from None
    except requests.exceptions.SSLError as exc:
        message = (
            f"TLS verification failed for {url}: the server's certificate is not trusted "
            f"({_reason(exc)}). Set the connection extra 'ca_bundle' to a PEM file that contains the "
            "certificate (or its CA); verification is never switched off."
        )
        raise SalesforceLoginError(_scrub(message, settings), code="TLS_UNTRUSTED") from None
    except requests.exceptions.ConnectionError as exc:
        host = urlparse(url).netloc
        message = (
            f"Could not connect to {host} ({_reason(exc)}): the connection was refused or the host is unknown. "
            "Check the connection's Login URL (host) and that the server is reachable from this machine."
        )
        raise SalesforceLoginError(_scrub(message, settings), code="CONNECTION_FAILED") from None
    except requests.exceptions.Timeout:
        message = f"Timed out after {settings.timeout:g} s waiting for {url} to answer the login."
        raise SalesforceLoginError(message, code="TIMEOUT") from None
    except OSError as exc:  # for example an unreadable CA bundle
        raise SalesforceLoginError(_scrub(f"Could not log in to {url}: {exc}", settings), code="OS_ERROR") from None


def _soap_login(settings: SalesforceSettings, session: requests.Session) -> LoginResult:
    if not settings.username or not settings.password:
        raise SalesforceLoginError("The connection needs a username (login) and a password.", code="MISSING_FIELDS")
    # The token goes inside the password so simple-salesforce XML-escapes both (it does not escape the token).
    session_id, instance = SalesforceLogin(
        username=settings.username,
        password=settings.password + (settings.security_token or ""),
        security_token="",
        sf_version=settings.api_version,
        session=session,
        scratch_url=settings.effective_login_url,
    )
    return LoginResult(session_id=session_id, instance_url=f"https://{instance}")


def _token_login(settings: SalesforceSettings, session: requests.Session) -> LoginResult:
    mode = settings.auth_mode
    data: dict[str, str]
    if mode == "jwt":
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": _jwt_assertion(settings)}
    elif mode == "oauth_password":
        data = {
            "grant_type": "password",
            "client_id": settings.consumer_key or "",
            "client_secret": settings.consumer_secret or "",
            "username": settings.username or "",
            "password": (settings.password or "") + (settings.security_token or ""),
        }
    else:
        data = {
            "grant_type": "client_credentials",
            "client_id": settings.consumer_key or "",
            "client_secret": settings.consumer_secret or "",
        }
    response = session.post(settings.effective_login_url + TOKEN_PATH, data=data)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SalesforceAuthenticationFailed(response.status_code, f"HTTP {response.status_code} without a JSON body")
    if response.status_code != 200 or "access_token" not in body:
        raise SalesforceAuthenticationFailed(
            str(body.get("error") or response.status_code), str(body.get("error_description") or "")
        )
    instance_url = str(body.get("instance_url") or settings.effective_login_url).rstrip("/")
    _check_instance_url(instance_url, settings)
    return LoginResult(session_id=str(body["access_token"]), instance_url=instance_url)


def _check_instance_url(instance_url: str, settings: SalesforceSettings) -> None:
    """The bearer session goes to ``instance_url`` with every request: only https on a Salesforce domain (or on
    the configured login host, e.g. a local emulator) may receive it."""
    parsed = urlparse(instance_url)
    host = (parsed.hostname or "").lower()
    login_host = (urlparse(settings.effective_login_url).hostname or "").lower()
    trusted = host == login_host or host.endswith(SALESFORCE_DOMAINS)
    if parsed.scheme != "https" or not host or not trusted:
        raise SalesforceLoginError(
            f"The OAuth answer named instance_url {parsed.scheme}://{host or '?'}, which is not https on a "
            f"Salesforce domain or on the login host {login_host}; the session was not used.",
            code="UNTRUSTED_INSTANCE_URL",
        )


def _jwt_assertion(settings: SalesforceSettings) -> str:
    """RS256-signed JWT bearer assertion (iss = consumer key, sub = username, aud = login URL, 3-minute expiry)."""
    claims = {
        "iss": settings.consumer_key,
        "sub": settings.username,
        "aud": settings.effective_login_url,
        "exp": int(time.time()) + 180,
    }
    try:
        return jwt.encode(claims, settings.private_key or "", algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        raise SalesforceLoginError(
            "The connection's private_key is not a valid RSA private key in PEM format.", code="INVALID_PRIVATE_KEY"
        ) from None


def _auth_failure_message(settings: SalesforceSettings, code: str, detail: str) -> str:
    url = settings.effective_login_url
    if code == "LOGIN_MUST_USE_SECURITY_TOKEN":
        return (
            f"Salesforce requires a security token for this user (LOGIN_MUST_USE_SECURITY_TOKEN) at {url}. "
            f"Set the connection extra 'security_token'. {RESET_TOKEN_HINT}; the new token arrives by e-mail."
        )
    if code == "API_DISABLED_FOR_ORG":
        return (
            "API access is disabled for this org or user (API_DISABLED_FOR_ORG). The REST API needs Enterprise, "
            "Unlimited, Developer or Performance edition and a profile with the 'API Enabled' permission."
        )
    if code in ("INVALID_LOGIN", "invalid_grant"):
        if settings.sandbox:
            env = "the sandbox login (sandbox is on)"
            toggle = "if this user belongs to a production org, turn 'sandbox' off"
        else:
            env = "production (sandbox is off)"
            toggle = "if this user belongs to a sandbox, turn 'sandbox' on"
        token = f"a wrong or outdated security token gives the same error ({RESET_TOKEN_HINT})"
        if settings.login_url:
            toggle = "check that the Login URL points at the right org"
        return (
            f"Salesforce rejected the username, password or security token ({code}) at {url}: "
            f"{(detail or '').rstrip('.')}. "
            f"Check them; {token}. The connection logs in to {env}; {toggle}."
        )
    if code in ("invalid_client_id", "invalid_client", "unauthorized_client"):
        return (
            f"Salesforce rejected the OAuth consumer key or secret ({code}) at {url}: {detail}. Check the Connected "
            "App's consumer key and secret and that the flow is enabled for it."
        )
    if code.isdigit():
        return (
            f"{url} did not answer like a Salesforce login endpoint (HTTP {code}). Check the connection's "
            "Login URL (host)."
        )
    return f"Salesforce refused the login at {url} ({code}): {detail}"


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a requests error, without the URL noise."""
    text = str(exc)
    marker = "certificate verify failed"
    if marker in text:
        detail = text[text.find(marker) :]
        detail = detail.split(" (_ssl", 1)[0].split("')", 1)[0].split('")', 1)[0]
        return detail.rstrip(" )]'\"").strip()
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return type(exc).__name__


def _scrub(message: str, settings: SalesforceSettings) -> str:
    """Belt and braces: remove any secret value that found its way into a message, in every encoding a login
    error can echo it (as is, XML/HTML entities, URL encoding, JSON string escapes)."""
    for secret in settings.secrets:
        if len(secret) < 3:
            continue
        for form in sorted(_encodings(secret), key=len, reverse=True):
            message = message.replace(form, "***")
    return message


def _encodings(secret: str) -> set[str]:
    forms = {secret, html.escape(secret), html.escape(secret, quote=False), quote(secret, safe=""), quote_plus(secret)}
    forms.add(json.dumps(secret)[1:-1])
    forms.add(secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;"))
    return {form for form in forms if form}
