"""Warehouse model rows as RudderStack Reverse ETL (rETL / Visual Data Mapper v1) identify events.

A model is any query whose rows are records to sync: one column identifies the Salesforce record (its value is
matched against one field of the sObject), every other column is a field value. Each row becomes the event
RudderStack's rETL sends to its Salesforce destination::

    {"type": "identify",
     "messageId": "model:Account:A-100",
     "context": {"mappedToDestination": true,
                 "externalId": [{"type": "Salesforce-Account", "id": "A-100", "identifierType": "AccountNumber"}]},
     "traits": {"Name": "Acme", "AnnualRevenue": 1200000},
     "integrations": {"Salesforce": true}}

The mapping core then looks the record up by ``identifierType`` = ``id``, updates the one match or creates it. This
module never builds SOQL and never judges field names: a column that is not a field of the object is passed through
and rejected by the mapping core with a reason, like a row without an identifier (``"id": null``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from airflow_provider_rudder_sf.mapping.names import is_api_name
from airflow_provider_rudder_sf.sources.values import json_value

#: The ``context.externalId[0].type`` prefix RudderStack's rETL writes for the Salesforce destination.
EXTERNAL_ID_PREFIX = "Salesforce-"


def _check_api_name(what: str, value: object) -> None:
    if not is_api_name(value):
        raise ValueError(f"{what} must be a Salesforce API name (letters, digits, _; a letter first), got {value!r}")


def _check_text(what: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class ModelSync:
    """How a model's rows map to one sObject.

    * ``sobject``: the target object (``Account``, ``Plan__c``);
    * ``identifier_column``: the column whose value identifies the record;
    * ``identifier_field``: the field of ``sobject`` that value is matched against (``AccountNumber``, ``Id``);
    * ``column_fields``: column -> field name where they differ (other columns are used under their own name);
    * ``integration_key``: the key of ``integrations`` set to ``true``;
    * ``timestamp_column``: a column (``updated_at``) sent as the event's ``timestamp`` instead of as a field.

    Column names are matched exactly first, then case-insensitively (Snowflake reports them upper-case).
    """

    sobject: str
    identifier_column: str
    identifier_field: str
    column_fields: Mapping[str, str] | None = None
    integration_key: str = "Salesforce"
    timestamp_column: str | None = None

    def __post_init__(self) -> None:
        _check_api_name("sobject", self.sobject)
        _check_api_name("identifier_field", self.identifier_field)
        _check_text("identifier_column", self.identifier_column)
        _check_text("integration_key", self.integration_key)
        if self.timestamp_column is not None:
            _check_text("timestamp_column", self.timestamp_column)
            if _same_column(self.timestamp_column, self.identifier_column):
                raise ValueError(f"timestamp_column and identifier_column are both {self.identifier_column!r}")
        if self.column_fields is not None:
            if not isinstance(self.column_fields, Mapping):
                raise ValueError(f"column_fields must be a mapping of column -> field, got {self.column_fields!r}")
            for column, field in self.column_fields.items():
                _check_text("a column_fields column", column)
                _check_text(f"the field of column {column!r} in column_fields", field)
            # Frozen means frozen: a caller mutating its dict afterwards must not change the model.
            object.__setattr__(self, "column_fields", MappingProxyType(dict(self.column_fields)))

    def __deepcopy__(self, memo: dict[int, object]) -> ModelSync:
        return self  # immutable, and its read-only mapping view cannot be copied (see MappingOptions.__deepcopy__)

    @property
    def external_id_type(self) -> str:
        return f"{EXTERNAL_ID_PREFIX}{self.sobject}"

    def field_for(self, column: str) -> str:
        """The Salesforce field name of a non-identifier column: its ``column_fields`` entry, else the column."""
        if not self.column_fields:
            return column
        if column in self.column_fields:
            return self.column_fields[column]
        folded = column.casefold()
        for name, field in self.column_fields.items():
            if name.casefold() == folded:
                return field
        return column


def _same_column(a: str, b: str) -> bool:
    return a == b or a.casefold() == b.casefold()


def find_column(columns: Any, wanted: str) -> str | None:
    """The name in ``columns`` that is ``wanted``: an exact match, else the first case-insensitive one."""
    names = list(columns)
    if wanted in names:
        return wanted
    folded = wanted.casefold()
    return next((name for name in names if name.casefold() == folded), None)


def _message_id(model: ModelSync, identifier: Any, row_number: int) -> str:
    """``model:<sobject>:<identifier>``; rows without an identifier get a per-row id so none collapses into another."""
    if identifier is None:
        return f"model:{model.sobject}:null#{row_number}"
    text = identifier if isinstance(identifier, str) else json.dumps(identifier, default=str)
    return f"model:{model.sobject}:{text}"


def row_to_retl_event(row: Mapping[str, Any], model: ModelSync, row_number: int) -> dict[str, Any]:
    """Build the rETL identify event of one model row (``row_number`` is 1-based; it names rows without an id).

    The identifier keeps its JSON type (a number stays a number, so the lookup compares numbers); every other
    non-NULL column becomes a trait under its field name, its value made JSON-friendly by :func:`json_value`
    (datetimes UTC ISO 8601, decimals numbers). A NULL or missing identifier gives ``"id": null``: the mapping core
    dead-letters the event as ``invalid_external_id`` instead of it vanishing here.
    """
    id_column = find_column(row.keys(), model.identifier_column)
    ts_column = find_column(row.keys(), model.timestamp_column) if model.timestamp_column else None
    identifier = json_value(row[id_column]) if id_column is not None else None
    traits: dict[str, Any] = {}
    for column, value in row.items():
        if column in (id_column, ts_column) or value is None:
            continue
        traits[model.field_for(column)] = json_value(value)
    event: dict[str, Any] = {
        "type": "identify",
        "messageId": _message_id(model, identifier, row_number),
        "context": {
            "mappedToDestination": True,
            "externalId": [
                {"type": model.external_id_type, "id": identifier, "identifierType": model.identifier_field}
            ],
        },
        "traits": traits,
        "integrations": {model.integration_key: True},
    }
    if ts_column is not None and row[ts_column] is not None:
        event["timestamp"] = json_value(row[ts_column])
    return event
