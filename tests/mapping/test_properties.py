"""Property: whatever arrives, the core never raises and classifies every input exactly once."""

from __future__ import annotations

import json

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_rudder_sf.mapping import (
    IdentifyEvent,
    Ignored,
    LeadMatch,
    MappingOptions,
    Rejected,
    build_plan,
    classify,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    ["email", "name", "firstName", "company", "address", "phone", "plan", "id", "createdAt", "bad key", "x__c"]
) | st.text(max_size=12)
traits = st.dictionaries(keys, json_values, max_size=8)
emails = st.sampled_from(["a@x.io", "A@X.io", "b@x.io", "no-at", ""]) | st.text(max_size=12)
external_ids = (
    st.lists(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(
                    ["Salesforce-Lead", "Salesforce-Account", "Salesforce-../x", "other", "Salesforce-"]
                )
            },
            optional={"id": st.sampled_from(["001000000000001AAA", "00Q000000000001", "bad id", ""]) | json_values},
        ),
        max_size=3,
    )
    | json_values
)
events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["identify", "track", "IDENTIFY"]) | json_values,
        "integrations": st.sampled_from([{"Salesforce": True}, {"Salesforce": {"x": 1}}, {}]) | json_values,
        "traits": traits.map(lambda t: {"email": t.pop("email", "a@x.io"), **t}) | json_values,
        "context": st.fixed_dictionaries({}, optional={"traits": traits, "externalId": external_ids}) | json_values,
        "timestamp": st.sampled_from(["2026-11-28T10:00:00Z", "2026-11-28", "nope"]) | json_values,
        "messageId": json_values,
    },
)
staged = events | json_values | events.map(json.dumps) | st.text() | st.binary(max_size=40)
matches = st.dictionaries(
    emails,
    st.lists(
        st.builds(LeadMatch, st.just("00Q000000000001AAA"), st.booleans(), st.none() | st.just("003000000000001AAA")),
        max_size=2,
    ).map(tuple),
    max_size=3,
)
options = st.builds(MappingOptions, st.booleans(), st.booleans(), st.just("Salesforce"), st.none() | st.just("Ext__c"))
DECODERS = [None, msgspec.json.Decoder().decode]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(staged, max_size=12), matches, options, st.sampled_from(DECODERS))
def test_every_input_ends_as_exactly_one_outcome_and_nothing_raises(inputs, lead_matches, opts, decode):
    outcomes = [classify(raw, seq, opts, *(d for d in [decode] if d)) for seq, raw in enumerate(inputs)]
    assert all(isinstance(o, IdentifyEvent | Ignored | Rejected) for o in outcomes)
    assert [o.seq for o in outcomes] == list(range(len(inputs)))

    eligible = [o for o in outcomes if isinstance(o, IdentifyEvent)]
    plan = build_plan(eligible, lead_matches, opts)

    written = {seq for write in plan.writes for seq in write.sources}
    refused = [r.seq for r in plan.rejected]
    assert len(refused) == len(set(refused))
    assert written.isdisjoint(refused)
    assert written | set(refused) == {e.seq for e in eligible}
    for write in plan.writes:
        json.dumps(dict(write.fields))  # every value can go out as JSON
        assert all(isinstance(v, str | int | float | bool) for v in write.fields.values())
