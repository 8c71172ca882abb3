"""Rule 1 (eligibility), rule 2 (traits merge), rule 3a (externalId targets) and every parse/validate reject."""

from __future__ import annotations

import json

import msgspec
import pytest

from airflow_provider_rudder_sf.mapping import IdentifyEvent, Ignored, MappingOptions, Rejected, Target, classify

from .helpers import eligible, identify

OPTIONS = MappingOptions()


@pytest.mark.parametrize(
    "integrations",
    [{"Salesforce": True}, {"Salesforce": {"useContactId": True}}, {"All": False, "Salesforce": True}],
)
def test_identify_with_salesforce_enabled_is_eligible(integrations):
    assert isinstance(classify(identify({"email": "a@x.io"}, integrations=integrations), 0, OPTIONS), IdentifyEvent)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "track", "integrations": {"Salesforce": True}}, "not_identify"),
        ({"type": "identify"}, "integration_not_enabled"),
        ({"type": "identify", "integrations": {"Salesforce": False}}, "integration_not_enabled"),
        ({"type": "identify", "integrations": {"Salesforce": {}}}, "integration_not_enabled"),
        ({"type": "identify", "integrations": {"All": True}}, "integration_not_enabled"),
        ({"type": "identify", "integrations": {"Salesforce": "yes"}}, "integration_not_enabled"),
        ({"type": "identify", "integrations": ["Salesforce"]}, "integration_not_enabled"),
    ],
)
def test_other_events_are_ignored_with_a_reason_not_rejected(event, reason):
    outcome = classify(event, 3, OPTIONS)
    assert outcome == Ignored(event, reason, 3)


@pytest.mark.parametrize(
    "event",
    [
        {"integrations": {"Salesforce": True}, "traits": {"email": "a@x.io"}},
        {"type": None, "integrations": {"Salesforce": True}},
        {"type": 7, "integrations": {"Salesforce": True}},
        {"type": ["identify"], "integrations": {"Salesforce": True}},
    ],
)
def test_an_event_without_a_string_type_is_malformed_not_ignored(event):
    """design.md rule 1: a missing or non-string type is a dead letter, never silently ignored."""
    outcome = classify(event, 3, OPTIONS)
    assert isinstance(outcome, Rejected)
    assert (outcome.stage, outcome.code, outcome.seq) == ("parse", "missing_type", 3)


def test_type_is_matched_case_insensitively_like_rudder_server():
    assert isinstance(classify(identify({"email": "a@x.io"}, type=" Identify "), 0, OPTIONS), IdentifyEvent)


def test_the_integration_key_is_configurable():
    event = identify({"email": "a@x.io"}, integrations={"Salesforce V2": True})
    assert isinstance(classify(event, 0, OPTIONS), Ignored)
    assert isinstance(classify(event, 0, MappingOptions(integration_key="Salesforce V2")), IdentifyEvent)


def test_traits_are_merged_over_context_traits_and_traits_win():
    event = identify({"email": "a@x.io", "plan": "pro"}, context={"traits": {"plan": "free", "city": "Oslo"}})
    assert dict(eligible(event).traits) == {"email": "a@x.io", "plan": "pro", "city": "Oslo"}


def test_context_traits_alone_are_enough():
    event = {"type": "identify", "integrations": {"Salesforce": True}, "context": {"traits": {"email": "B@X.io"}}}
    assert eligible(event).email == "b@x.io"


def test_a_json_line_and_bytes_classify_like_the_dict():
    event = identify({"email": "a@x.io"}, timestamp="2026-11-28T10:00:00Z")
    from_dict = eligible(event)
    from_line = classify(json.dumps(event), 0, OPTIONS)
    from_bytes = classify(json.dumps(event).encode(), 0, OPTIONS)
    assert isinstance(from_line, IdentifyEvent) and isinstance(from_bytes, IdentifyEvent)
    assert (from_line.email, from_line.timestamp, dict(from_line.traits)) == (
        from_dict.email,
        from_dict.timestamp,
        dict(from_dict.traits),
    )


def test_the_fast_decoder_gives_the_same_event():
    line = json.dumps(identify({"email": "a@x.io", "n": 1}, timestamp="2026-11-28T10:00:00Z"))
    fast = classify(line, 0, OPTIONS, msgspec.json.Decoder().decode)
    slow = classify(line, 0, OPTIONS)
    assert fast == slow


def test_timestamp_orders_events_and_falls_back_to_other_time_keys():
    assert eligible(identify({"email": "a@x.io"}, timestamp="1970-01-01T00:01:00Z")).timestamp == 60.0
    assert eligible(identify({"email": "a@x.io"}, originalTimestamp="1970-01-01T00:02:00+00:00")).timestamp == 120.0
    assert eligible(identify({"email": "a@x.io"}, sentAt="1970-01-01 00:03:00")).timestamp == 180.0
    assert eligible(identify({"email": "a@x.io"})).timestamp == 0.0


def test_external_ids_become_targets_and_other_destinations_ids_are_skipped():
    event = identify(
        {"name": "Acme"},
        context={
            "externalId": [
                {"type": "Salesforce-Account", "id": "001000000000001AAA"},
                {"type": "hubspot-contact", "id": "123"},
                {"type": "Salesforce-Custom_Object__c"},
            ]
        },
    )
    outcome = eligible(event)
    assert outcome.targets == (Target("Account", "001000000000001AAA"), Target("Custom_Object__c", None))
    assert outcome.email is None  # no e-mail look-up on this path


