"""What Airflow's providers manager reads about this package, stated once as data.

Airflow 3.2+ builds the connection form only from the declarative ``conn-fields`` and ``ui-field-behaviour`` keys;
Airflow 3.0 and 3.1 (and 2.x) call the hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour``, which
:mod:`airflow_provider_rudder_sf.hooks.salesforce` derives from :data:`CONNECTION_FIELDS` and
:data:`FIELD_BEHAVIOUR` below, so the form is written here and nowhere else.
"""

from __future__ import annotations

import copy
from typing import Any

VERSION = "0.1.0"
CONNECTION_TYPE = "rudder_salesforce"
HOOK_NAME = "RudderStack Salesforce"
HOOK_CLASS = "airflow_provider_rudder_sf.hooks.salesforce.RudderSalesforceHook"

FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "extra"],
    "relabeling": {"login": "Username", "host": "Login URL"},
    "placeholders": {
        "login": "integration.user@example.com",
        "host": "empty: https://login.salesforce.com (or test.salesforce.com for a sandbox)",
    },
}

# The connection's extra fields: label, help text and a JSON-Schema-like type (``format: password`` is a secret).
CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "security_token": {
        "label": "Security Token",
        "description": "Appended to the password for SOAP login. Reset it in Salesforce under "
        "Settings > My Personal Information > Reset My Security Token.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "sandbox": {
        "label": "Sandbox",
        "description": "Log in at test.salesforce.com instead of login.salesforce.com. A Login URL, "
        "when set, wins over this switch.",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "Optional path to a PEM file of certificates to trust (for example the "
        "local emulator's certificate). TLS verification is never switched off.",
        "schema": {"type": ["string", "null"]},
    },
    "api_version": {
        "label": "API version",
        "description": "Salesforce REST API version, for example 59.0. Empty: the default.",
        "schema": {"type": ["string", "null"], "pattern": "^$|^[0-9]{2}\\.0$"},
    },
    "consumer_key": {
        "label": "OAuth consumer key",
        "description": "Connected App consumer key, for the OAuth password, client-credentials or JWT flows.",
        "schema": {"type": ["string", "null"]},
    },
    "consumer_secret": {
        "label": "OAuth consumer secret",
        "description": "With the consumer key: the OAuth password flow when a username and password "
        "are set, else client credentials.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "private_key": {
        "label": "JWT private key (PEM)",
        "description": "With the consumer key and username: the JWT bearer flow, which wins over "
        "the other modes. Paste the whole PEM, including its BEGIN and END lines.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
}

TRIGGER_MODULES = ("airflow_provider_rudder_sf.triggers.bulk",)


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-rudder-sf",
        "name": "RudderStack to Salesforce",
        "description": "Sync RudderStack identify events into Salesforce Leads, Contacts and other sObjects.",
        "versions": [VERSION],
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": HOOK_CLASS,
                "hook-name": HOOK_NAME,
                "ui-field-behaviour": copy.deepcopy(FIELD_BEHAVIOUR),
                "conn-fields": copy.deepcopy(CONNECTION_FIELDS),
            }
        ],
        "asset-uris": [{"schemes": ["salesforce"]}],
        "triggers": [{"integration-name": "Salesforce Bulk API 2.0", "python-modules": list(TRIGGER_MODULES)}],
    }
