"""The knobs of the identify mapping, in one immutable value shared by every path."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from airflow_provider_rudder_sf.mapping.names import is_api_name

FieldErrorPolicy = Literal["skip", "reject"]
DEFAULT_PROTECTED_FIELDS: tuple[str, ...] = ("OwnerId", "RecordTypeId", "AccountId")


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """``map_properties`` and ``use_contact_id`` mean what they mean in RudderStack's destination.

    ``integration_key`` is the ``integrations`` entry that opts an event in. ``external_id_field``, when set,
    turns keyless creates of non-Lead objects into upserts keyed by the event's ``messageId``, so a re-run
    cannot create a second record.

    The org-schema knobs (design.md section 8): ``on_field_error`` says what one field the org cannot take does
    (``skip`` it and write the rest, or ``reject`` the whole event); ``truncate_text`` cuts over-long text instead;
    ``field_map`` maps trait paths to field API names per sObject and wins over the tables; ``allowed_objects``
    (None: any) limits the objects events may write; ``protected_fields`` are written only through ``field_map``.
    """

    map_properties: bool = True
    use_contact_id: bool = False
    integration_key: str = "Salesforce"
    external_id_field: str | None = None
    on_field_error: FieldErrorPolicy = "skip"
    truncate_text: bool = False
    field_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    allowed_objects: Collection[str] | None = None
    protected_fields: Collection[str] = DEFAULT_PROTECTED_FIELDS

    def __post_init__(self) -> None:
        if not isinstance(self.integration_key, str) or not self.integration_key:
            raise ValueError("integration_key must be a non-empty string")
        if self.external_id_field is not None and not is_api_name(self.external_id_field):
            raise ValueError(f"external_id_field {self.external_id_field!r} is not a valid Salesforce field name")
        if self.on_field_error not in ("skip", "reject"):
            raise ValueError(f"on_field_error must be 'skip' or 'reject', got {self.on_field_error!r}")
        object.__setattr__(self, "field_map", _checked_field_map(self.field_map))
        if self.allowed_objects is not None:
            if isinstance(self.allowed_objects, str):
                raise ValueError("allowed_objects must be a list of sObject names, not one string")
            bad = [name for name in self.allowed_objects if not is_api_name(name)]
            if bad:
                raise ValueError(f"allowed_objects holds names that are not Salesforce API names: {bad!r}")
            object.__setattr__(self, "allowed_objects", frozenset(name.lower() for name in self.allowed_objects))
        if isinstance(self.protected_fields, str):
            raise ValueError("protected_fields must be a list of field names, not one string")
        object.__setattr__(self, "protected_fields", frozenset(name.lower() for name in self.protected_fields))

    def __deepcopy__(self, memo: dict[int, object]) -> MappingOptions:
        # Immutable, so a copy may share it; and a read-only mapping view cannot be copied. Airflow deep-copies
        # operators (clearing tasks, dag.test on Airflow 3.0).
        return self

    def explicit_for(self, sobject: str) -> Mapping[str, str] | None:
        """The ``field_map`` entries for ``sobject`` (object names are case-insensitive), or None."""
        return self.field_map.get(sobject.lower())

    def allows(self, sobject: str) -> bool:
        return self.allowed_objects is None or sobject.lower() in self.allowed_objects


def _checked_field_map(field_map: Mapping[str, Mapping[str, str]] | None) -> Mapping[str, Mapping[str, str]]:
    """Validate names now (a configuration error, raised at construction) and key objects case-insensitively."""
    checked: dict[str, Mapping[str, str]] = {}
    for sobject, paths in (field_map or {}).items():
        if not is_api_name(sobject):
            raise ValueError(f"field_map object {sobject!r} is not a Salesforce API name")
        if not isinstance(paths, Mapping):
            raise ValueError(f"field_map[{sobject!r}] must map trait paths to field names")
        for path, target in paths.items():
            if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
                raise ValueError(f"field_map[{sobject!r}] has an empty or malformed trait path {path!r}")
            if not is_api_name(target):
                raise ValueError(f"field_map[{sobject!r}][{path!r}] = {target!r} is not a Salesforce field name")
        checked[sobject.lower()] = MappingProxyType(dict(paths))
    return MappingProxyType(checked)
