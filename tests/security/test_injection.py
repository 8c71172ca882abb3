"""No injection: SOQL values are escaped; object and field names are validated before any request."""

from __future__ import annotations

import pytest

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

DECOYS = [
    {"LastName": "Decoy", "Company": "Decoy Inc", "Email": f"decoy{i}@example.com", "Title": "untouched"}
    for i in range(5)
]
INJECTIONS = [
    "x' OR Email != '@example.com",
    "x\\' OR Email != \\'@example.com",
    "x\\\\' OR Email LIKE '%@example.com",
    "%@example.com",
    "_ecoy0@example.com",
    "decoy0@example.com' OR Id != '",
    "x\u2019 OR Email != \u2018@example.com",
    "x\u02bc OR Name != \u02bc@example.com",
    "a') OR (Email != 'b@example.com",
    "\\@example.com",
]


def identify(traits: dict, **context) -> dict:
    return {"type": "identify", "integrations": {"Salesforce": True}, "traits": traits, "context": context}


def run(events, tmp_path):
    return IdentifyToSalesforceOperator(
        task_id="sync", events=events, dead_letter=str(tmp_path / "dead"), max_dead_letter_ratio=1.0
    ).execute(context={})


def test_soql_injection_through_emails_changes_no_other_record(crm, tmp_path):
    decoy_ids = crm.seed("Lead", DECOYS)
    before = {lead["Id"]: lead for lead in crm.records("Lead")}

    summary = run([identify({"email": e, "title": "ATTACKER", "lastName": "X"}) for e in INJECTIONS], tmp_path)

    after = {lead["Id"]: lead for lead in crm.records("Lead")}
    for decoy in decoy_ids:
        assert after[decoy] == before[decoy], "a decoy Lead was changed by an injected e-mail"
    new = [lead for rid, lead in after.items() if rid not in before]
    # Whatever was created carries exactly one of the injected e-mails, once (never a match on other records).
    assert sorted(lead["Email"].lower() for lead in new) == sorted({lead["Email"].lower() for lead in new})
    assert {lead["Email"].lower() for lead in new} <= {e.lower() for e in INJECTIONS}
    assert summary["updated"] == 0
    assert summary["applied"] + summary["dead_lettered"] == len(INJECTIONS)


def test_external_id_values_cannot_inject_or_reach_other_records(crm, tmp_path):
    decoy_ids = crm.seed("Lead", DECOYS)
    before = crm.records("Lead")
    hostile_ids = ["00Q' OR Id != '", decoy_ids[0] + "' OR '1'='1", "../" + decoy_ids[0], decoy_ids[0] + "/x"]
    events = [
        identify({"email": "a@example.com", "title": "ATTACKER"}, externalId=[{"type": "Salesforce-Lead", "id": i}])
        for i in hostile_ids
    ]

    summary = run(events, tmp_path)

    assert crm.records("Lead") == before
    assert summary["dead_lettered"] == len(events)
    assert crm.counters()["api_calls"] == 0, crm.counters()


@pytest.mark.parametrize(
    "event",
    [
        identify({"email": "a@example.com"}, externalId=[{"type": "Salesforce-../../x"}]),
        identify({"email": "a@example.com"}, externalId=[{"type": "Salesforce-Lead/../Account"}]),
        identify({"email": "a@example.com"}, externalId=[{"type": "Salesforce-Lead?q=SELECT+Id+FROM+User"}]),
        identify({"email": "a@example.com"}, externalId=[{"type": "Salesforce-Lead%2F..%2FAccount"}]),
        identify({"email": "a@example.com"}, externalId=[{"type": "Salesforce-Lead WHERE Id != null"}]),
        identify({"email": "a@example.com", "Id; DROP": "x"}),
        identify({"email": "a@example.com", "Email, Id FROM User --": "x"}),
        identify({"email": "a@example.com", "../../Account": "x"}),
        identify({"email": "a@example.com", "x/../../y": "x"}),
        identify({"email": "a@example.com"}, externalId=[{"type": "Salesforce-Account"}])
        | {"traits": {"Name": "n", "Id; DROP": 1}},
    ],
    ids=lambda e: str(e["context"].get("externalId") or list(e["traits"])[-1])[:60],
)
def test_bad_object_and_field_names_are_rejected_before_any_request(crm, tmp_path, event):
    summary = run([event], tmp_path)

    counters = crm.counters()
    external = event["context"].get("externalId")
    if external and external[0]["type"] != "Salesforce-Account":
        # A bad object name is rejected while the event is read: not even a login.
        assert counters["api_calls"] == 0 and counters["by_endpoint"] == {}, counters
        assert counters["logins"] == 0
    else:
        # A bad trait key is found when the Lead write is planned, after the e-mail look-up (which carries only
        # the escaped e-mail) and the Lead describe: no write request is ever built with the key.
        assert set(counters["by_endpoint"]) <= {"GET limits", "GET query", "GET describe"}, counters
    assert summary["dead_lettered"] == 1
    (letter,) = read_dead_letters(tmp_path / "dead")
    assert letter["stage"] == "validate" and letter["reason"]
