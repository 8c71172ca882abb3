"""Secrets never leak: a REAL DAG run (dag.test() on a migrated SQLite metadata DB) with a wrong and a right
security token; everything it writes is searched for the password, the tokens and every session id issued."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rudder_sf_emulator.synthetic import SyntheticSpec, generate_lines

PASSWORD = "Pw-q8Zr4-not-in-logs"
TOKEN = "Tk7Lm2Xq9Rw4NotInLogs"
WRONG_TOKEN = "WrongTk5Yp3Hs8NotInLogs"
SESSION_RE = re.compile(r"00D[0-9A-Za-z]{12}!AQ[0-9A-Za-z_-]{20,}")


DAG_FILE = """
import airflow_provider_rudder_sf.salesforce.client as client_module
from airflow.sdk import DAG
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

_real_login = client_module.login
def _spy(settings, session):  # test instrumentation: remember every session id the emulator issues
    result = _real_login(settings, session)
    with open(SESSIONS, "a") as out:
        out.write(result.session_id + "\\n")
    return result
client_module.login = _spy

with DAG(dag_id="secrets_probe", schedule=None) as dag:
    IdentifyToSalesforceOperator(
        task_id="sync", events=EVENTS, dead_letter=DEAD, max_dead_letter_ratio=0.2, retries=0
    )

if __name__ == "__main__":
    run = dag.test()
    print("DAGRUN STATE", run.state, flush=True)
"""


def _run_dag_in_subprocess(tmp_path: Path, conn: dict, migrated_db: Path) -> tuple[str, subprocess.CompletedProcess]:
    home, dags = tmp_path / "airflow-home", tmp_path / "dags"
    dags.mkdir()
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(generate_lines(SyntheticSpec(events=300, distinct_emails=200, seed=1, bad_fraction=0.05))) + "\n"
    )
    constants = (
        f"SESSIONS = {str(tmp_path / 'sessions.txt')!r}\nEVENTS = {str(events)!r}\nDEAD = {str(tmp_path / 'dead')!r}\n"
    )
    dag_file = dags / "secrets_probe.py"
    dag_file.write_text(DAG_FILE.replace("_real_login = ", constants + "_real_login = ", 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "AIRFLOW_HOME"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        AIRFLOW__LOGGING__LOGGING_LEVEL="DEBUG",
        AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT=json.dumps(conn),
    )
    home.mkdir()
    shutil.copy(migrated_db, home / "airflow.db")
    proc = subprocess.run(
        [sys.executable, str(dag_file)], env=env, capture_output=True, text=True, errors="replace", timeout=300
    )
    return str(home), proc


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory) -> Path:
    """One migrated SQLite metadata DB, copied into each test's own AIRFLOW_HOME."""
    home = tmp_path_factory.mktemp("airflow-home-template")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_HOME"))}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__UNIT_TEST_MODE="True")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    return home / "airflow.db"


def _xcom_values(home: str) -> str:
    with sqlite3.connect(Path(home) / "airflow.db") as db:
        rows = db.execute("SELECT key, value FROM xcom").fetchall()
    return "\n".join(f"{key}={value!r}" for key, value in rows)


def _without_mask_relay(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "MaskSecret(value=" not in line)


@pytest.mark.slow
@pytest.mark.parametrize("token", [WRONG_TOKEN, TOKEN], ids=["wrong-token-failure", "right-token-success"])
def test_no_secret_in_anything_a_dag_run_writes(crm, tmp_path, token, migrated_db):
    crm.settings(password=PASSWORD, security_token=TOKEN)
    conn = crm.connection_dict()
    conn["password"] = PASSWORD
    conn["extra"]["security_token"] = token

    home, proc = _run_dag_in_subprocess(tmp_path, conn, migrated_db)

    # Known Airflow core behaviour, not this provider's: at DEBUG the in-process supervisor of dag.test() logs each
    # MaskSecret message it relays ("Sending request ... msg=MaskSecret(value='<the secret>')"), for the values
    # Airflow itself masks (the connection password and extras) too. Those lines are set aside here and reported.
    texts = {
        "stdout": _without_mask_relay(proc.stdout),
        "stderr": _without_mask_relay(proc.stderr),
        "xcom": _xcom_values(home),
    }
    for path in [*Path(home, "logs").rglob("*"), *(tmp_path / "dead").rglob("*")]:
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    sessions_file = tmp_path / "sessions.txt"
    sessions = sessions_file.read_text().split() if sessions_file.exists() else []
    # dag.test() runs the task in this process and sends the task log to the console (no files under logs/);
    # any file that does appear there is searched too.
    assert "Syncing identify events" in proc.stdout + proc.stderr, "the task log was not captured"
    assert "[debug" in "\n".join(texts.values()).lower() or "DEBUG" in "\n".join(texts.values()), "DEBUG not captured"
    if token == TOKEN:
        assert "DAGRUN STATE success" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert sessions, "the run must have logged in (else there is no session id to look for)"
        assert "'read'" in texts["xcom"] or '"read"' in texts["xcom"], texts["xcom"][:500]
        assert any("/dead/" in name for name in texts), "the run wrote dead letters (the synthetic bad lines)"
    else:
        assert "DAGRUN STATE failed" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert crm.counters()["login_failures"] >= 1
    secrets = [PASSWORD, TOKEN, WRONG_TOKEN, PASSWORD + TOKEN, PASSWORD + WRONG_TOKEN, *sessions]
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) leaked into {where}"
        assert not SESSION_RE.search(text), f"something shaped like a session id is in {where}"
