"""OpenLineage from IdentifyToSalesforceOperator: real runs against the emulator (and moto S3, PostgreSQL, SQLite),
then the lineage read through the openlineage provider's own extractor machinery and serialized by its client.

No OpenLineage server: ``ExtractorManager`` is what the listener calls, ``Serde`` is what a transport sends.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.openlineage.extractors import OperatorLineage
from airflow.providers.openlineage.extractors.base import DefaultExtractor
from airflow.providers.openlineage.extractors.manager import ExtractorManager
from airflow.sdk.exceptions import AirflowFailException
from airflow.utils.state import TaskInstanceState
from openlineage.client import event_v2
from openlineage.client.naming import dataset as naming
from openlineage.client.serde import Serde

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
from airflow_provider_rudder_sf.operators.lineage import location_dataset
from airflow_provider_rudder_sf.salesforce import client as client_module

TS = "2026-11-28T10:00:00Z"


def identify(email: str | None, **traits: Any) -> dict[str, Any]:
    if email is not None:
        traits["email"] = email
    return {"type": "identify", "timestamp": TS, "integrations": {"Salesforce": True}, "traits": traits}


def staged(path: Path, events: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def make(tmp_path: Path, **kwargs: Any) -> IdentifyToSalesforceOperator:
    kwargs.setdefault("dead_letter", str(tmp_path / "dead-letters"))
    kwargs.setdefault("max_dead_letter_ratio", 1.0)
    return IdentifyToSalesforceOperator(task_id="sync", **kwargs)


class _DagRun:
    run_id = "manual__lineage"


def extract(op: IdentifyToSalesforceOperator, state: TaskInstanceState) -> OperatorLineage:
    """What the OpenLineage listener gets for this task in this state (``task_instance`` is unused by our methods)."""
    manager = ExtractorManager()
    assert isinstance(manager._get_extractor(op), DefaultExtractor)
    return manager.extract_metadata(dagrun=_DagRun(), task=op, task_instance_state=state, task_instance=None)


def serialized(lineage: OperatorLineage) -> str:
    """The RunEvent a transport would send for this lineage, as JSON."""
    event = event_v2.RunEvent(
        eventType=event_v2.RunState.COMPLETE,
        eventTime=datetime.now(timezone.utc).isoformat(),
        run=event_v2.Run(runId=str(uuid.uuid4()), facets=lineage.run_facets),
        job=event_v2.Job(namespace="default", name="dag.sync", facets=lineage.job_facets),
        inputs=lineage.inputs,
        outputs=lineage.outputs,
    )
    return Serde.to_json(event)


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def outputs_by_name(lineage: OperatorLineage) -> dict[str, Any]:
    return {d.name: d for d in lineage.outputs}


def instance_namespace(crm) -> str:
    """``salesforce://<host:port>`` of the emulator, whose login returns its own base URL as the instance URL."""
    return "salesforce://" + crm.base_url.split("://", 1)[1].rstrip("/")


# -- inputs -----------------------------------------------------------------------------------------------------------
def test_a_local_file_is_a_file_dataset_named_by_its_absolute_path(crm, tmp_path):
    path = staged(tmp_path / "staged" / "events.jsonl", [identify("a@example.com", lastName="A")])
    op = make(tmp_path, events=str(path))
    start = extract(op, TaskInstanceState.RUNNING)
    op.execute(context={})
    complete = extract(op, TaskInstanceState.SUCCESS)
    expected = naming.LocalFileSystem(path=str(path.resolve()))
    assert names(start.inputs) == names(complete.inputs) == [(expected.get_namespace(), expected.get_name())]
    assert start.outputs == []  # nothing is written yet at start


def test_a_listing_of_files_gives_one_input_per_file(crm, tmp_path):
    """The sync DAG's shards read the sensor's listing (``event_files``): each listed file is an input."""
    first = staged(tmp_path / "staged" / "a.jsonl", [identify("a@example.com", lastName="A")])
    second = staged(tmp_path / "staged" / "b.jsonl", [identify("b@example.com", lastName="B")])
    op = make(tmp_path, event_files=[first.resolve().as_uri(), str(second)])
    op.execute(context={})
    complete = extract(op, TaskInstanceState.SUCCESS)
    expected = [naming.LocalFileSystem(path=str(path.resolve())) for path in (first, second)]
    assert names(complete.inputs) == [(e.get_namespace(), e.get_name()) for e in expected]


