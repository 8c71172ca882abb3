"""``IdentifyToSalesforceOperator``: sync staged RudderStack identify events into Salesforce.

The operator only holds arguments and wires Airflow to the sync engine: a source (files or SQL), the mapping
options, the hook's writer, the dead-letter location of this try, then the failure policy, the log summary and
the Asset event. What a run does is defined once, in :func:`airflow_provider_rudder_sf.sync.run_sync`. Connection
ids and the task context stop here: the engine, the sources and the dead letters get plain values (storage paths
and databases built by :mod:`airflow_provider_rudder_sf.hooks.connections`, the task's ids).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, cast

from airflow_provider_rudder_sf.compat import AirflowException, AirflowFailException, Asset, BaseOperator, conf
from airflow_provider_rudder_sf.deadletter import DeadLetterLocationError, DeadLetterWriter, dead_letter_path
from airflow_provider_rudder_sf.hooks.connections import object_storage_paths, sql_database
from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook
from airflow_provider_rudder_sf.mapping import MappingOptions
from airflow_provider_rudder_sf.mapping.options import DEFAULT_PROTECTED_FIELDS
from airflow_provider_rudder_sf.salesforce.bulk import DEFAULT_BULK_THRESHOLD, WRITE_MODES
from airflow_provider_rudder_sf.salesforce.errors import SalesforceLoginError
from airflow_provider_rudder_sf.sources import open_source
from airflow_provider_rudder_sf.sources.files import iter_files, staged_files
from airflow_provider_rudder_sf.statestore import DirectoryStore
from airflow_provider_rudder_sf.sync import LogOnlyDeadLetters, SyncSummary, run_sync
from airflow_provider_rudder_sf.sync.bulkrun import settle_jobs
from airflow_provider_rudder_sf.sync.engine import ConfigurationError
from airflow_provider_rudder_sf.sync.handoff import Handoff, Ledger
from airflow_provider_rudder_sf.sync.summary import ASSET_EXTRA
from airflow_provider_rudder_sf.triggers.bulk import BulkJobsTrigger

if TYPE_CHECKING:
    from airflow_provider_rudder_sf.compat import Context
    from airflow_provider_rudder_sf.operators.lineage import Lineage
    from airflow_provider_rudder_sf.operators.run_record import RunRecord
    from airflow_provider_rudder_sf.salesforce.bulk import BulkWriter
    from airflow_provider_rudder_sf.salesforce.results import WriteReport
    from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter
    from airflow_provider_rudder_sf.sync.ports import Writer


def dead_letter_path_for_context(
    base: str | os.PathLike[str], context: Mapping[str, Any], *, compress: bool = False
) -> str:
    """:func:`~airflow_provider_rudder_sf.deadletter.dead_letter_path` with the ids of the running task instance
    (``context["ti"]``), if any. The context is read here so that the dead-letter module gets plain ids."""
    ti = context.get("ti") or context.get("task_instance")
    return dead_letter_path(
        base,
        dag_id=getattr(ti, "dag_id", None),
        run_id=getattr(ti, "run_id", None) or context.get("run_id"),
        task_id=getattr(ti, "task_id", None),
        map_index=getattr(ti, "map_index", None),
        try_number=getattr(ti, "try_number", None),
        compress=compress,
    )


def salesforce_asset(salesforce_conn_id: str = RudderSalesforceHook.default_conn_name, sobject: str = "Lead") -> Asset:
    """The Asset a sync updates: ``salesforce://<connection id>/<sObject>``."""
    return Asset(f"salesforce://{salesforce_conn_id}/{sobject}")


class _CountingWriter:
    """The hook's writer, tallying Salesforce's answers per sObject (created/updated/failed) for lineage.

    The engine's summary counts records over all objects; lineage needs them per object, so the operator reads them
    off the write reports as they pass. Everything else is the writer's own.
    """

    def __init__(self, writer: SalesforceWriter) -> None:
        self._writer = writer
        self.by_object: dict[str, Counter[str]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)

    def write(self, writes: Sequence[Any], **kwargs: Any) -> WriteReport:
        report = self._writer.write(writes, **kwargs)
        self.tally(report)
        return report

    def tally(self, report: WriteReport) -> None:
        for result in report.results:
            self.tally_one(result.write.sobject, result.status)

    def tally_one(self, sobject: str, status: str, records: int = 1) -> None:
        self.by_object.setdefault(sobject, Counter())[status] += records

    def write_untallied(self, writes: Sequence[Any]) -> WriteReport:
        return self._writer.write(writes)


