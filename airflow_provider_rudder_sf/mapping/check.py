"""Check one record's mapped fields against the org's schema before anything is sent (design.md section 8).

A field the org lacks or hides, one the integration user cannot write for this operation, a protected field that
did not come from ``field_map``, or a value that cannot be coerced to the field's type becomes a
:class:`~airflow_provider_rudder_sf.mapping.coerce.FieldIssue`; the rest goes out under the org's own spelling of
each field name. The caller applies ``on_field_error``.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from airflow_provider_rudder_sf.mapping.coerce import Coerced, FieldIssue, coerce
from airflow_provider_rudder_sf.mapping.model import Operation
from airflow_provider_rudder_sf.mapping.schema import NUMBER_TYPES, TEXT_TYPES, FieldSchema, ObjectSchema


class Checked(NamedTuple):
    """The fields to send, the fields left out with why, and the coercions applied as ``(field, coercion)``."""

    fields: dict[str, Any]
    issues: tuple[FieldIssue, ...]
    coercions: tuple[tuple[str, str], ...]


class _Field(NamedTuple):
    """A resolved field: the org's spelling of its name, its schema, whether it is protected, the longest plain
    text it takes as it is (-1 when text goes through the coercion table), and the other value types it takes as
    they are."""

    name: str
    spec: FieldSchema
    protected: bool
    text_limit: int
    as_is: frozenset[type]


# Values :func:`coerce` would send unchanged: skipping the call matters, a run checks every field of every record.
_AS_IS: dict[str, frozenset[type]] = {"boolean": frozenset({bool}), **dict.fromkeys(NUMBER_TYPES, frozenset({int}))}


class FieldChecker:
    """Checks records of one object for one operation; resolves each field name once per run (a dict hit after)."""

    def __init__(
        self,
        schema: ObjectSchema,
        operation: Operation,
        *,
        protected: Collection[str] = (),
        truncate_text: bool = False,
    ) -> None:
        self.schema = schema
        self.sobject = schema.name
        self.operation = operation
        self.protected = frozenset(name.lower() for name in protected)
        self.truncate_text = truncate_text
        self._resolved: dict[str, _Field | FieldIssue] = {}

    def check(self, fields: Mapping[str, Any], explicit: Collection[str] = ()) -> Checked:
        kept: dict[str, Any] = {}
        issues: list[FieldIssue] = []
        coercions: list[tuple[str, str]] = []
        resolved = self._resolved
        for name, value in fields.items():
            field = resolved.get(name)
            if field is None:
                field = resolved[name] = self._field(name)
            if isinstance(field, FieldIssue):
                issues.append(field)
                continue
            if field.protected and name not in explicit:
                issues.append(_protected(self.sobject, field.name))
                continue
            if type(value) is str:
                if len(value) <= field.text_limit:
                    kept[field.name] = value  # the common case: plain text that fits, sent as it is
                    continue
            elif type(value) in field.as_is:
                kept[field.name] = value
                continue
            spec = field.spec
            result = coerce(self.sobject, spec, value, truncate_text=self.truncate_text)
            if type(result) is FieldIssue:
                issues.append(result)
                continue
            assert isinstance(result, Coerced)
            kept[spec.name] = result.value
            if result.coercion is not None:
                coercions.append((spec.name, result.coercion))
        return Checked(kept, tuple(issues), tuple(coercions))

    def _field(self, name: str) -> _Field | FieldIssue:
        spec = self._resolve(name)
        if isinstance(spec, FieldIssue):
            return spec
        restricted = spec.picklist is not None and spec.restricted
        plain = spec.type in TEXT_TYPES and spec.type != "multipicklist" and not restricted
        limit = (spec.length or sys.maxsize) if plain else -1
        return _Field(spec.name, spec, spec.name.lower() in self.protected, limit, _AS_IS.get(spec.type, frozenset()))

    def _resolve(self, name: str) -> FieldSchema | FieldIssue:
        spec = self.schema.field(name)
        sobject = self.sobject
        if spec is None:
            return FieldIssue(
                sobject,
                name,
                "missing_field",
                f"The org has no field {name} on {sobject}, or the integration user cannot see it (field-level "
                "security).",
            )
        writable = {
            "create": spec.createable,
            "update": spec.updateable,
            "upsert": spec.createable and spec.updateable,
        }[self.operation]
        if not writable:
            return FieldIssue(
                sobject,
                spec.name,
                "read_only",
                f"{sobject}.{spec.name} is read-only for the integration user on {self.operation}.",
            )
        return spec


def _protected(sobject: str, name: str) -> FieldIssue:
    return FieldIssue(
        sobject,
        name,
        "protected_field",
        f"{sobject}.{name} is a protected field: it is written only through an explicit field_map "
        "(see protected_fields).",
    )


def issues_reason(issues: tuple[FieldIssue, ...]) -> str:
    """One sentence for a dead letter that lists several field issues."""
    names = ", ".join(f"{issue.sobject}.{issue.field} ({issue.code})" for issue in issues[:10])
    more = f" and {len(issues) - 10} more" if len(issues) > 10 else ""
    return f"The org cannot take {len(issues)} field(s): {names}{more}."
