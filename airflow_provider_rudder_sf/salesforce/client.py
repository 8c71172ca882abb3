"""The one place that sends requests to Salesforce: counting, usage tracking, retries, re-login, budget reserve.

simple-salesforce builds URLs and decodes answers; this module owns the policy simple-salesforce lacks or gets
wrong. Its own session refresh is never used (upstream #804: it recurses without bound on a persistent 401):
the ``Salesforce`` object is built in direct mode, and a 401 ``INVALID_SESSION_ID`` re-logs in exactly once
per call here.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from airflow_provider_rudder_sf.salesforce.auth import LoginResult, login
from airflow_provider_rudder_sf.salesforce.errors import (
    NOT_APPLIED_CODES,
    BudgetExhausted,
    Outcome,
    PermanentError,
    ReserveReached,
    SessionExpired,
    TransientError,
    classify,
    classify_exception,
)
from airflow_provider_rudder_sf.salesforce.session import PinnedTrustSession
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings

log = logging.getLogger(__name__)
_encode_json = msgspec.json.Encoder().encode

T = TypeVar("T")
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential back-off with jitter: attempt n waits between d/2 and d, d = min(cap, base * 2**(n-1))."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return float(ceiling / 2 + rand() * ceiling / 2)


@dataclass(frozen=True)
class DailyApiLimit:
    """The org's rolling 24-hour API allocation as ``/limits`` reports it."""

    max: int
    remaining: int

    @property
    def used(self) -> int:
        return self.max - self.remaining


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """``Sforce-Limit-Info: api-usage=used/limit[; ...]`` → (used, limit); None when absent or unreadable."""
    if not header:
        return None
    match = _USAGE.search(header)
    return (int(match.group(1)), int(match.group(2))) if match else None


