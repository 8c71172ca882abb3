"""``make install-check``: the built wheel, installed as a user would, works on each supported Airflow.

It builds the wheel once and checks that it carries only the provider: no emulator module, no synthetic data, no
``pytest11`` entry point (those are the ``rudder-sf-emulator`` distribution in ``emulator/``). For each Airflow
version given (default: the oldest supported one and the one the project pins), it installs the wheel with ``uv``
into its own Python 3.11 virtual environment under ``.install-check/`` with every version pinned by a committed
constraints file (``tests/install/airflow-<version>.txt``, or ``requirements.lock`` for the pinned Airflow), then,
in a fresh ``AIRFLOW_HOME``:

1. imports the operator and the hook and resolves every name of ``airflow_provider_rudder_sf.compat``;
2. parses the example DAGs with that Airflow (no import errors);
3. ``airflow providers list`` shows ``airflow-provider-rudder-sf``;
4. ``airflow db migrate``, creates the ``salesforce_api`` pool, and ``airflow dags test`` runs the hourly sync DAG
   end to end against the Salesforce emulator (started from the development venv) on a few hundred synthetic
   events; the run must be ``success`` in the metadata DB and the emulator must hold the Leads it wrote;
5. ``airflow dags test`` runs a one-task DAG of its own (``DEFERRAL_DAG``) on the same events with
   ``write_mode="bulk", deferrable=True``: the task defers to ``BulkJobsTrigger``, which that Airflow runs in-process,
   and ``execute_complete`` finishes it; the run must be ``success`` and its Bulk job ``JobComplete``.

A virtual environment is reused while its constraints file, the interpreter and uv are unchanged (only the wheel is
reinstalled), so a second run is fast. Any failing step stops the check with that step's command and output.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import gzip
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from rudder_sf_emulator.client import EmulatorHandle, start_emulator
from rudder_sf_emulator.synthetic import CUSTOM_FIELDS, SyntheticSpec, generate_lines

ROOT = Path(__file__).resolve().parent.parent
CHECK_DIR = ROOT / ".install-check"
CONSTRAINTS_DIR = ROOT / "tests" / "install"
LOCK = ROOT / "requirements.lock"
LOGS = CHECK_DIR / "logs"  # every step's full output of the last run
DIST_NAME = "airflow-provider-rudder-sf"

# What the check drives. A reshaped example DAG only needs these (and stage_events) adjusted.
DAG_ID = "rudder_sf_identify_sync"
LOGICAL_DATE = datetime(2026, 11, 28, 10, tzinfo=timezone.utc)
POOL = ("salesforce_api", "4", "Salesforce API calls")
EVENTS, PEOPLE = 400, 300

# A deferrable Bulk run of the same events, in a DAG folder of its own: the trigger must be importable from the
# wheel and run by that Airflow's `dags test`, and execute_complete must finish the task.
DEFERRAL_DAG_ID = "rudder_sf_install_check_deferral"
DEFERRAL_DAG = f"""
import os

import pendulum
from airflow.sdk import DAG

from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

with DAG("{DEFERRAL_DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC"), catchup=False):
    IdentifyToSalesforceOperator(
        task_id="sync",
        events=os.environ["RUDDER_SF_CHECK_EVENTS"],
        dead_letter=os.environ["RUDDER_SF_CHECK_DEAD_LETTER"],
        write_mode="bulk",
        deferrable=True,
        poll_interval=1.0,
        max_dead_letter_ratio=0.05,  # the synthetic events hold a few bad lines on purpose
    )
"""

IMPORT_CHECK = """
import json, os, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator
    from airflow_provider_rudder_sf.hooks.salesforce import RudderSalesforceHook
    from airflow_provider_rudder_sf import compat
    where = {name: compat.resolve(name)[0] for name in compat.LOCATIONS}
