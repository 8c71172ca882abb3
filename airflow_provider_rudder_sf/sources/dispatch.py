"""Pick the reader for the operator's input: ``events`` (a location or in-memory events) or ``sql`` + database."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_rudder_sf.sources.files import PathFactory, read_jsonl
from airflow_provider_rudder_sf.sources.records import DEFAULT_MAX_LINE_BYTES, StagedRecord, iter_dicts
from airflow_provider_rudder_sf.sources.sql import SqlDatabase, read_sql

if TYPE_CHECKING:
    from airflow_provider_rudder_sf.sources.model import ModelSync


def open_source(
    events: str | os.PathLike[str] | Iterable[Any] | None = None,
    *,
    sql: str | None = None,
    database: SqlDatabase | None = None,
    parameters: Sequence[Any] | Mapping[str, Any] | None = None,
    json_column: str | None = None,
    integrations: Mapping[str, Any] | None = None,
    column_traits: Mapping[str, str | None] | None = None,
    chunk_size: int = 1000,
    path_factory: PathFactory | None = None,
    allow_missing: bool = False,
    recursive: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    model: ModelSync | None = None,
) -> Iterator[StagedRecord]:
    """Return a lazy iterator of :class:`StagedRecord` for exactly one input.

    * ``events`` as a ``str``/path: a JSON Lines file, directory, glob or object-storage URL (``path_factory``
      reaches URLs; ``allow_missing``, ``recursive`` and ``max_line_bytes`` as in :func:`read_jsonl`);
    * ``events`` as a list (or any iterable) of event dicts: read in memory, origins ``list:<index>``;
    * ``sql`` with ``database``: see :func:`read_sql` (``parameters``, ``json_column``, ``integrations``,
      ``column_traits``, ``chunk_size``, ``model``: a :class:`~airflow_provider_rudder_sf.sources.model.ModelSync`
      turns each row into a RudderStack rETL event).

    Argument mistakes raise :class:`ValueError` naming the mistake before anything is read.
    """
    if events is not None and sql is not None:
        raise ValueError("give either events or sql (with database), not both")
    if events is None and sql is None:
        raise ValueError("give events (a path, glob, URL or list of event dicts) or sql with database")
    if sql is not None:
        if database is None:
            raise ValueError("sql needs database, the SqlDatabase to query")
        return read_sql(
            sql,
            database=database,
            parameters=parameters,
            json_column=json_column,
            integrations=integrations,
            column_traits=column_traits,
            chunk_size=chunk_size,
            model=model,
        )
    sql_only = {
        "database": database,
        "parameters": parameters,
        "json_column": json_column,
        "integrations": integrations,
        "column_traits": column_traits,
        "model": model,
    }
    given = sorted(name for name, value in sql_only.items() if value is not None)
    if given:
        raise ValueError(f"{', '.join(given)} only apply to a sql source")
    if isinstance(events, (str, os.PathLike)):
        return read_jsonl(
            events,
            path_factory=path_factory,
            allow_missing=allow_missing,
            recursive=recursive,
            max_line_bytes=max_line_bytes,
        )
    if isinstance(events, (bytes, bytearray, Mapping)) or not isinstance(events, Iterable):
        raise ValueError(
            f"events must be a path, glob or URL string, or a list of event dicts; got {type(events).__name__}"
        )
    if path_factory is not None:
        raise ValueError("path_factory applies to an object-storage location, not to a list of events")
    return iter_dicts(events)
