"""From eligible events and Lead look-up results to the writes to make (design.md rules 3, 5, 8, 9).

All events of one run that hit the same record fold into one write, the later ``timestamp`` winning per
field (arrival order breaks ties). ``n/a`` fills a missing LastName (and Lead Company) on create only.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from airflow_provider_rudder_sf.mapping.check import Checked, FieldChecker, issues_reason
from airflow_provider_rudder_sf.mapping.coerce import FieldIssue, identifier_key
from airflow_provider_rudder_sf.mapping.fields import CREATE_DEFAULT, TABLES
from airflow_provider_rudder_sf.mapping.model import (
    IdentifyEvent,
    LeadMatch,
    Operation,
    Plan,
    Rejected,
    Stage,
    Target,
    Write,
)
from airflow_provider_rudder_sf.mapping.names import record_key_id
from airflow_provider_rudder_sf.mapping.options import MappingOptions
from airflow_provider_rudder_sf.mapping.schema import ObjectSchema
from airflow_provider_rudder_sf.mapping.traits import MappingError, map_traits


class _Resolved(NamedTuple):
    """Where one event's traits go: one record, keyed so that every event for it folds together."""

    key: str
    sobject: str
    operation: Operation
    record_id: str | None
    natural_key: tuple[str, Any] | None = None
    external_id: tuple[str, str] | None = None
    identifier: tuple[str, Any] | None = None  # rETL: the identifier field and value, always sent


def record_key(event: IdentifyEvent) -> str:
    """A stable key for the record an event is mainly about: used to shard a run so no two shards share it."""
    if event.targets:
        target = event.targets[0]
        sobject = target.sobject.lower()  # object names are case-insensitive in Salesforce
        if target.match_field is not None:
            if sobject == "lead" and target.match_field.lower() == "email" and type(target.match_value) is str:
                return f"lead-email:{target.match_value.lower()}"  # the same person as the e-mail path
            # Text identifiers compare case-insensitively in Salesforce, numbers as numbers (1 = 1.0 = "1.00"):
            # every spelling must land in one shard. The field's type is not known here, so anything that reads as
            # a number is keyed as one (two texts sharing a shard is harmless; one record split over two is not).
            value = identifier_key(target.match_value, numeric=True) or str(target.match_value).lower()
            return f"{sobject}:{target.match_field.lower()}:{value}"
        if target.record_id is not None:
            return f"{sobject}:{record_key_id(target.record_id)}"  # 15 and 18 characters: one record
        return f"{sobject}:{event.message_id or event.seq}"
    return f"lead-email:{event.email}"


def shard_of(key: str, shards: int) -> int:
    """Deterministic across processes (unlike ``hash()``), so every worker agrees on the shard of a key."""
    return zlib.crc32(key.encode("utf-8")) % shards


def lead_emails(events: Iterable[IdentifyEvent], options: MappingOptions | None = None) -> set[str]:
    """The e-mails to look up: those of events that follow the Lead path (no Salesforce externalId)."""
    if options is not None and not options.allows("Lead"):
        return set()
    return {event.email for event in events if not event.targets and event.email is not None}


def match_requests(
    events: Iterable[IdentifyEvent], into: dict[tuple[str, str], list[Any]] | None = None
) -> dict[tuple[str, str], list[Any]]:
    """The rETL look-ups to make: ``(sObject, identifier field)`` -> identifier values, in first-seen order
    (added to ``into`` when given, so a reader can gather them event by event)."""
    wanted: dict[tuple[str, str], list[Any]] = {} if into is None else into
    for event in events:
        for target in event.targets:
            if target.match_field is not None:
                wanted.setdefault((target.sobject, target.match_field), []).append(target.match_value)
    return wanted


# (sObject, field) lower-cased -> identifier key -> ids; None when Salesforce refused the look-up itself.
Matches = Mapping[tuple[str, str], Mapping[str, Sequence[str]] | None]


