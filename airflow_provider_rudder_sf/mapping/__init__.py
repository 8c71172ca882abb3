"""The pure identify-to-Salesforce core: standard library and pendulum only, no I/O, no Airflow.

One staged input -> :func:`classify` -> an :class:`IdentifyEvent`, :class:`Ignored` or :class:`Rejected`;
eligible events + Lead look-up results -> :func:`build_plan` -> a :class:`Plan` of folded :class:`Write`s.
"""

from __future__ import annotations

from airflow_provider_rudder_sf.mapping.check import Checked, FieldChecker
from airflow_provider_rudder_sf.mapping.coerce import FieldIssue, coerce, identifier_key
from airflow_provider_rudder_sf.mapping.events import Classified, classify
from airflow_provider_rudder_sf.mapping.model import (
    IdentifyEvent,
    Ignored,
    LeadMatch,
    Plan,
    Rejected,
    Target,
    Write,
)
from airflow_provider_rudder_sf.mapping.options import MappingOptions
from airflow_provider_rudder_sf.mapping.plan import (
    build_plan,
    lead_emails,
    match_requests,
    record_key,
    shard_of,
)
from airflow_provider_rudder_sf.mapping.schema import FieldSchema, ObjectSchema, object_schema
from airflow_provider_rudder_sf.mapping.traits import Mapped, MappingError, map_traits

__all__ = [
    "Checked",
    "Classified",
    "FieldChecker",
    "FieldIssue",
    "FieldSchema",
    "IdentifyEvent",
    "Ignored",
    "LeadMatch",
    "Mapped",
    "MappingError",
    "MappingOptions",
    "ObjectSchema",
    "Plan",
    "Rejected",
    "Target",
    "Write",
    "build_plan",
    "classify",
    "coerce",
    "identifier_key",
    "lead_emails",
    "map_traits",
    "match_requests",
    "object_schema",
    "record_key",
    "shard_of",
]
