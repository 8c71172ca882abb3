"""Hourly sync of staged RudderStack identify events into Salesforce, sharded across workers.

Each run reads the JSON Lines files staged for its data interval (``<base>/YYYY/MM/DD/HH/*.jsonl*``, the layout
of RudderStack event backups), splits them into shards by a hash of the record key (so no two workers ever touch
the same record), syncs the shards in parallel with dynamic task mapping under the ``salesforce_api`` pool, and
reports one total. Runs are independent and idempotent, so catch-up, backfills and retries are safe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from _settings import DEAD_LETTER, EVENTS_BASE, SALESFORCE_CONN_ID, SALESFORCE_POOL, SHARDS_BASE
from airflow.sdk import DAG, task

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator, salesforce_asset

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
    def report(summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """One total for the run, whatever the number of shards."""
        keys = ("read", "ignored", "rejected", "applied", "dead_lettered", "unsent", "created", "updated", "failed")
        total = {key: sum(s[key] for s in summaries if s) for key in keys}
        total["api_calls"] = sum(s["api_calls"] for s in summaries if s)
        total["shards"] = len([s for s in summaries if s])
        width = max(len(k) for k in total)
        print("RUN SUMMARY\n" + "\n".join(f"  {k:<{width}}  {v:>10,}" for k, v in total.items()))
        return total

    report(sync.output)
