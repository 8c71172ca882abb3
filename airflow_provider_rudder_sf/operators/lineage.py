"""OpenLineage datasets and facets for a run of ``IdentifyToSalesforceOperator``.

This module needs ``apache-airflow-providers-openlineage`` (and the ``openlineage-python`` client it brings). Only the
operator's ``get_openlineage_facets_on_*`` methods import it, and only when the OpenLineage listener calls them, so
the provider works without OpenLineage installed.

What is emitted (docs/lineage.md has the user-facing description):

* input: the staged files' location named by OpenLineage's object-storage and file-system naming (one dataset for
  the location: the file, the directory, or the fixed root of a glob), or the tables the ``sql`` query reads (named
  by the SQL connection's hook, as ``SQLExecuteQueryOperator`` names them) with the query in the ``sql`` job facet; an
  in-memory list of events has no input dataset;
* outputs: one dataset per sObject Salesforce wrote (or refused), namespace ``salesforce://<instance host>``, name the
  sObject, with ``outputStatistics`` (``rowCount`` = records created + updated) and ``rudderSalesforceWrites``;
* the ``rudderSalesforceSync`` run facet: the run's event counts, dead letters by code included.

Nothing here reads a connection's password, token or session id: namespaces are built from a host name, a bucket, a
path, or the SQL hook's own OpenLineage database info (host and port).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.event_v2 import Dataset, InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    JobFacet,
    OutputDatasetFacet,
    RunFacet,
    output_statistics_output_dataset,
    sql_job,
)

from airflow_provider_rudder_sf.operators.run_record import RunRecord, instance_host
from airflow_provider_rudder_sf.sync.summary import SyncSummary

__all__ = ["RunRecord", "build_lineage", "instance_host", "location_dataset"]

log = logging.getLogger(__name__)

#: What the ``get_openlineage_facets_on_*`` methods return.
Lineage = OperatorLineage[Dataset, RunFacet | JobFacet]

#: Custom facets have no published JSON schema yet: their schema URL points at their description.
DOCS_URL = "https://github.com/rudder-sf/airflow-provider-rudder-sf/blob/main/docs/lineage.md"
SYNC_FACET = "rudderSalesforceSync"
WRITES_FACET = "rudderSalesforceWrites"

_GLOB_CHARS = re.compile(r"[*?\[]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: Spellings of one store that OpenLineage names with one scheme (``gs://bucket``, ``s3://bucket``).
_SCHEME_ALIASES = {"gcs": "gs", "s3a": "s3", "s3n": "s3"}
#: Stores whose namespace keeps ``container@account`` (ABFSS/WASBS naming); elsewhere ``x@`` is a conn id.
_USERINFO_SCHEMES = frozenset({"abfs", "abfss", "wasb", "wasbs"})


@attrs.define
class RudderSalesforceSyncRunFacet(RunFacet):
    """Counts of one sync run: events read, ignored, applied, dead-lettered (by code), records written.

    ``deadLettered`` is a run facet, not an output facet: most dead letters (unparseable lines, events without an
    e-mail, refused by ``allowed_objects``...) are rejected before any sObject is chosen, so they belong to the run.
    """

    dryRun: bool  # OpenLineage facet fields are camelCase
    read: int
    ignored: int
    rejected: int
    applied: int
    partial: int
    deadLettered: int
    unsent: int
    created: int
    updated: int
    failed: int
    deadLettersByCode: dict[str, int] = attrs.field(factory=dict)
    stopReason: str | None = None
    deadLetterLocation: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return f"{DOCS_URL}#{SYNC_FACET.lower()}"


@attrs.define
class RudderSalesforceWritesOutputDatasetFacet(OutputDatasetFacet):
    """What Salesforce did with this run's records of one sObject (``failed`` records are dead letters)."""

    created: int
    updated: int
    failed: int

    @staticmethod
    def _get_schema() -> str:
        return f"{DOCS_URL}#{WRITES_FACET.lower()}"


# -- naming -------------------------------------------------------------------------------------------------------
def _glob_root(path: str) -> str:
    """The part of a path before its first segment holding a wildcard (the whole path without one)."""
    parts = path.split("/")
    fixed = next((i for i, part in enumerate(parts) if _GLOB_CHARS.search(part)), len(parts))
    return "/".join(parts[:fixed])


def location_dataset(location: str) -> tuple[str, str]:
    """``(namespace, name)`` of a staged-events location, by OpenLineage's dataset naming.

    A local path is ``("file", <absolute path>)``; ``file:///p`` is ``("file", "/p")`` and ``file://host/p``
    ``("file://host", "/p")``; an object-storage URL is ``("<scheme>://<bucket>", <key>)`` (``s3://``, ``gs://``, ...;
    a bucket root is ``/``). A directory or prefix is named without its trailing ``/``, a glob by its fixed root.
    An Airflow conn id or credentials written into the URL (``s3://conn@bucket``) never reach the namespace.
    """
    if not _SCHEME.match(location):
        root = _glob_root(location) or "."
        return "file", str(Path(root).expanduser().resolve())
    parts = urlsplit(location)
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    userinfo, _, host = parts.netloc.rpartition("@")
    if userinfo and scheme in _USERINFO_SCHEMES and ":" not in userinfo:
        host = f"{userinfo}@{host}"
    path = _glob_root(parts.path)
    if scheme == "file":
        return (f"file://{host}" if host else "file"), path.rstrip("/") or "/"
    return f"{scheme}://{host}", path.strip("/") or "/"


