"""Hourly sync of identify events staged in a SQL table (SQLite by default) into Salesforce.

The staging table holds one raw RudderStack event per row (``event`` JSON text) with the time it was received;
each run selects its data interval, so runs are independent and re-runs are idempotent. Point the
``rudder_events_db`` connection at any DB-API database that common.sql supports (Postgres, Snowflake, ...).
For RudderStack's flattened warehouse ``identifies`` table, drop ``json_column`` and select its columns instead.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator, salesforce_asset

# Where staged events, shards and dead letters live; override with Airflow Variables (rendered at run time).
HOME = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "rudder-sf")
DEAD_LETTER = "{{ var.value.get('rudder_sf_dead_letter', '" + os.path.join(HOME, "dead-letters") + "') }}"
SALESFORCE_CONN_ID = "rudder_salesforce_default"
SALESFORCE_POOL = "salesforce_api"  # create it once: airflow pools set salesforce_api 4 "Salesforce API"

with DAG(
    dag_id="rudder_sf_identify_from_sql",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 28, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["rudderstack", "salesforce", "sql"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_identify_from_sql]
    IdentifyToSalesforceOperator(
        task_id="sync",
        sql="""
            SELECT event FROM staged_events
            WHERE received_at >= '{{ data_interval_start.strftime('%Y-%m-%dT%H:%M:%S') }}'
              AND received_at <  '{{ data_interval_end.strftime('%Y-%m-%dT%H:%M:%S') }}'
            ORDER BY id
        """,
        sql_conn_id="rudder_events_db",
        json_column="event",
        salesforce_conn_id=SALESFORCE_CONN_ID,
        dead_letter=DEAD_LETTER,
        max_dead_letter_ratio=0.05,
        allowed_objects=["Lead", "Contact"],  # staged events may come from SDKs with a public write key
        pool=SALESFORCE_POOL,
        outlets=[salesforce_asset(SALESFORCE_CONN_ID)],
    )
    # [END howto_operator_identify_from_sql]
