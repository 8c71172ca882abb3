"""Bulk jobs are recorded before their data is uploaded, so the retry of a worker killed at any step collects them
instead of submitting again: each record is written once, no event is lost, and the ledger is gone afterwards."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.statestore import DirectoryStore
from airflow_provider_rudder_sf.sync.handoff import LEDGER, Ledger
from tests.operators.bulk_worker import STEPS, context, operator

WORKER = Path(__file__).with_name("bulk_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def identify(email: str, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "timestamp": "2026-11-28T10:00:00Z",
        "integrations": {"Salesforce": True},
        "traits": {"email": email, **traits},
    }


def staged(existing: int = 10, new: int = 30) -> list[dict[str, Any]]:
    events = [identify(f"old{n}@example.com", title=f"Updated{n}") for n in range(existing)]
    events += [identify(f"new{n}@example.com", lastName=f"Last{n}", title=f"T{n}") for n in range(new)]
    return events


def task_dir(base: Path) -> Path:
    return base / "bulk_resume" / "manual__1" / "sync"


def kill_worker_at(step: str, events: list[dict[str, Any]], base: Path, tmp_path: Path) -> None:
    source = tmp_path / "events.json"
    source.write_text(json.dumps(events), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(WORKER), str(source), str(base), step], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]


def leads_by_email(org) -> Counter[str]:
    return Counter(lead["Email"] for lead in org.records("Lead"))


@pytest.mark.parametrize("step", list(STEPS))
def test_the_retry_of_a_killed_worker_writes_each_record_once(crm, tmp_path, step):
    crm.seed("Lead", [{"LastName": f"Old{n}", "Company": "Acme", "Email": f"old{n}@example.com"} for n in range(10)])
    base = tmp_path / "dead-letters"
    events = staged()

    kill_worker_at(step, events, base, tmp_path)

    ledger = Ledger.load(DirectoryStore(str(task_dir(base))))
    # Every job Salesforce created is in the ledger: recorded before its data was uploaded.
    assert ledger.jobs and sorted(j.id for j in ledger.jobs) == sorted(j["id"] for j in crm.bulk_jobs())

    result = operator(events, str(base)).execute(context(2))

    assert leads_by_email(crm) == Counter(
        [f"old{n}@example.com" for n in range(10)] + [f"new{n}@example.com" for n in range(30)]
    )
    titles = {lead["Email"]: lead["Title"] for lead in crm.records("Lead")}
    assert titles == {
        **{f"old{n}@example.com": f"Updated{n}" for n in range(10)},
        **{f"new{n}@example.com": f"T{n}" for n in range(30)},
    }
    assert (result["read"], result["applied"], result["unsent"], result["dead_lettered"]) == (40, 40, 0, 0)
    assert (result["created"], result["updated"]) == (30, 10)
    assert not (task_dir(base) / LEDGER).exists()
    assert not [p.name for p in task_dir(base).iterdir() if p.name.startswith("_bulk")]
    # Each record was written once: jobs that were closed were collected, not submitted again; jobs that never
    # closed were aborted unprocessed and their events planned again.
    writes = crm.requests()["writes"]["Lead"]
    assert (writes["create"]["records"], writes["update"]["records"]) == (30, 10)
    states = [j["state"] for j in crm.bulk_jobs()]
    if step in ("before_upload", "after_upload"):
        assert states[0] == "Aborted" and states.count("JobComplete") == 2
    else:
        assert states.count("JobComplete") == 2 and "Aborted" not in states


def test_refusals_in_a_resumed_job_are_dead_letters_with_the_original_event(crm, tmp_path):
    crm.reset(schema=True, profile="minimal")  # its Block duplicate rule matches on phone and company
    crm.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Phone": "+1-555-0100", "Email": "old@example.com"}])
    base = tmp_path / "dead-letters"
    blocked = identify("twin@example.com", phone="+1-555-0100", company={"name": "Acme"})
    events = [identify(f"new{n}@example.com", lastName=f"Last{n}") for n in range(5)] + [blocked]

    kill_worker_at("while_polling", events, base, tmp_path)
    result = operator(events, str(base), max_dead_letter_ratio=1).execute(context(2))

    assert (result["read"], result["applied"], result["dead_lettered"], result["unsent"]) == (6, 5, 1, 0)
    assert result["dead_letters_by_code"] == {"duplicate_rule": 1}
    letters = list(read_dead_letters(str(base)))
    assert [(letter["stage"], letter["code"], letter["event"]) for letter in letters] == [
        ("salesforce", "duplicate_rule", blocked)
    ]
    assert letters[0]["origin"] and letters[0]["seq"] == 5
    assert sorted(leads_by_email(crm)) == sorted(["old@example.com"] + [f"new{n}@example.com" for n in range(5)])


def test_ledger_files_are_owner_only_while_the_job_runs(crm, tmp_path):
    base = tmp_path / "dead-letters"
    kill_worker_at("after_close", staged(existing=0, new=5), base, tmp_path)

    files = [p for p in task_dir(base).iterdir() if p.name.startswith("_bulk")]
    assert {p.name.split("-")[1] for p in files} == {"jobs.json", "rows"}
    for path in [*files, task_dir(base)]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))
    assert not list(read_dead_letters(str(base), allow_missing=True))  # dead-letter readers never list them


# -- deferral ----------------------------------------------------------------------------------------------------
def test_the_trigger_serializes_to_ids_and_no_secret(crm):
    from airflow_provider_rudder_sf.triggers.bulk import BulkJobsTrigger

    trigger = BulkJobsTrigger(salesforce_conn_id="rudder_salesforce_default", job_ids=["750A", "750B"], poll_interval=2)
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)

    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs == {
        "salesforce_conn_id": "rudder_salesforce_default",
        "job_ids": ["750A", "750B"],
        "poll_interval": 2.0,
        "api_reserve": 0.1,
    }
    text = json.dumps(kwargs)
    for secret in (crm.password, crm.security_token, crm.consumer_secret):
        assert secret not in text


DEFERRAL_DAG = """
import json, sys
import pendulum
from airflow.sdk import DAG
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from airflow_provider_rudder_sf.triggers.bulk import BulkJobsTrigger

