"""The pure identify-to-Salesforce core: standard library and pendulum only, no I/O, no Airflow.

One staged input -> :func:`classify` -> an :class:`IdentifyEvent`, :class:`Ignored` or :class:`Rejected`;
eligible events + Lead look-up results -> :func:`build_plan` -> a :class:`Plan` of folded :class:`Write`s.
"""

from __future__ import annotations

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
from airflow_provider_rudder_sf.mapping.plan import build_plan, lead_emails, record_key, shard_of
from airflow_provider_rudder_sf.mapping.traits import Mapped, MappingError, map_traits

__all__ = [
    "Classified",
    "IdentifyEvent",
    "Ignored",
    "LeadMatch",
    "Mapped",
    "MappingError",
    "MappingOptions",
    "Plan",
    "Rejected",
    "Target",
    "Write",
    "build_plan",
    "classify",
    "lead_emails",
    "map_traits",
    "record_key",
    "shard_of",
]
