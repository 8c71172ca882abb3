"""Where the example DAGs read staged events and write dead letters; override with Airflow Variables.

The defaults live under ``$AIRFLOW_HOME/rudder-sf`` so the DAGs work as copied, on a laptop, with no set-up.
"""

from __future__ import annotations

import os

HOME = os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "rudder-sf")

# Jinja: rendered on the worker, so a Variable change applies to the next run without re-parsing.
EVENTS_BASE = "{{ var.value.get('rudder_sf_events_base', '" + os.path.join(HOME, "events") + "') }}"
DEAD_LETTER = "{{ var.value.get('rudder_sf_dead_letter', '" + os.path.join(HOME, "dead-letters") + "') }}"
SHARDS_BASE = "{{ var.value.get('rudder_sf_shards_base', '" + os.path.join(HOME, "shards") + "') }}"

SALESFORCE_CONN_ID = "rudder_salesforce_default"
SALESFORCE_POOL = "salesforce_api"  # create it with: airflow pools set salesforce_api 4 "Salesforce API"
