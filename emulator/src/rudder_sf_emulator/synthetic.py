"""Realistic synthetic RudderStack identify events, as staged JSON lines: for the demo, benchmarks and tests.

Standard library only and deterministic for a given seed, so a benchmark or a test can regenerate the same data.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_FIRST = ("Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances")
_LAST = ("Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen")
_COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Soylent")
_INDUSTRIES = ("Technology", "Finance", "Healthcare", "Retail", "Manufacturing")
_CITIES = (("Berlin", "DE"), ("Paris", "FR"), ("Austin", "US"), ("Toronto", "CA"), ("Osaka", "JP"))
_PLANS = ("free", "starter", "pro", "enterprise")
_BAD_LINES = (
    '{"type": "identify", "integrations": {"Salesforce": true}, "traits": {"email": ',  # truncated JSON
    '["identify"]',
    '{"type": "identify", "integrations": {"Salesforce": true}, "traits": {"firstName": "NoEmail"}}',
    '{"type": "identify", "integrations": {"Salesforce": true}, "traits": "not-an-object"}',
    '{"type": "identify", "integrations": {"Salesforce": true}, "traits": {"email": "x@example.com", "bad key!": 1}}',
)


# The custom fields the synthetic traits need (plan, newsletter, logins): declare them on Lead and Contact first,
# as an admin would in a real org, or every write fails with INVALID_FIELD.
CUSTOM_FIELDS: dict[str, dict[str, object]] = {
    "plan__c": {"type": "string", "length": 40},
    "newsletter__c": {"type": "boolean"},
    "logins__c": {"type": "double"},
}


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    """How many events, over how many people, and which share of them are noise."""

    events: int
    distinct_emails: int
    seed: int = 7
    bad_fraction: float = 0.01
    not_enabled_fraction: float = 0.05
    track_fraction: float = 0.04
    start: datetime = datetime(2026, 11, 28, tzinfo=timezone.utc)
    span: timedelta = timedelta(hours=1)
    domain: str = "example.com"


def email_for(index: int, domain: str = "example.com") -> str:
    return f"user{index:07d}@{domain}"


def person_traits(rng: random.Random, index: int, domain: str = "example.com") -> dict[str, object]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, country = rng.choice(_CITIES)
    traits: dict[str, object] = {
        "email": email_for(index, domain),
        "company": {
            "name": rng.choice(_COMPANIES),
            "industry": rng.choice(_INDUSTRIES),
            "employee_count": rng.randrange(1, 5000),
        },
        "address": {"city": city, "country": country, "postalCode": f"{rng.randrange(10000, 99999)}"},
        "title": rng.choice(("Engineer", "Analyst", "Manager", "Director", "VP")),
        "phone": f"+1-555-{rng.randrange(1000, 9999)}",
        "plan": rng.choice(_PLANS),
        "newsletter": rng.random() < 0.5,
        "logins": rng.randrange(0, 200),
    }
    if rng.random() < 0.5:
        traits["name"] = f"{first} {last}"
    else:
        traits["firstName"], traits["lastName"] = first, last
    return traits


def generate_lines(spec: SyntheticSpec) -> Iterator[str]:
    """Yields ``spec.events`` JSON lines in time order; every person appears at least once when events allow."""
    rng = random.Random(spec.seed)
    step = spec.span / max(spec.events, 1)
    for n in range(spec.events):
        roll = rng.random()
        if roll < spec.bad_fraction:
            yield rng.choice(_BAD_LINES)
            continue
        person = n if n < spec.distinct_emails else rng.randrange(spec.distinct_emails)
        moment = spec.start + step * n
        event: dict[str, object] = {
            "type": "identify",
            "messageId": f"msg-{spec.seed}-{n}",
            "userId": f"u{person}",
            "anonymousId": f"anon-{person}",
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
            "integrations": {"All": True, "Salesforce": True},
            "context": {"library": {"name": "rudder-sdk-js", "version": "3.0.0"}},
            "traits": person_traits(rng, person, spec.domain),
        }
        if roll < spec.bad_fraction + spec.not_enabled_fraction:
            event["integrations"] = {"All": True, "Salesforce": False}
        elif roll < spec.bad_fraction + spec.not_enabled_fraction + spec.track_fraction:
            event["type"] = "track"
            event["event"] = "Page Viewed"
        yield json.dumps(event, separators=(",", ":"))
