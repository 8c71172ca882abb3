"""Stream staged events out of any DB-API database.

The database comes as a :class:`SqlDatabase`: a function opening a DB-API connection, a name for origins and the
dialect. This module imports no Airflow; the operator builds the value from an Airflow connection id
(:func:`airflow_provider_rudder_sf.hooks.connections.sql_database`, the look-up ``SQLExecuteQueryOperator`` does).

Three row shapes are supported:

* a column holding each event's JSON (``json_column="event"``): ``raw`` is that text, or the dict when the driver
  already decodes JSON;
* RudderStack's warehouse ``identifies`` table, whose columns are the flattened event: each row is rebuilt into a
  Segment-shaped identify event (see :func:`row_to_identify` for the rule);
* a warehouse model (``model=ModelSync(...)``): each row is one record of an sObject, sent as a RudderStack rETL
  event (see :func:`airflow_provider_rudder_sf.sources.model.row_to_retl_event`).

Rows are fetched ``chunk_size`` at a time with ``fetchmany`` (never ``fetchall``); on PostgreSQL a named
(server-side) cursor is used, because psycopg's default cursor would buffer the whole result client-side. Other
drivers that buffer results client-side can get a server-side cursor through ``cursor_kwargs``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_rudder_sf.sources.model import ModelSync, find_column, row_to_retl_event
from airflow_provider_rudder_sf.sources.records import StagedRecord
from airflow_provider_rudder_sf.sources.values import json_value

#: Turns one fetched row (and its 1-based number) into a StagedRecord's ``raw``.
RowConverter = Callable[[Sequence[Any], int], "str | dict[str, Any]"]

#: Warehouse columns that hold the event envelope, not traits.
RESERVED_COLUMNS: frozenset[str] = frozenset(
    {
        "id",
        "anonymous_id",
        "user_id",
        "timestamp",
        "original_timestamp",
        "sent_at",
        "received_at",
        "uuid_ts",
        "loaded_at",
        "channel",
        "event",
        "event_text",
        "type",
        "request_ip",
    }
)

#: Envelope columns restored under their Segment key.
ENVELOPE_KEYS: Mapping[str, str] = {
    "id": "messageId",
    "anonymous_id": "anonymousId",
    "user_id": "userId",
    "timestamp": "timestamp",
    "original_timestamp": "originalTimestamp",
    "sent_at": "sentAt",
    "received_at": "receivedAt",
}

#: Trait objects that RudderStack flattens with ``_`` and the Salesforce mapping reads nested
#: (``address.city``, ``company.name``), so ``address_city`` is restored as ``{"address": {"city": ...}}``.
NESTED_TRAIT_OBJECTS: tuple[str, ...] = ("address", "company")

#: Columns whose trait key the generic rule would get wrong for the Salesforce mapping; callers can add more.
DEFAULT_COLUMN_TRAITS: Mapping[str, str | None] = {
    "company_employee_count": "company.employee_count",
    "company_company_duns_number": "company.companyDunsNumber",
    "company_duns_number": "companyDunsNumber",
    "lead_source": "LeadSource",
}

DEFAULT_INTEGRATIONS: Mapping[str, Any] = {"Salesforce": True}

_CONTEXT_TRAITS = "context_traits_"
_CONTEXT_EXTERNAL_ID = "context_external_id"
_SERVER_SIDE_CURSOR = "rudder_sf_staged_events"


def snake_to_camel(name: str) -> str:
    """``first_name`` -> ``firstName``, ``address_line_1`` -> ``addressLine1`` (first word kept as is)."""
    first, *rest = name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def _trait_path(column: str, key: str | None) -> str:
    """Return the trait path (dots nest) for ``column``: the override when given, else the generic rule."""
    if key is not None:
        return key
    prefix, _, rest = column.partition("_")
    if prefix in NESTED_TRAIT_OBJECTS and rest:
        return f"{prefix}.{snake_to_camel(rest)}"
    return snake_to_camel(column)


def _rebuild_traits(columns: Mapping[str, Any], overrides: Mapping[str, str | None]) -> dict[str, Any]:
    """Rebuild a traits object from flattened columns (names already lower-case, without prefix)."""
    traits: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for column, value in columns.items():
        if value is None:
            continue  # a warehouse NULL means "not sent in this event"
        if column in overrides and overrides[column] is None:
            continue
        path = _trait_path(column, overrides.get(column))
        head, dot, tail = path.partition(".")
        if dot:
            nested.setdefault(head, {})[tail] = json_value(value)
        else:
            traits[path] = json_value(value)
    for head, fields in nested.items():
        if head in traits and not isinstance(traits[head], dict):
            # e.g. a scalar ``company`` column next to ``company_name``: keep both, flat and camelCased.
            for tail, value in fields.items():
                traits.setdefault(head + tail[:1].upper() + tail[1:], value)
        else:
            traits[head] = {**traits.get(head, {}), **fields}
    return traits


def row_to_identify(
    row: Mapping[str, Any],
    *,
    integrations: Mapping[str, Any] = DEFAULT_INTEGRATIONS,
    column_traits: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Rebuild a Segment-shaped identify event from one row of RudderStack's warehouse ``identifies`` table.

    Column names are matched case-insensitively (Snowflake reports them upper-case). The rule:

    * envelope columns (:data:`ENVELOPE_KEYS`): ``id`` -> ``messageId``, ``user_id`` -> ``userId``,
      ``anonymous_id`` -> ``anonymousId``, ``timestamp``/``original_timestamp``/``sent_at``/``received_at``
      -> their camelCase keys; the rest of :data:`RESERVED_COLUMNS` and columns starting with ``_`` are dropped;
    * ``context_traits_<x>`` -> ``context.traits``, ``context_external_id`` (a JSON array or text) ->
      ``context.externalId``; every other ``context_*`` column (ip, library, ...) is dropped;
    * every other column is a trait: ``column_traits`` (merged over :data:`DEFAULT_COLUMN_TRAITS`) maps a column
      to a trait key (dots nest, ``None`` drops it); otherwise ``address_*``/``company_*`` become nested
      ``address``/``company`` objects and names are camelCased (``first_name`` -> ``firstName``);
    * NULL columns are left out; values go through :func:`json_value`;
    * ``integrations`` is copied into every event, since warehouse rows carry no integrations column.
    """
    overrides = {**DEFAULT_COLUMN_TRAITS, **(column_traits or {})}
    event: dict[str, Any] = {"type": "identify"}
    traits: dict[str, Any] = {}
    context_traits: dict[str, Any] = {}
    external_id: Any = None
    for name, value in row.items():
        column = name.lower()
        if column in ENVELOPE_KEYS:
            if value is not None:
                event[ENVELOPE_KEYS[column]] = json_value(value)
        elif column in RESERVED_COLUMNS or column.startswith("_"):
            continue
        elif column.startswith(_CONTEXT_TRAITS):
            context_traits[column[len(_CONTEXT_TRAITS) :]] = value
        elif column == _CONTEXT_EXTERNAL_ID:
            external_id = _external_id(value)
        elif column.startswith("context_"):
            continue
        else:
            traits[column] = value
    event["traits"] = _rebuild_traits(traits, overrides)
    context: dict[str, Any] = {}
    rebuilt_context_traits = _rebuild_traits(context_traits, overrides)
    if rebuilt_context_traits:
        context["traits"] = rebuilt_context_traits
    if external_id is not None:
        context["externalId"] = external_id
    if context:
        event["context"] = context
    event["integrations"] = copy.deepcopy(dict(integrations))
    return event