import airflow_provider_rudder_sf, sysconfig
installed_from = os.path.dirname(airflow_provider_rudder_sf.__file__)
assert installed_from.startswith(sysconfig.get_paths()["purelib"]), f"imported from {installed_from}, not the wheel"
ours = [f"{w.category.__name__}: {w.message}" for w in caught if "airflow_provider_rudder_sf" in str(w.filename)]
from airflow.models import DagBag
bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
print(json.dumps({"airflow": str(compat.AIRFLOW_VERSION), "where": where, "warnings": ours,
                  "dags": sorted(bag.dag_ids), "import_errors": {str(k): v for k, v in bag.import_errors.items()}}))
assert not ours, ours
assert not bag.import_errors, bag.import_errors
assert IdentifyToSalesforceOperator.__mro__ and RudderSalesforceHook.conn_type == "rudder_salesforce"
"""


class StepFailed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(step)
        self.step, self.detail = step, detail


@dataclass
class Result:
    version: str
    constraints: str
    reused_venv: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    installed: dict[str, str] = field(default_factory=dict)
    leads: int = 0
    dag_states: str = ""
    deferral: str = ""


def run(
    step: str, cmd: Sequence[str | os.PathLike[str]], env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """Run a command; on a non-zero exit raise :class:`StepFailed` with the command and its output.

    Commands of a check venv run in its AIRFLOW_HOME, never in the repository: ``python -c``/``-m`` put the working
    directory first on ``sys.path``, which would import the source tree instead of the installed wheel.
    """
    done = subprocess.run([str(part) for part in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    log = LOGS / (re.sub(r"[^A-Za-z0-9.]+", "-", step).strip("-") + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {' '.join(map(str, cmd))}\nexit code {done.returncode}\n{output}")
    if done.returncode != 0:
        raise StepFailed(
            step, f"$ {' '.join(map(str, cmd))}\nexit code {done.returncode}\n{output[-12_000:]}\n(full log: {log})"
        )
    return output


def timed(result: Result, step: str, func, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    try:
        return func(*args, **kwargs)
    finally:
        result.timings[step] = time.monotonic() - started


def constraints_for(version: str) -> Path:
    committed = CONSTRAINTS_DIR / f"airflow-{version}.txt"
    if committed.exists():
        return committed
    if re.search(rf"^apache-airflow=={re.escape(version)}$", LOCK.read_text(), re.MULTILINE):
        return LOCK
    raise StepFailed(
        f"constraints for Airflow {version}",
        f"neither {committed.relative_to(ROOT)} nor {LOCK.name} pins apache-airflow=={version}; add "
        f"{committed.with_suffix('.in').relative_to(ROOT)} and run `make install-constraints`",
    )


def pins(constraints: Path) -> dict[str, str]:
    found = {}
    for line in constraints.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def build_wheel(uv: Path, out: Path) -> Path:
    # sdist first, then the wheel from the unpacked sdist (uv build's default): no stale build/ of the work tree
    # can slip into the wheel, and the sdist is proved complete too.
    run("build the wheel", [uv, "build", "--quiet", "--out-dir", out, ROOT])
    (wheel,) = out.glob("airflow_provider_rudder_sf-*.whl")
    return wheel


def wheel_files(wheel: Path) -> dict[str, int]:
    """Every file the wheel installs, as its RECORD lists it, with its size in bytes (0 where RECORD gives none)."""
    with zipfile.ZipFile(wheel) as archive:
        (record,) = [name for name in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/RECORD", name)]
        rows = csv.reader(archive.read(record).decode().splitlines())
        return {row[0]: int(row[2]) if len(row) > 2 and row[2] else 0 for row in rows if row}


def wheel_leaks(wheel: Path) -> list[str]:
    """What of rudder-sf-emulator (or any test machinery) the provider wheel carries; empty when it carries none.

    The emulator, its pytest plugin and the synthetic demo data once shipped inside the provider, loading a plugin
    into every pytest run of every deployment; this keeps them from moving back.
    """
    files = wheel_files(wheel)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (info,) = {name.split("/", 1)[0] for name in names if name.split("/", 1)[0].endswith(".dist-info")}
        entry_points = configparser.ConfigParser()
        if f"{info}/entry_points.txt" in names:
            entry_points.read_string(archive.read(f"{info}/entry_points.txt").decode())
        metadata = archive.read(f"{info}/METADATA").decode()
    leaks = []
    if "airflow_provider_rudder_sf/__init__.py" not in files:
        leaks.append("RECORD does not list airflow_provider_rudder_sf/__init__.py: is this the provider wheel?")
    for path in sorted(set(files) | names):
        parts = PurePosixPath(path).parts
        if any("emulator" in part for part in parts) or any(PurePosixPath(part).stem == "synthetic" for part in parts):
            leaks.append(f"{path} is emulator or demo-data code (it belongs to emulator/)")
    if entry_points.has_section("pytest11"):
        leaks.append(f"entry_points.txt declares a pytest11 plugin: {dict(entry_points['pytest11'])}")
    if "Provides-Extra: emulator" in metadata.splitlines():
        leaks.append("METADATA offers an emulator extra")
    return leaks


def ensure_venv(uv: Path, python: str, version: str, constraints: Path, wheel: Path, result: Result) -> Path:
    venv = CHECK_DIR / f"airflow-{version}"
    uv_version = run("uv --version", [uv, "--version"]).strip()
    python_version = run("python -VV", [python, "-VV"]).strip()
    key = hashlib.sha256(
        b"\0".join([constraints.read_bytes(), python.encode(), python_version.encode(), uv_version.encode()])
    ).hexdigest()
    stamp = venv / ".install-check-stamp"
    venv_python = venv / "bin" / "python"
    result.reused_venv = stamp.exists() and stamp.read_text() == key and venv_python.exists()
    uv_env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    uv_env.pop("VIRTUAL_ENV", None)
    if not result.reused_venv:
        shutil.rmtree(venv, ignore_errors=True)
        run(f"create the Python venv for Airflow {version}", [uv, "venv", "--quiet", "--python", python, venv], uv_env)
    # The wheel, not a source tree: what users install. Its dependencies come from its metadata, pinned.
    run(
        f"install the wheel with Airflow {version}",
        [uv, "pip", "install", "--quiet", "--python", venv_python, "--constraint", constraints,
         "--reinstall-package", DIST_NAME, f"apache-airflow=={version}", wheel],
        uv_env,
    )  # fmt: skip
    run(f"uv pip check (Airflow {version})", [uv, "pip", "check", "--python", venv_python], uv_env)
    freeze = run("uv pip freeze", [uv, "pip", "freeze", "--python", venv_python], uv_env)
    installed = dict(
        re.split(r"==| @ ", line, maxsplit=1) for line in freeze.splitlines() if "==" in line or " @ " in line
    )
    result.installed = {
        canonical(name): "(the wheel)" if "://" in value else value for name, value in installed.items()
    }
    pinned = pins(constraints)
    unpinned = {
        name: value for name, value in result.installed.items() if name != DIST_NAME and pinned.get(name) != value
    }
    if unpinned:
        raise StepFailed(
            f"pins for Airflow {version}",
            f"installed but not pinned by {constraints.relative_to(ROOT)}: {unpinned}; regenerate it with "
            "`make install-constraints` (or `make lock`)",
        )
    stamp.write_text(key)
    return venv


def stage_events(base: Path) -> None:
    """A few hundred identify events in the DAG's layout ``<base>/YYYY/MM/DD/HH/part-0000.jsonl.gz``.

    The same file goes into the hour before the logical date and the hour of it, so the run finds it whichever
    of the two an Airflow version takes as the data interval of a manual ``dags test`` run.
    """
    for hour in (LOGICAL_DATE - timedelta(hours=1), LOGICAL_DATE):
        folder = base / hour.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True)
        spec = SyntheticSpec(events=EVENTS, distinct_emails=PEOPLE, seed=7, start=LOGICAL_DATE - timedelta(hours=1))
        with gzip.open(folder / "part-0000.jsonl.gz", "wt", encoding="utf-8") as out:
            out.write("\n".join(generate_lines(spec)) + "\n")


def airflow_env(venv: Path, home: Path, crm: EmulatorHandle, work: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT=crm.connection_json(),
        AIRFLOW_VAR_RUDDER_SF_EVENTS_BASE=str(work / "events"),
        AIRFLOW_VAR_RUDDER_SF_SHARDS_BASE=str(home / "shards"),
        AIRFLOW_VAR_RUDDER_SF_DEAD_LETTER=str(home / "dead-letters"),
    )
    return env


def check_version(version: str, uv: Path, python: str, wheel: Path, crm: EmulatorHandle, work: Path) -> Result:
    constraints = constraints_for(version)
    result = Result(version, str(constraints.relative_to(ROOT)))
    venv = timed(result, "venv + install", ensure_venv, uv, python, version, constraints, wheel, result)
    home = work / f"home-{version}"
    home.mkdir()
    env = airflow_env(venv, home, crm, work)

    def in_venv(timing: str, step: str, *args: str | os.PathLike[str], env: dict[str, str] = env) -> str:
        """Run ``<venv python> args`` in the fresh AIRFLOW_HOME (not the repository: see :func:`run`)."""
        return timed(result, timing, run, f"{step} (Airflow {version})", [venv / "bin" / "python", *args], env, home)

    in_venv("imports + DAG parse", "import the operator and hook", "-c", IMPORT_CHECK)
    listed = in_venv("providers list", "airflow providers list", "-m", "airflow", "providers", "list")
    if DIST_NAME not in listed:
        raise StepFailed(f"airflow providers list (Airflow {version})", f"{DIST_NAME} not listed:\n{listed[-6_000:]}")
    # A just-migrated metadata DB with the pool, kept beside the venv it was made with: a reused venv starts from a
    # copy of it instead of migrating again (the same empty DB, some 10 s sooner).
    template = venv / ".install-check-airflow.db"
    if result.reused_venv and template.exists():
        shutil.copyfile(template, home / "airflow.db")
    else:
        in_venv("db migrate", "airflow db migrate", "-m", "airflow", "db", "migrate")
        in_venv("pools set", "airflow pools set", "-m", "airflow", "pools", "set", *POOL)
        shutil.copyfile(home / "airflow.db", template)
    # reserialize does what a deployment's dag-processor does before any run: it writes the DAGs to the metadata DB
    # and activates their Assets. Airflow 3.0's `dags test` skips that, so a task with an Asset outlet fails there
    # with AirflowInactiveAssetInInletOrOutletException on a fresh DB; 3.1+ `dags test` syncs the DAG itself.
    in_venv("dags reserialize", "airflow dags reserialize", "-m", "airflow", "dags", "reserialize")

    fresh_org(crm)
    step = f"airflow dags test {DAG_ID} (Airflow {version})"
    output = in_venv("dags test", f"airflow dags test {DAG_ID}", "-m", "airflow", "dags", "test", DAG_ID,
                     LOGICAL_DATE.isoformat())  # fmt: skip
    runs, tasks = dag_run_states(home / "airflow.db", DAG_ID)
    result.dag_states = f"dag run {runs}; tasks {tasks}"
    if runs != ["success"]:
        raise StepFailed(step, f"dag run states {runs}, task states {tasks}\n{output[-12_000:]}")
    result.leads = len(crm.records("Lead"))
    if result.leads == 0:
        raise StepFailed(step, f"the run succeeded but wrote no Leads to the emulator\n{output[-12_000:]}")

    # The deferrable Bulk path: the task defers to BulkJobsTrigger, which `dags test` runs in-process.
    fresh_org(crm)
    crm.set_faults(bulk_rows_per_second=200)  # the jobs take a few seconds: the trigger has to wait for them
    folder = home / "deferral-dags"
    folder.mkdir()
    (folder / f"{DEFERRAL_DAG_ID}.py").write_text(DEFERRAL_DAG, encoding="utf-8")
    deferral_env = {
        **env,
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "RUDDER_SF_CHECK_EVENTS": str(next((work / "events").rglob("*.jsonl.gz"))),
        "RUDDER_SF_CHECK_DEAD_LETTER": str(home / "deferral-dead-letters"),
    }
    step = f"airflow dags test {DEFERRAL_DAG_ID} (Airflow {version})"
    output = in_venv("deferrable dags test", f"airflow dags test {DEFERRAL_DAG_ID}", "-m", "airflow", "dags",
                     "test", DEFERRAL_DAG_ID, LOGICAL_DATE.isoformat(), env=deferral_env)  # fmt: skip
    runs, tasks = dag_run_states(home / "airflow.db", DEFERRAL_DAG_ID)
    jobs = sorted(str(job["state"]) for job in crm.bulk_jobs() if job.get("jobType") == "V2Ingest")
    deferred_leads = len(crm.records("Lead"))
    result.deferral = f"dag run {runs}; tasks {tasks}; Bulk jobs {jobs}; Leads {deferred_leads}"
    if runs != ["success"] or set(jobs) != {"JobComplete"} or deferred_leads == 0:
        raise StepFailed(step, f"{result.deferral}\n{output[-12_000:]}")
    if "BulkJobsTrigger" not in output and "Bulk job" not in output:
        raise StepFailed(step, f"no sign that the task deferred to its trigger\n{output[-12_000:]}")
    return result


def fresh_org(crm: EmulatorHandle) -> None:
    """An empty org with the custom fields the synthetic events carry."""
    crm.reset()
    for sobject in ("Lead", "Contact"):
        crm.declare_fields(sobject, CUSTOM_FIELDS)


def dag_run_states(db: Path, dag_id: str) -> tuple[list[str], dict[str, int]]:
    with sqlite3.connect(db) as connection:
        runs = [row[0] for row in connection.execute("SELECT state FROM dag_run WHERE dag_id = ?", (dag_id,))]
        tasks: dict[str, int] = {}
        for (state,) in connection.execute("SELECT state FROM task_instance WHERE dag_id = ?", (dag_id,)):
            tasks[str(state)] = tasks.get(str(state), 0) + 1
    return runs, tasks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="+", help="Airflow versions, e.g. 3.0.6 3.3.2")
    parser.add_argument("--python", default=shutil.which("python3.11"), help="interpreter for the venvs (3.11)")
    parser.add_argument("--uv", default=str(Path(sys.executable).parent / "uv"), help="the pinned uv")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results: list[Result] = []
    try:
        if not args.python:
            raise StepFailed("find Python 3.11", "python3.11 is not on PATH; pass --python")
        CHECK_DIR.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="run-", dir=CHECK_DIR) as tmp:
            work = Path(tmp)
            wheel = build_wheel(Path(args.uv), work / "dist")
            files = wheel_files(wheel)
            modules = [path for path in files if path.endswith(".py")]
            print(
                f"install-check: built {wheel.name} in {time.monotonic() - started:.1f} s ({len(modules)} modules, "
                f"{sum(files[path] for path in modules) / 1000:.0f} KB of Python)",
                flush=True,
            )
            leaks = wheel_leaks(wheel)
            if leaks:
                raise StepFailed("the provider wheel carries only the provider", "\n".join(leaks))
            stage_events(work / "events")
            with start_emulator(work / "emulator", port=0) as crm:
                for version in args.versions:
                    print(f"install-check: Airflow {version} ...", flush=True)
                    result = check_version(version, Path(args.uv), args.python, wheel, crm, work)
                    results.append(result)
                    report(result)
    except StepFailed as failure:
        sys.stderr.write(f"\ninstall-check FAILED at step: {failure.step}\n{failure.detail}\n")
        return 1
    print(f"install-check: OK for Airflow {', '.join(args.versions)} in {time.monotonic() - started:.0f} s")
    return 0


def report(result: Result) -> None:
    steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.timings.items())
    versions = ", ".join(
        f"{name} {result.installed.get(name, '-')}"
        for name in ("apache-airflow", "apache-airflow-task-sdk", "apache-airflow-providers-common-sql",
                     "simple-salesforce", "pendulum", DIST_NAME)
    )  # fmt: skip
    print(
        f"  Airflow {result.version}: OK ({'reused' if result.reused_venv else 'new'} venv, {result.constraints})\n"
        f"    installed: {versions}\n"
        f"    {result.dag_states}; Leads in the emulator: {result.leads}\n"
        f"    deferrable Bulk run: {result.deferral}\n"
        f"    {steps}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
