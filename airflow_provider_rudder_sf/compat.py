"""Airflow imports that moved between 3.0 and 3.3, in one place (a fuller table arrives with the install check)."""

from __future__ import annotations

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 3.0 and 3.1
    from airflow.exceptions import AirflowException, AirflowFailException  # type: ignore[no-redef,attr-defined]

from airflow.sdk import ObjectStoragePath

__all__ = ["AirflowException", "AirflowFailException", "ObjectStoragePath"]
