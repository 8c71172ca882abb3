"""Replay dead letters after a fix (a custom field created, a validation rule relaxed, a mapping corrected).

Trigger it by hand with the dead-letter directory (or file) to replay. It collects the original events from the
dead letters into one replay file and syncs them again with the same operator; what still fails goes to a new
dead letter under this DAG's own run. Replaying is safe to repeat: e-mail keyed records are matched, not duplicated.
Dead letters on object storage are read and written through the Variable ``rudder_sf_storage_conn_id``'s
connection, as in the sync DAG.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator, salesforce_asset

# Where staged events, shards and dead letters live; override with Airflow Variables (rendered at run time).
HOME = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "rudder-sf")
SHARDS_BASE = "{{ var.value.get('rudder_sf_shards_base', '" + os.path.join(HOME, "shards") + "') }}"
DEAD_LETTER = "{{ var.value.get('rudder_sf_dead_letter', '" + os.path.join(HOME, "dead-letters") + "') }}"
STORAGE_CONN_ID = "{{ var.value.get('rudder_sf_storage_conn_id', '') }}"
SALESFORCE_CONN_ID = "rudder_salesforce_default"
SALESFORCE_POOL = "salesforce_api"  # create it once: airflow pools set salesforce_api 4 "Salesforce API"

with DAG(
    dag_id="rudder_sf_replay_dead_letters",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 28, tz="UTC"),
    catchup=False,
    tags=["rudderstack", "salesforce", "replay"],
    params={
        "dead_letters": Param(DEAD_LETTER, type="string", description="Dead-letter directory or file to replay."),
        "stages": Param(
            ["validate", "schema", "salesforce"],
            type="array",
            description="Which dead letters to replay: parse, validate, schema (fields skipped or refused by the "
            "org's schema) and/or salesforce.",
        ),
    },
    doc_md=__doc__,
) as dag:

    @task
    def collect(location: str, stages: list[str], out_file: str, conn_id: str) -> str:
        """Write the original events of the chosen dead letters as one JSON Lines file; returns its path."""
        import gzip
        import json
        import os

        from airflow_provider_rudder_sf.deadletter import read_dead_letters
        from airflow_provider_rudder_sf.hooks.connections import object_storage_paths

        os.makedirs(os.path.dirname(out_file), mode=0o700, exist_ok=True)
        count = 0
        # The collected events are personal data: owner-only, and deleted by the clean-up task after the replay.
        handle = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as out:
            for letter in read_dead_letters(
                location, path_factory=object_storage_paths(conn_id or None), allow_missing=True
            ):
                if letter.get("stage") not in stages:
                    continue
                event = letter["event"]
                text = event if letter.get("event_format") == "text" else json.dumps(event, ensure_ascii=False)
                out.write(text + "\n")
                count += 1
        print(f"Collected {count} dead-lettered events from {location} into {out_file}")
        return out_file

    replay_file = collect(
        location="{{ params.dead_letters }}",
        stages="{{ params.stages }}",
        out_file=SHARDS_BASE + "/replay/{{ run_id | replace(':', '_') | replace('+', '_') }}.jsonl.gz",
        conn_id=STORAGE_CONN_ID,
    )

    replay = IdentifyToSalesforceOperator(
        task_id="replay",
        events=replay_file,
        salesforce_conn_id=SALESFORCE_CONN_ID,
        dead_letter=DEAD_LETTER,
        storage_conn_id=STORAGE_CONN_ID,
        max_dead_letter_ratio=1.0,  # a replay reports what still fails instead of failing the task
        allowed_objects=["Lead", "Contact"],  # staged events may come from SDKs with a public write key
        pool=SALESFORCE_POOL,
        outlets=[salesforce_asset(SALESFORCE_CONN_ID)],
    )

    @task(trigger_rule="all_done", retries=0)
    def clean_up(path: str) -> None:
        """Delete the collected copy whatever the replay's outcome: the dead letters themselves are kept."""
        import os

        if os.path.exists(path):
            os.unlink(path)
            print(f"Deleted {path}")

    replay >> clean_up(replay_file)