def test_a_directory_or_glob_is_named_by_its_fixed_root(crm, tmp_path):
    staged(tmp_path / "staged" / "2026-11-28" / "part-0.jsonl", [identify("a@example.com", lastName="A")])
    root = (tmp_path / "staged").resolve()
    for events, name in (
        (f"{tmp_path}/staged/2026-11-28/", str(root / "2026-11-28")),  # a directory: without its trailing /
        (f"{tmp_path}/staged/*/part-*.jsonl", str(root)),  # a glob: up to the first wildcard
    ):
        op = make(tmp_path, events=events)
        assert op.execute(context={})["read"] == 1
        assert names(extract(op, TaskInstanceState.SUCCESS).inputs) == [("file", name)], events


def test_an_s3_prefix_is_named_by_bucket_and_key_without_the_connection(crm, tmp_path, s3_server):
    bucket = s3_server.make_bucket("lineage-staged")
    body = json.dumps(identify("s3@example.com", lastName="S")) + "\n"
    s3_server.client().put_object(Bucket=bucket, Key="rudder/2026/11/28/events.jsonl", Body=body.encode())
    op = make(tmp_path, events=f"s3://{bucket}/rudder/2026/11/28/", storage_conn_id=s3_server.conn_id)
    result = op.execute(context={})
    lineage = extract(op, TaskInstanceState.SUCCESS)
    expected = naming.S3(bucket_name=bucket, object_key="rudder/2026/11/28")
    assert result["created"] == 1
    assert names(lineage.inputs) == [(expected.get_namespace(), expected.get_name())]
    assert s3_server.conn_id not in serialized(lineage)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("s3://bucket/a/b/*.json.gz", naming.S3(bucket_name="bucket", object_key="a/b")),
        ("s3://my_conn@bucket/a/", naming.S3(bucket_name="bucket", object_key="a")),
        ("s3a://bucket/a/x.jsonl", naming.S3(bucket_name="bucket", object_key="a/x.jsonl")),
        ("gs://bucket/exports/2026-*/", naming.GCS(bucket_name="bucket", object_key="exports")),
        ("gcs://bucket/e.jsonl", naming.GCS(bucket_name="bucket", object_key="e.jsonl")),
        ("file:///data/staged/", naming.LocalFileSystem(path="/data/staged")),
        ("file://nas01/data/e.jsonl", naming.RemoteFileSystem(host="nas01", path="/data/e.jsonl")),
        (
            "abfss://events@acct.dfs.core.windows.net/rudder/",
            naming.ABFSS(container="events", service="acct", path="rudder"),
        ),
    ],
)
def test_object_storage_locations_follow_openlineage_naming(location, expected):
    assert location_dataset(location) == (expected.get_namespace(), expected.get_name())


def test_a_bucket_root_is_named_slash_and_credentials_in_a_url_never_reach_the_namespace():
    assert location_dataset("s3://bucket") == ("s3://bucket", "/")
    assert location_dataset("s3://AKIAKEY:s3cr3t@bucket/p/") == ("s3://bucket", "p")


def test_events_given_in_memory_have_no_input_dataset(crm, tmp_path):
    op = make(tmp_path, events=[identify("m@example.com", lastName="M")])
    op.execute(context={})
    lineage = extract(op, TaskInstanceState.SUCCESS)
    assert lineage.inputs == []
    assert [d.name for d in lineage.outputs] == ["Lead"]


def _postgres_events(db, events: list[dict[str, Any]]) -> None:
    db.run("CREATE SCHEMA rudder")
    db.run("CREATE TABLE rudder.staged_events (n int, event text)")
    db.run_many("INSERT INTO rudder.staged_events VALUES (%s, %s)", [[i, json.dumps(e)] for i, e in enumerate(events)])


def test_a_sql_source_is_the_table_it_reads_in_the_connections_namespace(crm, tmp_path, postgres_server, monkeypatch):
    db = postgres_server.new_database("lineage")
    _postgres_events(db, [identify("pg1@example.com", lastName="P"), identify("pg2@example.com", lastName="Q")])
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_WAREHOUSE", db.connection_json())
    query = "SELECT event FROM rudder.staged_events ORDER BY n"
    op = make(tmp_path, sql=query, sql_conn_id="lineage_warehouse", json_column="event")
    start = extract(op, TaskInstanceState.RUNNING)
    result = op.execute(context={})
    lineage = extract(op, TaskInstanceState.SUCCESS)
    expected = naming.Postgres(
        host=db.host, port=str(db.port), database=db.dbname, schema="rudder", table="staged_events"
    )
    assert result["created"] == 2
    assert names(lineage.inputs) == [(expected.get_namespace(), expected.get_name())]
    assert lineage.job_facets["sql"].query == query == start.job_facets["sql"].query
    assert start.inputs == []  # naming tables asks the database: done once, at the end
    assert outputs_by_name(lineage)["Lead"].outputFacets["outputStatistics"].rowCount == 2


