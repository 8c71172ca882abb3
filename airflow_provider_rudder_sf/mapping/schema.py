"""An org's schema for one sObject, as the mapping core sees it: a typed value built from a describe result.

The Salesforce client reads ``GET /sobjects/<Object>/describe`` once per object per run and hands the JSON here;
nothing in this module does I/O. Field-level security shows up as absence (a hidden field is not in the describe),
read-only fields as ``createable``/``updateable`` false, admin-restricted picklists as ``restrictedPicklist``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Field types whose values travel as JSON text (and are length-checked).
TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox", "encryptedstring"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
ID_TYPES = frozenset({"id", "reference"})


class FieldSchema(NamedTuple):
    """What a writer must know about one field. ``picklist`` maps lower-cased active values to their spelling."""

    name: str
    type: str
    length: int = 0
    createable: bool = True
    updateable: bool = True
    restricted: bool = False
    picklist: Mapping[str, str] | None = None
    case_sensitive: bool = False
    external_id: bool = False
    id_lookup: bool = False

    @property
    def numeric(self) -> bool:
        return self.type in NUMBER_TYPES


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """One object's fields as the integration user sees them, looked up case-insensitively."""

    name: str
    fields: Mapping[str, FieldSchema] = field(default_factory=dict)  # keyed by lower-cased API name

    def field(self, name: str) -> FieldSchema | None:
        return self.fields.get(name.lower())


def object_schema(describe: Mapping[str, Any]) -> ObjectSchema:
    """Build the schema value from a ``describe`` JSON body (unknown keys ignored, missing ones defaulted)."""
    fields: dict[str, FieldSchema] = {}
    for raw in describe.get("fields") or ():
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            continue
        values = raw.get("picklistValues") or ()
        picklist = {
            str(entry["value"]).lower(): str(entry["value"])
            for entry in values
            if isinstance(entry, Mapping) and entry.get("active", True) and entry.get("value") is not None
        }
        spec = FieldSchema(
            name=raw["name"],
            type=str(raw.get("type") or "string"),
            length=int(raw.get("length") or 0),
            createable=bool(raw.get("createable", False)),
            updateable=bool(raw.get("updateable", False)),
            restricted=bool(raw.get("restrictedPicklist", False)),
            picklist=picklist or None,
            case_sensitive=bool(raw.get("caseSensitive", False)),
            external_id=bool(raw.get("externalId", False)),
            id_lookup=bool(raw.get("idLookup", False)),
        )
        fields[spec.name.lower()] = spec
    return ObjectSchema(name=str(describe.get("name") or ""), fields=fields)
