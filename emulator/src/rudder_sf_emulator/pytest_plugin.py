"""pytest plugin: a real HTTPS Salesforce emulator for your tests.

Installing ``rudder-sf-emulator`` is the opt-in: pytest loads this module through its ``pytest11`` entry point.

Fixtures:

``salesforce_emulator_server`` (session scope)
    Starts ``python -m rudder_sf_emulator`` once per test session on a free port, with its data directory under
    pytest's session temp dir, and stops it at the end. Yields an ``EmulatorHandle``.

``salesforce_emulator`` (function scope)
    The same server, reset before the test: no records, default faults/settings/credentials, counters at zero, no
    sessions, declared schema dropped. Yields an ``EmulatorHandle`` with ``base_url``, ``ca_path``, ``username``,
    ``password``, ``security_token``, ``connection_json()``/``connection_uri()`` and admin helpers ``seed(obj,
    records) -> ids``, ``records(obj)``, ``counters()``, ``requests()``, ``set_faults(**kw)``,
    ``declare_fields(obj, specs)``, ``settings(**kw)``, ``expire_sessions()``, ``duplicate_rules()``,
    ``set_duplicate_rules(rules)``, ``profile()``, ``bulk_jobs()``. The org profile is the start-up one (``full``); call
    ``reset(schema=True, profile="minimal")`` for a realistic restricted org (the next test's reset undoes it).

Example (a DAG test)::

    def test_sync(salesforce_emulator, monkeypatch):
        salesforce_emulator.seed("Lead", [{"LastName": "Doe", "Company": "Acme", "Email": "a@example.com"}])
        monkeypatch.setenv("AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT", salesforce_emulator.connection_json())
        ...  # run the operator
        assert salesforce_emulator.counters()["api_calls"] <= 3

Importing this module is cheap: the emulator and ``requests`` are loaded only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .client import EmulatorHandle


@pytest.fixture(scope="session")
def salesforce_emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    from .client import start_emulator

    with start_emulator(tmp_path_factory.mktemp("salesforce-emulator")) as handle:
        yield handle


@pytest.fixture
def salesforce_emulator(salesforce_emulator_server: EmulatorHandle) -> EmulatorHandle:
    salesforce_emulator_server.reset(schema=True)
    return salesforce_emulator_server