def build_plan(
    events: Iterable[IdentifyEvent],
    lead_matches: Mapping[str, Sequence[LeadMatch]],
    options: MappingOptions,
    *,
    record_matches: Matches | None = None,
    schemas: Mapping[str, ObjectSchema | None] | None = None,
) -> Plan:
    """``lead_matches`` maps lower-cased e-mail to the Leads found for it (absent: none found).

    ``record_matches`` maps ``(sObject, field)`` (lower-cased) to :func:`identifier_key` -> ids, from the rETL
    look-ups. ``schemas`` maps lower-cased sObject names to the org's schema (None: the org has no such object);
    without ``schemas`` nothing is checked against an org (the pure tests).
    """
    planner = _Planner(lead_matches, options, record_matches or {}, schemas)
    for event in events:
        try:
            planner.add(event)
        except Exception as exc:  # never let one event's data stop a run: it is that event's dead letter
            planner.rejected.append(
                Rejected(
                    event.raw,
                    "validate",
                    "unprocessable_event",
                    f"The event could not be mapped ({type(exc).__name__}); nothing was sent for it.",
                    event.seq,
                )
            )
    return planner.plan()


class _Planner:
    def __init__(
        self,
        lead_matches: Mapping[str, Sequence[LeadMatch]],
        options: MappingOptions,
        record_matches: Matches,
        schemas: Mapping[str, ObjectSchema | None] | None,
    ) -> None:
        self.lead_matches = lead_matches
        self.options = options
        self.record_matches = record_matches
        self.schemas = schemas
        # Fold key -> (target, parts): each part is (timestamp, seq, fields), the fields a dict only this planner holds.
        self.groups: dict[str, tuple[_Resolved, list[tuple[float, int, dict[str, Any]]]]] = {}
        self.rejected: list[Rejected] = []
        self.dropped: Counter[str] = Counter()
        self.field_issues: dict[int, tuple[FieldIssue, ...]] = {}
        self.schema_issues: Counter[tuple[str, str, str]] = Counter()
        self.coercions: Counter[tuple[str, str, str]] = Counter()
        self.checkers: dict[tuple[str, Operation], FieldChecker] = {}
        self.explicit_for = options.explicit_for if options.field_map else _no_field_map

    def plan(self) -> Plan:
        writes = tuple(_fold(target, parts) for target, parts in self.groups.values())
        return Plan(
            writes=writes,
            rejected=tuple(self.rejected),
            dropped_system_fields=dict(self.dropped),
            field_issues=self.field_issues,
            schema_issues=dict(self.schema_issues),
            coercions=dict(self.coercions),
        )

    def add(self, event: IdentifyEvent) -> None:
        resolved = _resolve(event, self.lead_matches, self.options, self.record_matches, self.schemas)
        if isinstance(resolved, Rejected):
            self.rejected.append(resolved)
            return
        parts: list[tuple[_Resolved, dict[str, Any], tuple[str, ...]]] = []
        issues: list[FieldIssue] = []
        coercions: set[tuple[str, str, str]] = set()
        map_properties = self.options.map_properties and not event.mapped
        for target in resolved:
            mapped = map_traits(
                event.traits, target.sobject, map_properties=map_properties, explicit=self.explicit_for(target.sobject)
            )
            if isinstance(mapped, MappingError):
                self.rejected.append(Rejected(event.raw, "validate", mapped.code, mapped.reason, event.seq))
                return
            fields, explicit = _own(mapped.fields), mapped.explicit
            if target.identifier is not None:
                # Not "explicit": an event naming a protected field as its identifier must not write it.
                fields = {**fields, target.identifier[0]: target.identifier[1]}
            checker = self._checker(target) if self.schemas is not None else None
            if checker is not None:
                checked = checker.check(fields, explicit)
                lost = _lost_key(target, checked)
                if lost is not None:  # created without its key, the record would be created again by every re-run
                    self.schema_issues[(lost.sobject, lost.field, lost.code)] += 1
                    reason = issues_reason((lost,)) + " It is the key that finds the record again, so nothing was sent."
                    self.rejected.append(Rejected(event.raw, "schema", "field_error", reason, event.seq, (lost,)))
                    return
                fields = checked.fields
                issues.extend(checked.issues)
                coercions.update((target.sobject, name, how) for name, how in checked.coercions)
            parts.append((target, fields, mapped.dropped_system_fields))
        for issue in issues:
            self.schema_issues[(issue.sobject, issue.field, issue.code)] += 1
        if issues and self.options.on_field_error == "reject":
            unique = tuple(dict.fromkeys(issues))
            self.rejected.append(Rejected(event.raw, "schema", "field_error", issues_reason(unique), event.seq, unique))
            return
        if coercions:  # Counter.update costs a microsecond even when there is nothing to count
            self.coercions.update(coercions)
        if issues:
            self.field_issues[event.seq] = tuple(dict.fromkeys(issues))
        for target, fields, dropped in parts:
            if dropped:
                self.dropped.update(dropped)
            group = self.groups.get(target.key)
            if group is None:
                group = self.groups[target.key] = (target, [])
            group[1].append((event.timestamp, event.seq, fields))

    def _checker(self, target: _Resolved) -> FieldChecker | None:
        if self.schemas is None:
            return None
        key = (target.sobject.lower(), target.operation)
        checker = self.checkers.get(key)
        if checker is None:
            schema = self.schemas.get(target.sobject.lower())
            if schema is None:
                return None  # _resolve already rejected events for objects the org does not have
            checker = FieldChecker(
                schema,
                target.operation,
                protected=self.options.protected_fields,
                truncate_text=self.options.truncate_text,
            )
            self.checkers[key] = checker
        return checker


