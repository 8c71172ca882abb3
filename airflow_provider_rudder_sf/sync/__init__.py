"""The sync run shared by the operator, dry runs, example DAGs and benchmarks (no Airflow imports)."""

from __future__ import annotations

from airflow_provider_rudder_sf.sync.engine import DeadLetterSink, LogOnlyDeadLetters, Writer, run_sync
from airflow_provider_rudder_sf.sync.summary import SyncSummary

__all__ = ["DeadLetterSink", "LogOnlyDeadLetters", "SyncSummary", "Writer", "run_sync"]
