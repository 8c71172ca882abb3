"""Turn one staged line or dict into exactly one of: an eligible identify event, ignored, or rejected.

Nothing here raises on bad input: every problem comes back as a :class:`Rejected` value with a machine
code and one human sentence, so one bad line can never stop the good ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import pendulum

from airflow_provider_rudder_sf.mapping.model import IdentifyEvent, Ignored, Rejected, Target
from airflow_provider_rudder_sf.mapping.names import is_api_name, is_record_id
from airflow_provider_rudder_sf.mapping.options import MappingOptions

Classified = IdentifyEvent | Ignored | Rejected

_TARGET_PREFIX = "Salesforce-"
# rETL / Visual Data Mapper entries name the destination definition, matched case-insensitively (design.md section 8).
_RETL_PREFIXES = ("salesforce_oauth_sandbox-", "salesforce_oauth-", "salesforce-")
_MAX_EMAIL_LENGTH = 80
_YEAR = re.compile(r"\d{4}")
_MAX_TIMESTAMP_LENGTH = 64  # the lenient parser is slow on long text: a 1 MiB "timestamp" cost seconds
_TIMESTAMP_KEYS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


class _BadInput(Exception):
    """Internal signal carrying a reject code and reason; never escapes this module."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


Decode = Callable[[str], Any]

# One decoder, built once: json.loads with options would build a new one for every line. Callers that need more
# speed pass a faster strict-JSON decoder (the sync engine passes msgspec's, which Airflow already installs).
decode_json: Decode = json.JSONDecoder(parse_constant=_reject_constant).decode
# Whitespace, control characters and invisible formatting (zero-width, bidi overrides, BOM): never in an address.
_NOT_IN_EMAIL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def classify(raw: object, seq: int, options: MappingOptions, decode: Decode = decode_json) -> Classified:
    """Classify one staged input (a line of JSON text, bytes, or an already-decoded dict).

    ``decode`` turns a line into a value and raises ``ValueError`` (or ``RecursionError``) on bad JSON.
    """
    try:
        event = _decode(raw, decode)
    except _BadInput as bad:
        return Rejected(raw, "parse", bad.code, bad.reason, seq)
    if not isinstance(event, dict):
        return Rejected(raw, "parse", "not_an_object", f"The event is a JSON {_kind(event)}, not an object.", seq)

    event_type = event.get("type")
    if not isinstance(event_type, str):
        shown = "no type" if event_type is None else f"a type that is a JSON {_kind(event_type)}"
        return Rejected(raw, "parse", "missing_type", f"The event has {shown}, so it cannot be classified.", seq)
    if event_type != "identify" and event_type.strip().lower() != "identify":
        return Ignored(raw, "not_identify", seq)
    if not _enabled(event.get("integrations"), options.integration_key):
        return Ignored(raw, "integration_not_enabled", seq)

    try:
        return _identify(raw, seq, event, options)
    except _BadInput as bad:
        return Rejected(raw, "validate", bad.code, bad.reason, seq)


def _decode(raw: object, decode: Decode) -> Any:
    if type(raw) is str:  # the common case first: a str is never a Mapping, and the ABC check costs
        return _decode_text(raw, decode)
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadInput("invalid_utf8", f"The line is not valid UTF-8 ({exc.reason}).") from None
    if not isinstance(raw, str):
        raise _BadInput("not_an_object", f"The staged input is a {type(raw).__name__}, not a JSON line.")
    return _decode_text(raw, decode)


# Deeper JSON is refused whatever the interpreter's recursion limit (Airflow raises it to 5,000 when it copies an
# operator): events, and the dead letters that keep them, stay readable by any reader. Identify events nest a few
# levels; a Salesforce field cannot hold more than text anyway.
MAX_NESTING = 100
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def nests_too_deep(text: str) -> bool:
    """True when ``text`` opens more than :data:`MAX_NESTING` arrays or objects inside one another."""
    if text.count("{") + text.count("[") <= MAX_NESTING:  # the common case, at C speed
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_NESTING:
            return True
    return False


def _decode_text(raw: str, decode: Decode) -> Any:
    if nests_too_deep(raw):
        raise _BadInput("invalid_json", f"The line nests JSON deeper than {MAX_NESTING} levels.")
    try:
        return decode(raw)
    except RecursionError:
        raise _BadInput("invalid_json", "The line nests JSON too deeply to parse.") from None
    except ValueError as exc:
        raise _BadInput("invalid_json", f"The line is not valid JSON: {_short(str(exc))}.") from None


def _enabled(integrations: object, key: str) -> bool:
    if not isinstance(integrations, dict):
        return False
    value = integrations.get(key)
    return value is True or (isinstance(value, dict) and bool(value))


_EMPTY: dict[str, Any] = {}  # shared and never mutated: saves an allocation per event


def _identify(raw: object, seq: int, event: dict[str, Any], options: MappingOptions) -> IdentifyEvent:
    context = event.get("context")
    if context is None:
        context = _EMPTY
    elif not isinstance(context, dict):
        raise _BadInput("invalid_context", f"context is a JSON {_kind(context)}, not an object.")
    traits = _object_or_empty(event.get("traits"), "traits")
    context_traits = _object_or_empty(context.get("traits"), "context.traits")
    if context_traits:
        traits = {**context_traits, **traits}
    mapped = bool(context.get("mappedToDestination"))
    targets = _retl_target(context.get("externalId")) if mapped else _targets(context.get("externalId"))
    email = None if targets else _lookup_email(traits, options.map_properties)
    message_id = event.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        message_id = None
    timestamp = _timestamp(event)
    # In field order: a NamedTuple built from keywords costs twice as much, and this runs once per event.
    return IdentifyEvent(raw, seq, message_id, timestamp, traits, email, targets, mapped)


