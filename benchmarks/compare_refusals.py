"""Which creates a duplicate rule refuses over REST and not in Bulk (and the reverse), and what each collided with.

    .venv/bin/python benchmarks/compare_refusals.py --events 100000

Runs ``bench_bulk``'s scenario on the emulator's ``minimal`` org (its Block rule matches Leads on phone and company)
once per write mode, from the same seeded org, then looks up, in each mode's final org, the Lead every refused
create matched: one of the org's existing Leads (which an update of the same run gave that phone and company), or a
Lead the run created. Duplicate rules compare a create only with records saved before its request (one Collections
call of 200 records; one internal Bulk batch of 10,000 rows), so the two modes can refuse different events.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_bulk import seed_org
from bench_memory import CUSTOM_FIELDS, write_events

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from rudder_sf_emulator import start_emulator
from rudder_sf_emulator.synthetic import email_for

MODES = ("rest", "bulk")


def _refused_creates(dead_letters: Path) -> dict[str, dict[str, Any]]:
    """E-mail -> event, for the events a duplicate rule refused."""
    refused = {}
    for letter in read_dead_letters(str(dead_letters), allow_missing=True):
        if letter["code"] == "duplicate_rule":
            event = letter["event"] if isinstance(letter["event"], dict) else json.loads(letter["event"])
            refused[event["traits"]["email"].lower()] = event
    return refused


def _phone_and_company(phone: Any, company: Any) -> tuple[str, str]:
    return str(phone or "").strip().lower(), str(company or "").strip().lower()


def _collisions(refused: set[str], events: dict[str, dict[str, Any]], org: list[dict[str, Any]], existing: set[str]):
    by_key: dict[tuple[str, str], list[str]] = {}
    for lead in org:
        by_key.setdefault(_phone_and_company(lead.get("Phone"), lead.get("Company")), []).append(
            str(lead.get("Email") or "").lower()
        )
    kinds: Counter[str] = Counter()
    for email in refused:
        traits = events[email]["traits"]
        company = traits["company"].get("name") if isinstance(traits.get("company"), dict) else traits.get("company")
        others = [e for e in by_key.get(_phone_and_company(traits.get("phone"), company), []) if e != email]
        if not others:
            kinds["no Lead with that phone and company"] += 1
        elif any(e in existing for e in others):
            kinds["an existing Lead, updated by this run"] += 1
        else:
            kinds["a Lead this run created"] += 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    n = args.events
    existing = {email_for(i) for i in range(0, int(n * 0.8), 2)} | {f"filler{i}@org.example" for i in range(n)}
    refused: dict[str, dict[str, dict[str, Any]]] = {}
    orgs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp, start_emulator(Path(tmp) / "emu", daily_limit=100_000_000) as emu:
        events = Path(tmp) / "events.jsonl.gz"
        write_events(events, n)
        env = dict(os.environ, AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT=emu.connection_json())
        for mode in MODES:
            emu.reset(schema=True, profile="minimal")
            for sobject in ("Lead", "Contact"):
                emu.declare_fields(sobject, CUSTOM_FIELDS)
            seed_org(emu, n)
            dead = Path(tmp) / f"dead-{mode}"
            bench = str(Path(__file__).with_name("bench_bulk.py"))
            done = subprocess.run(
                [sys.executable, bench, "--child", str(events), str(dead), mode, "1"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            refused[mode], orgs[mode] = _refused_creates(dead), emu.records("Lead")
            print(f"{mode}: the duplicate rule refused the creates of {len(refused[mode]):,} e-mails")
    for mode, other in (("bulk", "rest"), ("rest", "bulk")):
        only = set(refused[mode]) - set(refused[other])
        kinds = _collisions(only, refused[mode], orgs[mode], existing)
        print(f"refused in {mode} only: {len(only):,}; they matched: {dict(kinds)}")


if __name__ == "__main__":
    main()