def salesforce_namespace(instance_host: str | None, conn_id: str) -> str:
    """``salesforce://<instance host>`` (``acme.my.salesforce.com``), else ``salesforce://<connection id>``."""
    return f"salesforce://{instance_host or conn_id}"


# -- inputs -------------------------------------------------------------------------------------------------------
def events_lineage(events: object, event_files: Sequence[str] | None = None) -> Lineage:
    """The input of an ``events`` source: a location's dataset, one dataset per listed file (``event_files``), and
    nothing for events given in memory."""
    locations = [events] if isinstance(events, str) else list(event_files or ())
    datasets = dict.fromkeys(location_dataset(location) for location in locations)  # one per file, in order
    return OperatorLineage(inputs=[InputDataset(namespace=namespace, name=name) for namespace, name in datasets])


def sql_lineage(sql: str, conn_id: str, *, read_tables: bool) -> Lineage:
    """The query in the ``sql`` job facet and, with ``read_tables``, the tables it reads as inputs.

    The tables come from the openlineage provider's SQL parser with the connection hook's OpenLineage database
    info (``postgres://host:port``, ``db.schema.table``...), the way ``SQLExecuteQueryOperator`` names them. A hook
    without that info (SQLite, ...) or a query the parser cannot read gives the job facet only.
    """
    from airflow.providers.openlineage.sqlparser import SQLParser

    job_facets: dict[str, Any] = {"sql": sql_job.SQLJobFacet(query=SQLParser.normalize_sql(sql))}
    if not read_tables:
        return OperatorLineage(job_facets=job_facets)
    try:
        from airflow.providers.openlineage.sqlparser import get_openlineage_facets_with_sql

        from airflow_provider_rudder_sf.hooks.connections import dbapi_hook

        parsed = get_openlineage_facets_with_sql(hook=dbapi_hook(conn_id), sql=sql, conn_id=conn_id, database=None)
    except Exception as exc:  # lineage must never hide the outputs because a table could not be named
        log.warning("OpenLineage: could not name the tables the sql query reads: %s", exc)
        parsed = None
    if parsed is None:
        return OperatorLineage(job_facets=job_facets)
    # The query only reads: tables the parser sees written (none for a SELECT) are not this task's outputs.
    return OperatorLineage(
        inputs=list(parsed.inputs),
        run_facets=dict(parsed.run_facets),
        job_facets={**parsed.job_facets, **job_facets},
    )


# -- outputs and run facets ------------------------------------------------------------------------------------------
def output_datasets(record: RunRecord, conn_id: str) -> list[Dataset]:
    """One dataset per sObject Salesforce answered for; none in a dry run (nothing was written)."""
    if record.summary.dry_run:
        return []
    namespace = salesforce_namespace(record.instance_host, conn_id)
    outputs: list[Dataset] = []
    for sobject, counts in sorted(record.written.items()):
        created, updated, failed = counts["created"], counts["updated"], counts["failed"]
        outputs.append(
            OutputDataset(
                namespace=namespace,
                name=sobject,
                outputFacets={
                    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=created + updated
                    ),
                    WRITES_FACET: RudderSalesforceWritesOutputDatasetFacet(
                        created=created, updated=updated, failed=failed
                    ),
                },
            )
        )
    return outputs


def _strip_userinfo(location: str | None) -> str | None:
    if not location or not _SCHEME.match(location):
        return location
    parts = urlsplit(location)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


def sync_run_facet(summary: SyncSummary) -> RudderSalesforceSyncRunFacet:
    return RudderSalesforceSyncRunFacet(
        dryRun=summary.dry_run,
        read=summary.read,
        ignored=summary.ignored,
        rejected=summary.rejected,
        applied=summary.applied,
        partial=summary.partial,
        deadLettered=summary.dead_lettered,
        unsent=summary.unsent,
        created=summary.created,
        updated=summary.updated,
        failed=summary.failed,
        deadLettersByCode=dict(summary.dead_letters_by_code),
        stopReason=summary.stop_reason,
        deadLetterLocation=_strip_userinfo(summary.dead_letter_location),
    )


def build_lineage(
    *,
    events: object,
    event_files: Sequence[str] | None = None,
    sql: str | None,
    sql_conn_id: str | None,
    salesforce_conn_id: str,
    record: RunRecord | None,
    complete: bool,
) -> Lineage:
    """The operator's lineage: inputs always; outputs and the run facet once a run left a :class:`RunRecord`.

    At start (``complete=False``) a SQL source gives its query only: naming its tables asks the database (the
    default schema, the columns), which is worth doing once, at the end.
    """
    if sql is not None and sql_conn_id:
        lineage = sql_lineage(sql, sql_conn_id, read_tables=complete)
    else:
        lineage = events_lineage(events, event_files)
    if record is None:
        return lineage
    return OperatorLineage(
        inputs=lineage.inputs,
        outputs=output_datasets(record, salesforce_conn_id),
        run_facets={**lineage.run_facets, SYNC_FACET: sync_run_facet(record.summary)},
        job_facets=lineage.job_facets,
    )
