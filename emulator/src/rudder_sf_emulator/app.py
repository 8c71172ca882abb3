"""The emulator's front door: one function, ``handle``, answers every HTTPS request against an ``Org``.

It sends ``/__admin/`` to ``admin.py``, answers logins (SOAP and OAuth) and the version list itself, and lets a data
request through to ``rest.py`` only with a live session and API allowance left, counting it. Faults that concern
every data request (latency, 503s, expiring sessions) are applied here.
"""

from __future__ import annotations

import re
import time

from . import auth, rest
from .admin import handle_admin
from .http_types import Request, Response
from .org import Org
from .store import Txn

MAX_URL_BYTES = 16_384
_DATA_RE = re.compile(r"^/services/data/v(\d+\.\d+)(/.*)?$")
_SOAP_RE = re.compile(r"^/services/Soap/u/(\d+\.\d+)/?$")


def handle(org: Org, req: Request, raw_target: str) -> Response:
    """Answer one HTTPS request; ``raw_target`` is the request line's target, as sent (its length is limited)."""
    path = req.path
    if path.startswith("/__admin/"):
        with org.lock:
            return handle_admin(org, req)
    if len(raw_target.encode("latin-1", "replace")) > MAX_URL_BYTES:
        return Response.error(414, "URI_TOO_LONG", "URI Too Long")
    if (match := _SOAP_RE.match(path)) and req.method == "POST":
        with org.lock:
            return _soap_login(org, req, match.group(1))
    if path.rstrip("/") == "/services/oauth2/token" and req.method == "POST":
        with org.lock:
            return _oauth_login(org, req)
    if path.rstrip("/") == "/services/data" and req.method == "GET":
        return Response.json(
            200, [{"label": f"v{v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"} for v in range(31, 65)]
        )
    match = _DATA_RE.match(path)
    if match is None:
        return Response.error(404, "NOT_FOUND", "The requested resource does not exist")
    if org.faults.latency_ms:
        time.sleep(org.faults.latency_ms / 1000)
    with org.lock:
        resp = _data_request(org, req, match.group(1), (match.group(2) or "/")[1:])
        resp.headers.update(org.limit_header())
        return resp


def _data_request(org: Org, req: Request, version: str, sub: str) -> Response:
    """Session, API access and allowance checks and accounting, then the REST routes in one transaction."""
    if org.faults.next_request_fails():
        org.injected["server_unavailable"] += 1
        return Response.error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable (injected fault)")
    authz = req.header("authorization") or ""
    token = authz[7:].strip() if authz.lower().startswith("bearer ") else authz.strip()
    session = org.sessions.get(token)
    limit = org.faults.expire_session_after
    if session is not None and limit and session.calls >= limit:
        del org.sessions[token]
        org.injected["session_expired"] += 1
        session = None
    if session is None:
        return Response.error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if org.api_disabled:
        return Response.error(403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization.")
    if org.api_used >= org.daily_limit:
        return Response.error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    session.calls += 1
    org.api_used += 1
    org.by_endpoint[endpoint_name(req.method, sub)] += 1
    txn = Txn(org.store)
    resp = rest.dispatch(org, req, version, sub, txn)
    txn.commit()  # only validated changes reach the txn; all-or-none rollbacks never commit into it
    return resp


def _soap_login(org: Org, req: Request, version: str) -> Response:
    try:
        username, password = auth.parse_soap_login(req.body)
        auth.check_password(org.credentials, username, password, org.api_disabled)
    except auth.LoginError as err:
        org.login_failures += 1
        return Response(500, auth.soap_fault(err.code, err.message).encode(), "text/xml;charset=UTF-8")
    body = auth.soap_login_response(org.base_url, version, org.new_session(), username)
    return Response(200, body.encode(), "text/xml;charset=UTF-8")


def _oauth_login(org: Org, req: Request) -> Response:
    status, error = auth.oauth_check(org.credentials, req.body, req.header("authorization"), org.api_disabled)
    if status != 200:
        org.login_failures += 1
        return Response.json(status, error)
    return Response.json(200, auth.oauth_token(org.credentials, org.base_url, org.new_session()))


def endpoint_name(method: str, sub: str) -> str:
    """A coarse name for counters: ``query``, ``sobjects``, ``composite/sobjects``, ``jobs/ingest``,
    ``jobs/query`` ..."""
    parts = sub.strip("/").split("/")
    head = parts[0] if parts[0] else "resources"
    if head == "composite" and len(parts) > 1 and parts[1] == "sobjects":
        head = "composite/sobjects"
    elif head == "jobs" and len(parts) > 1:
        head = "jobs/query" if parts[1] == "query" else "jobs/ingest"
    elif head == "sobjects" and parts[-1] == "describe":
        head = "describe"
    return f"{method} {head}"
