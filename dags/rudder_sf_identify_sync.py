"""Hourly sync of staged RudderStack identify events into Salesforce, sharded across workers.

Each run reads the JSON Lines files staged for its data interval (``<base>/YYYY/MM/DD/HH/*.jsonl*``, the layout
of RudderStack event backups), splits them into shards by a hash of the record key (so no two workers ever touch
the same record), syncs the shards in parallel with dynamic task mapping under the ``salesforce_api`` pool, and
reports one total. Runs are independent and idempotent, so catch-up, backfills and retries are safe.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator, salesforce_asset

# Where staged events, shards and dead letters live; override with Airflow Variables (rendered at run time).
HOME = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "rudder-sf")
EVENTS_BASE = "{{ var.value.get('rudder_sf_events_base', '" + os.path.join(HOME, "events") + "') }}"
SHARDS_BASE = "{{ var.value.get('rudder_sf_shards_base', '" + os.path.join(HOME, "shards") + "') }}"
DEAD_LETTER = "{{ var.value.get('rudder_sf_dead_letter', '" + os.path.join(HOME, "dead-letters") + "') }}"
SALESFORCE_CONN_ID = "rudder_salesforce_default"
SALESFORCE_POOL = "salesforce_api"  # create it once: airflow pools set salesforce_api 4 "Salesforce API"

SHARDS = 4

with DAG(
    dag_id="rudder_sf_identify_sync",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 28, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["rudderstack", "salesforce"],
    doc_md=__doc__,
) as dag:

    @task
    def split_into_shards(location: str, shard_dir: str) -> list[str]:
        """Stream the interval's files once and write one shard file per worker; returns the non-empty ones."""
        from airflow_provider_rudder_sf.sources import read_jsonl
        from airflow_provider_rudder_sf.sources.shards import split_into_shards as split

        return split(read_jsonl(location, allow_missing=True), shard_dir, SHARDS)

    shard_files = split_into_shards(
        location=EVENTS_BASE + "/{{ data_interval_start.strftime('%Y/%m/%d/%H') }}/*.jsonl*",
        shard_dir=SHARDS_BASE + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}",
    )

    # [START howto_operator_identify_to_salesforce]
    sync = IdentifyToSalesforceOperator.partial(
        task_id="sync",
        salesforce_conn_id=SALESFORCE_CONN_ID,
        dead_letter=DEAD_LETTER,
        use_contact_id=True,  # an identify for a converted Lead updates its Contact
        max_dead_letter_ratio=0.05,
        pool=SALESFORCE_POOL,
        outlets=[salesforce_asset(SALESFORCE_CONN_ID)],
        map_index_template="{{ task.events.rsplit('/', 1)[-1] }}",
    ).expand(events=shard_files)
    # [END howto_operator_identify_to_salesforce]

    @task(trigger_rule="all_done")
    def report(summaries: list[dict[str, Any] | None], shards: list[str]) -> dict[str, Any]:
        """One total for the run; the run fails if any shard did not finish, so failures never look green."""
        from airflow_provider_rudder_sf.compat import AirflowFailException

        done = [summary for summary in summaries if summary]
        keys = ("read", "ignored", "rejected", "applied", "dead_lettered", "unsent", "created", "updated", "failed")
        total = {key: sum(summary[key] for summary in done) for key in keys}
        total["api_calls"] = sum(summary["api_calls"] for summary in done)
        total["shards"] = len(shards)
        total["shards_failed"] = len(shards) - len(done)
        width = max(len(key) for key in total)
        print("RUN SUMMARY\n" + "\n".join(f"  {key:<{width}}  {value:>10,}" for key, value in total.items()))
        if total["shards_failed"]:
            raise AirflowFailException(
                f"{total['shards_failed']} of {len(shards)} shards failed; their task logs say why and their dead "
                "letters are under the dead-letter location."
            )
        return total

    report(sync.output, shard_files)