REJECTS = [
    ("{not json", "parse", "invalid_json"),
    ('{"type": "identify", "n": NaN}', "parse", "invalid_json"),
    ("[" * 100_000 + "]" * 100_000, "parse", "invalid_json"),
    ('"just a string"', "parse", "not_an_object"),
    ("[1, 2]", "parse", "not_an_object"),
    (b"\xff\xfe{}", "parse", "invalid_utf8"),
    (42, "parse", "not_an_object"),
    (identify({"email": "a@x.io"}, context="web"), "validate", "invalid_context"),
    ({"type": "identify", "integrations": {"Salesforce": True}, "traits": ["email"]}, "validate", "invalid_traits"),
    (identify({"email": "a@x.io"}, context={"traits": "x"}), "validate", "invalid_traits"),
    (
        identify({"email": "a@x.io"}, context={"externalId": {"type": "Salesforce-Lead"}}),
        "validate",
        "invalid_external_id",
    ),
    (identify({}, context={"externalId": ["Salesforce-Lead"]}), "validate", "invalid_external_id"),
    (identify({}, context={"externalId": [{"id": "1"}]}), "validate", "invalid_external_id"),
    (
        identify({}, context={"externalId": [{"type": "Salesforce-../Lead", "id": "x"}]}),
        "validate",
        "invalid_object_name",
    ),
    (identify({}, context={"externalId": [{"type": "Salesforce-", "id": "x"}]}), "validate", "invalid_object_name"),
    (
        identify({}, context={"externalId": [{"type": "Salesforce-Lead", "id": "00Q' OR Id != '"}]}),
        "validate",
        "invalid_record_id",
    ),
    (identify({"firstName": "Ada"}), "validate", "missing_email"),
    (identify({"email": ""}), "validate", "missing_email"),
    (identify({"email": 12}), "validate", "invalid_email"),
    (identify({"email": "not-an-address"}), "validate", "invalid_email"),
    (identify({"email": "a b@x.io"}), "validate", "invalid_email"),
    (identify({"email": "a" * 80 + "@x.io"}), "validate", "invalid_email"),
    (identify({"email": "nul\u0000x@x.io"}), "validate", "invalid_email"),
    (identify({"email": "a\u200bb@x.io"}), "validate", "invalid_email"),
    (identify({"email": "\u202ertl@x.io"}), "validate", "invalid_email"),
    (identify({"email": "a@x.io"}, timestamp=12), "validate", "invalid_timestamp"),
    (identify({"email": "a@x.io"}, timestamp="yesterday-ish"), "validate", "invalid_timestamp"),
]


@pytest.mark.parametrize(("raw", "stage", "code"), REJECTS, ids=[f"{r[2]}-{i}" for i, r in enumerate(REJECTS)])
def test_bad_input_is_rejected_with_a_code_and_a_sentence(raw, stage, code):
    outcome = classify(raw, 5, OPTIONS)
    assert isinstance(outcome, Rejected)
    assert (outcome.stage, outcome.code, outcome.seq) == (stage, code, 5)
    assert outcome.raw is raw  # the original goes to the dead letter unchanged
    assert outcome.reason.endswith(".") and len(outcome.reason) < 300


def test_the_fast_decoder_rejects_the_same_bad_lines():
    decode = msgspec.json.Decoder().decode
    for raw, stage, code in REJECTS:
        outcome = classify(raw, 0, OPTIONS, decode)
        assert isinstance(outcome, Rejected) and (outcome.stage, outcome.code) == (stage, code), raw


def test_map_properties_false_takes_the_email_from_Email():
    event = identify({"Email": "Ada@X.io"})
    assert eligible(event, options=MappingOptions(map_properties=False)).email == "ada@x.io"
    assert isinstance(classify(event, 0, OPTIONS), Rejected)


def test_options_reject_a_bad_external_id_field():
    with pytest.raises(ValueError, match="not a valid Salesforce field name"):
        MappingOptions(external_id_field="Bad Field")


def _nested(depth: int) -> str:
    return (
        '{"type":"identify","integrations":{"Salesforce":true},"traits":{"email":"a@example.com","x":'
        + ('{"a":' * depth + "1" + "}" * depth)
        + "}}"
    )


@pytest.mark.parametrize("recursion_limit", [1_000, 5_000])  # 5,000: what Airflow sets when it copies an operator
def test_json_nested_deeper_than_the_bound_is_refused_whatever_the_recursion_limit(recursion_limit):
    import sys

    from airflow_provider_rudder_sf.mapping.events import MAX_NESTING

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(recursion_limit)
    try:
        outcomes = {
            depth: classify(_nested(depth), 0, MappingOptions(), msgspec.json.Decoder().decode)
            for depth in (MAX_NESTING - 2, MAX_NESTING - 1, 1_500)  # the envelope and traits add two levels
        }
    finally:
        sys.setrecursionlimit(limit)

    assert isinstance(outcomes[MAX_NESTING - 2], IdentifyEvent)
    for depth in (MAX_NESTING - 1, 1_500):
        rejected = outcomes[depth]
        assert isinstance(rejected, Rejected), depth
        assert (rejected.code, rejected.reason) == ("invalid_json", "The line nests JSON deeper than 100 levels.")


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps(
        {
            "type": "identify",
            "integrations": {"Salesforce": True},
            "traits": {"email": "a@example.com", "x": "[{" * 300},
        }
    )
    assert isinstance(classify(text, 0, MappingOptions()), IdentifyEvent)
