"""A local Salesforce emulator over HTTPS (SOAP/OAuth login, SOQL, sObjects, Collections, Composite, Bulk 2.0).

Imports nothing else from the provider and no Airflow. Run it with
``python -m airflow_provider_rudder_sf.emulator --port 0 --data-dir DIR``; from Python use
``start_emulator(data_dir)``; from pytest use the ``salesforce_emulator`` fixture (``pytest_plugin``).
Importing this package is cheap: ``EmulatorHandle``/``start_emulator`` are loaded on first access.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmulatorHandle", "start_emulator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import client

        return getattr(client, name)
    raise AttributeError(name)
