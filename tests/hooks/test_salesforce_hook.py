"""RudderSalesforceHook: reading the Connection, test_connection over HTTPS, Airflow 2 form methods."""

from __future__ import annotations

import json

import pytest

from airflow_provider_rudder_sf import get_provider_info
from airflow_provider_rudder_sf.hooks import salesforce as hook_module
from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook, parse_bool
from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter

CONN_ID = "sf_test"
ENV = "AIRFLOW_CONN_SF_TEST"


def _set_conn(monkeypatch, **conn) -> None:
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "rudder_salesforce", **conn}))


def test_settings_come_from_login_password_host_and_extras(monkeypatch):
    _set_conn(
        monkeypatch,
        login="user@example.com",
        password="pw-secret",
        host="https://mycompany.my.salesforce.com/",
        extra={
            "security_token": "tok-secret",
            "sandbox": "true",
            "api_version": "60.0",
            "ca_bundle": "",
            "extra__rudder_salesforce__consumer_key": "ck",
        },
    )
    settings = RudderSalesforceHook(salesforce_conn_id=CONN_ID).settings
    assert settings.username == "user@example.com"
    assert settings.password == "pw-secret"
    assert settings.security_token == "tok-secret"
    assert settings.sandbox is True
    assert settings.login_url == "https://mycompany.my.salesforce.com"
    assert settings.api_version == "60.0"
    assert settings.ca_bundle is None  # "" means unset
    assert settings.consumer_key == "ck"  # the old prefixed form is read too
    assert settings.auth_mode == "soap"


def test_empty_host_means_default_login_url_by_sandbox(monkeypatch):
    _set_conn(monkeypatch, login="u", password="p", extra={"sandbox": True})
    assert RudderSalesforceHook(CONN_ID).settings.effective_login_url == "https://test.salesforce.com"
    _set_conn(monkeypatch, login="u", password="p", extra={"sandbox": "false"})
    assert RudderSalesforceHook(CONN_ID).settings.effective_login_url == "https://login.salesforce.com"


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("True", True), ("1", True), (None, False), ("", False), ("off", False)]
)
def test_parse_bool(value, expected):
    assert parse_bool(value) is expected


def test_parse_bool_rejects_nonsense():
    with pytest.raises(ValueError, match="sandbox"):
        parse_bool("maybe")


def test_test_connection_via_env_var_reports_calls_left(salesforce_emulator, monkeypatch):
    h = salesforce_emulator
    h.settings(daily_limit=100_000, api_usage=157)
    monkeypatch.setenv(ENV, h.connection_json(CONN_ID))
    ok, message = RudderSalesforceHook(salesforce_conn_id=CONN_ID).test_connection()
    assert ok, message
    # /limits itself is one call: 158 used
    assert message == f"Connected to {h.base_url} as {h.username}; 99,842 of 100,000 daily API calls left"
    assert h.counters()["by_endpoint"] == {"GET limits": 1}


def test_test_connection_through_connection_get_hook(salesforce_emulator, monkeypatch):
    from airflow.models.connection import Connection

    monkeypatch.setenv(ENV, salesforce_emulator.connection_json(CONN_ID))
    hook = Connection.get_connection_from_secrets(CONN_ID).get_hook()
    assert isinstance(hook, RudderSalesforceHook)
    assert hook.salesforce_conn_id == CONN_ID
    ok, message = hook.test_connection()
    assert ok and "daily API calls left" in message


def test_test_connection_failure_is_actionable_and_secret_free(salesforce_emulator, monkeypatch):
    h = salesforce_emulator
    conn = h.connection_dict(CONN_ID)
    conn["password"] = "Not-The-Password-42"
    monkeypatch.setenv(ENV, json.dumps(conn))
    ok, message = RudderSalesforceHook(CONN_ID).test_connection()
    assert not ok
    assert "INVALID_LOGIN" in message and "Reset My Security Token" in message
    assert "Not-The-Password-42" not in message and h.security_token not in message


def test_test_connection_without_ca_bundle_says_to_set_it(salesforce_emulator, monkeypatch):
    conn = salesforce_emulator.connection_dict(CONN_ID)
    conn["extra"] = {"security_token": salesforce_emulator.security_token}
    monkeypatch.setenv(ENV, json.dumps(conn))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    ok, message = RudderSalesforceHook(CONN_ID).test_connection()
    assert not ok and "ca_bundle" in message


def test_client_is_built_once_and_secrets_are_masked(salesforce_emulator, monkeypatch):
    masked: list[str] = []
    monkeypatch.setattr(hook_module, "mask_secret", masked.append)
    monkeypatch.setenv(ENV, salesforce_emulator.connection_json(CONN_ID))
    hook = RudderSalesforceHook(CONN_ID)
    client = hook.get_conn()
    assert isinstance(client, SalesforceClient) and hook.get_conn() is client
    writer = hook.get_writer(batch_size=50)
    assert isinstance(writer, SalesforceWriter) and writer.client is client and writer.batch_size == 50
    assert salesforce_emulator.security_token in masked and salesforce_emulator.password in masked
    client.query("SELECT Id FROM Lead")
    session_id = client._login.session_id if client._login else None
    assert session_id and session_id in masked


def test_class_attributes_match_provider_info():
    (conn_type,) = get_provider_info()["connection-types"]
    assert RudderSalesforceHook.conn_type == conn_type["connection-type"]
    assert RudderSalesforceHook.hook_name == conn_type["hook-name"]
    assert RudderSalesforceHook.conn_name_attr == "salesforce_conn_id"
    assert RudderSalesforceHook.default_conn_name == "rudder_salesforce_default"
    behaviour = RudderSalesforceHook.get_ui_field_behaviour()
    declared = conn_type["ui-field-behaviour"]
    assert behaviour["hidden_fields"] == declared["hidden-fields"]
    assert behaviour["relabeling"] == declared["relabeling"]
    assert behaviour["placeholders"] == declared["placeholders"]


def test_connection_form_widgets_mirror_the_declared_fields():
    (conn_type,) = get_provider_info()["connection-types"]
    assert set(RudderSalesforceHook.get_connection_form_widgets()) == set(conn_type["conn-fields"])


def test_each_form_widget_has_the_declared_label_and_kind():
    from wtforms import BooleanField, PasswordField, StringField

    (conn_type,) = get_provider_info()["connection-types"]
    widgets = RudderSalesforceHook.get_connection_form_widgets()
    kinds = {}
    for name, spec in conn_type["conn-fields"].items():
        field = widgets[name]
        assert field.args[0] == spec["label"]
        kinds[name] = field.field_class
    assert kinds == {
        "security_token": PasswordField,
        "sandbox": BooleanField,
        "ca_bundle": StringField,
        "api_version": StringField,
        "consumer_key": StringField,
        "consumer_secret": PasswordField,
        "private_key": PasswordField,
    }
