"""Duplicate rules as data, checked on create (research note §5).

A rule is ``{"name", "object", "action": "alert"|"block", "match_object", "match_fields": [...]}`` plus optional
``"match_rule"`` (the matching rule's name in results) and ``"message"`` (default "Use one of these records?").
A create on ``object`` matches when every ``match_fields`` value is non-empty and equals, case-insensitively, the
same field of one or more live ``match_object`` records. Exact matching stands in for Salesforce's fuzzy engine
so that tests are predictable.

Only records already saved before the request count: as in Salesforce, records created by the same request
(one Collections call, one Composite call, one Bulk job) are not compared with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .store import Record, Store, norm

if TYPE_CHECKING:
    from .schema import Schema

DEFAULT_MESSAGE = "Use one of these records?"
_RULE_KEYS = {"name", "object", "action", "match_object", "match_fields", "match_rule", "message"}


@dataclass(frozen=True)
class DuplicateRule:
    name: str
    object: str
    action: str
    match_object: str
    match_fields: tuple[str, ...]
    match_rule: str
    message: str = DEFAULT_MESSAGE

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "object": self.object,
            "action": self.action,
            "match_object": self.match_object,
            "match_fields": list(self.match_fields),
            "match_rule": self.match_rule,
            "message": self.message,
        }


def parse_rules(schema: Schema, raw: Any) -> list[DuplicateRule]:
    """Validate rule declarations against the schema (names become canonical); raises ``ValueError``."""
    if isinstance(raw, dict) and "rules" in raw:
        raw = raw["rules"]
    if not isinstance(raw, list):
        raise ValueError("duplicate rules must be a list")
    rules = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - _RULE_KEYS:
            raise ValueError(f"a duplicate rule is an object with keys {sorted(_RULE_KEYS)}: {item!r}")
        obj, target = schema.get(str(item.get("object", ""))), schema.get(str(item.get("match_object", "")))
        if obj is None or target is None:
            raise ValueError(f"duplicate rule {item.get('name')!r}: unknown object or match_object")
        if item.get("action") not in {"alert", "block"}:
            raise ValueError(f"duplicate rule {item.get('name')!r}: action must be 'alert' or 'block'")
        names = item.get("match_fields")
        if not isinstance(names, list) or not names:
            raise ValueError(f"duplicate rule {item.get('name')!r}: match_fields must be a non-empty list")
        fields = []
        for name in names:
            mine, theirs = obj.any_field(str(name)), target.any_field(str(name))
            if mine is None or theirs is None:
                raise ValueError(f"duplicate rule {item.get('name')!r}: {name} is not a field of both objects")
            fields.append(mine.name)
        rule_name = str(item.get("name") or "")
        if not rule_name:
            raise ValueError("a duplicate rule needs a name")
        rules.append(
            DuplicateRule(
                name=rule_name,
                object=obj.name,
                action=str(item["action"]),
                match_object=target.name,
                match_fields=tuple(fields),
                match_rule=str(item.get("match_rule") or f"{target.name}_Match_Rule"),
                message=str(item.get("message") or DEFAULT_MESSAGE),
            )
        )
    return rules


def allow_save(header: str | None) -> bool:
    """``Sforce-Duplicate-Rule-Header: allowSave=true; includeRecordDetails=false`` -> True."""
    for part in (header or "").replace(",", ";").split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "allowsave" and value.strip().lower() == "true":
            return True
    return False


def matches(rule: DuplicateRule, record: Record, store: Store) -> list[str]:
    """Ids of the live ``match_object`` records this new record duplicates under ``rule``."""
    values = [record.get(name) for name in rule.match_fields]
    if any(v is None or v == "" for v in values):
        return []
    found = []
    for key in store.find_by(rule.match_object, rule.match_fields[0], values[0]):
        other = store.get(rule.match_object, key)
        if other is None or other.get("IsDeleted"):
            continue
        if all(norm(other.get(name)) == norm(value) for name, value in zip(rule.match_fields, values, strict=True)):
            found.append(str(other["Id"]))
    return found


def result(rule: DuplicateRule, ids: list[str], version: str) -> dict[str, Any]:
    """Salesforce's DuplicateResult for one rule (``allowSave`` is the rule's setting, not the request's)."""
    return {
        "allowSave": rule.action == "alert",
        "duplicateRule": rule.name,
        "duplicateRuleEntityType": rule.object,
        "errorMessage": rule.message,
        "matchResults": [
            {
                "entityType": rule.match_object,
                "rule": rule.match_rule,
                "matchEngine": "ExactMatchEngine",
                "size": len(ids),
                "success": True,
                "errors": [],
                "matchRecords": [
                    {
                        "matchConfidence": 100.0,
                        "additionalInformation": [],
                        "fieldDiffs": [],
                        "record": {
                            "attributes": {
                                "type": rule.match_object,
                                "url": f"/services/data/v{version}/sobjects/{rule.match_object}/{rid}",
                            },
                            "Id": rid,
                        },
                    }
                    for rid in ids
                ],
            }
        ],
    }
