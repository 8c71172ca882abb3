"""Fault injection: 503 every Nth request, UNABLE_TO_LOCK_ROW, session expiry, latency, limit changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import login
from simple_salesforce import Salesforce, SalesforceExpiredSession, SalesforceGeneralError

from rudder_sf_emulator import EmulatorHandle, start_emulator


def _records(n: int) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Lead"}, "LastName": f"L{i}", "Company": "c"} for i in range(n)]


def test_every_nth_request_is_503(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.set_faults(fail_every_nth=3)
    outcomes = []
    for _ in range(6):
        try:
            sf.query("SELECT Id FROM Lead")
            outcomes.append("ok")
        except SalesforceGeneralError as err:
            assert err.status == 503 and err.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
            outcomes.append("503")
    assert outcomes == ["ok", "ok", "503", "ok", "ok", "503"]
    counters = salesforce_emulator.counters()
    assert counters["api_calls"] == 4 and counters["injected_faults"] == {"server_unavailable": 2}


def _locked(emu: EmulatorHandle, sf: Salesforce, seed: int) -> list[int]:
    emu.reset()
    emu.set_faults(lock_row_ratio=0.3, seed=seed)
    res = sf_fresh(emu).restful("composite/sobjects", method="POST", json={"records": _records(200)})
    locked = [i for i, r in enumerate(res) if not r["success"]]
    assert all(res[i]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" for i in locked)
    assert len(emu.records("Lead")) == 200 - len(locked)
    return locked


def sf_fresh(emu: EmulatorHandle) -> Salesforce:
    return login(emu)


def test_unable_to_lock_row_is_deterministic(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    first = _locked(salesforce_emulator, sf, seed=7)
    assert 30 <= len(first) <= 90
    assert _locked(salesforce_emulator, sf, seed=7) == first
    assert _locked(salesforce_emulator, sf, seed=8) != first


def test_session_expires_after_k_calls(salesforce_emulator: EmulatorHandle) -> None:
    salesforce_emulator.set_faults(expire_session_after=2)
    sf = login(salesforce_emulator)
    sf.query("SELECT Id FROM Lead")
    sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM Lead")
    assert err.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead")
    assert login(salesforce_emulator).query("SELECT Id FROM Lead")["totalSize"] == 0
    assert salesforce_emulator.counters()["injected_faults"]["session_expired"] == 1


def test_latency_and_limit_via_faults(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    import time

    salesforce_emulator.set_faults(latency_ms=150, daily_limit=50)
    started = time.perf_counter()
    sf.query("SELECT Id FROM Lead")
    assert time.perf_counter() - started >= 0.15
    assert sf.api_usage["api-usage"].total == 50


def test_unknown_fault_name_is_rejected(salesforce_emulator: EmulatorHandle) -> None:
    with pytest.raises(RuntimeError, match="unknown fault setting"):
        salesforce_emulator.set_faults(explode=True)


def test_faults_from_start_flags(tmp_path: Path) -> None:
    with start_emulator(tmp_path, fail_every_nth=2, daily_limit=10, seed=3) as emu:
        sf = login(emu)
        sf.query("SELECT Id FROM Lead")
        with pytest.raises(SalesforceGeneralError):
            sf.query("SELECT Id FROM Lead")
        assert sf.limits()["DailyApiRequests"]["Max"] == 10
        emu.reset()
        assert emu.set_faults()["fail_every_nth"] == 2  # reset returns to the start-up configuration
