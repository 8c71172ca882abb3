"""Airflow hook for the ``rudder_salesforce`` connection: the only code that reads the Connection.

It turns the Connection into :class:`SalesforceSettings` and hands out one :class:`SalesforceClient` per hook;
everything that talks to Salesforce lives in ``airflow_provider_rudder_sf.salesforce`` and never sees Airflow.
"""

from __future__ import annotations

import copy
from functools import cached_property
from typing import Any

from airflow_provider_rudder_sf.compat import BaseHook, mask_secret
from airflow_provider_rudder_sf.provider_info import CONNECTION_FIELDS, CONNECTION_TYPE, FIELD_BEHAVIOUR, HOOK_NAME
from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.errors import SalesforceApiError
from airflow_provider_rudder_sf.salesforce.settings import DEFAULT_API_VERSION, SalesforceSettings
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter

_EXTRA_KEYS = tuple(CONNECTION_FIELDS)  # the form's extra fields are the settings read from extras
_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f", ""})


def parse_bool(value: object, name: str = "sandbox") -> bool:
    """Connection extras arrive as JSON booleans or as strings from forms and URIs: accept both."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"Connection extra {name!r} must be true or false, got {value!r}")


class RudderSalesforceHook(BaseHook):
    """Salesforce access for the RudderStack identify sync.

    :param salesforce_conn_id: id of a ``rudder_salesforce`` connection. ``login`` is the username, ``host``
        an optional login URL (empty: login.salesforce.com, or test.salesforce.com with ``sandbox``).
    :param api_reserve: share of the org's daily API allocation the client never spends (default 10 %).
    """

    conn_name_attr = "salesforce_conn_id"
    default_conn_name = "rudder_salesforce_default"
    conn_type = CONNECTION_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self, salesforce_conn_id: str = default_conn_name, *, api_reserve: float = 0.10, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.salesforce_conn_id = salesforce_conn_id
        self.api_reserve = api_reserve
        self._client: SalesforceClient | None = None

    @cached_property
    def settings(self) -> SalesforceSettings:
        """The connection as immutable settings (secrets registered for masking)."""
        conn = self.get_connection(self.salesforce_conn_id)
        extras = conn.extra_dejson or {}

        def extra(key: str) -> Any:
            value = extras.get(key)
            if value is None or value == "":
                value = extras.get(f"extra__{CONNECTION_TYPE}__{key}")
            return None if value == "" else value

        for key in ("security_token", "consumer_secret", "private_key"):
            secret = extra(key)
            if secret:
                mask_secret(str(secret))
        if conn.password:
            mask_secret(conn.password)
        return SalesforceSettings(
            username=conn.login or None,
            password=conn.password or None,
            security_token=_str(extra("security_token")),
            sandbox=parse_bool(extra("sandbox")),
            login_url=_login_url(conn.host),
            ca_bundle=_str(extra("ca_bundle")),
            api_version=_str(extra("api_version")) or DEFAULT_API_VERSION,
            consumer_key=_str(extra("consumer_key")),
            consumer_secret=_str(extra("consumer_secret")),
            private_key=_str(extra("private_key")),
        )

    def get_conn(self) -> SalesforceClient:
        """The hook's one client (built once, logs in on first use; the session id is masked in task logs)."""
        if self._client is None:
            self._client = SalesforceClient(self.settings, api_reserve=self.api_reserve, on_session_id=mask_secret)
        return self._client

    def get_writer(self, **kwargs: Any) -> SalesforceWriter:
        """A writer on the hook's client; keyword arguments go to :class:`SalesforceWriter`."""
        return SalesforceWriter(self.get_conn(), **kwargs)

    def test_connection(self) -> tuple[bool, str]:
        """Log in and read ``/limits`` (one cheap call); say how many daily API calls are left."""
        try:
            client = self.get_conn()
            daily = client.daily_limit()
        except (SalesforceApiError, ValueError, OSError) as exc:
            return False, str(exc)
        who = self.settings.username or self.settings.consumer_key or "the connected app"
        message = (
            f"Connected to {client.instance_url} as {who}; {daily.remaining:,} of {daily.max:,} daily API calls left"
        )
        # `airflow connections test` prints only "Connection success!": the log line carries the figures there.
        self.log.info("%s", message)
        return True, message

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra form fields for UIs that build the form from the hook (Airflow 3.0, 3.1 and 2.x), made from the
        declarative ``conn-fields`` that Airflow 3.2+ reads."""
        from wtforms import BooleanField, PasswordField, StringField

        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        except ImportError:  # plain wtforms widgets outside the FAB UI
            text_widget, secret_widget = None, None
        else:
            text_widget, secret_widget = BS3TextFieldWidget(), BS3PasswordFieldWidget()

        widgets: dict[str, Any] = {}
        for name, spec in CONNECTION_FIELDS.items():
            schema, label = spec["schema"], spec["label"]
            if "boolean" in schema["type"]:
                widgets[name] = BooleanField(label, default=schema.get("default", False))
            elif schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=secret_widget)
            else:
                widgets[name] = StringField(label, widget=text_widget)
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The declarative ``ui-field-behaviour``, under the Python method's key names."""
        return {key.replace("-", "_"): copy.deepcopy(value) for key, value in FIELD_BEHAVIOUR.items()}


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _login_url(host: str | None) -> str | None:
    """``host`` may hold a full URL or a bare host name (Airflow URIs drop the scheme)."""
    if not host:
        return None
    host = host.strip().rstrip("/")
    return host if host.startswith(("https://", "http://")) else f"https://{host}"
