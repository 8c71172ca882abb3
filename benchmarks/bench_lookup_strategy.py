"""Look-ups that scale: SOQL ``IN`` chunks against one Bulk API 2.0 query job (export), API calls and wall time.

    .venv/bin/python benchmarks/bench_lookup_strategy.py                       # 50,000 e-mails, 100,000 Leads
    .venv/bin/python benchmarks/bench_lookup_strategy.py --emails 800000 --leads 1000000

Seeds ``--leads`` Leads in the emulator (not timed), then runs ``SalesforceWriter.lookup_leads`` for ``--emails``
e-mails of them three ways on the same data: forced ``in``, forced ``export`` and ``auto`` (which counts the rows
and picks the cheaper). API calls are the emulator's own counter; both strategies must return the same matches.

The export polls with the production schedule (first wait 1 s, doubled up to 15 s), so its wall time includes
those waits. The emulator produces a query job's rows at ``--rows-per-second`` (a setting of the emulator, not a
measurement of Salesforce; real query jobs often take longer to start); ``--memory`` also reports the peak of
Python allocations (tracemalloc) during each look-up.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import tracemalloc
from collections import Counter
from typing import Any

from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.settings import SalesforceSettings
from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter
from rudder_sf_emulator import EmulatorHandle, start_emulator
from rudder_sf_emulator.synthetic import email_for


def run(emulator: EmulatorHandle, settings: SalesforceSettings, emails: list[str], strategy: str, memory: bool):
    """One look-up on a fresh client; the emulator's counters are read before and after (its records stay)."""
    client = SalesforceClient(settings, api_reserve=0.0)
    writer = SalesforceWriter(client, lookup_strategy=strategy)  # type: ignore[arg-type]
    client.sf  # noqa: B018 - log in before the clock starts (a login is no API call)
    before = Counter(emulator.counters()["by_endpoint"])
    if memory:
        tracemalloc.start()
    started = time.perf_counter()
    found = writer.lookup_leads(emails)
    wall = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if memory else 0
    if memory:
        tracemalloc.stop()
    used = Counter(emulator.counters()["by_endpoint"]) - before
    assert sum(used.values()) == client.api_calls, "the client and the emulator count differently"
    client.close()
    return found, writer.lookups[0], used, wall, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=50_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rows-per-second", type=float, default=100_000.0)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # Every other seeded Lead is asked for, so matches are spread over the whole object.
    step = max(1, args.leads // max(1, args.emails))
    emails = [email_for(i) for i in range(0, args.leads, step)][: args.emails]
    with tempfile.TemporaryDirectory() as folder, start_emulator(folder, daily_limit=10_000_000) as emulator:
        leads: list[dict[str, Any]] = [
            {"Email": email_for(i), "LastName": "L", "Company": "C"} for i in range(args.leads)
        ]
        for start in range(0, len(leads), 50_000):
            emulator.seed("Lead", leads[start : start + 50_000])
        del leads
        emulator.set_faults(bulk_rows_per_second=args.rows_per_second)
        settings = SalesforceSettings(
            username=emulator.username,
            password=emulator.password,
            security_token=emulator.security_token,
            login_url=emulator.base_url,
            ca_bundle=emulator.ca_path,
        )
        print(f"{len(emails):,} e-mails looked up against {args.leads:,} Leads")
        print(f"{'strategy':<10} {'chose':<7} {'API calls':>9} {'by endpoint':<58} {'wall':>8}  notes")
        answers = {}
        for strategy in ("in", "export", "auto"):
            found, plan, used, wall, peak = run(emulator, settings, emails, strategy, args.memory)
            answers[strategy] = found
            by_endpoint = ", ".join(f"{k} {v}" for k, v in sorted(used.items()))
            notes = f"IN estimate {plan.in_calls}"
            if plan.export_calls is not None:
                notes += f", export estimate {plan.export_calls} over {plan.rows:,} rows"
            if args.memory:
                notes += f", peak Python allocations {peak / 1e6:.1f} MB"
            calls = sum(used.values())
            print(f"{strategy:<10} {plan.strategy:<7} {calls:>9,} {by_endpoint:<58} {wall:>7.2f}s  {notes}")
        assert answers["in"] == answers["export"] == answers["auto"], "the strategies disagree"
        assert len(answers["in"]) == len(emails)
        print(f"all three found the same {len(answers['in']):,} e-mails")


if __name__ == "__main__":
    main()
