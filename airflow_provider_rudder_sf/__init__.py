"""Apache Airflow provider that syncs RudderStack ``identify`` events into Salesforce."""

from __future__ import annotations

from airflow_provider_rudder_sf.provider_info import CONNECTION_TYPE, VERSION, get_provider_info

__version__ = VERSION

__all__ = ["CONNECTION_TYPE", "__version__", "get_provider_info"]
