"""Turn a trait value into what a field of a given Salesforce type accepts, or say why it cannot.

The rules are a table (``COERCIONS`` names each one; the README prints it) and deterministic:

============  =====================================================================================================
field type    accepted, and what is sent
============  =====================================================================================================
boolean       ``true``/``false``; the strings ``"true"``/``"false"`` (any case); the numbers ``1``/``0``
int           integers; integral floats; numeric strings of integers
double etc.   numbers (an int goes as is: JSON has one number type); numeric strings
date          ``YYYY-MM-DD``; an ISO 8601 datetime or epoch seconds/milliseconds -> its UTC date
datetime      an ISO 8601 datetime (no offset: UTC) or epoch seconds/milliseconds -> UTC ``YYYY-MM-DDTHH:MM:SS.sssZ``
text types    strings; numbers and booleans -> their text (``true``/``false``); longer than the field: an error,
              or cut to the length with ``truncate_text``
picklist      text; with a restricted picklist the value must be one of the active values (any case; the org's
              spelling is sent)
multipicklist a list -> values joined with ``;`` (each checked when restricted); a string as is
id/reference  a 15- or 18-character record id
============  =====================================================================================================

Anything else is a field error. Nothing here raises on bad values.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from airflow_provider_rudder_sf.mapping.names import is_record_id
from airflow_provider_rudder_sf.mapping.schema import NUMBER_TYPES, TEXT_TYPES, FieldSchema

_MAX_PARSED_TEXT = 64  # timestamps and numbers longer than this are not parsed (a 1 MiB "date" costs seconds)
_MAX_EXPONENT = 40  # Salesforce numbers have at most 18 digits; 1e999999 must not become a million-digit int
_EPOCH_MS_FROM = 100_000_000_000  # epoch values above this are milliseconds (year 5138 in seconds)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

#: Coercion names, as reported by dry runs (``<from> -> <to>``).
COERCIONS = (
    "text -> boolean",
    "number -> boolean",
    "text -> number",
    "float -> int",
    "datetime -> date",
    "epoch -> date",
    "epoch -> datetime",
    "datetime -> UTC datetime",
    "number -> text",
    "boolean -> text",
    "list -> multipicklist",
    "picklist spelling",
    "truncated",
)


class FieldIssue(NamedTuple):
    """Why one field of one record cannot be sent: ``code`` is machine-readable, ``reason`` one sentence."""

    sobject: str
    field: str
    code: str
    reason: str


class Coerced(NamedTuple):
    value: Any
    coercion: str | None


def coerce(sobject: str, spec: FieldSchema, value: Any, *, truncate_text: bool = False) -> Coerced | FieldIssue:
    """``value`` made acceptable for ``spec``, with the name of the coercion applied (None when sent as is)."""
    kind = spec.type
    if kind in TEXT_TYPES:
        return _text(sobject, spec, value, truncate_text)
    if kind == "boolean":
        return _boolean(sobject, spec, value)
    if kind in NUMBER_TYPES:
        return _number(sobject, spec, value)
    if kind == "date":
        return _date(sobject, spec, value)
    if kind == "datetime":
        return _datetime(sobject, spec, value)
    if kind in ("reference", "id"):
        if is_record_id(value):
            return Coerced(value, None)
        return _invalid(sobject, spec, "a 15- or 18-character record id")
    if kind in ("address", "location", "base64"):
        return FieldIssue(sobject, spec.name, "not_writable", f"{sobject}.{spec.name} is a {kind} field; not sent.")
    return Coerced(value, None)  # anyType and types this table does not know: Salesforce decides


def _text(sobject: str, spec: FieldSchema, value: Any, truncate: bool) -> Coerced | FieldIssue:
    coercion = None
    if spec.type == "multipicklist" and type(value) is str and value.startswith("["):
        value = _json_list(value)  # the trait mapper sends a list bound for a custom field as JSON text
    if spec.type == "multipicklist" and type(value) is list:
        if not all(type(item) is str for item in value):
            return _invalid(sobject, spec, "text or a list of texts")
        value, coercion = ";".join(value), "list -> multipicklist"
    elif type(value) is bool:
        value, coercion = ("true" if value else "false"), "boolean -> text"
    elif type(value) in (int, float):
        if not math.isfinite(value):
            return _invalid(sobject, spec, "a finite number or text")
        value, coercion = _number_text(value), "number -> text"
    elif type(value) is not str:
        return _invalid(sobject, spec, "text")
    if spec.picklist is not None and spec.restricted:
        picked = _picklist(sobject, spec, value)
        if isinstance(picked, FieldIssue):
            return picked
        if picked != value:
            value, coercion = picked, coercion or "picklist spelling"
    if spec.length and len(value) > spec.length:
        if not truncate:
            return FieldIssue(
                sobject,
                spec.name,
                "string_too_long",
                f"{sobject}.{spec.name} holds at most {spec.length} characters and the value has {len(value)} "
                "(set truncate_text=True to cut it).",
            )
        value, coercion = value[: spec.length], "truncated"
    return Coerced(value, coercion)


def _json_list(text: str) -> Any:
    """A JSON array decoded (what ``map_traits`` made of a list trait), else ``text`` unchanged."""
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return decoded if type(decoded) is list else text


def _picklist(sobject: str, spec: FieldSchema, value: str) -> str | FieldIssue:
    assert spec.picklist is not None
    parts = value.split(";") if spec.type == "multipicklist" else [value]
    spelled = []
    for part in parts:
        known = spec.picklist.get(part.lower())
        if known is None:
            return FieldIssue(
                sobject,
                spec.name,
                "restricted_picklist",
                f"{sobject}.{spec.name} is a restricted picklist and the value is not one of its "
                f"{len(spec.picklist)} active values.",
            )
        spelled.append(known)
    return ";".join(spelled)


def _boolean(sobject: str, spec: FieldSchema, value: Any) -> Coerced | FieldIssue:
    kind = type(value)
    if kind is bool:
        return Coerced(value, None)
    if kind is str and value.lower() in ("true", "false"):
        return Coerced(value.lower() == "true", "text -> boolean")
    if kind in (int, float) and value in (0, 1):
        return Coerced(value == 1, "number -> boolean")
    return _invalid(sobject, spec, 'true or false ("true"/"false", 1/0)')


def _number(sobject: str, spec: FieldSchema, value: Any) -> Coerced | FieldIssue:
    coercion = None
    kind = type(value)
    if kind is str:
        if len(value) > _MAX_PARSED_TEXT or not _NUMBER.fullmatch(value.strip()):
            return _invalid(sobject, spec, "a number")
        parsed = Decimal(value.strip())
        if abs(parsed.adjusted()) > _MAX_EXPONENT:
            return _invalid(sobject, spec, "a number of reasonable size")
        value = int(parsed) if parsed == parsed.to_integral_value() else float(parsed)
        coercion = "text -> number"
    elif kind not in (int, float):
        return _invalid(sobject, spec, "a number")
    if type(value) is float and not math.isfinite(value):
        return _invalid(sobject, spec, "a finite number")
    if spec.type == "int" and type(value) is float:
        if not value.is_integer():
            return _invalid(sobject, spec, "a whole number")
        value, coercion = int(value), coercion or "float -> int"
    return Coerced(value, coercion)


def _date(sobject: str, spec: FieldSchema, value: Any) -> Coerced | FieldIssue:
    if type(value) is str and len(value) == 10 and _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            return _invalid(sobject, spec, "a real calendar date (YYYY-MM-DD)")
        return Coerced(value, None)
    moment = _moment(value)
    if moment is None:
        return _invalid(sobject, spec, "an ISO 8601 date or datetime, or epoch seconds or milliseconds")
    coercion = "datetime -> date" if type(value) is str else "epoch -> date"
    return Coerced(moment.date().isoformat(), coercion)


def _datetime(sobject: str, spec: FieldSchema, value: Any) -> Coerced | FieldIssue:
    moment = _moment(value)
    if moment is None:
        return _invalid(sobject, spec, "an ISO 8601 datetime, or epoch seconds or milliseconds")
    # strftime("%Y") does not pad years before 1000: format the year ourselves.
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if type(value) is not str:
        return Coerced(text, "epoch -> datetime")
    return Coerced(text, None if text == value else "datetime -> UTC datetime")


def _moment(value: Any) -> datetime | None:
    """A UTC datetime from ISO 8601 text (no offset: UTC) or epoch seconds/milliseconds; None if it is neither."""
    kind = type(value)
    if kind is str:
        if len(value) > _MAX_PARSED_TEXT:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError:  # "0001-01-01T00:00:00+01:00" is before the first representable UTC moment
            return None
    if kind in (int, float) and math.isfinite(value):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_FROM else value
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _number_text(value: int | float) -> str:
    if type(value) is float and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def identifier_key(value: Any, *, numeric: bool) -> str | None:
    """How Salesforce compares an identifier: numbers as numbers (``5`` = ``5.0``), text case-insensitively.

    None when the value cannot be an identifier of that kind (a bool, an object, a non-numeric text for a number).
    """
    if type(value) is bool or value is None:
        return None
    if numeric:
        if type(value) not in (int, float, str):
            return None
        text = str(value).strip()
        if len(text) > _MAX_PARSED_TEXT or not _NUMBER.fullmatch(text):
            return None
        try:
            number = Decimal(text)
            if abs(number.adjusted()) > _MAX_EXPONENT:  # "1e1000000" would normalise into a megabyte of digits
                return None
            return "n:" + format(number.normalize(), "f") if number != 0 else "n:0"
        except (InvalidOperation, ArithmeticError):
            return None
    if type(value) is str:
        return "s:" + value.lower()
    if type(value) in (int, float):
        return "s:" + _number_text(value).lower()
    return None


def _invalid(sobject: str, spec: FieldSchema, expected: str) -> FieldIssue:
    return FieldIssue(
        sobject,
        spec.name,
        "invalid_value",
        f"{sobject}.{spec.name} is a {spec.type} field and takes {expected}; the value cannot be converted.",
    )