def _no_field_map(sobject: str) -> None:
    return None


def _resolve(
    event: IdentifyEvent,
    lead_matches: Mapping[str, Sequence[LeadMatch]],
    options: MappingOptions,
    record_matches: Matches,
    schemas: Mapping[str, ObjectSchema | None] | None,
) -> tuple[_Resolved, ...] | Rejected:
    if event.targets:
        resolved = []
        for target in event.targets:
            if not options.allows(target.sobject):  # before the schema: an object never described is not "unknown"
                return _not_allowed(event, target.sobject)
            sobject = _canonical(target.sobject, schemas)
            if sobject is None:
                return _reject(
                    event,
                    "schema",
                    "unknown_object",
                    f"The org has no object {target.sobject} (or the integration user cannot see it).",
                )
            one = _external_target(event, target._replace(sobject=sobject), options, record_matches, schemas)
            if isinstance(one, Rejected):
                return one
            resolved.append(one)
        return tuple(resolved)
    if not options.allows("Lead"):
        return _not_allowed(event, "Lead")
    if schemas is not None and schemas.get("lead") is None:
        return _reject(event, "schema", "unknown_object", "The integration user cannot see the Lead object.")
    assert event.email is not None  # classify() rejects Lead-path events without one
    matches = lead_matches.get(event.email, ())
    if not matches:
        # (key, sobject, operation, record_id, natural_key): a NamedTuple built from keywords costs twice as much.
        return (_Resolved(_LEAD_EMAIL_KEY + event.email, "Lead", "create", None, ("Email", event.email)),)
    if len(matches) > 1:
        return _reject(
            event,
            "validate",
            "ambiguous_match",
            f"{len(matches)} Leads have this email, so the event cannot be matched to one of them.",
        )
    (match,) = matches
    if not match.is_converted:
        return (_Resolved(f"Lead:{record_key_id(match.id)}", "Lead", "update", match.id),)
    if not options.use_contact_id:
        return _reject(
            event,
            "validate",
            "lead_converted",
            "The Lead with this email is converted and Salesforce refuses updates to converted Leads; "
            "set use_contact_id=True to update its Contact instead.",
        )
    if not match.converted_contact_id:
        return _reject(
            event,
            "validate",
            "converted_contact_missing",
            "The Lead with this email is converted but has no ConvertedContactId to update.",
        )
    if not options.allows("Contact"):
        return _not_allowed(event, "Contact")
    if schemas is not None and schemas.get("contact") is None:
        return _reject(event, "schema", "unknown_object", "The integration user cannot see the Contact object.")
    contact_id = match.converted_contact_id
    return (_Resolved(f"Contact:{record_key_id(contact_id)}", "Contact", "update", contact_id),)