def _external_id(value: Any) -> Any:
    """Warehouses store the ``externalId`` array as JSON text; decode it, or keep the text for the mapper to reject."""
    value = json_value(value)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _raw_from_column(value: Any) -> str | dict[str, Any]:
    """The JSON column's value as ``raw``: text as is, a decoded dict as is, NULL as the text ``null`` (so the row
    is rejected visibly rather than vanishing), anything else as JSON text."""
    value = json_value(value)
    if isinstance(value, (str, dict)):
        return value
    return json.dumps(value, default=str)


def iter_cursor_rows(cursor: Any, chunk_size: int) -> Iterator[Sequence[Any]]:
    """Yield rows of an executed DB-API cursor, fetching at most ``chunk_size`` at a time."""
    while True:
        rows = cursor.fetchmany(chunk_size)
        if not rows:
            return
        yield from rows


@dataclass(frozen=True)
class SqlDatabase:
    """A database to query, as :func:`read_sql` needs it.

    * ``connect``: opens a new DB-API connection; the reader closes it when the rows are read or abandoned;
    * ``name``: names the rows in origins, ``sql:<name>:<row number>`` (the operator uses the connection id);
    * ``dialect``: the connection type (``postgres``, ``sqlite``, ...), for the driver quirks the reader knows.
    """

    connect: Callable[[], Any]
    name: str
    dialect: str | None = None


