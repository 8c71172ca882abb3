"""``make demo``: the main job end to end on this machine, no Salesforce account needed.

Starts the local Salesforce emulator over HTTPS with a seeded CRM (existing Leads, a converted Lead with its
Contact), stages three hours of realistic identify events as gzipped JSON Lines (duplicates per person, events not
for Salesforce, some bad lines), then runs the ``rudder_sf_identify_sync`` DAG for each hour through real Airflow
(``airflow dags test``, SQLite metadata in a project-local AIRFLOW_HOME) and prints what happened.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow_provider_rudder_sf.emulator.client import start_emulator
from airflow_provider_rudder_sf.synthetic import CUSTOM_FIELDS, SyntheticSpec, email_for, generate_lines

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
AIRFLOW_HOME = ROOT / ".airflow"
FIRST_HOUR = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)
HOURS = 3
EVENTS_PER_HOUR = 2_000
PEOPLE = 2_500
EXISTING_LEADS = 600


def main() -> None:
    started = time.monotonic()
    shutil.rmtree(DEMO, ignore_errors=True)
    events_base, dead_letters = DEMO / "events", DEMO / "dead-letters"
    staged = stage_events(events_base)
    print(f"Staged {staged:,} events for {HOURS} hours under {events_base}")

    with start_emulator(DEMO / "emulator", port=0) as crm:
        seed_crm(crm)
        env = airflow_env(crm.connection_json(), events_base, dead_letters)
        prepare_airflow(env)
        for hour in range(HOURS):
            logical_date = FIRST_HOUR + timedelta(hours=hour)
            print(f"\n=== rudder_sf_identify_sync for {logical_date:%Y-%m-%d %H:00} UTC ===")
            print(run_dag(env, logical_date))
        leads, contacts = crm.records("Lead"), crm.records("Contact")
        calls = crm.counters()["api_calls"]

    print("\n=== Salesforce (emulator) after the runs ===")
    print(f"Leads: {len(leads):,} ({EXISTING_LEADS + 1} existed before); Contacts: {len(contacts)}")
    print(f"Salesforce API calls for {staged:,} staged events: {calls}")
    letters = sorted(dead_letters.rglob("*.jsonl*"))
    print(f"Dead letters: {sum(count_lines(p) for p in letters)} events in {len(letters)} files under {dead_letters}")
    if letters:
        first = json.loads(first_line(letters[0]))
        print(f"  e.g. {first['stage']}/{first['code']}: {first['reason']}")
    print(f"\nDone in {time.monotonic() - started:.0f} s. Open the Airflow UI on the same data with: make airflow")


def stage_events(base: Path) -> int:
    total = 0
    for hour in range(HOURS):
        start = FIRST_HOUR + timedelta(hours=hour)
        folder = base / start.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True)
        spec = SyntheticSpec(events=EVENTS_PER_HOUR, distinct_emails=PEOPLE, seed=hour, start=start)
        with gzip.open(folder / "part-0000.jsonl.gz", "wt", encoding="utf-8") as out:
            for line in generate_lines(spec):
                out.write(line + "\n")
                total += 1
    return total


def seed_crm(crm) -> None:  # type: ignore[no-untyped-def]
    for sobject in ("Lead", "Contact"):
        crm.declare_fields(sobject, CUSTOM_FIELDS)
    crm.seed(
        "Lead",
        [{"Email": email_for(i), "LastName": f"Existing{i}", "Company": "Seeded Co"} for i in range(EXISTING_LEADS)],
    )
    (contact_id,) = crm.seed("Contact", [{"Email": email_for(PEOPLE - 1), "LastName": "Converted"}])
    crm.seed(
        "Lead",
        [
            {
                "Email": email_for(PEOPLE - 1),
                "LastName": "Converted",
                "Company": "Seeded Co",
                "IsConverted": True,
                "ConvertedContactId": contact_id,
            }
        ],
    )
    print(f"Seeded the CRM: {EXISTING_LEADS} Leads, 1 converted Lead with its Contact")


def airflow_env(connection_json: str, events_base: Path, dead_letters: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(AIRFLOW_HOME),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT=connection_json,
        AIRFLOW_VAR_RUDDER_SF_EVENTS_BASE=str(events_base),
        AIRFLOW_VAR_RUDDER_SF_DEAD_LETTER=str(dead_letters),
        AIRFLOW_VAR_RUDDER_SF_SHARDS_BASE=str(DEMO / "shards"),
    )
    return env


def airflow(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"airflow {' '.join(args)} failed with exit code {done.returncode}")
    return done.stdout + done.stderr


def prepare_airflow(env: dict[str, str]) -> None:
    AIRFLOW_HOME.mkdir(exist_ok=True)
    airflow(env, "db", "migrate")
    airflow(env, "pools", "set", "salesforce_api", "4", "Salesforce API calls")
    print(f"Airflow metadata DB ready in {AIRFLOW_HOME} (SQLite); pool salesforce_api has 4 slots")


def run_dag(env: dict[str, str], logical_date: datetime) -> str:
    output = airflow(env, "dags", "test", "rudder_sf_identify_sync", logical_date.isoformat())
    log = DEMO / "logs" / f"dags-test-{logical_date:%Y%m%dT%H}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output)
    match = re.search(r"RUN SUMMARY\n((?:  .*\n?)+)", output)
    state = "success" if re.search(r"state=success|DagRunState.SUCCESS|success", output) else "see log"
    summary = match.group(0).rstrip() if match else "(no summary found)"
    return f"{summary}\n  full log: {log} ({state})"


def first_line(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return str(handle.readline())


def count_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return sum(1 for _ in handle)


if __name__ == "__main__":
    main()
