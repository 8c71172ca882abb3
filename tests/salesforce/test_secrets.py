"""Secrets (password, security token, consumer secret, session ids) never reach a log line or an exception."""

from __future__ import annotations

import logging

import pytest
from sf_writes import lead_create, lead_creates

from airflow_provider_rudder_sf.salesforce.errors import SalesforceApiError
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter

LOGGERS = ("", "airflow_provider_rudder_sf", "simple_salesforce", "urllib3", "requests")


def test_no_secret_in_any_log_line_or_exception(salesforce_emulator, make_client, make_settings, caplog):
    h = salesforce_emulator
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    session_ids: list[str] = []
    messages: list[str] = []

    # a full run with faults: session expiry, 503s and row locks
    h.set_faults(expire_session_after=3, fail_every_nth=4, lock_row_ratio=0.1)
    client = make_client(on_session_id=session_ids.append)
    writer = SalesforceWriter(client)
    writer.lookup_leads([f"lead{n}@example.com" for n in range(50)])
    report = writer.write([*lead_creates(450), lead_create(999, email="broken")])
    assert report.created == 450 and report.failed == 1
    messages += [repr(report)]

    # OAuth login, then failing logins and a refused session
    h.set_faults(expire_session_after=0, fail_every_nth=0, lock_row_ratio=0)
    oauth = make_client(
        make_settings(consumer_key=h.consumer_key, consumer_secret=h.consumer_secret), on_session_id=session_ids.append
    )
    oauth.query("SELECT Id FROM Lead LIMIT 1")
    failing = [
        make_settings(password="Wr0ng-Pa55word!"),
        make_settings(security_token=None),
        make_settings(consumer_key=h.consumer_key, consumer_secret="Wr0ng-Secret-777"),
        make_settings(ca_bundle=None),
    ]
    for settings in failing:
        with pytest.raises(SalesforceApiError) as info:
            make_client(settings).query("SELECT Id FROM Lead")
        messages += [str(info.value), repr(info.value), repr(settings)]
    refusing = make_client(on_session_id=lambda sid: (session_ids.append(sid), h.expire_sessions()))
    with pytest.raises(SalesforceApiError) as info:
        refusing.query("SELECT Id FROM Lead")
    messages += [str(info.value), repr(info.value)]

    assert len(session_ids) >= 4
    secrets = [h.password, h.security_token, h.consumer_secret, "Wr0ng-Pa55word!", "Wr0ng-Secret-777", *session_ids]
    secrets += [h.password + h.security_token]
    records = caplog.records
    assert any(r.levelno == logging.DEBUG for r in records)
    assert any(r.name.startswith("urllib3") for r in records)
    everything = "\n".join([caplog.text, *(r.getMessage() for r in records), *messages])
    for secret in secrets:
        assert secret not in everything
