"""Readers of staged events: JSON Lines files (local or object storage), SQL queries (staged events, RudderStack's
warehouse ``identifies`` table, or a warehouse model's rows as rETL events) and in-memory lists.

No Airflow here: object storage comes as a :data:`PathFactory` and a database as a :class:`SqlDatabase`, both built
from connection ids by :mod:`airflow_provider_rudder_sf.hooks.connections`.

Every reader yields :class:`StagedRecord` values one at a time and never holds a whole input in memory. Parsing
and validation belong to the mapping core, so a bad line becomes a dead letter, not a crash.
"""

from __future__ import annotations

from airflow_provider_rudder_sf.sources.dispatch import open_source
from airflow_provider_rudder_sf.sources.files import (
    STAGED_FILE_PATTERNS,
    PathFactory,
    StagedFile,
    StoragePath,
    iter_files,
    read_jsonl,
    resolve_files,
)
from airflow_provider_rudder_sf.sources.model import ModelSync, row_to_retl_event
from airflow_provider_rudder_sf.sources.records import (
    DEFAULT_MAX_LINE_BYTES,
    SourceProblem,
    SourceReadError,
    StagedRecord,
    iter_dicts,
    iter_lines,
    open_decompressed,
)
from airflow_provider_rudder_sf.sources.sql import (
    DEFAULT_COLUMN_TRAITS,
    DEFAULT_INTEGRATIONS,
    RESERVED_COLUMNS,
    SqlDatabase,
    read_sql,
    row_to_identify,
    snake_to_camel,
)

__all__ = [
    "DEFAULT_COLUMN_TRAITS",
    "DEFAULT_INTEGRATIONS",
    "DEFAULT_MAX_LINE_BYTES",
    "RESERVED_COLUMNS",
    "STAGED_FILE_PATTERNS",
    "ModelSync",
    "PathFactory",
    "SourceProblem",
    "SourceReadError",
    "SqlDatabase",
    "StagedFile",
    "StagedRecord",
    "StoragePath",
    "iter_dicts",
    "iter_files",
    "iter_lines",
    "open_decompressed",
    "open_source",
    "read_jsonl",
    "read_sql",
    "resolve_files",
    "row_to_identify",
    "row_to_retl_event",
    "snake_to_camel",
]
