"""``rudder-sf-emulator --port $port --data-dir DIR`` (or ``python -m rudder_sf_emulator``): run the emulator.

A local HTTPS Salesforce org (SOAP/OAuth login, SOQL, sObjects, describe, Collections, Composite, Bulk 2.0) for
the demo and the tests. Prints one line ``EMULATOR READY base_url=https://127.0.0.1:PORT ca=DIR/cert.pem
data_dir=DIR`` when serving; ``DIR/cert.pem`` is the self-signed certificate clients must trust.

Login (defaults; each has an option below)
    username ``$username``, password ``$password``, security token ``$security_token`` (SOAP login sends
    password + token; ``--security-token ""`` turns the token off), OAuth 2.0 password flow at
    ``/services/oauth2/token`` with consumer key ``$consumer_key`` and secret ``$consumer_secret``.

Org profiles (``--org-profile``, ``profiles.py``)
    ``full`` (default): every standard field, all writable, picklists listed but never restricted, no duplicate
    rules. ``minimal``: a realistic Enterprise org as its integration user sees it: no State/Country picklists,
    multi-currency, divisions, data protection, record types, middle names/suffixes or Data.com fields; Lead
    ``AnnualRevenue`` and Contact ``Birthdate`` hidden by field-level security; Lead ``Rating`` and Contact
    ``AssistantPhone`` read-only; restricted picklists (``GeocodeAccuracy``, ``MailingGeocodeAccuracy``, Lead
    ``Industry`` = Technology/Finance/Healthcare/Retail, ``Salutation``); two duplicate rules on Lead (Alert on
    a Contact with the same email, Block on a Lead with the same phone and company).

Custom fields (``--schema FILE``)
    JSON declaring fields and custom objects, applied on every start and on every profile, e.g.::

        {"object": "Lead", "fields": {
            "Plan_Tier__c": {"type": "picklist", "values": ["Free", "Pro"], "restricted": true},
            "Ext_Id__c": {"type": "string", "length": 40, "externalId": true},
            "Logins__c": {"type": "double", "precision": 8, "scale": 0}}}

    Keys of a field: ``type``, ``length``, ``precision``/``scale``/``digits``, ``label``, ``nillable``,
    ``createable``, ``updateable``, ``values`` + ``restricted``, ``externalId``, ``unique``, ``caseSensitive``,
    ``hidden``, ``referenceTo`` (details: ``schema.py``).

From Python
    ``with start_emulator(data_dir, org_profile="minimal", latency_ms=50) as emu:`` runs this command in a
    subprocess (keyword arguments = the options below in snake_case) and yields an ``EmulatorHandle``
    (``base_url``, ``ca_path``, ``connection_json()``, ``reset(schema=, profile=)``, ``profile()``, ``seed()``,
    ``records()``, ``counters()``, ``requests()``, ``duplicate_rules()``, ``set_duplicate_rules()``,
    ``set_faults()``, ``declare_fields()``, ``settings()``, ``expire_sessions()``, ``simple_salesforce()``).

Airflow connection for a running emulator
    airflow connections add rudder_salesforce_default --conn-json '{"conn_type": "rudder_salesforce",
    "host": "https://$host:$port", "login": "$username", "password": "$password",
    "extra": {"security_token": "$security_token", "ca_bundle": "DIR/cert.pem"}}'

Admin API (no auth, not counted): ``/__admin/reset``, ``profile``, ``records/<Obj>``, ``counters``,
``requests``, ``faults``, ``jobs``, ``schema``, ``duplicate-rules``, ``settings``, ``sessions/expire`` (table:
``admin.py``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from string import Template

from .auth import DEFAULT_CREDENTIALS, Credentials
from .org import DEFAULT_DAILY_LIMIT, Config
from .profiles import DEFAULT_PROFILE, PROFILES
from .server import DEFAULT_HOST, build_server

DEFAULT_PORT = 8443  # the command's; from Python (start_emulator, build_server) the default is 0, a free port


def build_parser() -> argparse.ArgumentParser:
    # the docstring names the defaults as $placeholders (a literal dollar is $$): their values are stated once, in
    # the modules that own them
    defaults = {"host": DEFAULT_HOST, "port": DEFAULT_PORT, **asdict(DEFAULT_CREDENTIALS)}
    p = argparse.ArgumentParser(
        prog="rudder-sf-emulator",
        description=Template(__doc__ or "").substitute(defaults),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port; 0 picks a free one (default %(default)s)")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    p.add_argument("--data-dir", required=True, type=Path, help="certificate and SQLite records live here")
    login = DEFAULT_CREDENTIALS
    p.add_argument("--username", default=login.username, help="login user name (default %(default)s)")
    p.add_argument("--password", default=login.password, help="login password (default %(default)s)")
    p.add_argument(
        "--security-token",
        default=login.security_token,
        help='security token appended to the password on SOAP login (default %(default)s; "" = none needed)',
    )
    p.add_argument("--consumer-key", default=login.consumer_key, help="OAuth client id (default %(default)s)")
    p.add_argument("--consumer-secret", default=login.consumer_secret, help="OAuth client secret (default %(default)s)")
    p.add_argument(
        "--daily-limit", type=int, default=DEFAULT_DAILY_LIMIT, help="daily API request allowance (default %(default)s)"
    )
    p.add_argument("--api-disabled", action="store_true", help="logins and data calls answer API_DISABLED_FOR_ORG")
    p.add_argument("--schema", type=Path, help="JSON file declaring custom fields and objects (format above)")
    p.add_argument(
        "--org-profile",
        choices=sorted(PROFILES),
        default=DEFAULT_PROFILE,
        help="which org to emulate: full (every field, nothing restricted; default) or minimal (a realistic"
        " Enterprise org as its integration user sees it)",
    )
    p.add_argument("--fail-every-nth", type=int, default=0, help="HTTP 503 on every Nth data request")
    p.add_argument(
        "--lock-row-ratio",
        type=float,
        default=0.0,
        help="share of Collections records answered UNABLE_TO_LOCK_ROW (0..1)",
    )
    p.add_argument(
        "--expire-session-after", type=int, default=0, help="sessions expire after this many data calls (0 = never)"
    )
    p.add_argument(
        "--latency-ms", type=int, default=0, help="milliseconds added to every data request (outside the org lock)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the fault random generator")
    p.add_argument("--faults", type=json.loads, default={}, help='fault settings as JSON, e.g. {"fail_every_nth": 5}')
    p.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    faults = {
        "fail_every_nth": args.fail_every_nth,
        "lock_row_ratio": args.lock_row_ratio,
        "expire_session_after": args.expire_session_after,
        "latency_ms": args.latency_ms,
        "seed": args.seed,
        **args.faults,
    }
    config = Config(
        data_dir=args.data_dir.resolve(),
        credentials=Credentials(
            username=args.username,
            password=args.password,
            security_token=args.security_token,
            consumer_key=args.consumer_key,
            consumer_secret=args.consumer_secret,
        ),
        daily_limit=args.daily_limit,
        api_disabled=args.api_disabled,
        faults=faults,
        schema_file=args.schema,
        org_profile=args.org_profile,
    )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    server = build_server(config, args.host, args.port, args.verbose)
    signal.signal(signal.SIGTERM, _stop)
    print(
        f"EMULATOR READY base_url={server.org.base_url} ca={config.data_dir / 'cert.pem'} data_dir={config.data_dir}",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.org.store.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