def test_a_sql_connection_without_openlineage_database_info_gives_the_query_only(crm, tmp_path, monkeypatch):
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE staged_events (event text)")
        conn.execute("INSERT INTO staged_events VALUES (?)", [json.dumps(identify("lite@example.com", lastName="L"))])
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    op = make(tmp_path, sql="SELECT event FROM staged_events", sql_conn_id="lineage_sqlite", json_column="event")
    op.execute(context={})
    lineage = extract(op, TaskInstanceState.SUCCESS)
    assert lineage.inputs == []
    assert lineage.job_facets["sql"].query == "SELECT event FROM staged_events"
    assert [d.name for d in lineage.outputs] == ["Lead"]


# -- outputs ----------------------------------------------------------------------------------------------------------
def _converted_lead(crm, email: str) -> str:
    (contact_id,) = crm.seed("Contact", [{"Email": email, "LastName": "Hopper"}])
    crm.seed(
        "Lead",
        [
            {
                "Email": email,
                "LastName": "Hopper",
                "Company": "Navy",
                "IsConverted": True,
                "ConvertedContactId": contact_id,
            }
        ],
    )
    return contact_id


def test_one_output_per_sobject_written_with_its_row_count_and_dead_letters_in_the_run_facet(crm, tmp_path):
    _converted_lead(crm, "grace@example.com")
    crm.seed("Lead", [{"Email": "old@example.com", "LastName": "Old", "Company": "Co"}])
    events = [
        identify("new1@example.com", lastName="One"),
        identify("new2@example.com", lastName="Two"),
        identify("old@example.com", title="CTO"),
        identify("grace@example.com", department="R&D"),
        identify(None, firstName="NoEmail"),  # dead letter: missing_email
    ]
    path = staged(tmp_path / "events.jsonl", events)
    op = make(tmp_path, events=str(path), use_contact_id=True)
    result = op.execute(context={})
    lineage = extract(op, TaskInstanceState.SUCCESS)

    outputs = outputs_by_name(lineage)
    assert sorted(outputs) == ["Contact", "Lead"]
    assert {d.namespace for d in lineage.outputs} == {instance_namespace(crm)}
    lead, contact = outputs["Lead"].outputFacets, outputs["Contact"].outputFacets
    assert lead["outputStatistics"].rowCount == 3
    assert (lead["rudderSalesforceWrites"].created, lead["rudderSalesforceWrites"].updated) == (2, 1)
    assert contact["outputStatistics"].rowCount == 1
    assert (contact["rudderSalesforceWrites"].created, contact["rudderSalesforceWrites"].updated) == (0, 1)
    assert (result["created"], result["updated"]) == (2, 2)

    sync = lineage.run_facets["rudderSalesforceSync"]
    assert (sync.read, sync.applied, sync.deadLettered, sync.dryRun) == (5, 4, 1, False)
    assert sync.deadLettersByCode == {"missing_email": 1}
    assert sync.deadLetterLocation == result["dead_letter_location"]
    # The facets serialize as OpenLineage JSON with their camelCase fields.
    event = json.loads(serialized(lineage))
    lead_json = next(o for o in event["outputs"] if o["name"] == "Lead")
    assert lead_json["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert event["run"]["facets"]["rudderSalesforceSync"]["deadLettersByCode"] == {"missing_email": 1}


def test_refused_records_count_as_failed_not_as_rows(crm, tmp_path):
    # Salesforce refuses this address (no top-level domain): the Lead output shows the failure, rowCount 1.
    events = [identify("ok@example.com", lastName="Fine"), identify("someone@localhost", lastName="Local")]
    op = make(tmp_path, events=events)
    op.execute(context={})
    lead = outputs_by_name(extract(op, TaskInstanceState.SUCCESS))["Lead"].outputFacets
    assert lead["outputStatistics"].rowCount == 1
    assert lead["rudderSalesforceWrites"].failed == 1


def test_a_failed_try_still_reports_what_it_wrote(crm, tmp_path):
    events = [identify("ok@example.com", lastName="Fine"), identify(None, firstName="NoEmail")]
    op = make(tmp_path, events=events, max_dead_letter_ratio=0.0)
    with pytest.raises(AirflowFailException, match="dead letter"):
        op.execute(context={})
    lineage = extract(op, TaskInstanceState.FAILED)
    assert outputs_by_name(lineage)["Lead"].outputFacets["outputStatistics"].rowCount == 1
    assert lineage.run_facets["rudderSalesforceSync"].deadLettered == 1


def test_a_dry_run_has_inputs_and_counts_but_no_outputs(crm, tmp_path):
    path = staged(tmp_path / "events.jsonl", [identify("d1@example.com", lastName="D"), identify(None)])
    op = make(tmp_path, events=str(path), dry_run=True)
    result = op.execute(context={})
    lineage = extract(op, TaskInstanceState.SUCCESS)
    assert crm.records("Lead") == [] and result["planned_creates"] == 1
    assert lineage.outputs == []
    assert names(lineage.inputs) == [("file", str(path.resolve()))]
    sync = lineage.run_facets["rudderSalesforceSync"]
    assert (sync.dryRun, sync.read, sync.unsent, sync.deadLettered) == (True, 2, 1, 1)


def test_a_run_that_never_logs_in_has_no_outputs_and_does_not_log_in_for_lineage(crm, tmp_path):
    # Nothing for Salesforce (no integration opt-in): the run never logs in, and lineage does not log in for it.
    event = identify("x@example.com")
    event["integrations"] = {"Salesforce": False}
    op = make(tmp_path, events=[event])
    op.execute(context={})
    assert op.lineage_record is not None and op.lineage_record.instance_host is None
    lineage = extract(op, TaskInstanceState.SUCCESS)
    assert lineage.outputs == []
    assert lineage.run_facets["rudderSalesforceSync"].ignored == 1


def test_before_execute_there_are_inputs_only(tmp_path):
    op = make(tmp_path, events=str(tmp_path / "x.jsonl"))
    lineage = op.get_openlineage_facets_on_complete(task_instance=None)
    assert names(lineage.inputs) == [("file", str((tmp_path / "x.jsonl").resolve()))]
    assert lineage.outputs == [] and lineage.run_facets == {}


# -- secrets ----------------------------------------------------------------------------------------------------------
def test_no_password_token_or_session_id_in_the_serialized_lineage(crm, tmp_path, monkeypatch):
    sessions: list[str] = []
    real_login = client_module.login

    def recording_login(settings, session):
        result = real_login(settings, session)
        sessions.append(result.session_id)
        return result

    monkeypatch.setattr(client_module, "login", recording_login)
    _converted_lead(crm, "grace@example.com")
    events = [identify("s1@example.com", lastName="S"), identify("grace@example.com", title="RADM")]
    op = make(tmp_path, events=str(staged(tmp_path / "events.jsonl", events)), use_contact_id=True)
    op.execute(context={})
    text = serialized(extract(op, TaskInstanceState.SUCCESS)) + serialized(extract(op, TaskInstanceState.RUNNING))

    assert sessions, "the run must have logged in, else there is no session id to look for"
    assert '"Contact"' in text and '"Lead"' in text  # the check looks at real lineage
    for secret in [crm.password, crm.security_token, crm.password + crm.security_token, *sessions]:
        assert secret not in text


# -- through the real listener -----------------------------------------------------------------------------------
PROBE_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

with DAG("lineage_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    IdentifyToSalesforceOperator(task_id="sync", events={events!r}, dead_letter={dead_letter!r})

if __name__ == "__main__":
    dag.test()
"""


def test_the_openlineage_listener_emits_it_in_a_real_dag_run(crm, tmp_path, airflow_db):
    """dag.test() with the provider's listener and its file transport: the listener runs our methods in a forked
    process after execute, so this also checks the run's state reaches it."""
    path = staged(tmp_path / "events.jsonl", [identify("dag@example.com", lastName="D")])
    dags = tmp_path / "dags"
    dags.mkdir()
    dag_file = dags / "lineage_probe.py"
    dag_file.write_text(PROBE_DAG.format(events=str(path), dead_letter=str(tmp_path / "dead-letters")))
    emitted = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lineage-test",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(emitted), "append": True}),
    }
    run = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]

    text = emitted.read_text()
    events = {(e["eventType"], e["job"]["name"]): e for e in map(json.loads, text.splitlines())}
    start, complete = events[("START", "lineage_probe.sync")], events[("COMPLETE", "lineage_probe.sync")]
    assert [(i["namespace"], i["name"]) for i in start["inputs"]] == [("file", str(path.resolve()))]
    assert start["outputs"] == []
    ((namespace, name, stats),) = [(o["namespace"], o["name"], o["outputFacets"]) for o in complete["outputs"]]
    assert (namespace, name, stats["outputStatistics"]["rowCount"]) == (instance_namespace(crm), "Lead", 1)
    assert complete["run"]["facets"]["rudderSalesforceSync"]["created"] == 1
    for secret in (crm.password, crm.security_token):
        assert secret not in text
