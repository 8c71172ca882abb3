"""What a run leaves behind for lineage, with no OpenLineage import: ``execute`` keeps it whether or not the
OpenLineage provider is installed (``lineage.py`` needs it, and is imported only when the listener asks)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from airflow_provider_rudder_sf.sync.summary import SyncSummary


@dataclass
class RunRecord:
    """What ``execute`` leaves for lineage: the summary, per-object write outcomes and the org's host."""

    summary: SyncSummary
    written: Mapping[str, Counter[str]] = field(default_factory=dict)
    instance_host: str | None = None


def instance_host(instance_url: str) -> str | None:
    """The host (and a non-default port) of an instance URL, never its user info."""
    parts = urlsplit(instance_url)
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{parts.port}" if parts.port and parts.port != 443 else parts.hostname
