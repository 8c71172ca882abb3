"""Duplicate rules as data, checked on create (research note §5).

A rule is ``{"name", "object", "action": "alert"|"block", "match_object", "match_fields": [...]}`` plus optional
``"match_rule"`` (the matching rule's name in results) and ``"message"`` (default "Use one of these records?").
A create on ``object`` matches when every ``match_fields`` value is non-empty and equals, case-insensitively, the
same field of one or more live ``match_object`` records. Exact matching stands in for Salesforce's fuzzy engine
so that tests are predictable.

Declarations are checked against the objects and fields of the org by ``Schema.set_duplicate_rules``.

Only records already saved before the request count: as in Salesforce, records created by the same request
(one Collections call, one Composite call, one internal batch of 10,000 rows of a Bulk job) are not compared with
each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .store import Record, Store, norm

DEFAULT_MESSAGE = "Use one of these records?"
RULE_KEYS = frozenset({"name", "object", "action", "match_object", "match_fields", "match_rule", "message"})


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
