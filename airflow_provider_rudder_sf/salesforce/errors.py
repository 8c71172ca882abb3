"""One table from Salesforce error codes and HTTP statuses to what the caller should do about them.

Everything that decides "retry, re-login, stop or give up" reads :func:`classify`, so the policy lives in one
place (like simple-salesforce's status table, but by outcome instead of by exception class).
"""

from __future__ import annotations

import enum
from typing import Literal

import requests


class Outcome(enum.Enum):
    """What a failure means for the caller."""

    TRANSIENT = "transient"  # back off and resend
    RELOGIN = "relogin"  # the session is gone: log in again once, then resend
    STOP = "stop"  # the org's API allocation is spent: stop cleanly, send the rest later
    PERMANENT = "permanent"  # resending will not help


CODE_OUTCOMES: dict[str, Outcome] = {
    "UNABLE_TO_LOCK_ROW": Outcome.TRANSIENT,
    "SERVER_UNAVAILABLE": Outcome.TRANSIENT,
    "INVALID_SESSION_ID": Outcome.RELOGIN,
    "REQUEST_LIMIT_EXCEEDED": Outcome.STOP,
}

# Transient answers that Salesforce documents as refused before processing: nothing was applied, so even a create
# is resent as it is. Every other transient failure of a create (a time-out, a reset, a 502/504 without a Salesforce
# body) is uncertain: the writer looks the records up before sending them again.
NOT_APPLIED_CODES: frozenset[str] = frozenset({"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED"})

STATUS_OUTCOMES: dict[int, Outcome] = {
    500: Outcome.TRANSIENT,
    502: Outcome.TRANSIENT,
    503: Outcome.TRANSIENT,
    504: Outcome.TRANSIENT,
    401: Outcome.RELOGIN,
}


def classify(code: str | None = None, status: int | None = None) -> Outcome:
    """Outcome of a Salesforce error: the error code decides first, then the HTTP status."""
    if code and code in CODE_OUTCOMES:
        return CODE_OUTCOMES[code]
    if status is not None and status in STATUS_OUTCOMES:
        return STATUS_OUTCOMES[status]
    return Outcome.PERMANENT


def classify_exception(exc: BaseException) -> Outcome:
    """Outcome of a transport failure: TLS problems are permanent, lost connections and time-outs transient."""
    if isinstance(exc, requests.exceptions.SSLError):
        return Outcome.PERMANENT
    if isinstance(
        exc,
        requests.exceptions.ConnectionError | requests.exceptions.Timeout | requests.exceptions.ChunkedEncodingError,
    ):
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


class SalesforceApiError(Exception):
    """Base of every error this package raises; messages never contain secrets or the session id."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


# Login failures worth an Airflow retry: the server or the network, not the credentials. Every other login failure
# (wrong password or token, locked user, no API access, untrusted certificate) fails once: retrying a refused login
# locks the user out after 10 attempts by default.
RETRYABLE_LOGIN_CODES: frozenset[str] = frozenset({"CONNECTION_FAILED", "TIMEOUT", "SERVER_UNAVAILABLE"})


class SalesforceLoginError(SalesforceApiError):
    """Login failed; the message says what to change (credentials, token, sandbox, ca_bundle, host)."""

    @property
    def retryable(self) -> bool:
        code = self.code or ""
        return code in RETRYABLE_LOGIN_CODES or (code.isdigit() and code.startswith("5"))


class SessionExpired(SalesforceApiError):
    """The session stayed invalid after one fresh login."""


class TransientError(SalesforceApiError):
    """A transient failure that outlasted the retries (or one on a request that must not be resent blindly)."""


class PermanentError(SalesforceApiError):
    """Salesforce refused the request; resending the same request will not help."""


class BudgetExhausted(SalesforceApiError):
    """Salesforce answered REQUEST_LIMIT_EXCEEDED: the org's API allocation is spent for now."""


class ReserveReached(BudgetExhausted):
    """The next call would eat into the share of the daily allocation kept free for other integrations."""


StopReason = Literal["request_limit", "api_reserve", "transient", "session_expired"]

# Why a run stopped before sending everything, by the error that stopped it (most specific class first). The REST
# writer, the Bulk writer and the sync engine all read this one table.
STOP_REASONS: tuple[tuple[type[SalesforceApiError], StopReason], ...] = (
    (ReserveReached, "api_reserve"),
    (BudgetExhausted, "request_limit"),
    (SessionExpired, "session_expired"),
    (SalesforceLoginError, "session_expired"),
    (TransientError, "transient"),
)


def stop_reason(exc: BaseException) -> StopReason:
    """The stop reason of an error that ends a run early; anything else that stops one counts as transient."""
    return next((reason for kind, reason in STOP_REASONS if isinstance(exc, kind)), "transient")