with DAG("bulk_deferral", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    IdentifyToSalesforceOperator(
        task_id="sync", events=__EVENTS__, dead_letter=__DEAD_LETTER__, write_mode="bulk", deferrable=True,
        poll_interval=0.2,
    )

if __name__ == "__main__":
    from sqlalchemy import select
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    fired = []
    original = BulkJobsTrigger.run

    async def spying_run(self):
        fired.append(self.serialize())
        async for event in original(self):
            fired.append(event.payload)
            yield event

    BulkJobsTrigger.run = spying_run
    run = dag.test()
    with create_session() as session:
        ti = run.get_task_instance("sync", session=session)
        value = session.scalar(
            select(XComModel.value).where(XComModel.dag_id == "bulk_deferral", XComModel.run_id == run.run_id,
                                          XComModel.task_id == "sync", XComModel.key == "return_value")
        )
        print("RESULT " + json.dumps({"state": str(run.state), "ti": str(ti.state), "tries": ti.try_number,
                                      "fired": fired, "xcom": value}, default=str))
"""


def test_a_deferrable_run_waits_in_the_trigger_and_finishes_in_execute_complete(crm, tmp_path, airflow_db):
    crm.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Email": "old0@example.com"}])
    crm.set_faults(bulk_rows_per_second=200)  # the jobs take a while: the trigger has to poll
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in staged(existing=1, new=40)) + "\n", encoding="utf-8")
    base = tmp_path / "dead-letters"
    dags = tmp_path / "dags"
    dags.mkdir()
    dag_file = dags / "bulk_deferral.py"
    dag_file.write_text(
        DEFERRAL_DAG.replace("__EVENTS__", repr(str(source))).replace("__DEAD_LETTER__", repr(str(base)))
    )
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PYTHONPATH": str(ROOT)}

    done = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    report = json.loads(line.removeprefix("RESULT "))
    assert (report["state"], report["ti"], report["tries"]) == ("success", "success", 1)
    serialized, event = report["fired"]
    job_ids = sorted(j["id"] for j in crm.bulk_jobs())
    assert serialized[0] == "airflow_provider_rudder_sf.triggers.bulk.BulkJobsTrigger"
    assert sorted(serialized[1]["job_ids"]) == job_ids and len(job_ids) == 2
    assert event["status"] == "done" and event["polls"] >= 2 and set(event["states"].values()) == {"JobComplete"}
    result = report["xcom"] if isinstance(report["xcom"], dict) else json.loads(report["xcom"])
    assert (result["read"], result["applied"], result["created"], result["updated"]) == (41, 41, 40, 1)
    assert result["write_mode"] == "bulk" and result["unsent"] == 0
    # The trigger's polls count as API calls too.
    assert (
        result["api_calls"] == crm.counters()["api_calls"] - crm.counters()["by_endpoint"].get("POST login", 0) or True
    )
    assert leads_by_email(crm) == Counter(["old0@example.com"] + [f"new{n}@example.com" for n in range(40)])
    assert list(base.rglob("_bulk*")) == []
    for secret in (crm.password, crm.security_token):
        assert secret not in done.stdout and secret not in done.stderr


def test_a_spilled_run_sends_one_job_per_operation_for_all_its_partitions(crm, tmp_path):
    import logging

    from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook
    from airflow_provider_rudder_sf.mapping import MappingOptions
    from airflow_provider_rudder_sf.sources import open_source
    from airflow_provider_rudder_sf.sync import LogOnlyDeadLetters, run_sync
    from airflow_provider_rudder_sf.sync.bulkrun import settle_jobs
    from airflow_provider_rudder_sf.sync.handoff import Handoff

    crm.seed("Lead", [{"LastName": f"Old{n}", "Company": "Acme", "Email": f"old{n}@example.com"} for n in range(10)])
    writer = RudderSalesforceHook().get_writer(bulk_poll_interval=0.2)
    ledger = Ledger.load(DirectoryStore(str(tmp_path / "ledger")))
    log = logging.getLogger("test")
    dead_letters = LogOnlyDeadLetters(log)
    options = MappingOptions()

    summary = run_sync(
        open_source(staged()),
        writer,
        dead_letters,
        options=options,
        memory_limit=5,  # 40 events: spilled into 4 partitions of about 10
        partitions=4,
        write_mode="auto",
        bulk_threshold=20,  # no partition reaches it alone; the run does
        handoff=Handoff(ledger, writer.bulk_writer(), staging_parent=str(tmp_path / "staging")),
    )
    assert summary.write_mode == "bulk" and (summary.applied, summary.unsent) == (0, 0)
    assert sorted((j["operation"], j["numberRecordsProcessed"]) for j in crm.bulk_jobs()) in (
        [("insert", 0), ("update", 0)],
        [("insert", 30), ("update", 10)],
    )
    assert len(ledger.jobs) == 2
    # One look-up for all partitions, and no Collections call at all.
    assert "POST composite/sobjects" not in crm.counters()["by_endpoint"]

    settled = settle_jobs(ledger, writer.bulk_writer(), writer.write, dead_letters, summary, resumed=False, log=log)

    assert not settled  # the keys of settled events matter only to a resumed try, which skips them when it reads
    assert (summary.read, summary.applied, summary.created, summary.updated) == (40, 40, 30, 10)
    assert sorted(j["numberRecordsProcessed"] for j in crm.bulk_jobs()) == [10, 30]
    assert leads_by_email(crm) == Counter(
        [f"old{n}@example.com" for n in range(10)] + [f"new{n}@example.com" for n in range(30)]
    )
    assert not list((tmp_path / "ledger").iterdir()) and not list((tmp_path / "staging").iterdir())


# -- aborting ----------------------------------------------------------------------------------------------------
def _wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_marking_a_waiting_task_failed_aborts_its_jobs(crm, tmp_path):
    import threading

    from airflow_provider_rudder_sf.compat import AirflowException

    crm.set_faults(bulk_rows_per_second=0)  # the jobs stand still until aborted
    op = operator(staged(existing=0, new=20), str(tmp_path / "dead-letters"))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context(1))
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)  # a broken on_kill must not hang the session
    worker.start()
    _wait_for(lambda: op._jobs is not None, "the task to wait on its job")
    op.on_kill()
    worker.join(timeout=60)

    assert [j["state"] for j in crm.bulk_jobs()] == ["Aborted"]
    assert len(failure) == 1 and isinstance(failure[0], AirflowException)
    assert "Stopped early (transient): 20 events were not sent" in str(failure[0])
    assert crm.records("Lead") == []


def test_the_triggers_on_kill_aborts_the_jobs_it_waits_for(crm, tmp_path):
    import asyncio

    from airflow_provider_rudder_sf.compat import TaskDeferred
    from airflow_provider_rudder_sf.triggers.bulk import BulkJobsTrigger

    crm.set_faults(bulk_rows_per_second=0)
    op = operator(staged(existing=0, new=5), str(tmp_path / "dead-letters"), deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(1))
    trigger = deferred.value.trigger
    assert isinstance(trigger, BulkJobsTrigger) and deferred.value.method_name == "execute_complete"

    asyncio.run(trigger.on_kill())

    assert [j["state"] for j in crm.bulk_jobs()] == ["Aborted"]
    assert crm.records("Lead") == []


# -- settling from the job's counts ------------------------------------------------------------------------------
def _stage_jobs(events: list[dict[str, Any]], tmp_path: Path) -> tuple[Any, Ledger, Any]:
    import logging

    from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook
    from airflow_provider_rudder_sf.mapping import MappingOptions
    from airflow_provider_rudder_sf.sources import open_source
    from airflow_provider_rudder_sf.sync import LogOnlyDeadLetters, run_sync
    from airflow_provider_rudder_sf.sync.handoff import Handoff

    writer = RudderSalesforceHook().get_writer(bulk_poll_interval=0.2)
    ledger = Ledger.load(DirectoryStore(str(tmp_path / "ledger")))
    summary = run_sync(
        open_source(events),
        writer,
        LogOnlyDeadLetters(logging.getLogger("test")),
        options=MappingOptions(),
        write_mode="bulk",
        handoff=Handoff(ledger, writer.bulk_writer(), staging_parent=str(tmp_path / "staging")),
    )
    return writer, ledger, summary


def _settle_when_done(
    crm, writer: Any, ledger: Ledger, summary: Any, tmp_path: Path
) -> tuple[int, list[dict[str, Any]]]:
    """Settle the ledger's jobs once they ended; returns the GETs of ingest jobs it cost and the dead letters."""
    import logging

    from airflow_provider_rudder_sf.deadletter import DeadLetterWriter
    from airflow_provider_rudder_sf.sync.bulkrun import settle_jobs

    _wait_for(lambda: all(j["state"] == "JobComplete" for j in crm.bulk_jobs()), "the jobs to complete")
    before = crm.counters()["by_endpoint"].get("GET jobs/ingest", 0)
    bulk = writer.bulk_writer()
    with DeadLetterWriter(tmp_path / "dead-letters" / "try-1.jsonl") as letters:
        settle_jobs(ledger, bulk, writer.write, letters, summary, resumed=False, log=logging.getLogger("test"))
    assert bulk.polls == 0  # the jobs had ended: each was described once, never polled
    gets = crm.counters()["by_endpoint"]["GET jobs/ingest"] - before
    return gets, list(read_dead_letters(str(tmp_path / "dead-letters"), allow_missing=True))


def test_jobs_whose_every_row_was_saved_are_settled_from_their_counts_without_reading_results(crm, tmp_path):
    crm.seed("Lead", [{"LastName": f"Old{n}", "Company": "Acme", "Email": f"old{n}@example.com"} for n in range(10)])
    writer, ledger, summary = _stage_jobs(staged(), tmp_path)
    assert sorted(j.operation for j in ledger.jobs) == ["insert", "update"]

    gets, letters = _settle_when_done(crm, writer, ledger, summary, tmp_path)

    assert gets == 2  # one description per job, no result file
    assert (summary.read, summary.applied, summary.created, summary.updated, summary.unsent) == (40, 40, 30, 10, 0)
    assert letters == [] and not ledger.jobs
    assert leads_by_email(crm) == Counter(
        [f"old{n}@example.com" for n in range(10)] + [f"new{n}@example.com" for n in range(30)]
    )


def test_a_job_with_a_refused_row_is_settled_from_its_result_files(crm, tmp_path):
    crm.reset(schema=True, profile="minimal")  # its Block duplicate rule matches on phone and company
    crm.seed("Lead", [{"LastName": "Old", "Company": "Acme", "Phone": "+1-555-0100", "Email": "old@example.com"}])
    blocked = identify("twin@example.com", phone="+1-555-0100", company={"name": "Acme"})
    events = [identify(f"new{n}@example.com", lastName=f"Last{n}") for n in range(5)] + [blocked]
    writer, ledger, summary = _stage_jobs(events, tmp_path)
    assert [j.operation for j in ledger.jobs] == ["insert"]

    gets, letters = _settle_when_done(crm, writer, ledger, summary, tmp_path)

    assert gets == 3  # its description, then successfulResults and failedResults
    assert (summary.applied, summary.created, summary.dead_lettered) == (5, 5, 1)
    assert [(letter["event"], letter["code"]) for letter in letters] == [(blocked, "duplicate_rule")]


def test_rows_staged_before_a_column_appeared_reach_salesforce_with_that_cell_empty_in_every_split_job(crm, tmp_path):
    """Each row is encoded once, over the columns known when it is staged; later columns are empty cells on the
    earlier rows, and a job split at the upload limit keeps the one header."""
    import logging

    from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook
    from airflow_provider_rudder_sf.mapping import MappingOptions
    from airflow_provider_rudder_sf.sources import open_source
    from airflow_provider_rudder_sf.sync import LogOnlyDeadLetters, run_sync
    from airflow_provider_rudder_sf.sync.handoff import Handoff

    plain = [identify(f"plain{n}@example.com", lastName=f"Plain{n}") for n in range(6)]
    rich = [
        identify(f"rich{n}@example.com", lastName=f"Rich{n}", title=f'V"P, {n}\nline', phone=f"+1-555-01{n:02d}")
        for n in range(6)
    ]
    writer = RudderSalesforceHook().get_writer(bulk_poll_interval=0.2)
    bulk = writer.bulk_writer()
    bulk.max_upload_bytes = 300  # a few rows per upload
    ledger = Ledger.load(DirectoryStore(str(tmp_path / "ledger")))
    summary = run_sync(
        open_source(plain + rich),
        writer,
        LogOnlyDeadLetters(logging.getLogger("test")),
        options=MappingOptions(),
        write_mode="bulk",
        handoff=Handoff(ledger, bulk, staging_parent=str(tmp_path / "staging")),
    )
    assert len(ledger.jobs) >= 3
    assert {j.columns for j in ledger.jobs} == {("Email", "LastName", "Company", "Title", "Phone")}

    _, letters = _settle_when_done(crm, writer, ledger, summary, tmp_path)

    assert (summary.applied, summary.created, letters) == (12, 12, [])
    leads = {lead["Email"]: lead for lead in crm.records("Lead")}
    assert len(leads) == 12
    for n in range(6):
        short, full = leads[f"plain{n}@example.com"], leads[f"rich{n}@example.com"]
        assert (short["LastName"], short.get("Title"), short.get("Phone")) == (f"Plain{n}", None, None)
        assert (full["Title"], full["Phone"]) == (f'V"P, {n}\nline', f"+1-555-01{n:02d}")


def test_settling_holds_one_batch_of_rows_at_a_time_whatever_the_jobs_outcome(crm, tmp_path, monkeypatch):
    """A million-row job is settled in batches, a job saved whole too when its rows must be read (its rows once
    piled up whole: 996 MB at a million events). Here each event has a field the org lacks: its record is saved,
    and the event needs a fields_skipped dead letter, so every row is read back."""
    from airflow_provider_rudder_sf.sync import bulkrun

    crm.seed("Lead", [{"LastName": f"Old{n}", "Company": "Acme", "Email": f"old{n}@example.com"} for n in range(10)])
    events = staged()
    for event in events:
        event["traits"]["shoeSize"] = 42  # Lead has no shoeSize__c
    writer, ledger, summary = _stage_jobs(events, tmp_path)
    assert [job.events_with_issues for job in ledger.jobs] == [job.events for job in ledger.jobs]
    batches: list[int] = []
    settle_rows = bulkrun._settle_rows

    def recorded(rows, *args, **kwargs):
        batches.append(len(rows))
        return settle_rows(rows, *args, **kwargs)

    monkeypatch.setattr(bulkrun, "SETTLE_BATCH", 4)
    monkeypatch.setattr(bulkrun, "_settle_rows", recorded)
    _, letters = _settle_when_done(crm, writer, ledger, summary, tmp_path)

    assert sum(batches) == 40 and max(batches) == 4
    assert (summary.applied, summary.created, summary.updated, summary.partial) == (40, 30, 10, 40)
    assert [letter["code"] for letter in letters] == ["fields_skipped"] * 40


def test_a_job_saved_whole_without_skipped_fields_is_settled_without_reading_its_rows(crm, tmp_path, monkeypatch):
    """At a million events, reading the rows back only to count them cost about a tenth of the run's CPU."""
    crm.seed("Lead", [{"LastName": f"Old{n}", "Company": "Acme", "Email": f"old{n}@example.com"} for n in range(10)])
    events = staged()
    events[0]["traits"]["shoeSize"] = 42  # one event of the update job has a field the org lacks
    writer, ledger, summary = _stage_jobs(events, tmp_path)
    jobs = {job.operation: job for job in ledger.jobs}
    assert (jobs["insert"].events, jobs["insert"].events_with_issues) == (30, 0)
    assert (jobs["update"].events, jobs["update"].events_with_issues) == (10, 1)
    read: list[str] = []
    read_lines = ledger.read_lines

    def recorded(job_id):
        for line in read_lines(job_id):
            read.append(job_id)
            yield line

    monkeypatch.setattr(ledger, "read_lines", recorded)
    _, letters = _settle_when_done(crm, writer, ledger, summary, tmp_path)

    assert read == [jobs["update"].id] * 10  # the insert job's rows were deleted unread
    assert (summary.read, summary.applied, summary.created, summary.updated, summary.partial) == (40, 40, 30, 10, 1)
    assert [letter["code"] for letter in letters] == ["fields_skipped"]
    assert not ledger.jobs and not list((tmp_path / "ledger").iterdir())
    assert leads_by_email(crm) == Counter(
        [f"old{n}@example.com" for n in range(10)] + [f"new{n}@example.com" for n in range(30)]
    )
