"""Shared helpers for the emulator tests: a simple-salesforce client logged in over real HTTPS."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce

from airflow_provider_rudder_sf.emulator.client import EmulatorHandle

VERSION = "59.0"


def login(emu: EmulatorHandle, session: requests.Session | None = None) -> Salesforce:
    return emu.simple_salesforce(session, VERSION)  # type: ignore[no-any-return]


@pytest.fixture
def sf(salesforce_emulator: EmulatorHandle) -> Salesforce:
    return login(salesforce_emulator)


@pytest.fixture
def data_url(salesforce_emulator: EmulatorHandle) -> str:
    return f"{salesforce_emulator.base_url}/services/data/v{VERSION}"


@pytest.fixture
def minimal(salesforce_emulator: EmulatorHandle) -> EmulatorHandle:
    """The emulator switched to the ``minimal`` org profile (the next test's reset returns to ``full``)."""
    salesforce_emulator.reset(schema=True, profile="minimal")
    return salesforce_emulator


@pytest.fixture
def msf(minimal: EmulatorHandle) -> Salesforce:
    """A client logged in to the ``minimal`` org."""
    return login(minimal)
