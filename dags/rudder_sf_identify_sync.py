"""Hourly sync of staged RudderStack identify events into Salesforce, sharded across workers.

Each run waits for the JSON Lines files staged for its data interval (``<base>/YYYY/MM/DD/HH/*.json*``: RudderStack
event backups, ``*.json.gz``, or ``*.jsonl`` files, plain or gzipped), then runs N shard tasks in parallel (dynamic
task mapping, ``salesforce_api`` pool). Every shard task reads the files the sensor listed and keeps only the
records whose key hashes to it, so no two workers ever touch the same record, nothing is copied, and a dead
letter's origin is the original file and line. One report totals the shards; the run fails if any shard failed.
Runs are independent and idempotent, so catch-up, backfills and retries are safe.

Configuration, all optional. Airflow Variables, read at run time: ``rudder_sf_events_base`` and
``rudder_sf_dead_letter`` (where events and dead letters live, local paths or object-storage URLs),
``rudder_sf_storage_conn_id`` (their connection), ``rudder_sf_shards`` (shard count, default 4). Environment
variables, read when the DAG is parsed: ``RUDDER_SF_POOL`` (default ``salesforce_api``),
``RUDDER_SF_WAIT_TIMEOUT_SECONDS`` (how long to wait for late files, default 3 hours), ``RUDDER_SF_POKE_SECONDS`` and
``RUDDER_SF_RETRY_DELAY_SECONDS`` (the pause before a failed shard is retried, default 5 minutes). Trigger a run with
``{"allow_empty_interval": true}`` to accept an hour without files.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator, salesforce_asset

# Where staged events and dead letters live; override with Airflow Variables (rendered at run time).
HOME = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "rudder-sf")
EVENTS_BASE = "{{ var.value.get('rudder_sf_events_base', '" + os.path.join(HOME, "events") + "') }}"
DEAD_LETTER = "{{ var.value.get('rudder_sf_dead_letter', '" + os.path.join(HOME, "dead-letters") + "') }}"
STORAGE_CONN_ID = "{{ var.value.get('rudder_sf_storage_conn_id', '') }}"
INTERVAL_FILES = "/{{ data_interval_start.strftime('%Y/%m/%d/%H') }}/*.json*"  # *.json.gz and *.jsonl[.gz]
SALESFORCE_CONN_ID = "rudder_salesforce_default"


def _setting(name: str, default: Any) -> Any:
    """A parse-time setting (the pool, the sensor's timing) from the environment, else the default.

    These must be known when the DAG is parsed, and reading Airflow Variables at parse time can block the
    DAG processor (it waits on its supervisor while parsing), so they come from the environment of the
    scheduler's DAG processor and the workers.
    """
    value = os.environ.get(name)
    return default if value in (None, "") else type(default)(value)


SALESFORCE_POOL = _setting("RUDDER_SF_POOL", "salesforce_api")  # airflow pools set salesforce_api 4 "Salesforce"
WAIT_TIMEOUT = timedelta(seconds=_setting("RUDDER_SF_WAIT_TIMEOUT_SECONDS", 3 * 3600))
POKE_INTERVAL = _setting("RUDDER_SF_POKE_SECONDS", 300)
RETRY_DELAY = timedelta(seconds=_setting("RUDDER_SF_RETRY_DELAY_SECONDS", 300))

with DAG(
    dag_id="rudder_sf_identify_sync",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 28, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    params={
        "shards": Param(4, type="integer", minimum=1, maximum=256, description="Parallel shard tasks."),
        "allow_empty_interval": Param(False, type="boolean", description="Succeed when the hour has no files."),
    },
    tags=["rudderstack", "salesforce"],
    doc_md=__doc__,
) as dag:

    @task.sensor(poke_interval=POKE_INTERVAL, timeout=WAIT_TIMEOUT.total_seconds(), mode="reschedule")
    def wait_for_files(base: str, pattern: str, conn_id: str, allow_empty: bool | str) -> Any:
        """Fail at once when the base location does not exist (a typo); wait for late files, then time out."""
        from airflow.sdk import PokeReturnValue

        from airflow_provider_rudder_sf.compat import AirflowFailException
        from airflow_provider_rudder_sf.hooks.connections import object_storage_paths
        from airflow_provider_rudder_sf.sources import resolve_files

        # The storage connection reaches the base and every file under it: the check and the listing alike.
        paths = object_storage_paths(conn_id or None)
        base_path = paths(base) if "://" in base else Path(base).expanduser()
        if not base_path.exists():
            raise AirflowFailException(
                f"The events base location {base!r} does not exist. Check the Variable rudder_sf_events_base "
                "(and rudder_sf_storage_conn_id); nothing was synced."
            )
        files = resolve_files(base.rstrip("/") + pattern, path_factory=paths, allow_missing=True)
        if files or str(allow_empty).lower() == "true":  # a rendered template is the text "False", not False
            print(f"{len(files)} staged file(s) for this interval under {base}")
            # One listing for every shard: a file arriving while shards run must not be read by some of them only.
            return PokeReturnValue(is_done=True, xcom_value=[staged.uri for staged in files])
        print(f"No staged files yet for {base}{pattern}; waiting (timeout {WAIT_TIMEOUT}).")
        return PokeReturnValue(is_done=False)

    @task
    def plan_shards(shards: int, files: list[str]) -> list[dict[str, Any]]:
        """One shard task per slice of the record keys; the count comes from the Variable or the run's params."""
        from airflow.sdk import Variable

        count = int(Variable.get("rudder_sf_shards", default=shards))
        print(f"Syncing {len(files)} file(s) in {count} shard(s)")
        return [{"shard_index": index, "shard_count": count, "event_files": files} for index in range(count)]

    files = wait_for_files(
        base=EVENTS_BASE,
        pattern=INTERVAL_FILES,
        conn_id=STORAGE_CONN_ID,
        allow_empty="{{ params.allow_empty_interval }}",
    )
    shards = plan_shards(shards="{{ params.shards }}", files=files)

    # [START howto_operator_identify_to_salesforce]
    sync = IdentifyToSalesforceOperator.partial(
        task_id="sync",
        storage_conn_id=STORAGE_CONN_ID or None,
        salesforce_conn_id=SALESFORCE_CONN_ID,
        dead_letter=DEAD_LETTER,
        use_contact_id=True,  # an identify for a converted Lead updates its Contact
        allowed_objects=["Lead", "Contact"],  # identify events may come from browser SDKs with a public write key
        max_dead_letter_ratio=0.05,
        pool=SALESFORCE_POOL,
        outlets=[salesforce_asset(SALESFORCE_CONN_ID)],
        map_index_template="shard {{ task.shard_index + 1 }} of {{ task.shard_count }}",
    ).expand_kwargs(shards)
    # [END howto_operator_identify_to_salesforce]

    @task(trigger_rule="all_done", retries=0)  # it only adds up: a retry cannot change its answer
    def report(summaries: list[dict[str, Any] | None], shards: list[dict[str, int]]) -> dict[str, Any]:
        """One total for the run; the run fails if any shard did not finish, so failures never look green."""
        from airflow_provider_rudder_sf.compat import AirflowFailException
        from airflow_provider_rudder_sf.sync.summary import COUNTS

        done = [summary for summary in summaries if summary]
        total = {key: sum(summary.get(key, 0) for summary in done) for key in COUNTS}
        total["shards"] = len(shards)
        total["shards_failed"] = len(shards) - len(done)
        width = max(len(key) for key in total)
        print("RUN SUMMARY\n" + "\n".join(f"  {key:<{width}}  {value:>10,}" for key, value in total.items()))
        skipped: dict[str, int] = {}
        for summary in done:
            for name, count in (summary.get("fields_skipped") or {}).items():
                skipped[name] = skipped.get(name, 0) + count
        if skipped:
            print("FIELDS SKIPPED (the org lacks them or the user cannot write them; records written without):")
            print("\n".join(f"  {name:<{width}}  {count:>10,}" for name, count in sorted(skipped.items())))
        if total["shards_failed"]:
            raise AirflowFailException(
                f"{total['shards_failed']} of {len(shards)} shards failed; their task logs say why and their dead "
                "letters are under the dead-letter location."
            )
        return total

    report(sync.output, shards)
