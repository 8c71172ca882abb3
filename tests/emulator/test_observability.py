"""What the emulator tells tests: the request log, write counters, the concurrency high-water mark, --help."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from conftest import VERSION, login
from simple_salesforce import Salesforce

from rudder_sf_emulator.__main__ import build_parser
from rudder_sf_emulator.auth import DEFAULT_CREDENTIALS
from rudder_sf_emulator.client import EmulatorHandle

ALLOW = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}


def _lead(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "LastName": "Doe", "Company": "Acme", **fields}


def test_request_log_records_fields_sent_before_validation(minimal: EmulatorHandle, msf: Salesforce) -> None:
    msf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [_lead(annualrevenue=5), _lead(Email="a@b.io"), _lead(Bogus__c=1)]},
        headers=ALLOW,
    )
    writes = minimal.requests()["writes"]
    assert writes == {
        "Lead": {
            "create": {"records": 3, "fields": ["AnnualRevenue", "Bogus__c", "Company", "Email", "LastName"]},
        }
    }
    assert len(minimal.records("Lead")) == 1  # the refused record was still logged


def test_request_log_per_operation_and_allow_save_count(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"}, headers=ALLOW)["id"]
    sf.Lead.update(lead_id, {"Title": "CTO"})
    sf.Lead.upsert("Email/x@y.io", {"LastName": "Up", "Company": "Co"})
    sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Lead"}, "Id": lead_id, "Phone": "1"}]},
        headers=ALLOW,
    )
    sf.Contact.create({"LastName": "C"})
    sf.Lead.delete(lead_id)
    sf.query("SELECT Id FROM Lead")
    log = salesforce_emulator.requests()
    assert log["writes"] == {
        "Contact": {"create": {"records": 1, "fields": ["LastName"]}},
        "Lead": {
            "create": {"records": 1, "fields": ["Company", "LastName"]},
            "delete": {"records": 1, "fields": []},
            "update": {"records": 2, "fields": ["Id", "Phone", "Title"]},
            "upsert": {"records": 1, "fields": ["Company", "LastName"]},
        },
    }
    assert log["allow_save_requests"] == 2
    salesforce_emulator.reset()
    assert salesforce_emulator.requests() == {"writes": {}, "allow_save_requests": 0}


def test_request_log_counts_composite_subrequests_and_bulk(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    url = f"/services/data/v{VERSION}/sobjects/Lead"
    sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {"method": "POST", "url": url, "referenceId": "a", "body": {"LastName": "x", "Company": "c"}},
                {"method": "POST", "url": url, "referenceId": "b", "body": {"LastName": "y"}, "httpHeaders": ALLOW},
            ]
        },
    )
    sf.bulk2.Lead.insert(records=[{"LastName": "b", "Company": "c", "City": ""}] * 3, wait=0.05)
    log = salesforce_emulator.requests()
    assert log["writes"]["Lead"]["create"] == {"records": 5, "fields": ["City", "Company", "LastName"]}
    assert log["allow_save_requests"] == 1


def test_records_created_and_updated_count_successes_only(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    sf.restful("composite/sobjects", method="POST", json={"records": [_lead(), _lead(LastName=None), _lead()]})
    sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [_lead(), _lead(Email="x")]})
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]
    sf.Lead.update(lead_id, {"Title": "t"})
    sf.Contact.create({"LastName": "C"})
    counters = salesforce_emulator.counters()
    assert counters["records_created"] == {"Contact": 1, "Lead": 3}
    assert counters["records_updated"] == {"Lead": 1}
    salesforce_emulator.reset()
    assert salesforce_emulator.counters()["records_created"] == {}


def test_max_concurrent_requests_with_two_clients(salesforce_emulator: EmulatorHandle) -> None:
    clients = [login(salesforce_emulator), login(salesforce_emulator)]
    salesforce_emulator.set_faults(latency_ms=400)
    start = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def run(client: Salesforce) -> None:
        try:
            start.wait(timeout=30)
            client.query("SELECT Id FROM Lead")
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert salesforce_emulator.counters()["max_concurrent_requests"] >= 2


def test_max_concurrent_requests_is_one_when_sequential(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    assert salesforce_emulator.counters()["max_concurrent_requests"] == 0
    sf.query("SELECT Id FROM Lead")
    sf.Lead.create({"LastName": "Doe", "Company": "Acme"})
    assert salesforce_emulator.counters()["max_concurrent_requests"] == 1


def test_help_lists_every_option_with_a_sentence() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "rudder_sf_emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    options = [a for a in build_parser()._actions if a.option_strings]
    assert len(options) >= 20
    for action in options:
        assert action.help and len(action.help.split()) >= 3, action.option_strings
        assert action.option_strings[-1] in text
    for needle in ("--org-profile {full,minimal}", "airflow connections add", "https://127.0.0.1:8443"):
        assert needle in text
    # the description is a template filled from the tables that own the defaults: none left out, each one shown
    assert "$" not in text
    for default in asdict(DEFAULT_CREDENTIALS).values():
        assert f"``{default}``" in text and f"(default {default}" in text


def test_the_docs_state_the_default_login_the_emulator_uses() -> None:
    """docs/emulator.md is prose and cannot import the table: it is held to it here."""
    docs = (Path(__file__).parents[2] / "docs" / "emulator.md").read_text()
    for name, default in asdict(DEFAULT_CREDENTIALS).items():
        assert f"(`--{name.replace('_', '-')}`) | `{default}`" in docs


@pytest.mark.parametrize("flag", ["--org-profile", "--schema"])
def test_help_explains_profiles_and_schema(flag: str) -> None:
    assert flag in build_parser().format_help()
