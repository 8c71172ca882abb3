"""Admin API, API accounting, EmulatorHandle helpers, start_emulator and restart persistence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
from conftest import VERSION, login
from simple_salesforce import Salesforce, SalesforceRefusedRequest

from rudder_sf_emulator import EmulatorHandle, start_emulator


def test_limit_info_header_and_limits_resource(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Lead")
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 100_000
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 100000, "Remaining": 99998}
    counters = salesforce_emulator.counters()
    assert counters["api_calls"] == 2 and counters["logins"] == 1
    assert counters["by_endpoint"] == {"GET query": 1, "GET limits": 1}


def test_daily_limit_exceeded_is_403(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.settings(daily_limit=2)
    sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Lead")
    assert err.value.status == 403
    assert err.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert salesforce_emulator.counters()["api_calls"] == 2


def test_reset_clears_records_counters_sessions_and_schema(salesforce_emulator: EmulatorHandle) -> None:
    sf = login(salesforce_emulator)
    salesforce_emulator.declare_fields("Lead", {"Keep__c": {"type": "string"}})
    salesforce_emulator.seed("Lead", [{"LastName": "a", "Company": "b", "Keep__c": "x"}])
    sf.query("SELECT Id FROM Lead")
    salesforce_emulator.set_faults(latency_ms=1)
    salesforce_emulator.reset()
    assert salesforce_emulator.records("Lead") == []
    assert salesforce_emulator.counters()["api_calls"] == 0
    assert salesforce_emulator.set_faults()["latency_ms"] == 0
    sf = login(salesforce_emulator)
    assert sf.query("SELECT Keep__c FROM Lead")["totalSize"] == 0  # schema kept
    salesforce_emulator.reset(schema=True)
    with pytest.raises(Exception, match="INVALID_FIELD"):
        login(salesforce_emulator).query("SELECT Keep__c FROM Lead")


def test_seed_returns_ids_and_accepts_system_fields(salesforce_emulator: EmulatorHandle) -> None:
    ids = salesforce_emulator.seed(
        "Lead",
        [
            {"LastName": "a", "Company": "b", "IsConverted": True, "ConvertedContactId": "0038Z0000000001UAA"},
            {"LastName": "c", "Company": "d", "Email": "MiXed@Case.IO"},
        ],
    )
    assert [i[:3] for i in ids] == ["00Q", "00Q"]
    records = salesforce_emulator.records("Lead")
    assert records[0]["IsConverted"] is True and records[1]["Email"] == "mixed@case.io"
    with pytest.raises(RuntimeError, match="INVALID_FIELD"):
        salesforce_emulator.seed("Lead", [{"Bogus": 1}])


def test_connection_json_and_uri(salesforce_emulator: EmulatorHandle) -> None:
    conn = json.loads(salesforce_emulator.connection_json())
    # literals on purpose: an emulator started with no options logs in as docs/emulator.md says
    assert conn == {
        "conn_type": "rudder_salesforce",
        "host": salesforce_emulator.base_url,
        "login": "demo@example.com",
        "password": "demo-password",
        "extra": {"security_token": "DemoToken123", "ca_bundle": salesforce_emulator.ca_path},
    }
    assert salesforce_emulator.connection_uri().startswith("rudder-salesforce://demo%40example.com:demo-password@")


def test_admin_client_ignores_ca_bundle_env(
    salesforce_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    fresh = EmulatorHandle(salesforce_emulator.base_url, salesforce_emulator.ca_path, salesforce_emulator.data_dir)
    assert fresh.counters()["api_calls"] == 0
    with pytest.raises(requests.exceptions.SSLError):  # a plain session falls back to the system bundle
        requests.get(f"{salesforce_emulator.base_url}/__admin/counters", timeout=10)


def test_versions_list_needs_no_auth_and_is_not_counted(salesforce_emulator: EmulatorHandle) -> None:
    resp = salesforce_emulator.session().get(f"{salesforce_emulator.base_url}/services/data/")
    assert resp.status_code == 200
    assert {"version": VERSION, "url": "/services/data/v59.0"} in [
        {"version": v["version"], "url": v["url"]} for v in resp.json()
    ]
    assert salesforce_emulator.counters()["api_calls"] == 0


def test_restart_keeps_records_schema_and_certificate(tmp_path: Path) -> None:
    with start_emulator(tmp_path) as emu:
        emu.declare_fields("Lead", {"Ext__c": {"type": "string", "externalId": True}})
        ids = emu.seed("Lead", [{"LastName": "a", "Company": "b", "Ext__c": "k"}])
        cert = Path(emu.ca_path).read_bytes()
    with start_emulator(tmp_path, security_token="Other") as emu:
        assert Path(emu.ca_path).read_bytes() == cert
        sf = login(emu)
        rows = sf.query("SELECT Id, Ext__c FROM Lead")["records"]
        assert [(r["Id"], r["Ext__c"]) for r in rows] == [(ids[0], "k")]
        new_id = sf.Lead.create({"LastName": "n", "Company": "c"})["id"]
        assert new_id not in ids


def test_start_emulator_reports_startup_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(RuntimeError, match="did not become ready"), start_emulator(blocker / "sub", timeout=30):
        pass
    assert os.path.exists(blocker)
