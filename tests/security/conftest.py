from __future__ import annotations

import pytest

CUSTOM_FIELDS = {
    "plan__c": {"type": "string", "length": 40},
    "newsletter__c": {"type": "boolean"},
    "logins__c": {"type": "double"},
}


@pytest.fixture
def crm(salesforce_emulator, monkeypatch):
    for sobject in ("Lead", "Contact"):
        salesforce_emulator.declare_fields(sobject, CUSTOM_FIELDS)
    monkeypatch.setenv("AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT", salesforce_emulator.connection_json())
    return salesforce_emulator
