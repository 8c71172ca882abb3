"""Connection settings for Salesforce, as one immutable value.

The hook builds this from an Airflow Connection; everything below ``salesforce/`` only ever sees this value,
so the Salesforce code can run (and be tested) without Airflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Literal

DEFAULT_API_VERSION = "59.0"
PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
DEFAULT_TIMEOUT = 60.0

AuthMode = Literal["soap", "oauth_password", "client_credentials", "jwt"]

_SECRET_FIELDS = frozenset({"password", "security_token", "consumer_secret", "private_key"})
_API_VERSION = re.compile(r"^[0-9]{2,3}\.0$")


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach and log in to one Salesforce org.

    ``login_url`` None means the public login host for production or sandbox; set it for a My Domain or the
    local emulator. ``ca_bundle`` is a PEM file that becomes the only trust store for every request.
    """

    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    sandbox: bool = False
    login_url: str | None = None
    ca_bundle: str | None = None
    api_version: str = DEFAULT_API_VERSION
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        version = (self.api_version or DEFAULT_API_VERSION).strip().lstrip("vV")
        if not _API_VERSION.match(version):
            raise ValueError(f"api_version must look like '59.0', got {self.api_version!r}")
        object.__setattr__(self, "api_version", version)
        if self.login_url is not None:
            url = self.login_url.strip().rstrip("/")
            if not url.startswith("https://"):
                raise ValueError(f"login_url must be an https:// URL, got {self.login_url!r}")
            object.__setattr__(self, "login_url", url)
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout!r}")

    @property
    def effective_login_url(self) -> str:
        """The base URL logins go to: the override, else production or sandbox."""
        if self.login_url:
            return self.login_url
        return SANDBOX_LOGIN_URL if self.sandbox else PRODUCTION_LOGIN_URL

    @property
    def auth_mode(self) -> AuthMode:
        """Which login flow the present credentials select (most specific first)."""
        if self.consumer_key and self.private_key and self.username:
            return "jwt"
        if self.consumer_key and self.consumer_secret and self.username and self.password:
            return "oauth_password"
        if self.consumer_key and self.consumer_secret and not self.username:
            return "client_credentials"
        return "soap"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values that are set, so callers can mask or scrub them."""
        values = (getattr(self, name) for name in sorted(_SECRET_FIELDS))
        return tuple(value for value in values if value)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = ("'***'" if value else repr(value)) if f.name in _SECRET_FIELDS else repr(value)
            parts.append(f"{f.name}={shown}")
        return f"SalesforceSettings({', '.join(parts)})"

    __str__ = __repr__