def _lost_key(target: _Resolved, checked: Checked) -> FieldIssue | None:
    """The issue that keeps a create's natural key (Lead Email, an rETL identifier) from being stored as looked up."""
    if target.natural_key is None or target.operation != "create":
        return None
    key = target.natural_key[0].lower()
    for issue in checked.issues:
        if issue.field.lower() == key:
            return issue
    for name, how in checked.coercions:
        if name.lower() == key and how == "truncated":
            return FieldIssue(
                target.sobject,
                name,
                "string_too_long",
                f"{target.sobject}.{name} is shorter than the identifier, and a cut identifier never matches again.",
            )
    stored = checked.fields.get(target.natural_key[0])  # checked fields carry the org's spelling, as the key does
    if stored is None:
        stored = next((value for name, value in checked.fields.items() if name.lower() == key), None)
    if stored is not None and not _same_key(stored, target.natural_key[1]):
        # e.g. traits with both "email" and "Email", or a field_map to Email: the record would be stored under
        # another key than the one it was looked up by, and every re-run would create it again.
        return FieldIssue(
            target.sobject,
            target.natural_key[0],
            "key_mismatch",
            f"{target.sobject}.{target.natural_key[0]} would be stored with another value than the one the record "
            "was looked up by.",
        )
    return None


def _same_key(stored: Any, looked_up: Any) -> bool:
    """Equal as Salesforce compares keys: as numbers when both read as numbers, else as text in any case."""
    if type(stored) is type(looked_up) and stored == looked_up:  # the common case: the key stored as looked up
        return True
    as_numbers = identifier_key(stored, numeric=True), identifier_key(looked_up, numeric=True)
    if None not in as_numbers:
        return as_numbers[0] == as_numbers[1]
    return str(stored).lower() == str(looked_up).lower()


def _canonical(sobject: str, schemas: Mapping[str, ObjectSchema | None] | None) -> str | None:
    """The org's spelling of an object name (Salesforce names are case-insensitive); None if the org lacks it."""
    if schemas is None:
        return sobject
    schema = schemas.get(sobject.lower())
    return schema.name or sobject if schema is not None else None


def _external_target(
    event: IdentifyEvent,
    target: Target,
    options: MappingOptions,
    record_matches: Matches,
    schemas: Mapping[str, ObjectSchema | None] | None,
) -> _Resolved | Rejected:
    if target.record_id is not None:
        return _Resolved(
            f"{target.sobject}:{record_key_id(target.record_id)}", target.sobject, "update", target.record_id
        )
    if target.match_field is not None:
        return _matched_target(event, target, record_matches, schemas)
    if options.external_id_field and event.message_id:
        return _Resolved(
            f"{target.sobject}:{options.external_id_field}:{event.message_id}",
            target.sobject,
            "upsert",
            None,
            external_id=(options.external_id_field, event.message_id),
        )
    return _Resolved(f"{target.sobject}:new:{event.seq}", target.sobject, "create", None)


