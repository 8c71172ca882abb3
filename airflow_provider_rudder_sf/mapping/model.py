"""Immutable values that flow from a staged event to a Salesforce write.

Every staged input ends as exactly one of :class:`IdentifyEvent` (eligible), :class:`Ignored` or
:class:`Rejected`; the planner turns eligible events into :class:`Write` values.

The per-event values are ``NamedTuple``s rather than frozen dataclasses: just as immutable, and several times
cheaper to build, which matters at a million events a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from airflow_provider_rudder_sf.mapping.coerce import FieldIssue

Stage = Literal["parse", "validate", "schema", "salesforce"]
STAGES: frozenset[str] = frozenset({"parse", "validate", "schema", "salesforce"})
Operation = Literal["create", "update", "upsert"]
JSONValue = Any


class Rejected(NamedTuple):
    """Bad input, kept with the original event so it can go to the dead letter unchanged."""

    raw: object
    stage: Stage
    code: str
    reason: str
    seq: int = -1
    fields: tuple[FieldIssue, ...] = ()


class Ignored(NamedTuple):
    """An event that is not for Salesforce (another type, or the integration not enabled): counted, never an error."""

    raw: object
    reason: str
    seq: int = -1


class Target(NamedTuple):
    """One ``context.externalId`` entry of type ``Salesforce-<Object>``: update ``record_id``, or create if None.

    A RudderStack rETL entry whose ``identifierType`` names a field sets ``match_field``/``match_value``: find the
    record whose field holds the value, update it, or create it with the value set.
    """

    sobject: str
    record_id: str | None
    match_field: str | None = None
    match_value: Any = None


class IdentifyEvent(NamedTuple):
    """An eligible identify event, validated; ``seq`` is its position in the run (ties on timestamp keep order)."""

    raw: object
    seq: int
    message_id: str | None
    timestamp: float
    traits: Mapping[str, JSONValue]
    email: str | None
    targets: tuple[Target, ...]
    mapped: bool = False  # context.mappedToDestination (rETL): traits are field names already, sent as they are


class LeadMatch(NamedTuple):
    """One Lead found by the e-mail look-up."""

    id: str
    is_converted: bool
    converted_contact_id: str | None


class Write(NamedTuple):
    """One record write: several events for the same record are folded into one.

    ``natural_key`` is a (field, value) pair that finds the record again if a create may have been applied
    before a connection failure, so the writer can turn a resend into an update instead of a duplicate.
    For ``upsert``, ``external_id_field`` names the External ID field whose value is in ``fields``.
    """

    key: str
    sobject: str
    operation: Operation
    record_id: str | None
    fields: Mapping[str, JSONValue]
    sources: tuple[int, ...]
    natural_key: tuple[str, Any] | None = None
    external_id_field: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send, what was refused while planning, and which read-only fields were recognised and dropped.

    ``field_issues`` holds, per event (``seq``), the fields skipped under ``on_field_error="skip"``;
    ``schema_issues`` and ``coercions`` count events per ``(sObject, field, code or coercion)`` for reports.
    """

    writes: tuple[Write, ...]
    rejected: tuple[Rejected, ...]
    dropped_system_fields: Mapping[str, int] = field(default_factory=dict)
    field_issues: Mapping[int, tuple[FieldIssue, ...]] = field(default_factory=dict)
    schema_issues: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    coercions: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
