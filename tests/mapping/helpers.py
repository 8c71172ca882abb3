"""Small builders for identify events, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

from airflow_provider_rudder_sf.mapping import (
    IdentifyEvent,
    LeadMatch,
    MappingOptions,
    Plan,
    build_plan,
    classify,
)


def identify(traits: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "identify", "integrations": {"Salesforce": True}, "traits": traits or {}}
    event.update(extra)
    return event


def eligible(event: dict[str, Any], seq: int = 0, options: MappingOptions | None = None) -> IdentifyEvent:
    outcome = classify(event, seq, options or MappingOptions())
    assert isinstance(outcome, IdentifyEvent), outcome
    return outcome


def plan_for(
    events: list[dict[str, Any]],
    matches: dict[str, tuple[LeadMatch, ...]] | None = None,
    options: MappingOptions | None = None,
) -> Plan:
    options = options or MappingOptions()
    return build_plan([eligible(e, i, options) for i, e in enumerate(events)], matches or {}, options)


def only_write_fields(events: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    plan = plan_for(events, **kwargs)
    assert not plan.rejected, plan.rejected
    (write,) = plan.writes
    return dict(write.fields)
