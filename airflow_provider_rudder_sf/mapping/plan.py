"""From eligible events and Lead look-up results to the writes to make (design.md rules 3, 5, 8, 9).

All events of one run that hit the same record fold into one write, the later ``timestamp`` winning per
field (arrival order breaks ties). ``n/a`` fills a missing LastName (and Lead Company) on create only.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from airflow_provider_rudder_sf.mapping.fields import CREATE_DEFAULT, TABLES
from airflow_provider_rudder_sf.mapping.model import (
    IdentifyEvent,
    LeadMatch,
    Operation,
    Plan,
    Rejected,
    Target,
    Write,
)
from airflow_provider_rudder_sf.mapping.names import record_key_id
from airflow_provider_rudder_sf.mapping.options import MappingOptions
from airflow_provider_rudder_sf.mapping.traits import MappingError, map_traits


class _Resolved(NamedTuple):
    """Where one event's traits go: one record, keyed so that every event for it folds together."""

    key: str
    sobject: str
    operation: Operation
    record_id: str | None
    natural_key: tuple[str, str] | None = None
    external_id: tuple[str, str] | None = None


def record_key(event: IdentifyEvent) -> str:
    """A stable key for the record an event is mainly about: used to shard a run so no two shards share it."""
    if event.targets:
        target = event.targets[0]
        return f"{target.sobject}:{target.record_id or event.message_id or event.seq}"
    return f"lead-email:{event.email}"


def shard_of(key: str, shards: int) -> int:
    """Deterministic across processes (unlike ``hash()``), so every worker agrees on the shard of a key."""
    return zlib.crc32(key.encode("utf-8")) % shards


def lead_emails(events: Iterable[IdentifyEvent]) -> set[str]:
    """The e-mails to look up: those of events that follow the Lead path (no Salesforce externalId)."""
    return {event.email for event in events if not event.targets and event.email is not None}


def build_plan(
    events: Iterable[IdentifyEvent],
    lead_matches: Mapping[str, Sequence[LeadMatch]],
    options: MappingOptions,
) -> Plan:
    """``lead_matches`` maps lower-cased e-mail to the Leads found for it (absent: none found)."""
    groups: dict[str, tuple[_Resolved, list[tuple[float, int, Mapping[str, Any]]]]] = {}
    rejected: list[Rejected] = []
    dropped: Counter[str] = Counter()

    for event in events:
        resolved = _resolve(event, lead_matches, options)
        if isinstance(resolved, Rejected):
            rejected.append(resolved)
            continue
        mapped_parts = []
        for target in resolved:
            mapped = map_traits(event.traits, target.sobject, map_properties=options.map_properties)
            if isinstance(mapped, MappingError):
                rejected.append(Rejected(event.raw, "validate", mapped.code, mapped.reason, event.seq))
                break
            mapped_parts.append((target, mapped))
        else:
            for target, mapped in mapped_parts:
                dropped.update(mapped.dropped_system_fields)
                group = groups.setdefault(target.key, (target, []))
                group[1].append((event.timestamp, event.seq, mapped.fields))

    writes = tuple(_fold(target, parts) for target, parts in groups.values())
    return Plan(writes=writes, rejected=tuple(rejected), dropped_system_fields=dict(dropped))


def _resolve(
    event: IdentifyEvent, lead_matches: Mapping[str, Sequence[LeadMatch]], options: MappingOptions
) -> tuple[_Resolved, ...] | Rejected:
    if event.targets:
        return tuple(_external_target(event, target, options) for target in event.targets)
    assert event.email is not None  # classify() rejects Lead-path events without one
    matches = lead_matches.get(event.email, ())
    if not matches:
        return (_Resolved(f"Lead:email:{event.email}", "Lead", "create", None, natural_key=("Email", event.email)),)
    if len(matches) > 1:
        return Rejected(
            event.raw,
            "validate",
            "ambiguous_match",
            f"{len(matches)} Leads have this email, so the event cannot be matched to one of them.",
            event.seq,
        )
    (match,) = matches
    if not match.is_converted:
        return (_Resolved(f"Lead:{record_key_id(match.id)}", "Lead", "update", match.id),)
    if not options.use_contact_id:
        return Rejected(
            event.raw,
            "validate",
            "lead_converted",
            "The Lead with this email is converted and Salesforce refuses updates to converted Leads; "
            "set use_contact_id=True to update its Contact instead.",
            event.seq,
        )
    if not match.converted_contact_id:
        return Rejected(
            event.raw,
            "validate",
            "converted_contact_missing",
            "The Lead with this email is converted but has no ConvertedContactId to update.",
            event.seq,
        )
    contact_id = match.converted_contact_id
    return (_Resolved(f"Contact:{record_key_id(contact_id)}", "Contact", "update", contact_id),)


def _external_target(event: IdentifyEvent, target: Target, options: MappingOptions) -> _Resolved:
    if target.record_id is not None:
        return _Resolved(
            f"{target.sobject}:{record_key_id(target.record_id)}", target.sobject, "update", target.record_id
        )
    if options.external_id_field and event.message_id:
        return _Resolved(
            f"{target.sobject}:{options.external_id_field}:{event.message_id}",
            target.sobject,
            "upsert",
            None,
            external_id=(options.external_id_field, event.message_id),
        )
    return _Resolved(f"{target.sobject}:new:{event.seq}", target.sobject, "create", None)


def _fold(target: _Resolved, parts: list[tuple[float, int, Mapping[str, Any]]]) -> Write:
    parts.sort(key=lambda part: (part[0], part[1]))
    fields: dict[str, Any] = {}
    for _, _, part_fields in parts:
        fields.update(part_fields)
    if target.operation != "update":
        table = TABLES.get(target.sobject)
        for required in table.required_on_create if table is not None else ():
            if not _has_field(fields, required):
                fields[required] = CREATE_DEFAULT
    external_id_field = None
    if target.external_id is not None:
        external_id_field, value = target.external_id
        fields[external_id_field] = value
    return Write(
        key=target.key,
        sobject=target.sobject,
        operation=target.operation,
        record_id=target.record_id,
        fields=fields,
        sources=tuple(part[1] for part in parts),
        natural_key=target.natural_key,
        external_id_field=external_id_field,
    )


def _has_field(fields: Mapping[str, Any], name: str) -> bool:
    """Salesforce field names are case-insensitive, and traits sent as they are may use any case."""
    if name in fields:
        return True
    lowered = name.lower()
    return any(key.lower() == lowered for key in fields)
