"""The sync run shared by the operator, dry runs, example DAGs and benchmarks (no Airflow imports)."""

from __future__ import annotations

from airflow_provider_rudder_sf.sync.engine import run_sync
from airflow_provider_rudder_sf.sync.ports import DeadLetterSink, LogOnlyDeadLetters, Writer
from airflow_provider_rudder_sf.sync.summary import SyncSummary

__all__ = ["DeadLetterSink", "LogOnlyDeadLetters", "SyncSummary", "Writer", "run_sync"]
