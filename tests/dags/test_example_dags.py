"""The example DAGs, run through real Airflow (dag.test(), SQLite metadata) against the emulator over HTTPS."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime, timedelta, timezone

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from rudder_sf_emulator.synthetic import SyntheticSpec, generate_lines

from .conftest import DAGS

HOUR = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)
# dag.test() infers a manual run's data interval as the one that ends at logical_date: [HOUR, HOUR + 1h).
AFTER = HOUR + timedelta(hours=1)
EXPECTED_DAGS = {
    "rudder_sf_identify_sync",
    "rudder_sf_identify_from_sql",
    "rudder_sf_model_sync",
    "rudder_sf_replay_dead_letters",
}


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
    # Each shard task reads the original files: a dead letter points at the staged file and line, not a copy.
    assert letters and all("/2026/11/28/09/part-0000.jsonl.gz:" in letter["origin"] for letter in letters)
    refused = eligible_emails(
        [json.dumps(letter["event"]) for letter in letters if letter["stage"] not in ("parse", "schema")]
    )
    leads = crm.records("Lead")
    assert sorted(lead["Email"] for lead in leads) == sorted(eligible_emails(lines) - refused)
    assert not airflow_env["shards"].exists(), "no copies of the staged events are written anywhere"
    shard_tasks = [ti for ti in run.get_task_instances() if ti.task_id == "sync"]
    assert sorted(ti.map_index for ti in shard_tasks) == [0, 1, 2, 3]
    assert all(ti.state == "success" for ti in shard_tasks)
    assert "RUN SUMMARY" in capsys.readouterr().out


def test_a_rerun_of_the_same_interval_creates_nothing_new(dagbag, airflow_env, crm):
    stage(airflow_env["events"], HOUR, 400, 300)
    dag = dagbag.get_dag("rudder_sf_identify_sync")
    assert dag.test(logical_date=AFTER, run_after=AFTER).state == "success"
    first = {lead["Email"]: lead["Id"] for lead in crm.records("Lead")}
    assert dag.test(logical_date=AFTER, run_after=AFTER + timedelta(minutes=30)).state == "success"
    assert {lead["Email"]: lead["Id"] for lead in crm.records("Lead")} == first


def test_a_missing_events_base_fails_the_run_at_once(dagbag, airflow_env, crm):
    # Each of these runs has its own logical date: dag.test() reuses a run id, and so its task states, otherwise.
    when = AFTER + timedelta(hours=2)
    run = dagbag.get_dag("rudder_sf_identify_sync").test(logical_date=when, run_after=when)
    assert run.state == "failed"
    (sensor,) = [ti for ti in run.get_task_instances() if ti.task_id == "wait_for_files"]
    assert sensor.state == "failed" and sensor.try_number == 1  # not retried: a typo does not heal
    assert crm.counters()["logins"] == 0 and crm.records("Lead") == []


def test_an_empty_interval_succeeds_only_when_allowed(dagbag, airflow_env, crm):
    airflow_env["events"].mkdir()
    dag = dagbag.get_dag("rudder_sf_identify_sync")
    when = AFTER + timedelta(hours=3)
    run = dag.test(logical_date=when, run_after=when, run_conf={"allow_empty_interval": True})
    assert run.state == "success"
    assert crm.records("Lead") == []


def test_files_that_never_come_fail_the_run_after_the_wait(airflow_env, crm, monkeypatch):
    from airflow.models import DagBag

    airflow_env["events"].mkdir()
    monkeypatch.setenv("RUDDER_SF_WAIT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("RUDDER_SF_POKE_SECONDS", "1")
    dag = DagBag(dag_folder=str(DAGS)).get_dag("rudder_sf_identify_sync")
    when = AFTER + timedelta(hours=4)
    run = dag.test(logical_date=when, run_after=when)
    assert run.state == "failed"
    assert crm.counters()["logins"] == 0


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


def test_replay_dag_completes_records_after_the_admin_adds_the_field(dagbag, airflow_env, crm):
    lines = stage(airflow_env["events"], HOUR, 300, 300, bad_fraction=0.0)
    crm.declare_fields("Lead", {"plan__c": {"type": "string", "length": 2}})  # too short for "starter", "enterprise"
    sync = dagbag.get_dag("rudder_sf_identify_sync")
    assert sync.test(logical_date=AFTER, run_after=AFTER).state == "success"  # written without plan__c
    skipped = [letter for letter in read_dead_letters(str(airflow_env["dead-letters"])) if letter["stage"] == "schema"]
    assert skipped and {letter["code"] for letter in skipped} == {"fields_skipped"}
    assert all(
        [f["field"] for f in letter["fields"]] == ["plan__c"] and f["code"] == "string_too_long"
        for letter in skipped
        for f in letter["fields"]
    )
    incomplete = {letter["event"]["traits"]["email"] for letter in skipped}
    assert all(not lead.get("plan__c") for lead in crm.records("Lead") if lead["Email"] in incomplete)

    crm.declare_fields("Lead", {"plan__c": {"type": "string", "length": 40}})  # the fix
    replay = dagbag.get_dag("rudder_sf_replay_dead_letters")
    run = replay.test(run_conf={"dead_letters": str(airflow_env["dead-letters"] / "rudder_sf_identify_sync")})

    assert run.state == "success"
    leads = {lead["Email"]: lead for lead in crm.records("Lead")}
    assert sorted(leads) == sorted(eligible_emails(lines))  # nothing duplicated by the replay
    assert all(leads[email]["plan__c"] for email in incomplete)
    assert not list(airflow_env["shards"].rglob("*.jsonl*")), "the collected copy of the events is deleted"
