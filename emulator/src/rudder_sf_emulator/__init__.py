"""A local Salesforce emulator over HTTPS (SOAP/OAuth login, SOQL, sObjects, Collections, Composite, Bulk 2.0).

Imports nothing from airflow-provider-rudder-sf and no Airflow: all it knows of the provider is the shape of a
``rudder_salesforce`` connection (``EmulatorHandle.connection_json()``). Run it with
``rudder-sf-emulator --port 0 --data-dir DIR`` (or ``python -m rudder_sf_emulator``); from Python use
``start_emulator(data_dir)``; from pytest use the ``salesforce_emulator`` fixture (``pytest_plugin``).
Importing this package is cheap: ``EmulatorHandle``/``start_emulator`` are loaded on first access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["EmulatorHandle", "start_emulator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import client

        return getattr(client, name)
    raise AttributeError(name)
