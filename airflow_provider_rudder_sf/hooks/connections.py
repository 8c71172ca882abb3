"""Connection ids turned into the plain values the Airflow-free modules take, in one place.

``sources/``, ``sync/``, ``salesforce/``, ``deadletter`` and ``statestore`` import no Airflow: they reach object
storage through a :data:`~airflow_provider_rudder_sf.sources.files.PathFactory` and a database through a
:class:`~airflow_provider_rudder_sf.sources.sql.SqlDatabase`. The operator, the lineage extraction and the example
DAGs build both here from the connection ids users configure, so the look-ups happen the way Airflow's own tasks do
them (``ObjectStoragePath(url, conn_id=...)``, ``BaseHook.get_connection(...).get_hook()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_rudder_sf.compat import BaseHook, ObjectStoragePath
from airflow_provider_rudder_sf.sources.sql import SqlDatabase

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_rudder_sf.sources.files import PathFactory, StoragePath


def object_storage_paths(conn_id: str | None) -> PathFactory:
    """URL -> Airflow ``ObjectStoragePath`` whose file system and credentials come from ``conn_id`` (``None``: the
    store's default credentials, as ``ObjectStoragePath`` without a connection). Files found by a glob or a
    directory listing keep the connection."""

    def path(url: str) -> StoragePath:
        return ObjectStoragePath(url, conn_id=conn_id)

    return path


def dbapi_hook(conn_id: str) -> DbApiHook:
    """The DB-API hook of an Airflow connection (the same look-up ``SQLExecuteQueryOperator`` does)."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    hook = BaseHook.get_connection(conn_id).get_hook()  # type: ignore[no-untyped-call]
    if not isinstance(hook, DbApiHook):
        raise ValueError(
            f"connection {conn_id!r} gives a {type(hook).__name__}, not a DB-API (common.sql) hook; "
            "use a database connection for sql_conn_id"
        )
    return hook


def sql_database(conn_id: str) -> SqlDatabase:
    """The database of an Airflow connection, for :func:`~airflow_provider_rudder_sf.sources.sql.read_sql`; rows are
    named ``sql:<conn_id>:<row number>``. The connection is looked up now, opened only when the rows are read."""
    return database_of_hook(dbapi_hook(conn_id), name=conn_id)


def database_of_hook(hook: DbApiHook, *, name: str | None = None) -> SqlDatabase:
    """The database behind a ready DB-API hook (a subclass with its own driver settings, say). ``name`` defaults to
    the hook's connection id; the dialect is the hook's connection type (``postgres`` streams through a named
    cursor)."""
    return SqlDatabase(
        connect=hook.get_conn,
        name=name or getattr(hook, "get_conn_id", lambda: "hook")(),
        dialect=getattr(hook, "conn_type", None),
    )
