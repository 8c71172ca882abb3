"""The example DAGs, run through real Airflow (dag.test(), SQLite metadata) against the emulator over HTTPS."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime, timedelta, timezone

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.synthetic import SyntheticSpec, generate_lines

HOUR = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)
# dag.test() infers a manual run's data interval as the one that ends at logical_date: [HOUR, HOUR + 1h).
AFTER = HOUR + timedelta(hours=1)
EXPECTED_DAGS = {"rudder_sf_identify_sync", "rudder_sf_identify_from_sql", "rudder_sf_replay_dead_letters"}


def stage(folder, hour: datetime, events: int, people: int, **spec) -> list[str]:
    lines = list(generate_lines(SyntheticSpec(events=events, distinct_emails=people, start=hour, **spec)))
    target = folder / hour.strftime("%Y/%m/%d/%H")
    target.mkdir(parents=True)
    with gzip.open(target / "part-0000.jsonl.gz", "wt") as out:
        out.write("\n".join(lines) + "\n")
    return lines


def eligible_emails(lines: list[str]) -> set[str]:
    emails = set()
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(event, dict)
            and event.get("type") == "identify"
            and event.get("integrations", {}).get("Salesforce")
        ):
            email = (event.get("traits") or {}).get("email") if isinstance(event.get("traits"), dict) else None
            if isinstance(email, str):
                emails.add(email.lower())
    return emails


def test_every_example_dag_loads_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED_DAGS


def test_hourly_sync_shards_the_interval_and_writes_each_record_once(dagbag, airflow_env, crm, capsys):
    lines = stage(airflow_env["events"], HOUR, 1_200, 900)
    stage(airflow_env["events"], HOUR + timedelta(hours=1), 50, 50, seed=99)  # the next interval: not read
    dag = dagbag.get_dag("rudder_sf_identify_sync")

    run = dag.test(logical_date=AFTER, run_after=AFTER)

    assert run.state == "success"
    letters = list(read_dead_letters(str(airflow_env["dead-letters"])))
    assert letters and all("shard-" in letter["origin"] for letter in letters)
    refused = eligible_emails([json.dumps(letter["event"]) for letter in letters if letter["stage"] != "parse"])
    leads = crm.records("Lead")
    assert sorted(lead["Email"] for lead in leads) == sorted(eligible_emails(lines) - refused)
    assert len(list(airflow_env["shards"].rglob("shard-*.jsonl.gz"))) == 4
    assert "RUN SUMMARY" in capsys.readouterr().out


def test_a_rerun_of_the_same_interval_creates_nothing_new(dagbag, airflow_env, crm):
    stage(airflow_env["events"], HOUR, 400, 300)
    dag = dagbag.get_dag("rudder_sf_identify_sync")
    assert dag.test(logical_date=AFTER, run_after=AFTER).state == "success"
    first = {lead["Email"]: lead["Id"] for lead in crm.records("Lead")}
    assert dag.test(logical_date=AFTER, run_after=AFTER + timedelta(minutes=30)).state == "success"
    assert {lead["Email"]: lead["Id"] for lead in crm.records("Lead")} == first


def test_an_interval_with_no_files_is_an_empty_successful_run(dagbag, airflow_env, crm):
    assert dagbag.get_dag("rudder_sf_identify_sync").test(logical_date=AFTER, run_after=AFTER).state == "success"
    assert crm.records("Lead") == []


def test_sql_dag_syncs_its_interval_from_sqlite(dagbag, airflow_env, crm, tmp_path, monkeypatch):
    database = tmp_path / "staging.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE staged_events (id INTEGER PRIMARY KEY, received_at TEXT, event TEXT)")
        inside = list(generate_lines(SyntheticSpec(events=300, distinct_emails=200, start=HOUR, bad_fraction=0)))
        outside = list(
            generate_lines(SyntheticSpec(events=20, distinct_emails=20, seed=5, start=HOUR - timedelta(hours=1)))
        )
        rows = [((HOUR + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S"), line) for i, line in enumerate(inside)]
        rows += [((HOUR - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"), line) for line in outside]
        db.executemany("INSERT INTO staged_events (received_at, event) VALUES (?, ?)", rows)
    monkeypatch.setenv("AIRFLOW_CONN_RUDDER_EVENTS_DB", json.dumps({"conn_type": "sqlite", "host": str(database)}))

    run = dagbag.get_dag("rudder_sf_identify_from_sql").test(logical_date=AFTER, run_after=AFTER)

    assert run.state == "success"
    assert sorted(lead["Email"] for lead in crm.records("Lead")) == sorted(eligible_emails(inside))


def test_replay_dag_resends_dead_letters_after_the_fix(dagbag, airflow_env, crm):
    stage(airflow_env["events"], HOUR, 300, 300, bad_fraction=0.0)
    crm.declare_fields("Lead", {"plan__c": {"type": "string", "length": 2}})  # too short: every create fails
    sync = dagbag.get_dag("rudder_sf_identify_sync")
    assert sync.test(logical_date=AFTER, run_after=AFTER).state == "failed"
    refused = [
        letter for letter in read_dead_letters(str(airflow_env["dead-letters"])) if letter["stage"] == "salesforce"
    ]
    assert refused and {letter["code"] for letter in refused} == {"STRING_TOO_LONG"}

    crm.declare_fields("Lead", {"plan__c": {"type": "string", "length": 40}})  # the fix
    replay = dagbag.get_dag("rudder_sf_replay_dead_letters")
    run = replay.test(run_conf={"dead_letters": str(airflow_env["dead-letters"] / "rudder_sf_identify_sync")})

    assert run.state == "success"
    assert sorted(lead["Email"] for lead in crm.records("Lead")) == sorted(
        {letter["event"]["traits"]["email"] for letter in refused}
    )
