"""What clients sent, for tests: per object and operation, how many records and which field names.

Noted before validation, so a test can prove that a client never sent a field, even one the org would refuse.
Field names are canonical when the object knows them (hidden ones included: ``annualrevenue`` is logged as
``AnnualRevenue``) and as sent otherwise; ``attributes`` is not a field. ``Id`` is logged when it is in a body
(Collections updates, Bulk update/delete columns).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .schema import Schema

OPERATIONS = ("create", "update", "upsert", "delete")


@dataclass
class _Entry:
    records: int = 0
    fields: set[str] = field(default_factory=set)


@dataclass
class RequestLog:
    writes: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    allow_save_requests: int = 0

    def note(self, schema: Schema, obj_name: str, operation: str, names: Iterable[str], records: int = 1) -> None:
        obj = schema.get(obj_name)
        entry = self.writes.setdefault((obj.name if obj else obj_name, operation), _Entry())
        entry.records += records
        for name in names:
            if name == "attributes":
                continue
            spec = obj.any_field(name) if obj else None
            entry.fields.add(spec.name if spec else name)

    def note_body(self, schema: Schema, obj_name: str, operation: str, body: Any) -> None:
        self.note(schema, obj_name, operation, list(body) if isinstance(body, dict) else [])

    def as_dict(self) -> dict[str, Any]:
        writes: dict[str, dict[str, Any]] = {}
        for (obj, operation), entry in sorted(self.writes.items()):
            writes.setdefault(obj, {})[operation] = {"records": entry.records, "fields": sorted(entry.fields)}
        return {"writes": writes, "allow_save_requests": self.allow_save_requests}
