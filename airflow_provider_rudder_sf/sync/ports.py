"""What the sync engine needs from the world around it: a log, a Salesforce writer, a dead-letter sink.

Protocols, so the engine, its tests and its benchmarks can hand in the real writer (``SalesforceWriter``), the
real sink (``DeadLetterWriter``) or, without a dead-letter location, :class:`LogOnlyDeadLetters`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from airflow_provider_rudder_sf.mapping import LeadMatch, ObjectSchema, Write
from airflow_provider_rudder_sf.mapping.model import Stage
from airflow_provider_rudder_sf.salesforce.results import BatchProgress, WriteReport


class Log(Protocol):
    """A standard library logger or Airflow's task logger: %-style messages only, so both work."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


class Writer(Protocol):
    """What the engine needs from :class:`~airflow_provider_rudder_sf.salesforce.writer.SalesforceWriter`."""

    @property
    def api_calls(self) -> int: ...

    describe_calls: int

    def lookup_leads(self, emails: Iterable[str]) -> dict[str, tuple[LeadMatch, ...]]: ...

    def start_lead_export(self, emails: Collection[str]) -> bool: ...

    def schemas(self, sobjects: Iterable[str]) -> dict[str, ObjectSchema | None]: ...

    def match_records(self, sobject: str, field: str, values: Iterable[Any]) -> dict[str, tuple[str, ...]]: ...

    def write(
        self,
        writes: Sequence[Write],
        *,
        on_batch: Callable[[BatchProgress], None] | None = None,
        mode: Literal["rest", "bulk"] = "rest",
    ) -> WriteReport: ...

    def batch_count(self, writes: Sequence[Write]) -> int: ...


class DeadLetterSink(Protocol):
    """What the engine needs from :class:`~airflow_provider_rudder_sf.deadletter.DeadLetterWriter`."""

    count: int

    @property
    def location(self) -> str: ...

    def write(
        self,
        event: object,
        *,
        stage: Stage,
        code: str,
        reason: str,
        origin: str | None = None,
        seq: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None: ...


class LogOnlyDeadLetters:
    """Used when no ``dead_letter`` location is configured: counts and logs codes, so nothing is silently dropped."""

    location = ""

    def __init__(self, log: Log) -> None:
        self._log = log
        self.count = 0

    def write(
        self,
        event: object,
        *,
        stage: Stage,
        code: str,
        reason: str,
        origin: str | None = None,
        seq: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        # The reason may quote a trait value (PII): log only the code and where the event came from.
        self.count += 1
        self._log.warning("Dead letter (no dead_letter location set): %s at %s stage, from %s", code, stage, origin)
