"""Apache Airflow provider that syncs RudderStack ``identify`` events into Salesforce."""

from __future__ import annotations

__version__ = "0.1.0"

from airflow_provider_rudder_sf.provider_info import CONNECTION_TYPE, get_provider_info

__all__ = ["CONNECTION_TYPE", "__version__", "get_provider_info"]
