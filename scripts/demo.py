"""``make demo``: the main job end to end on this machine, no Salesforce account needed.

Starts the local Salesforce emulator over HTTPS as a realistic org (the ``minimal`` profile: no state/country
picklists, no multi-currency, fields hidden or read-only for the integration user, restricted picklists, duplicate
rules) with two of the three custom fields the events need, and a seeded CRM (existing Leads, a converted Lead with
its Contact). Stages three hours of realistic identify events as gzipped JSON Lines (duplicates per person, events
not for Salesforce, some bad lines), runs the ``rudder_sf_identify_sync`` DAG for each hour through real Airflow
(``airflow dags test``, SQLite metadata in a project-local AIRFLOW_HOME), then shows the fix for the skipped field:
the admin creates it and ``rudder_sf_replay_dead_letters`` completes the records.
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
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rudder_sf_emulator.client import start_emulator
from rudder_sf_emulator.synthetic import CUSTOM_FIELDS, SyntheticSpec, email_for, generate_lines

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

    with start_emulator(DEMO / "emulator", port=0, org_profile="minimal") as crm:
        seed_crm(crm)
        env = airflow_env(crm.connection_json(), events_base, dead_letters)
        prepare_airflow(env)
        for hour in range(HOURS):
            logical_date = FIRST_HOUR + timedelta(hours=hour)
            print(f"\n=== rudder_sf_identify_sync for {logical_date:%Y-%m-%d %H:00} UTC ===")
            print(run_dag(env, logical_date))
        leads, contacts = crm.records("Lead"), crm.records("Contact")
        calls = crm.counters()["api_calls"]
        sent = crm.requests()["writes"].get("Lead", {})
        letters = sorted(dead_letters.rglob("*.jsonl*"))
        codes = Counter(json.loads(line)["code"] for path in letters for line in lines_of(path))

        print("\n=== Salesforce (emulator, a realistic org) after the runs ===")
        print(f"Leads: {len(leads):,} ({EXISTING_LEADS + 1} existed before); Contacts: {len(contacts)}")
        print(f"Salesforce API calls for {staged:,} staged events: {calls} (describes included)")
        sent_fields = set().union(*(op["fields"] for op in sent.values()))
        refused_values = sum(1 for lead in leads if lead.get("Industry") == "Manufacturing")
        print(f"Requests that carried logins__c (the org lacks it): {'some' if 'logins__c' in sent_fields else 'none'}")
        print(f"Leads holding an Industry outside the org's restricted picklist: {refused_values}")
        print(f"Dead letters under {dead_letters}: " + ", ".join(f"{code} {n}" for code, n in codes.most_common()))
        print(
            "  fields_skipped lines are events that WERE written, without the fields the org lacks (logins__c) or "
            "refuses (a restricted Industry value); they are kept to complete those records once the org is fixed."
        )

        print("\n=== The fix: the admin creates logins__c, then the replay completes the records ===")
        crm.declare_fields("Lead", {"logins__c": {"type": "double"}})
        crm.declare_fields("Contact", {"logins__c": {"type": "double"}})
        before = sum(1 for lead in crm.records("Lead") if lead.get("logins__c") is not None)
        conf = json.dumps({"dead_letters": str(dead_letters / "rudder_sf_identify_sync"), "stages": ["schema"]})
        airflow(env, "dags", "test", "rudder_sf_replay_dead_letters", "--conf", conf)
        after = crm.records("Lead")
        filled = sum(1 for lead in after if lead.get("logins__c") is not None)
        print(f"Leads with logins__c: {before:,} before the replay, {filled:,} after; Leads in all: {len(after):,}")
        print(
            "Same command for your org: airflow dags trigger rudder_sf_replay_dead_letters --conf "
            '\'{"dead_letters": "<dead-letter location>/rudder_sf_identify_sync", "stages": ["schema"]}\''
        )
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
    # Like a real admin, who created two of the three custom fields the events carry: logins__c is missing.
    present = {name: spec for name, spec in CUSTOM_FIELDS.items() if name != "logins__c"}
    for sobject in ("Lead", "Contact"):
        crm.declare_fields(sobject, present)
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
    print(
        f"Seeded a realistic org (profile minimal, custom fields {', '.join(sorted(present))}; logins__c missing): "
        f"{EXISTING_LEADS} Leads, 1 converted Lead with its Contact"
    )


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
        AIRFLOW_VAR_RUDDER_SF_SHARDS_BASE=str(DEMO / "replay"),
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
    skipped = re.search(r"FIELDS SKIPPED.*\n((?:  .*\n?)+)", output)
    state = "success" if re.search(r"state=success|DagRunState.SUCCESS|success", output) else "see log"
    summary = match.group(0).rstrip() if match else "(no summary found)"
    if skipped:
        summary += "\n" + skipped.group(0).rstrip()
    return f"{summary}\n  full log: {log} ({state})"


def lines_of(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return [line for line in handle if line.strip()]


if __name__ == "__main__":
    main()