class IdentifyToSalesforceOperator(BaseOperator):
    """Sync RudderStack/Segment ``identify`` events into Salesforce Leads, Contacts and other sObjects.

    :param events: where the staged events are: a file, directory, glob or object-storage URL of JSON Lines files
        (``.gz`` allowed), or a list of event dicts. Templated. Give one of ``events``, ``event_files`` and ``sql``.
    :param event_files: an exact list of staged files (paths or URLs, e.g. a sensor's listing from XCom), read in
        that order: tasks sharing one listing read the same files even when more arrive. Templated.
    :param sql: a query returning staged events (a raw event JSON column named by ``json_column``, or the flattened
        columns of RudderStack's warehouse ``identifies`` table). Templated. Needs ``sql_conn_id``.
    :param sql_conn_id: a DB-API connection (any common.sql hook) to run ``sql`` on.
    :param salesforce_conn_id: a ``rudder_salesforce`` connection.
    :param map_properties: map traits through the Lead/Contact tables (else send them as they are).
    :param use_contact_id: for an e-mail whose Lead is converted, update the converted Contact.
    :param dead_letter: directory or object-storage URL for rejected and refused events. Templated. Each try
        writes its own file, so a retry never mixes its dead letters with an earlier try's.
    :param max_dead_letter_ratio: share of the events for Salesforce (read minus ignored) that may go to the dead
        letter; above it the task fails without retry, after everything else was written.
    :param dry_run: read, look up and plan, write nothing; the summary says what a run would do.
    :param integration_key: the ``integrations`` key that opts an event in.
    :param external_id_field: External ID field that makes keyless creates of other objects exactly-once upserts
        keyed by ``messageId``.
    :param json_column: with ``sql``, the column that holds the raw event JSON.
    :param allow_missing: an ``events`` location with no files is an empty run instead of an error.
    :param storage_conn_id: connection for object-storage URLs in ``events`` and ``dead_letter``.
    :param api_reserve: share of the org's daily API allocation this task never uses (default 10%).
    :param on_field_error: what one field the org cannot take does: ``"skip"`` writes the record without it (and
        a ``fields_skipped`` dead-letter line for a replay once the field exists), ``"reject"`` dead-letters the
        whole event before any request.
    :param field_map: explicit mappings per sObject, trait path -> field API name (``{"Lead": {"plan":
        "Plan_Tier__c"}}``); they win over the tables and are checked against the org before anything is written.
    :param truncate_text: cut over-long text to the field's length instead of a field error.
    :param allow_duplicate_save: let Alert-type duplicate rules save (``Sforce-Duplicate-Rule-Header``); Block rules
        and, without it, Alert rules are dead letters with code ``duplicate_rule`` and the matching record ids.
    :param allowed_objects: the sObjects events may write (None: any, as RudderStack documents). Identify events
        from browser SDKs carry a public write key: set this in production.
    :param protected_fields: fields written only through ``field_map`` (default OwnerId, RecordTypeId, AccountId).
    :param max_line_bytes: a longer staged line is a ``line_too_long`` dead letter, never held whole in memory.
    :param shard_index: with ``shard_count``, keep only this shard of the input (records hashed by key), so
        ``shard_count`` mapped tasks reading the same files split them without copies.
    :param write_mode: how records reach Salesforce: ``"auto"`` (default) uses Bulk API 2.0 for a group of
        ``bulk_threshold`` or more records to write and sObject Collections below it; ``"rest"`` and ``"bulk"``
        force one. Outcomes and dead letters are the same either way; Bulk costs a handful of API calls per job
        instead of one per 200 records. Bulk API 2.0 has no duplicate-rule header, so with
        ``allow_duplicate_save=True`` ``"auto"`` stays on REST and ``"bulk"`` is refused.
    :param bulk_threshold: records to write at or above which ``write_mode="auto"`` uses Bulk (default 10,000).
    :param poll_interval: the longest wait between two polls of a Bulk job's state (seconds, default 15).
    :param deferrable: once its Bulk jobs are submitted, the task frees its worker slot and the triggerer waits
        for them (``BulkJobsTrigger``); ``execute_complete`` collects the results. Default: ``[operators]
        default_deferrable``. Needs ``dead_letter``: the jobs are recorded there (for every worker to find) before
        their data is uploaded, which also lets a retry collect them instead of submitting them again.
    :param model_object: with ``sql``, sync a warehouse model: each row becomes a RudderStack rETL event for this
        sObject, matched on ``model_identifier_field`` by the value of ``model_identifier_column``.
    """

    template_fields: Sequence[str] = (
        "events",
        "event_files",
        "sql",
        "dead_letter",
        "salesforce_conn_id",
        "sql_conn_id",
        "storage_conn_id",
    )
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#00A1E0"
    ui_fgcolor = "#FFFFFF"

    def __init__(
        self,
        *,
        events: str | list[dict[str, Any]] | None = None,
        event_files: Sequence[str] | None = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        salesforce_conn_id: str = RudderSalesforceHook.default_conn_name,
        map_properties: bool = True,
        use_contact_id: bool = False,
        dead_letter: str | None = None,
        max_dead_letter_ratio: float = 0.0,
        dry_run: bool = False,
        integration_key: str = "Salesforce",
        external_id_field: str | None = None,
        json_column: str | None = None,
        allow_missing: bool = False,
        storage_conn_id: str | None = None,
        api_reserve: float = 0.10,
        on_field_error: Literal["skip", "reject"] = "skip",
        field_map: Mapping[str, Mapping[str, str]] | None = None,
        truncate_text: bool = False,
        allow_duplicate_save: bool = False,
        allowed_objects: Collection[str] | None = None,
        protected_fields: Collection[str] = DEFAULT_PROTECTED_FIELDS,
        max_line_bytes: int = 1_048_576,
        shard_index: int | None = None,
        shard_count: int | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 15.0,
        model_object: str | None = None,
        model_identifier_column: str | None = None,
        model_identifier_field: str | None = None,
        write_mode: Literal["auto", "rest", "bulk"] = "auto",
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [salesforce_asset(salesforce_conn_id)])
        super().__init__(**kwargs)
        if sum(source is not None for source in (events, sql, event_files)) != 1:
            raise ValueError("Give exactly one of events (a location or a list of events), event_files and sql.")
        if sql is not None and not sql_conn_id:
            raise ValueError("sql needs sql_conn_id, the connection to run it on.")
        if not 0.0 <= max_dead_letter_ratio <= 1.0:
            raise ValueError(f"max_dead_letter_ratio must be between 0 and 1, got {max_dead_letter_ratio!r}.")
        if not 0.0 <= api_reserve < 1.0:
            raise ValueError(f"api_reserve must be at least 0 and below 1, got {api_reserve!r}.")
        self.events = events
        self.event_files = event_files
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.salesforce_conn_id = salesforce_conn_id
        self.map_properties = map_properties
        self.use_contact_id = use_contact_id
        self.dead_letter = dead_letter
        self.max_dead_letter_ratio = max_dead_letter_ratio
        # BaseOperator already has a dry_run() method, so the flag lives under another name.
        self.plan_only = dry_run
        self.integration_key = integration_key
        self.external_id_field = external_id_field
        self.json_column = json_column
        self.allow_missing = allow_missing
        self.storage_conn_id = storage_conn_id or None
        self.api_reserve = api_reserve
        self.allow_duplicate_save = allow_duplicate_save
        if write_mode not in WRITE_MODES:
            raise ValueError(f"write_mode must be one of {', '.join(WRITE_MODES)}, got {write_mode!r}.")
        if isinstance(bulk_threshold, bool) or not isinstance(bulk_threshold, int) or bulk_threshold < 1:
            raise ValueError(f"bulk_threshold must be a whole number of records, at least 1, got {bulk_threshold!r}.")
        if write_mode == "bulk" and allow_duplicate_save:
            raise ValueError(
                "write_mode='bulk' cannot honour allow_duplicate_save=True: Bulk API 2.0 has no duplicate-rule "
                "header. Use write_mode='rest' or 'auto' (which stays on REST then)."
            )
        self.write_mode = write_mode
        self.bulk_threshold = bulk_threshold
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
        self.poll_interval = poll_interval
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = bool(deferrable)
        if max_line_bytes < 1024:
            raise ValueError(f"max_line_bytes must be at least 1024, got {max_line_bytes!r}.")
        self.max_line_bytes = max_line_bytes
        if (shard_index is None) != (shard_count is None):
            raise ValueError("Give shard_index and shard_count together (or neither).")
        self.shard_index = shard_index
        self.shard_count = shard_count
        model = (model_object, model_identifier_column, model_identifier_field)
        if any(part is not None for part in model) and (None in model or sql is None):
            raise ValueError(
                "A model sync needs sql with model_object, model_identifier_column and model_identifier_field."
            )
        self.model_object, self.model_identifier_column, self.model_identifier_field = model
        # Validated now: a bad field_map, policy or object list is a DAG error, not a failed run.
        self.options = MappingOptions(
            map_properties=map_properties,
            use_contact_id=use_contact_id,
            integration_key=integration_key,
            external_id_field=external_id_field,
            on_field_error=on_field_error,
            truncate_text=truncate_text,
            field_map=field_map or {},
            allowed_objects=allowed_objects,
            protected_fields=protected_fields,
        )
        #: Left by the last ``execute`` for OpenLineage: the summary, writes per sObject, the org's host.
        self.lineage_record: RunRecord | None = None
        self._written: dict[str, Counter[str]] = {}
        self._jobs: tuple[Ledger, BulkWriter] | None = None  # while Bulk jobs run under this process: for on_kill

    def execute(self, context: Context) -> dict[str, Any]:
        self.storage_conn_id = self.storage_conn_id or None  # a template may render to ""
        self.lineage_record, self._written = None, {}
        hook = RudderSalesforceHook(salesforce_conn_id=self.salesforce_conn_id, api_reserve=self.api_reserve)
        paths = object_storage_paths(self.storage_conn_id)
        if self.event_files is not None:
            # A listing made once upstream (the sync DAG's sensor): every shard reads exactly these files.
            records: Iterable[Any] = iter_files(
                staged_files(list(self.event_files), path_factory=paths), max_line_bytes=self.max_line_bytes
            )
        else:
            records = open_source(
                self.events,
                sql=self.sql,
                database=sql_database(self.sql_conn_id) if self.sql_conn_id else None,
                json_column=self.json_column,
                allow_missing=self.allow_missing,
                # Storage paths only for a location: the same connection also serves dead_letter, so events given
                # as a list with storage_conn_id set are fine.
                path_factory=paths if isinstance(self.events, (str, os.PathLike)) else None,
                **self._source_options(),
            )
        if self.plan_only:
            # A dry run changes nothing, so it must not trigger asset-scheduled DAGs: no outlets, no event.
            self.outlets = []
        shard = self._shard()
        self.log.info(
            "Syncing identify events into Salesforce%s%s",
            " (dry run: nothing is written)" if self.plan_only else "",
            f" (shard {shard[0] + 1} of {shard[1]})" if shard else "",
        )
        with self._failures():
            if self.dead_letter:
                location = dead_letter_path_for_context(self.dead_letter, context)
                with DeadLetterWriter(location, path_factory=paths) as dead_letters:
                    dead_letters.check()  # an unwritable location fails now, once, before any Salesforce request
                    summary = self._run(records, hook, dead_letters)
            else:
                summary = self._run(records, hook, LogOnlyDeadLetters(self.log))
        return self._conclude(context, hook, summary)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Back from the triggerer: the Bulk jobs have ended. Collect their results, write the dead letters, apply
        the failure policy and emit the Asset event, as a run that waited on its worker would."""
        event = event or {}
        if event.get("status") != "done":
            raise AirflowException(
                f"Waiting for the Bulk jobs failed ({event.get('message', 'no event')}). A retry collects the same "
                "jobs; nothing is submitted twice."
            )
        self.storage_conn_id = self.storage_conn_id or None
        hook = RudderSalesforceHook(salesforce_conn_id=self.salesforce_conn_id, api_reserve=self.api_reserve)
        with self._failures():
            location = dead_letter_path_for_context(str(self.dead_letter), context)
            with DeadLetterWriter(location, path_factory=object_storage_paths(self.storage_conn_id)) as dead_letters:
                ledger = self._ledger(dead_letters)
                assert ledger is not None
                saved = ledger.load_summary() or {}
                summary = SyncSummary.from_state(saved.get("summary", {}))
                writer = self._writer(hook)
                for sobject, counts in saved.get("written", {}).items():
                    writer.by_object[sobject] = Counter(counts)
                before = summary.api_calls
                self._settle(ledger, writer, dead_letters, summary, resumed=False)
                summary.api_calls = before + writer.api_calls + int(event.get("api_calls", event.get("polls", 0)))
        return self._conclude(context, hook, summary)

    def on_kill(self) -> None:
        """Marked failed while its Bulk jobs run under this worker: abort them (a deferred task's trigger does the
        same in the triggerer)."""
        if self._jobs is None:
            return
        ledger, bulk = self._jobs
        for job in ledger.jobs:
            self.log.warning("Aborting Bulk job %s", job.id)
            bulk.abort(job.id)

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """Configuration errors and refused logins fail once, without retry; the rest is Airflow's to retry."""
        try:
            yield
        except ConfigurationError as exc:
            raise AirflowFailException(str(exc)) from None
        except SalesforceLoginError as exc:
            if getattr(exc, "retryable", False):
                raise AirflowException(str(exc)) from None
            # A wrong password retried by Airflow would lock the user out (10 failures by default): fail once.
            raise AirflowFailException(f"{exc} (not retried: retrying a refused login can lock the user out)") from None
        except DeadLetterLocationError as exc:
            raise AirflowFailException(str(exc)) from None

    def _conclude(self, context: Context, hook: RudderSalesforceHook, summary: SyncSummary) -> dict[str, Any]:
        usage = hook.get_conn().api_usage
        if usage is not None:
            summary.api_calls_left, summary.api_daily_limit = usage[1] - usage[0], usage[1]
        self._keep_lineage_record(hook, summary)
        self.log.info("Sync summary\n%s", summary.table())
        if summary.partial:
            self.log.warning(
                "%d events were written without some fields the org cannot take (%s). Their fields_skipped dead "
                "letters replay the whole events once the fields exist (rudder_sf_replay_dead_letters, stage schema).",
                summary.partial,
                ", ".join(sorted(summary.fields_skipped)[:10]),
            )
        result = summary.as_dict()
        self._emit_asset_events(context, result)
        if not self.plan_only:
            self._enforce_policy(summary)
        return result

    def _shard(self) -> tuple[int, int] | None:
        if self.shard_index is None or self.shard_count is None:
            return None
        index, count = int(self.shard_index), int(self.shard_count)
        if not 0 <= index < count:
            raise ValueError(f"shard_index must be in [0, shard_count), got {index} of {count}.")
        return index, count

    def _source_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"max_line_bytes": self.max_line_bytes}
        if self.model_object is not None:
            from airflow_provider_rudder_sf.sources.model import ModelSync

            options["model"] = ModelSync(
                sobject=self.model_object,
                identifier_column=str(self.model_identifier_column),
                identifier_field=str(self.model_identifier_field),
                integration_key=self.integration_key,
            )
        return options

    def _writer(self, hook: RudderSalesforceHook) -> _CountingWriter:
        writer = _CountingWriter(
            hook.get_writer(allow_duplicate_save=self.allow_duplicate_save, bulk_poll_interval=self.poll_interval)
        )
        self._written = writer.by_object
        return writer

    def _ledger(self, dead_letters: Any) -> Ledger | None:
        """The Bulk job ledger beside this task's dead letters (the same directory for every try)."""
        if self.plan_only or not isinstance(dead_letters, DeadLetterWriter):
            return None
        return Ledger.load(DirectoryStore(dead_letters.directory, path_factory=dead_letters.path_factory))

    def _run(self, records: Iterable[Any], hook: RudderSalesforceHook, dead_letters: Any) -> SyncSummary:
        writer = self._writer(hook)
        ledger = self._ledger(dead_letters)
        if self.deferrable and ledger is None and not self.plan_only:
            self.log.warning("deferrable=True needs dead_letter (where Bulk jobs are recorded): waiting on the worker")
        summary = SyncSummary(dry_run=self.plan_only)
        skip = None
        if ledger is not None and ledger.jobs:
            self.log.info(
                "An earlier try left %d Bulk job(s): collecting them before reading, so nothing is sent twice",
                len(ledger.jobs),
            )
            skip = self._settle(ledger, writer, dead_letters, summary, resumed=True)
        summary = run_sync(
            records,
            cast("Writer", writer),
            dead_letters,
            options=self.options,
            dry_run=self.plan_only,
            log=self.log,
            shard=self._shard(),
            # Bulk API 2.0 cannot send the duplicate-rule header: keep REST when Alert rules must let saves through.
            write_mode="rest" if self.allow_duplicate_save else self.write_mode,
            bulk_threshold=self.bulk_threshold,
            handoff=Handoff(ledger, writer.bulk_writer()) if ledger is not None else None,
            skip=skip,
            summary=summary,
        )
        if ledger is not None and ledger.jobs:
            if self.deferrable:
                ledger.save_summary(
                    {"summary": summary.state(), "written": {k: dict(v) for k, v in writer.by_object.items()}}
                )
                self.log.info("Deferring while %d Bulk job(s) run: the triggerer polls them", len(ledger.jobs))
                self.defer(
                    trigger=BulkJobsTrigger(
                        salesforce_conn_id=self.salesforce_conn_id,
                        job_ids=[job.id for job in ledger.jobs],
                        poll_interval=self.poll_interval,
                        api_reserve=self.api_reserve,
                    ),
                    method_name="execute_complete",
                )
            self._settle(ledger, writer, dead_letters, summary, resumed=False)
            summary.api_calls = writer.api_calls
        return summary

    def _settle(
        self, ledger: Ledger, writer: _CountingWriter, dead_letters: Any, summary: SyncSummary, *, resumed: bool
    ) -> Counter[str]:
        bulk = writer.bulk_writer()
        self._jobs = (ledger, bulk)
        try:
            done = settle_jobs(
                ledger,
                bulk,
                writer.write_untallied,
                dead_letters,
                summary,
                resumed=resumed,
                log=self.log,
                tally=writer.tally_one,
            )
        finally:
            self._jobs = None
        ledger.clear()
        return done

    def _keep_lineage_record(self, hook: RudderSalesforceHook, summary: SyncSummary) -> None:
        from airflow_provider_rudder_sf.operators.run_record import RunRecord, instance_host

        # The login result, if the run logged in: ``client.instance_url`` would log in (again) just for lineage.
        login = getattr(hook.get_conn(), "_login", None)
        host = instance_host(login.instance_url) if login is not None else None
        self.lineage_record = RunRecord(summary=summary, written=self._written, instance_host=host)

    def get_openlineage_facets_on_start(self) -> Lineage:
        """The input (staged files' location, or the SQL query); no I/O. Called by the OpenLineage listener."""
        return self._lineage(record=None, complete=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        """Inputs, one output per sObject written (with its row count) and the run's counts (docs/lineage.md).

        Also what a failed try reports (the listener falls back to this method): a try that wrote records and then
        failed on ``max_dead_letter_ratio`` still shows what it wrote.
        """
        return self._lineage(record=self.lineage_record, complete=True)

    def _lineage(self, *, record: RunRecord | None, complete: bool) -> Lineage:
        from airflow_provider_rudder_sf.operators.lineage import build_lineage

        return build_lineage(
            events=self.events,
            event_files=self.event_files,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            salesforce_conn_id=self.salesforce_conn_id,
            record=record,
            complete=complete,
        )

    def _emit_asset_events(self, context: Context, result: dict[str, Any]) -> None:
        outlet_events = context.get("outlet_events")
        if outlet_events is None or self.plan_only:
            return
        counts = {key: result[key] for key in ASSET_EXTRA}
        for outlet in self.outlets:
            if isinstance(outlet, Asset) and outlet.uri.startswith("salesforce://"):
                outlet_events[outlet].extra = counts

    def _enforce_policy(self, summary: SyncSummary) -> None:
        """Budget stops and lasting transient trouble are retryable; too much bad data is not."""
        if summary.stop_reason is not None:
            raise AirflowException(
                f"Stopped early ({summary.stop_reason}): {summary.unsent} events were not sent. {summary.stop_message} "
                "Records already written are found again by the retry, never duplicated."
            )
        if summary.dead_lettered and summary.dead_letter_ratio > self.max_dead_letter_ratio:
            where = summary.dead_letter_location or "the task log (set dead_letter to keep them)"
            raise AirflowFailException(
                f"{summary.dead_lettered} of {summary.considered} events ({summary.dead_letter_ratio:.2%}) went to the "
                f"dead letter, above max_dead_letter_ratio={self.max_dead_letter_ratio}. Top codes: "
                f"{summary.top_codes()}. Dead letters: {where}. Everything else was written."
            )
