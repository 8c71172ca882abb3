"""Shared helpers for the emulator tests: a simple-salesforce client logged in over real HTTPS."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin

from airflow_provider_rudder_sf.emulator.client import EmulatorHandle

VERSION = "59.0"


def login(emu: EmulatorHandle, session: requests.Session | None = None) -> Salesforce:
    http = session or emu.session()
    sid, instance = SalesforceLogin(
        username=emu.username,
        password=emu.password,
        security_token=emu.security_token,
        scratch_url=emu.base_url,
        session=http,
        sf_version=VERSION,
    )
    return Salesforce(session_id=sid, instance=instance, session=http, version=VERSION)


@pytest.fixture
def sf(salesforce_emulator: EmulatorHandle) -> Salesforce:
    return login(salesforce_emulator)


@pytest.fixture
def data_url(salesforce_emulator: EmulatorHandle) -> str:
    return f"{salesforce_emulator.base_url}/services/data/v{VERSION}"
