"""Start Airflow (``airflow standalone``) on the demo data, for a person to click through: ``make airflow``.

What it sets up, in a project-local ``AIRFLOW_HOME`` (``.airflow/``, removed by ``make clean``):

* the HTTPS Salesforce emulator (``start_emulator``), and the connection ``rudder_salesforce_default`` pointing at
  it (Login URL = emulator URL, CA bundle = emulator certificate), so the Test button and the DAG work at once;
* the pool ``salesforce_api`` the DAG uses, and the Variables ``rudder_sf_events_base`` / ``rudder_sf_dead_letter``;
* synthetic staged identify events (``<base>/YYYY/MM/DD/HH/*.jsonl.gz``) for the current hour and the hours
  before it, so a triggered run (or the next scheduled one) has something to sync;
* Airflow with ``[core] test_connection = Enabled``, no example DAGs, and the repository's ``dags/`` folder.

It prints the URL, user and password, and keeps running until Ctrl-C, then stops Airflow and the emulator.

The test suite (``tests/ui``) imports :class:`AirflowStandalone`, :func:`free_port` and :func:`stage_events` from
here, so the browser test and a person's session start Airflow the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "dags"
DAG_ID = "rudder_sf_identify_sync"
CONN_ID = "rudder_salesforce_default"
POOL = "salesforce_api"
HEALTH_PATH = "/api/v2/monitor/health"
COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there, else a free port the kernel picks."""
    if preferred:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stage_events(base: Path, hour: datetime, *, events: int = 400, people: int = 150, seed: int = 7) -> Path:
    """Write one gzipped JSON Lines file of synthetic identify events under ``<base>/YYYY/MM/DD/HH/``."""
    from rudder_sf_emulator.synthetic import SyntheticSpec, generate_lines

    hour = hour.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    folder = base / hour.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"identifies-{seed}.jsonl.gz"
    spec = SyntheticSpec(events=events, distinct_emails=people, seed=seed, start=hour, span=timedelta(hours=1))
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for line in generate_lines(spec):
            out.write(line + "\n")
    return path


def prepare_emulator(emulator: Any) -> Any:
    """Declare the custom fields the synthetic events need on Lead and Contact."""
    from rudder_sf_emulator.synthetic import CUSTOM_FIELDS

    for sobject in ("Lead", "Contact"):
        emulator.declare_fields(sobject, CUSTOM_FIELDS)
    return emulator