def _matched_target(
    event: IdentifyEvent,
    target: Target,
    record_matches: Matches,
    schemas: Mapping[str, ObjectSchema | None] | None,
) -> _Resolved | Rejected:
    """rETL: update the one record whose identifier field holds the value, or create it with the value set."""
    sobject, field, value = target.sobject, str(target.match_field), target.match_value
    numeric = False
    schema = schemas.get(sobject.lower()) if schemas is not None else None
    if schema is not None:
        spec = schema.field(field)
        if spec is None:
            return _reject(
                event,
                "schema",
                "field_error",
                f"The identifier field {sobject}.{field} does not exist or the integration user cannot see it.",
            )
        field, numeric = spec.name, spec.numeric
    key = identifier_key(value, numeric=numeric)
    if key is None:
        return _reject(
            event,
            "validate",
            "invalid_external_id",
            f"context.externalId[0].id cannot be compared with the {'number' if numeric else 'text'} field "
            f"{sobject}.{field}.",
        )
    found = record_matches.get((sobject.lower(), field.lower()), {})
    if found is None:  # the look-up itself was refused: never guess "none found" and create
        return _reject(
            event,
            "salesforce",
            "lookup_failed",
            f"Salesforce refused the look-up of {sobject} by {field}, so the record cannot be matched.",
        )
    ids = found.get(key, ())
    if len(ids) > 1:
        return _reject(
            event,
            "validate",
            "ambiguous_match",
            f"{len(ids)} {sobject} records have this {field}, so the event cannot be matched to one of them.",
        )
    if ids:
        # The identifier is not sent on update: the record holds it already (maybe spelled otherwise), and a key
        # the user may not update must not cost the event a field (RudderStack sends the traits only).
        return _Resolved(f"{sobject}:{record_key_id(ids[0])}", sobject, "update", ids[0])
    return _Resolved(
        _create_key(sobject, field, key), sobject, "create", None, natural_key=(field, value), identifier=(field, value)
    )


def _create_key(sobject: str, field: str, key: str) -> str:
    """The fold key of a record to create, found by a field: one form for the e-mail path and rETL matches, so an
    rETL event matching a Lead by Email and an identify event for that e-mail create one Lead, not two."""
    return f"{sobject.lower()}:{field.lower()}:{key}"


_LEAD_EMAIL_KEY = _create_key("Lead", "Email", "s:")  # + the e-mail: the fold key of a Lead to create


def _reject(event: IdentifyEvent, stage: Stage, code: str, reason: str) -> Rejected:
    return Rejected(event.raw, stage, code, reason, event.seq)


def _not_allowed(event: IdentifyEvent, sobject: str) -> Rejected:
    return _reject(
        event,
        "validate",
        "object_not_allowed",
        f"The event targets {sobject}, which is not in allowed_objects; nothing was sent.",
    )


_FOLD_ORDER = itemgetter(0, 1)  # (timestamp, seq); a stable sort keeps two parts of one event in target order


def _own(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` as a dict the planner may fold into: map_traits returns a new dict per call, so no copy is needed."""
    return fields if type(fields) is dict else dict(fields)


def _fold(target: _Resolved, parts: list[tuple[float, int, dict[str, Any]]]) -> Write:
    if len(parts) > 1:
        parts.sort(key=_FOLD_ORDER)
    fields = parts[0][2]  # the earliest part's own dict (see _own): the later parts are folded into it
    for _, _, later in parts[1:]:
        fields.update(later)
    if target.operation != "update":
        table = TABLES.get(target.sobject)
        for required in table.required_on_create if table is not None else ():
            if not _has_field(fields, required):
                fields[required] = CREATE_DEFAULT
    external_id_field = None
    if target.external_id is not None:
        external_id_field, value = target.external_id
        fields[external_id_field] = value
    sources = tuple([part[1] for part in parts])
    # Positional, in field order: a NamedTuple built from keywords costs twice as much, and this runs once per record.
    return Write(
        target.key,
        target.sobject,
        target.operation,
        target.record_id,
        fields,
        sources,
        target.natural_key,
        external_id_field,
    )


def _has_field(fields: Mapping[str, Any], name: str) -> bool:
    """Salesforce field names are case-insensitive, and traits sent as they are may use any case."""
    if name in fields:
        return True
    lowered = name.lower()
    return any(key.lower() == lowered for key in fields)
