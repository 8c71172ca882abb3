"""A ``requests.Session`` whose TLS trust cannot be overridden by the environment.

requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` replace a session's ``verify`` on every request
(``Session.merge_environment_settings``). Many hosts set those variables, so a configured ``ca_bundle`` would be
silently ignored. This session re-applies the configured bundle after the environment has been merged, keeps the
environment's proxies, never lets verification be switched off, and gives every request a default time-out
(simple-salesforce sets none).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from requests.sessions import _Settings


class PinnedTrustSession(requests.Session):
    """Session that always verifies TLS, against ``ca_bundle`` when given (for every request, login included)."""

    def __init__(self, *, ca_bundle: str | None = None, timeout: float | None = 60.0) -> None:
        super().__init__()
        if ca_bundle is not None and not os.path.isfile(ca_bundle):
            raise FileNotFoundError(f"ca_bundle {ca_bundle!r} is not a readable file; set it to a PEM file path")
        self.ca_bundle = ca_bundle
        self.default_timeout = timeout
        self.verify = ca_bundle if ca_bundle is not None else True

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None and self.default_timeout is not None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: MutableMapping[str, str] | None,
        stream: bool | None,
        verify: bool | str | None,
        cert: Any,
    ) -> _Settings:
        # A per-request verify=False would switch verification off: treat it as "not given".
        settings = super().merge_environment_settings(
            url,
            proxies,
            stream,
            None if verify is False else verify,
            cert,
        )
        if self.ca_bundle is not None:
            settings["verify"] = self.ca_bundle
        elif settings.get("verify") is False:
            settings["verify"] = True
        return settings
