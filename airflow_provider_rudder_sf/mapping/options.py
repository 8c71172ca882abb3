"""The knobs of the identify mapping, in one immutable value shared by every path."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_rudder_sf.mapping.names import is_api_name


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """``map_properties`` and ``use_contact_id`` mean what they mean in RudderStack's destination.

    ``integration_key`` is the ``integrations`` entry that opts an event in. ``external_id_field``, when set,
    turns keyless creates of non-Lead objects into upserts keyed by the event's ``messageId``, so a re-run
    cannot create a second record.
    """

    map_properties: bool = True
    use_contact_id: bool = False
    integration_key: str = "Salesforce"
    external_id_field: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.integration_key, str) or not self.integration_key:
            raise ValueError("integration_key must be a non-empty string")
        if self.external_id_field is not None and not is_api_name(self.external_id_field):
            raise ValueError(f"external_id_field {self.external_id_field!r} is not a valid Salesforce field name")
