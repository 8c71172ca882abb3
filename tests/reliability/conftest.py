"""Helpers for the reliability tests: they compute what the final Salesforce state must be from the staged lines
alone (the ``crm`` fixture, the emulator with the synthetic custom fields, is in ``tests/conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rudder_sf_emulator.synthetic import SyntheticSpec, generate_lines


def write_lines(path: Path, lines: Iterable[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def synthetic_lines(events: int, people: int, seed: int = 5, **spec: Any) -> list[str]:
    return list(generate_lines(SyntheticSpec(events=events, distinct_emails=people, seed=seed, **spec)))


def latest_traits(lines: Iterable[str]) -> dict[str, dict[str, Any]]:
    """E-mail -> traits of its latest eligible event, decided independently of the package (plain json, and the
    synthetic events' timestamps grow with the line number). Bad lines and noise are skipped."""
    latest: dict[str, dict[str, Any]] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("type") != "identify":
            continue
        if (event.get("integrations") or {}).get("Salesforce") is not True:
            continue
        traits = event.get("traits")
        if not isinstance(traits, dict) or set(traits) - _SYNTHETIC_KEYS:
            continue  # the synthetic bad lines ("bad key!") are dead letters, never records
        email = traits.get("email")
        if isinstance(email, str) and email.startswith("user"):
            latest[email.lower()] = traits
    return latest


_SYNTHETIC_KEYS = frozenset(
    {"email", "company", "address", "title", "phone", "plan", "newsletter", "logins", "name", "firstName", "lastName"}
)


def leads_by_email(crm) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for lead in crm.records("Lead"):
        if not lead.get("IsDeleted"):
            found.setdefault(str(lead.get("Email") or "").lower(), []).append(lead)
    return found


def assert_exactly_once(crm, expected: dict[str, dict[str, Any]], *, extra_emails: Iterable[str] = ()) -> None:
    """Every expected e-mail is exactly one Lead holding its latest event's values; no other Lead exists."""
    leads = leads_by_email(crm)
    duplicated = {email: len(found) for email, found in leads.items() if len(found) > 1}
    assert not duplicated, f"duplicate Leads: {dict(list(duplicated.items())[:5])} ({len(duplicated)} e-mails)"
    missing = sorted(set(expected) - set(leads))
    assert not missing, f"{len(missing)} e-mails have no Lead (lost events), e.g. {missing[:5]}"
    unexpected = sorted(set(leads) - set(expected) - {e.lower() for e in extra_emails})
    assert not unexpected, f"{len(unexpected)} unexpected Leads, e.g. {unexpected[:5]}"
    wrong = []
    for email, traits in expected.items():
        (lead,) = leads[email]
        want = (traits["title"], traits["phone"], traits["plan"], float(traits["logins"]), traits["newsletter"])
        got = (
            lead.get("Title"),
            lead.get("Phone"),
            lead.get("plan__c"),
            lead.get("logins__c"),
            lead.get("newsletter__c"),
        )
        if got != want:
            wrong.append((email, got, want))
    assert not wrong, f"{len(wrong)} Leads do not hold their latest event's values, e.g. {wrong[:3]}"


def assert_counts_add_up(summary: dict[str, Any]) -> None:
    assert summary["read"] == summary["applied"] + summary["ignored"] + summary["dead_lettered"] + summary["unsent"]
