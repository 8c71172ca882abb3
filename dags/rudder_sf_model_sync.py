"""Daily Reverse ETL of a warehouse model into Salesforce Accounts, matched by AccountNumber.

The model ``analytics.salesforce_accounts`` (one row per account, e.g. a dbt model with ``account_number``, ``name``,
``industry``, ``annual_revenue`` and ``updated_at``) is read through the ``rudder_warehouse`` connection (Postgres,
Snowflake, BigQuery, ... anything common.sql supports). Each run selects the rows updated in its data interval;
every row becomes a RudderStack rETL event (``context.mappedToDestination``) whose ``externalId`` is
``{type: "Salesforce-Account", id: <account_number>, identifierType: "AccountNumber"}``: the Account with that
AccountNumber is updated, or created when there is none, and several matches are a dead letter ``ambiguous_match``.

The SELECT decides the fields: every column except the identifier is sent under its name, so alias columns to
Salesforce API names (quoted, as Postgres folds unquoted names to lower case) and keep ``updated_at`` in the WHERE
clause only. Rows without an account number are dead letters (``invalid_external_id``), never silently skipped.
Intervals are half-open and runs independent, so backfills and re-runs of an interval are safe (an update by
AccountNumber is idempotent). For a first full load, backfill from the model's oldest ``updated_at``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

# Where dead letters live, the model table and the connections; the Variables are rendered at run time.
HOME = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "rudder-sf")
DEAD_LETTER = "{{ var.value.get('rudder_sf_dead_letter', '" + os.path.join(HOME, "dead-letters") + "') }}"
MODEL_TABLE = "{{ var.value.get('rudder_sf_account_model', 'analytics.salesforce_accounts') }}"
WAREHOUSE_CONN_ID = "rudder_warehouse"
SALESFORCE_CONN_ID = "rudder_salesforce_default"
SALESFORCE_POOL = "salesforce_api"  # create it once: airflow pools set salesforce_api 4 "Salesforce API"

with DAG(
    dag_id="rudder_sf_model_sync",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 28, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["rudderstack", "salesforce", "sql", "reverse-etl"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_model_sync]
    IdentifyToSalesforceOperator(
        task_id="sync",
        sql=f"""
            SELECT account_number,
                   name           AS "Name",
                   industry       AS "Industry",
                   annual_revenue AS "AnnualRevenue"
            FROM {MODEL_TABLE}
            WHERE updated_at >= '{{{{ data_interval_start.isoformat() }}}}'
              AND updated_at <  '{{{{ data_interval_end.isoformat() }}}}'
            ORDER BY account_number
        """,
        sql_conn_id=WAREHOUSE_CONN_ID,
        model_object="Account",
        model_identifier_column="account_number",
        model_identifier_field="AccountNumber",
        salesforce_conn_id=SALESFORCE_CONN_ID,
        dead_letter=DEAD_LETTER,
        allowed_objects=["Account"],
        pool=SALESFORCE_POOL,
    )
    # [END howto_operator_model_sync]
