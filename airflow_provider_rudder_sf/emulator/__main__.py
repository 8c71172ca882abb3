"""``python -m airflow_provider_rudder_sf.emulator --port 8443 --data-dir DIR``: run the Salesforce emulator.

Prints one line ``EMULATOR READY base_url=https://127.0.0.1:PORT ca=DIR/cert.pem data_dir=DIR`` when serving.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from .app import Config
from .auth import Credentials
from .profiles import DEFAULT_PROFILE, PROFILES
from .server import build_server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m airflow_provider_rudder_sf.emulator", description=__doc__)
    p.add_argument("--port", type=int, default=8443, help="TCP port; 0 picks a free one (default 8443)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--data-dir", required=True, type=Path, help="certificate and SQLite records live here")
    p.add_argument("--username", default="demo@example.com")
    p.add_argument("--password", default="demo-password")
    p.add_argument("--security-token", default="DemoToken123", help='"" = no token needed')
    p.add_argument("--consumer-key", default="demo-consumer-key")
    p.add_argument("--consumer-secret", default="demo-consumer-secret")
    p.add_argument("--daily-limit", type=int, default=100_000, help="daily API requests (default 100000)")
    p.add_argument("--api-disabled", action="store_true", help="logins answer API_DISABLED_FOR_ORG")
    p.add_argument("--schema", type=Path, help="JSON file declaring custom fields / objects")
    p.add_argument(
        "--org-profile",
        choices=sorted(PROFILES),
        default=DEFAULT_PROFILE,
        help="which org to emulate: full (every field, nothing restricted; default) or minimal (a realistic"
        " Enterprise org as its integration user sees it)",
    )
    p.add_argument("--fail-every-nth", type=int, default=0, help="HTTP 503 on every Nth data request")
    p.add_argument(
        "--lock-row-ratio", type=float, default=0.0, help="share of collection records -> UNABLE_TO_LOCK_ROW"
    )
    p.add_argument("--expire-session-after", type=int, default=0, help="sessions die after K data calls")
    p.add_argument("--latency-ms", type=int, default=0, help="added latency per data request")
    p.add_argument("--seed", type=int, default=0, help="seed for the fault random generator")
    p.add_argument("--faults", type=json.loads, default={}, help='fault settings as JSON, e.g. {"fail_every_nth": 5}')
    p.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return p.parse_args(argv)


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
            args.username, args.password, args.security_token, args.consumer_key, args.consumer_secret
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
        f"EMULATOR READY base_url={server.app.base_url} ca={config.data_dir / 'cert.pem'} data_dir={config.data_dir}",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.app.store.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