def _object_or_empty(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise _BadInput("invalid_traits", f"{where} is a JSON {_kind(value)}, not an object.")
    return value


def _targets(external_ids: object) -> tuple[Target, ...]:
    if external_ids is None:
        return ()
    if not isinstance(external_ids, list):
        raise _BadInput("invalid_external_id", f"context.externalId is a JSON {_kind(external_ids)}, not an array.")
    targets = []
    for position, entry in enumerate(external_ids):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise _BadInput(
                "invalid_external_id", f"context.externalId[{position}] is not an object with a string type."
            )
        entry_type: str = entry["type"]
        if not entry_type.startswith(_TARGET_PREFIX):
            continue  # an id for another destination
        sobject = entry_type[len(_TARGET_PREFIX) :]
        if not is_api_name(sobject):
            raise _BadInput(
                "invalid_object_name",
                f"context.externalId[{position}] names object {_short(sobject)!r}, which is not a valid "
                "Salesforce API name.",
            )
        record_id = entry.get("id")
        if record_id in (None, ""):
            targets.append(Target(sobject, None))
        elif is_record_id(record_id):
            targets.append(Target(sobject, record_id))
        else:
            raise _BadInput(
                "invalid_record_id",
                f"context.externalId[{position}].id {_short(str(record_id))!r} is not a 15- or 18-character "
                "Salesforce id.",
            )
    return tuple(targets)


def _retl_target(external_ids: object) -> tuple[Target]:
    """``context.externalId[0] = {type: "Salesforce-<Object>", id, identifierType}``: the only entry rETL uses."""
    entry = external_ids[0] if isinstance(external_ids, list) and external_ids else None
    if not isinstance(entry, dict):
        raise _BadInput(
            "invalid_external_id", "An rETL event needs context.externalId[0] with type, id and identifierType."
        )
    entry_type, value, identifier = entry.get("type"), entry.get("id"), entry.get("identifierType")
    if not isinstance(entry_type, str) or value in (None, "") or not isinstance(identifier, str) or not identifier:
        raise _BadInput("invalid_external_id", "context.externalId[0] must have a type, an id and an identifierType.")
    lowered = entry_type.lower()
    prefix = next((p for p in _RETL_PREFIXES if lowered.startswith(p)), None)
    if prefix is None:
        raise _BadInput(
            "invalid_external_id",
            f"context.externalId[0].type {_short(entry_type)!r} is not Salesforce-<Object> "
            "(or SALESFORCE_OAUTH-<Object>).",
        )
    sobject = entry_type[len(prefix) :]
    if not is_api_name(sobject):
        raise _BadInput(
            "invalid_object_name",
            f"context.externalId[0] names object {_short(sobject)!r}, which is not a valid Salesforce API name.",
        )
    if identifier.lower() == "id":
        if not is_record_id(value):
            raise _BadInput(
                "invalid_record_id",
                f"context.externalId[0].id {_short(str(value))!r} is not a 15- or 18-character Salesforce id.",
            )
        return (Target(sobject, value),)
    if not is_api_name(identifier):
        raise _BadInput(
            "invalid_external_id",
            f"context.externalId[0].identifierType {_short(identifier)!r} is not a Salesforce field name.",
        )
    if type(value) not in (str, int, float) or (type(value) is str and len(value) > 255):
        raise _BadInput(
            "invalid_external_id", "context.externalId[0].id must be a text of at most 255 characters or a number."
        )
    return (Target(sobject, None, identifier, value),)


def _lookup_email(traits: dict[str, Any], map_properties: bool) -> str:
    value = traits.get("email")
    if value is None and not map_properties:
        value = traits.get("Email")
    if value is None or value == "":
        raise _BadInput("missing_email", "The event has no email trait, which the Lead look-up needs.")
    if (
        not isinstance(value, str)
        or len(value) > _MAX_EMAIL_LENGTH
        or "@" not in value
        or _NOT_IN_EMAIL.search(value) is not None
    ):
        raise _BadInput(
            "invalid_email",
            f"The email trait {_short(str(value))!r} is not an e-mail address of at most 80 characters without "
            "spaces, control or invisible characters.",
        )
    return value.lower()


def _timestamp(event: dict[str, Any]) -> float:
    """Seconds since the epoch; an event without any timestamp sorts first (0.0)."""
    for key in _TIMESTAMP_KEYS:
        value = event.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _BadInput("invalid_timestamp", f"{key} is a JSON {_kind(value)}, not an ISO 8601 string.")
        if len(value) > _MAX_TIMESTAMP_LENGTH:
            raise _BadInput("invalid_timestamp", f"{key} is {len(value):,} characters long, not an ISO 8601 time.")
        return _parse_time(key, value)
    return 0.0


def _parse_time(key: str, value: str) -> float:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        if _YEAR.search(value) is None:  # "12:00" alone would be read as today: a fold order that changes daily
            raise _BadInput("invalid_timestamp", f"{key} {_short(value)!r} has no date.") from None
        try:
            parsed = pendulum.parse(value, strict=False)
        except Exception:  # pendulum raises several parser error types
            raise _BadInput("invalid_timestamp", f"{key} {_short(value)!r} is not an ISO 8601 time.") from None
        if not isinstance(parsed, datetime):
            raise _BadInput("invalid_timestamp", f"{key} {_short(value)!r} is not a date and time.") from None
        moment = parsed
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else type(value).__name__


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
