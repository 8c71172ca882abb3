"""``IdentifyToSalesforceOperator``: sync staged RudderStack identify events into Salesforce.

The operator only holds arguments and wires Airflow to the sync engine: a source (files or SQL), the mapping
options, the hook's writer, the dead-letter location of this try, then the failure policy, the log summary and
the Asset event. What a run does is defined once, in :func:`airflow_provider_rudder_sf.sync.run_sync`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_rudder_sf.compat import AirflowException, AirflowFailException, Asset, BaseOperator
from airflow_provider_rudder_sf.deadletter import DeadLetterWriter, dead_letter_path_for_context
from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook
from airflow_provider_rudder_sf.mapping import MappingOptions
from airflow_provider_rudder_sf.sources import open_source
from airflow_provider_rudder_sf.sync import LogOnlyDeadLetters, SyncSummary, run_sync

if TYPE_CHECKING:
    from airflow_provider_rudder_sf.compat import Context


def salesforce_asset(salesforce_conn_id: str = RudderSalesforceHook.default_conn_name, sobject: str = "Lead") -> Asset:
    """The Asset a sync updates: ``salesforce://<connection id>/<sObject>``."""
    return Asset(f"salesforce://{salesforce_conn_id}/{sobject}")


class IdentifyToSalesforceOperator(BaseOperator):
    """Sync RudderStack/Segment ``identify`` events into Salesforce Leads, Contacts and other sObjects.

    :param events: where the staged events are: a file, directory, glob or object-storage URL of JSON Lines files
        (``.gz`` allowed), or a list of event dicts. Templated. Give either ``events`` or ``sql``.
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
    """

    template_fields: Sequence[str] = ("events", "sql", "dead_letter", "salesforce_conn_id", "sql_conn_id")
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#00A1E0"
    ui_fgcolor = "#FFFFFF"

    def __init__(
        self,
        *,
        events: str | list[dict[str, Any]] | None = None,
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
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [salesforce_asset(salesforce_conn_id)])
        super().__init__(**kwargs)
        if (events is None) == (sql is None):
            raise ValueError("Give exactly one of events (files or a list of events) and sql.")
        if sql is not None and not sql_conn_id:
            raise ValueError("sql needs sql_conn_id, the connection to run it on.")
        if not 0.0 <= max_dead_letter_ratio <= 1.0:
            raise ValueError(f"max_dead_letter_ratio must be between 0 and 1, got {max_dead_letter_ratio!r}.")
        if not 0.0 <= api_reserve < 1.0:
            raise ValueError(f"api_reserve must be at least 0 and below 1, got {api_reserve!r}.")
        self.events = events
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
        self.storage_conn_id = storage_conn_id
        self.api_reserve = api_reserve
        self.options = MappingOptions(map_properties, use_contact_id, integration_key, external_id_field)

    def execute(self, context: Context) -> dict[str, Any]:
        hook = RudderSalesforceHook(salesforce_conn_id=self.salesforce_conn_id, api_reserve=self.api_reserve)
        records = open_source(
            self.events,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            json_column=self.json_column,
            allow_missing=self.allow_missing,
            conn_id=self.storage_conn_id,
        )
        self.log.info(
            "Syncing identify events into Salesforce%s", " (dry run: nothing is written)" if self.plan_only else ""
        )
        if self.dead_letter:
            location = dead_letter_path_for_context(self.dead_letter, context)
            with DeadLetterWriter(location, conn_id=self.storage_conn_id) as dead_letters:
                summary = self._run(records, hook, dead_letters)
        else:
            summary = self._run(records, hook, LogOnlyDeadLetters(self.log))
        usage = hook.get_conn().api_usage
        if usage is not None:
            summary.api_calls_left, summary.api_daily_limit = usage[1] - usage[0], usage[1]
        self.log.info("Sync summary\n%s", summary.table())
        result = summary.as_dict()
        self._emit_asset_events(context, result)
        if not self.plan_only:
            self._enforce_policy(summary)
        return result

    def _run(self, records: Iterable[Any], hook: RudderSalesforceHook, dead_letters: Any) -> SyncSummary:
        return run_sync(
            records, hook.get_writer(), dead_letters, options=self.options, dry_run=self.plan_only, log=self.log
        )

    def _emit_asset_events(self, context: Context, result: dict[str, Any]) -> None:
        outlet_events = context.get("outlet_events")
        if outlet_events is None or self.plan_only:
            return
        counts = {key: result[key] for key in ("read", "created", "updated", "failed", "dead_lettered", "api_calls")}
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
