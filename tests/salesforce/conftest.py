"""Factories for settings, clients and writes against the HTTPS emulator (``salesforce_emulator`` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings


@pytest.fixture
def sleeps() -> list[float]:
    """Back-off delays the client asked for (no test ever really sleeps)."""
    return []


@pytest.fixture
def make_settings(salesforce_emulator) -> Callable[..., SalesforceSettings]:
    h = salesforce_emulator

    def factory(**overrides: Any) -> SalesforceSettings:
        values: dict[str, Any] = {
            "username": h.username,
            "password": h.password,
            "security_token": h.security_token,
            "login_url": h.base_url,
            "ca_bundle": h.ca_path,
            "timeout": 30.0,
        }
        values.update(overrides)
        return SalesforceSettings(**values)

    return factory


@pytest.fixture
def make_client(make_settings, sleeps) -> Callable[..., SalesforceClient]:
    clients: list[SalesforceClient] = []

    def factory(settings: SalesforceSettings | None = None, **kwargs: Any) -> SalesforceClient:
        kwargs.setdefault("sleep", sleeps.append)
        kwargs.setdefault("rand", lambda: 0.5)
        client = SalesforceClient(settings or make_settings(), **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