def read_sql(
    sql: str,
    *,
    database: SqlDatabase,
    parameters: Sequence[Any] | Mapping[str, Any] | None = None,
    json_column: str | None = None,
    integrations: Mapping[str, Any] | None = None,
    column_traits: Mapping[str, str | None] | None = None,
    chunk_size: int = 1000,
    cursor_kwargs: Mapping[str, Any] | None = None,
    model: ModelSync | None = None,
) -> Iterator[StagedRecord]:
    """Stream staged events from a query run on ``database``.

    With ``json_column`` each row's column holds one event; with ``model`` each row is one record of
    ``model.sobject`` sent as a rETL event (see :func:`~airflow_provider_rudder_sf.sources.model.row_to_retl_event`;
    a query without the identifier column raises :class:`ValueError`); with neither, rows are RudderStack
    ``identifies`` rows (see :func:`row_to_identify`). ``origin`` is ``sql:<database name>:<row number>``
    (1-based). Arguments are checked now; the connection is opened and the query runs when the iterator is first
    consumed, and the cursor and connection are closed when it is exhausted or discarded.
    """
    if not sql or not sql.strip():
        raise ValueError("sql is empty")
    if not isinstance(database, SqlDatabase):
        raise ValueError(
            f"database must be a SqlDatabase (from an Airflow connection id: "
            f"airflow_provider_rudder_sf.hooks.connections.sql_database), got {type(database).__name__}"
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of rows, got {chunk_size}")
    if json_column is not None and model is not None:
        raise ValueError("give either json_column or model, not both")
    if json_column is not None and (integrations is not None or column_traits is not None):
        raise ValueError("integrations and column_traits apply to identifies rows, not to a json_column")
    if model is not None and (integrations is not None or column_traits is not None):
        raise ValueError(
            "integrations and column_traits apply to identifies rows, not to a model "
            "(use ModelSync's integration_key and column_fields)"
        )
    if model is not None and not _is_model_sync(model):
        raise ValueError(f"model must be a ModelSync, got {type(model).__name__}")
    kwargs = dict(cursor_kwargs) if cursor_kwargs is not None else _default_cursor_kwargs(database.dialect)
    shape = _RowShape(
        json_column, model, integrations if integrations is not None else DEFAULT_INTEGRATIONS, column_traits
    )
    return _stream(database.connect, sql, parameters, f"sql:{database.name}", shape, chunk_size, kwargs)


def _is_model_sync(value: object) -> bool:

    return isinstance(value, ModelSync)


class _RowShape:
    """Which of the three row shapes a query returns, and how to turn its rows into ``raw`` values."""

    def __init__(
        self,
        json_column: str | None,
        model: ModelSync | None,
        integrations: Mapping[str, Any],
        column_traits: Mapping[str, str | None] | None,
    ) -> None:
        self.json_column = json_column
        self.model = model
        self.integrations = integrations
        self.column_traits = column_traits

    def converter(self, columns: list[str]) -> RowConverter:
        """Check the query's columns against the shape (before any row is yielded) and return the converter."""
        if self.json_column is not None:
            index = _json_index(columns, self.json_column)
            return lambda row, _number: _raw_from_column(row[index])
        if self.model is not None:
            return _model_converter(columns, self.model)
        integrations, column_traits = self.integrations, self.column_traits
        return lambda row, _number: row_to_identify(
            dict(zip(columns, row, strict=True)), integrations=integrations, column_traits=column_traits
        )


def _model_converter(columns: list[str], model: ModelSync) -> RowConverter:

    if find_column(columns, model.identifier_column) is None:
        raise ValueError(
            f"the query returns no identifier column {model.identifier_column!r}; "
            f"it returns {', '.join(columns) or 'no columns'}"
        )
    return lambda row, number: row_to_retl_event(dict(zip(columns, row, strict=True)), model, number)


def _default_cursor_kwargs(dialect: str | None) -> dict[str, Any]:
    """psycopg (2 and 3) stream only through a named cursor; other drivers get a plain cursor."""
    if dialect == "postgres":
        return {"name": _SERVER_SIDE_CURSOR}
    return {}


def _stream(
    connect: Callable[[], Any],
    sql: str,
    parameters: Sequence[Any] | Mapping[str, Any] | None,
    origin: str,
    shape: _RowShape,
    chunk_size: int,
    cursor_kwargs: Mapping[str, Any],
) -> Iterator[StagedRecord]:
    connection = connect()
    try:
        cursor = connection.cursor(**cursor_kwargs)
        try:
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            rows = iter_cursor_rows(cursor, chunk_size)
            first = next(rows, None)
            # psycopg2's named cursors describe the result only once a row has been fetched.
            convert = shape.converter([str(col[0]) for col in cursor.description or ()])
            if first is None:
                return
            yield StagedRecord(convert(first, 1), f"{origin}:1")
            for number, row in enumerate(rows, start=2):
                yield StagedRecord(convert(row, number), f"{origin}:{number}")
        finally:
            cursor.close()
    finally:
        connection.close()


def _json_index(columns: list[str], json_column: str) -> int:
    lowered = [column.lower() for column in columns]
    try:
        return lowered.index(json_column.lower())
    except ValueError:
        raise ValueError(
            f"the query returns no column {json_column!r}; it returns {', '.join(columns) or 'no columns'}"
        ) from None