def error_details(exc: SalesforceError) -> tuple[str | None, str]:
    """The ``errorCode`` and message of a simple-salesforce REST error (content is a list of error objects)."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return first.get("errorCode") or first.get("statusCode"), str(first.get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode"), str(content.get("message", ""))
    return None, str(content)[:300]


class SalesforceClient:
    """Authenticated access to one org's REST API through simple-salesforce.

    Logs in lazily on the first call. ``api_calls`` counts every REST request sent (retries included, logins
    excluded); ``api_usage`` is the latest ``Sforce-Limit-Info`` reading. A call that would leave less than
    ``api_reserve`` of the daily allocation is refused with :class:`ReserveReached`.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        api_reserve: float = 0.10,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
        on_session_id: Callable[[str], None] | None = None,
    ) -> None:
        if not 0.0 <= api_reserve < 1.0:
            raise ValueError(f"api_reserve must be in [0, 1), got {api_reserve!r}")
        self.settings = settings
        self.api_reserve = api_reserve
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        self.session = session or PinnedTrustSession(ca_bundle=settings.ca_bundle, timeout=settings.timeout)
        self.session.hooks["response"].append(self._observe)
        self._on_session_id = on_session_id
        self._sf: Salesforce | None = None
        self._login: LoginResult | None = None
        self.api_calls = 0
        self.logins = 0
        self.api_usage: tuple[int, int] | None = None

    # -- session ---------------------------------------------------------------------------------------------
    def _connect(self) -> Salesforce:
        result = login(self.settings, self.session)
        self.logins += 1
        if self._on_session_id is not None:
            self._on_session_id(result.session_id)
        self._login = result
        self._sf = Salesforce(
            instance_url=result.instance_url,
            session_id=result.session_id,
            session=self.session,
            version=self.settings.api_version,
            object_pairs_hook=dict,
        )
        log.info("Logged in to Salesforce instance %s", result.instance_url)
        return self._sf

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client (direct mode, never refreshing itself); logs in on first use."""
        return self._sf if self._sf is not None else self._connect()

    @property
    def instance_url(self) -> str:
        self.sf  # noqa: B018 - logs in when needed
        assert self._login is not None
        return self._login.instance_url

    def relogin(self) -> None:
        """Throw the session away and log in again."""
        self._sf = None
        self._connect()

    # -- accounting -----------------------------------------------------------------------------------------
    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.api_usage = usage
        return response

    def reserve_calls(self, limit: int) -> int:
        return math.ceil(limit * self.api_reserve)

    def _check_budget(self) -> None:
        if self.api_reserve <= 0:
            return
        if self.api_usage is None:
            daily = self._fetch_limits()
            if self.api_usage is None:
                self.api_usage = (daily.used, daily.max)
        assert self.api_usage is not None
        used, limit = self.api_usage
        keep = self.reserve_calls(limit)
        if used + 1 > limit - keep:
            raise ReserveReached(
                f"Stopped before the next Salesforce call: {used:,} of {limit:,} daily API calls are used and "
                f"{keep:,} ({self.api_reserve:.0%}) are kept in reserve for other integrations. The writes not "
                "sent are kept for the next run; lower api_reserve to spend more of the allocation.",
                code="API_RESERVE",
            )

    # -- calls ---------------------------------------------------------------------------------------------
    def call(self, fn: Callable[[Salesforce], T], *, name: str, idempotent: bool = True) -> T:
        """Run one REST request through the retry, re-login and budget policy.

        ``idempotent=False`` (creates) makes a transient failure raise at once: the request may have been
        applied, so the caller must check before resending.
        """
        return self._call(fn, name=name, idempotent=idempotent, budgeted=True)

    def _call(self, fn: Callable[[Salesforce], T], *, name: str, idempotent: bool, budgeted: bool) -> T:
        attempt = 0
        relogged = False
        while True:
            sf = self.sf
            if budgeted:
                self._check_budget()
            self.api_calls += 1
            try:
                return fn(sf)
            except SalesforceError as exc:
                code, message = error_details(exc)
                outcome = classify(code, exc.status)
                status: int | None = exc.status
            except requests.exceptions.RequestException as exc:
                code, message, status = type(exc).__name__, _transport_reason(exc), None
                outcome = classify_exception(exc)
            if outcome is Outcome.RELOGIN:
                if relogged:
                    raise SessionExpired(
                        f"Salesforce refused the session again right after a fresh login ({code}) on {name}.",
                        code=code,
                        status=status,
                    )
                log.info("Salesforce session expired during %s; logging in again once", name)
                relogged = True
                self.relogin()
                continue
            if outcome is Outcome.STOP:
                raise BudgetExhausted(
                    f"Salesforce refused {name}: {code}: {message}. The org's API allocation is spent; "
                    "the writes not sent are kept for the next run.",
                    code=code,
                    status=status,
                )
            if outcome is Outcome.TRANSIENT:
                attempt += 1
                # A create may be resent blindly only when Salesforce said it refused it before processing.
                safe_to_resend = idempotent or code in NOT_APPLIED_CODES
                if not safe_to_resend or attempt >= self.retry.attempts:
                    raise TransientError(
                        f"{name} failed with a transient error after {attempt} attempt(s): {code}: {message}",
                        code=code,
                        status=status,
                    )
                log.info("%s hit a transient error (%s); retry %d of %d", name, code, attempt, self.retry.attempts - 1)
                self.backoff(attempt)
                continue
            raise PermanentError(f"Salesforce refused {name}: {code}: {message}", code=code, status=status)

    def backoff(self, attempt: int) -> None:
        """Sleep before retry number ``attempt`` (1-based) according to the retry policy."""
        self._sleep(self.retry.delay(attempt, self._rand))

    def restful(
        self,
        path: str,
        *,
        method: str = "GET",
        json: Any = None,
        idempotent: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A REST call relative to ``/services/data/vXX.X/`` (for example ``composite/sobjects``)."""
        extra: dict[str, Any] = {"headers": headers} if headers else {}
        if json is not None:
            # Encoded here, once (a retry resends the same bytes), by msgspec: the standard library's encoder cost
            # a tenth of a REST run's CPU. simple-salesforce already sends Content-Type: application/json.
            extra["data"] = _encode_json(json)
        return self.call(
            lambda sf: sf.restful(path, method=method, **extra),
            name=f"{method} {path}",
            idempotent=idempotent,
        )

    def query(self, soql: str) -> dict[str, Any]:
        """First page of a SOQL query."""
        result: dict[str, Any] = self.call(lambda sf: sf.query(soql), name="query")
        return result

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        """The page at a ``nextRecordsUrl``."""
        result: dict[str, Any] = self.call(
            lambda sf: sf.query_more(next_records_url, identifier_is_url=True), name="query_more"
        )
        return result

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a query, following ``nextRecordsUrl`` paging."""
        page = self.query(soql)
        records = list(page.get("records", []))
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self.query_more(page["nextRecordsUrl"])
            records.extend(page.get("records", []))
        return records

    def query_url_length(self, soql: str) -> int:
        """Length of the URL a query request for ``soql`` uses (requests encodes ``q`` with quote_plus)."""
        return len(self.sf.base_url + "query/?" + urlencode({"q": soql}))

    def _fetch_limits(self) -> DailyApiLimit:
        body = self._call(lambda sf: sf.limits(), name="limits", idempotent=True, budgeted=False)
        daily = body.get("DailyApiRequests", {}) if isinstance(body, dict) else {}
        return DailyApiLimit(max=int(daily.get("Max", 0)), remaining=int(daily.get("Remaining", 0)))

    def daily_limit(self) -> DailyApiLimit:
        """``/limits`` DailyApiRequests (one API call, allowed even inside the reserve)."""
        daily = self._fetch_limits()
        log.info("Salesforce daily API calls: %s of %s left", f"{daily.remaining:,}", f"{daily.max:,}")
        return daily

    def limits(self) -> int:
        """Remaining daily API calls of the org."""
        return self.daily_limit().remaining

    def close(self) -> None:
        self.session.close()


def _transport_reason(exc: requests.exceptions.RequestException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS verification failed; set the connection extra 'ca_bundle' to a PEM file that trusts the server"
    return "connection failed"