class AirflowStandalone:
    """``airflow standalone`` in its own process group, on 127.0.0.1:<port>, stopped (all of it) by :meth:`stop`."""

    def __init__(self, home: Path, port: int, *, extra_env: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = self.home / "standalone.log"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # never send localhost calls through a proxy from the environment

    # -- lifecycle --
    def environment(self) -> dict[str, str]:
        # Drop the caller's Airflow settings (tests/conftest.py sets unit-test mode and its own home).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            {
                "PATH": bin_dir + os.pathsep + env.get("PATH", ""),  # standalone starts its parts as `airflow ...`
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                # Only the runs you trigger: the hourly DAG's run for the current hour would wait hours for files
                # the demo does not stage (and block manual runs, max_active_runs=1).
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 240.0) -> AirflowStandalone:
        self.home.mkdir(parents=True, exist_ok=True)
        airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [airflow, "standalone"],
                env=self.environment(),
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() can reach every part it started
                preexec_fn=_default_sigint,
            )
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Poll the health endpoint until every component reports healthy (no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                resp = self._http.get(self.base_url + HEALTH_PATH, timeout=5)
                last = resp.json() if resp.ok else resp.status_code
            except (requests.RequestException, ValueError) as exc:
                last = repr(exc)
            if isinstance(last, dict) and all(last.get(c, {}).get("status") == "healthy" for c in COMPONENTS):
                return last
            time.sleep(0.5)
        raise TimeoutError(f"Airflow not healthy after {timeout:.0f}s (last answer: {last})\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT to standalone (it shuts its parts down), then SIGTERM/SIGKILL to whatever of its group is left."""
        proc, self.process = self.process, None
        self._http.close()
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the group id is standalone's pid
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if not _group_alive(pgid):
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + grace
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def __enter__(self) -> AirflowStandalone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- auth and REST --
    @property
    def admin_password(self) -> str:
        """SimpleAuthManager writes the generated password of user ``admin`` here on first start."""
        data = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        return str(data["admin"])

    def token(self) -> str:
        if self._token is None:
            resp = self._http.post(
                self.base_url + "/auth/token",
                json={"username": "admin", "password": self.admin_password},
                timeout=30,
            )
            resp.raise_for_status()
            self._token = str(resp.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, payload: Any = None, *, ok: tuple[int, ...] = ()) -> Any:
        """Call ``/api/v2<path>`` as admin; raise on an error status not listed in ``ok``."""
        resp = self._http.request(
            method,
            f"{self.base_url}/api/v2{path}",
            json=payload,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
        )
        if resp.status_code >= 400 and resp.status_code not in ok:
            raise RuntimeError(f"{method} /api/v2{path} -> {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """Until the dag-processor has parsed ``dag_id``; import errors fail at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = [
                e
                for e in self.api("GET", "/importErrors?limit=100")["import_errors"]
                if Path(e.get("filename", "")).stem == dag_id  # other DAG files' errors are not this DAG's
            ]
            if errors:
                raise RuntimeError(f"DAG {dag_id} does not import: {json.dumps(errors)[:3000]}")
            dag = self.api("GET", f"/dags/{dag_id}", ok=(404,))
            if dag and dag.get("dag_id") == dag_id:
                return dict(dag)
            time.sleep(1.0)
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout:.0f}s\n{self.log_tail()}")

    def set_variable(self, key: str, value: str) -> None:
        body = {"key": key, "value": value}
        if self.api("GET", f"/variables/{key}", ok=(404,)).get("key") == key:
            self.api("PATCH", f"/variables/{key}", body)
        else:
            self.api("POST", "/variables", body)

    def ensure_pool(self, name: str, slots: int) -> None:
        if self.api("GET", f"/pools/{name}", ok=(404,)).get("name") != name:
            self.api("POST", "/pools", {"name": name, "slots": slots, "description": "Salesforce API"})


def _default_sigint() -> None:
    """A shell's background job inherits SIGINT ignored; standalone only shuts down cleanly on SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _setup_demo(airflow: AirflowStandalone, emulator: Any, data: Path, hours: int) -> None:
    events, dead = data / "events", data / "dead-letters"
    airflow.ensure_pool(POOL, 4)
    airflow.set_variable("rudder_sf_events_base", str(events))
    airflow.set_variable("rudder_sf_dead_letter", str(dead))
    conn = emulator.connection_dict(CONN_ID)
    body = {
        "connection_id": CONN_ID,
        "conn_type": conn["conn_type"],
        "host": conn["host"],
        "login": conn["login"],
        "password": conn["password"],
        "extra": json.dumps(conn["extra"]),
    }
    if airflow.api("GET", f"/connections/{CONN_ID}", ok=(404,)).get("connection_id") == CONN_ID:
        airflow.api("PATCH", f"/connections/{CONN_ID}", body)
    else:
        airflow.api("POST", "/connections", body)
    now = datetime.now(timezone.utc)
    for back in range(hours):
        stage_events(events, now - timedelta(hours=back), seed=7 + back)


@contextlib.contextmanager
def demo_airflow(home: Path, port: int, hours: int = 3) -> Iterator[tuple[AirflowStandalone, Any]]:
    """Emulator + Airflow with the demo connection, pool, Variables and staged events; everything stops at exit."""
    from rudder_sf_emulator.client import start_emulator

    data = home / "rudder-sf"
    with start_emulator(home / "emulator") as emulator, AirflowStandalone(home, port) as airflow:
        prepare_emulator(emulator)
        _setup_demo(airflow, emulator, data, hours)
        yield airflow, emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=REPO / ".airflow", help="AIRFLOW_HOME (default .airflow/)")
    parser.add_argument("--port", type=int, default=8080, help="API server port (default 8080, else a free one)")
    parser.add_argument("--hours", type=int, default=3, help="hours of staged events to write (default 3)")
    args = parser.parse_args(argv)
    port = free_port(args.port)
    home = args.home.resolve()
    print(f"Starting Airflow in {home} (log: {home / 'standalone.log'}) ...", flush=True)
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        with demo_airflow(home, port, args.hours) as (airflow, emulator):
            print(
                f"\nAirflow UI:   {airflow.base_url}\n"
                f"User:         admin\nPassword:     {airflow.admin_password}\n"
                f"Connection:   {CONN_ID} -> {emulator.base_url} (Salesforce emulator)\n"
                f"DAG:          {DAG_ID} (paused: unpause it, or press Trigger)\n"
                f"Events:       {home / 'rudder-sf' / 'events'}\n"
                "Press Ctrl-C to stop Airflow and the emulator.",
                flush=True,
            )
            while not stop["now"]:
                time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
