"""A real Airflow 3 cluster on the CeleryExecutor, on loopback only, for ``tests/distributed``.

* :class:`RedisServer`: Debian's ``redis-server`` on a free port (broker: db 0, Celery results: db 1), no persistence.
* :class:`CeleryCluster`: ``airflow db migrate`` on the given metadata DB, then ``airflow api-server``,
  ``airflow scheduler``, ``airflow dag-processor`` and one ``airflow celery worker`` per name, each a subprocess in its
  own session with its own log file under ``AIRFLOW_HOME/logs-processes``. Readiness is polled: the API server's health
  endpoint (metadatabase, scheduler, dag processor healthy) and a Celery ``ping`` that every worker answers.

The REST helpers (admin token, Variables, pools, ``wait_for_dag``) and the base environment (dags folder, API
host/port, Execution API URL) come from ``scripts/airflow_ui.py``'s ``AirflowStandalone``, so the UI test, ``make
airflow`` and this cluster talk to Airflow the same way.

Every worker runs with ``[core] hostname_callable`` = :func:`distributed.hostname.worker_hostname`, so task
instances record the worker's own name (``worker-a``, ``worker-b``) although both run on this machine; the Celery node
names are ``<name>@<machine>``.

:meth:`CeleryCluster.stop` ends every process the cluster started and all their descendants (task supervisors and
task processes put themselves in their own process groups, so a process-group signal alone would miss them), with
SIGTERM, then SIGKILL after a grace period. :meth:`CeleryCluster.kill_worker` SIGKILLs one worker's whole tree at once,
as when its machine is lost.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "dag_processor")  # no triggerer: nothing in the DAG defers
FINISHED = ("success", "failed")


def _load_airflow_ui() -> Any:
    """``scripts/airflow_ui.py`` (not a package), once per interpreter, under the name ``tests/ui`` gives it."""
    name = "rudder_sf_airflow_ui"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "airflow_ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


airflow_ui = _load_airflow_ui()
free_port = airflow_ui.free_port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant it has now (children first would race; the list is taken at once)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port>, in-memory only; a context manager that always stops it."""

    def __init__(self, folder: Path, binary: str) -> None:
        self.folder = Path(folder)
        self.binary = binary
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.folder / "redis.log"

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 30.0) -> RedisServer:
        import redis

        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--protected-mode", "yes"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{_tail(self.log_path)}")
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return self
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server not answering PING after {timeout:.0f}s")
                time.sleep(0.05)  # pause between polls of a condition
        except BaseException:
            self.stop()
            raise
        finally:
            client.close()

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CeleryCluster(airflow_ui.AirflowStandalone):  # type: ignore[misc,name-defined]
    """Scheduler, API server, DAG processor and Celery workers as separate processes sharing one configuration."""

    def __init__(
        self,
        home: Path,
        *,
        database_url: str,
        broker_url: str,
        result_backend: str,
        workers: tuple[str, ...] = ("worker-a", "worker-b"),
        concurrency: int = 2,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(Path(home), free_port(), extra_env=settings)
        self.database_url = database_url
        self.broker_url = broker_url
        self.result_backend = result_backend
        self.workers = workers
        self.concurrency = concurrency
        self.logs = self.home / "logs-processes"
        self.log_path = self.logs / "api-server.log"
        self.services: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[str] = set()
        self._secrets = {
            "AIRFLOW__CORE__FERNET_KEY": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        }

    # -- configuration --
    def environment(self) -> dict[str, str]:
        """What every component gets: the base (``AirflowStandalone``), the executor, DB and broker, then the
        caller's settings; secrets shared by all (the scheduler signs task tokens the API server must accept)."""
        env = super().environment()
        env.update(self._secrets)
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": self.result_backend,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            }
        )
        env.update(self.extra_env)
        return env

    def worker_environment(self, name: str) -> dict[str, str]:
        env = self.environment()
        env["RUDDER_SF_WORKER_HOSTNAME"] = name
        env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "distributed.hostname.worker_hostname"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
        return env

    # -- lifecycle --
    def _airflow(self) -> str:
        return shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.services[name] = subprocess.Popen(
                [self._airflow(), *args],
                env=env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def start(self, timeout: float = 240.0) -> CeleryCluster:
        self.logs.mkdir(parents=True, exist_ok=True)
        begun = time.monotonic()
        with open(self.logs / "db-migrate.log", "ab") as log:
            migrate = subprocess.run(
                [self._airflow(), "db", "migrate"],
                env=self.environment(),
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{_tail(self.logs / 'db-migrate.log')}")
        try:
            env = self.environment()
            self._spawn("api-server", ["api-server"], env)
            self._spawn("scheduler", ["scheduler"], env)
            self._spawn("dag-processor", ["dag-processor"], env)
            for name in self.workers:
                args = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
                args += ["--pid", str(self.home / f"{name}.pid")]
                self._spawn(name, args, self.worker_environment(name))
            deadline = begun + timeout
            self.wait_healthy(deadline - time.monotonic())
            self.wait_workers(max(deadline - time.monotonic(), 30.0))
        except BaseException:
            self.stop()
            raise
        return self

    def check_alive(self) -> None:
        """Fail at once, with its log, when a component that was not killed on purpose has exited."""
        for name, proc in self.services.items():
            if name not in self.killed and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{_tail(self.logs / f'{name}.log')}")

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                resp = self._http.get(self.base_url + airflow_ui.HEALTH_PATH, timeout=5)
                last = resp.json() if resp.ok else resp.status_code
            except (OSError, ValueError, airflow_ui.requests.RequestException) as exc:
                last = repr(exc)
            if isinstance(last, dict) and all(last.get(c, {}).get("status") == "healthy" for c in HEALTH_COMPONENTS):
                return last
            time.sleep(0.5)
        raise TimeoutError(f"Airflow not healthy after {timeout:.0f}s (last answer: {last})\n{self.log_tail()}")

    def ping_workers(self) -> set[str]:
        """The worker names (before ``@``) whose Celery nodes answer a broadcast ping now."""
        from celery import Celery

        app = Celery("rudder-sf-ping", broker=self.broker_url)
        try:
            replies = app.control.ping(timeout=1.0)
        finally:
            app.close()
        return {node.split("@", 1)[0] for reply in replies for node in reply}

    def wait_workers(self, timeout: float) -> set[str]:
        deadline = time.monotonic() + timeout
        answered: set[str] = set()
        while time.monotonic() < deadline:
            self.check_alive()
            answered = self.ping_workers()
            if answered >= set(self.workers):
                return answered
        raise TimeoutError(f"Celery workers {self.workers} not all answering (got {answered})\n{self.log_tail()}")

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL the worker and everything under it in one go (its machine is lost); returns the pids killed."""
        procs = _tree(self.services[name].pid)
        self.killed.add(name)
        _signal_all(procs, signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
        self.services[name].wait(10)
        return [proc.pid for proc in procs]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to every started process and its descendants, SIGKILL to whatever is left after ``timeout``."""
        services, self.services = self.services, {}
        self._http.close()
        procs = [proc for service in services.values() for proc in _tree(service.pid)]
        _signal_all(procs, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        _signal_all(alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)
        for service in services.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        names = ["db-migrate", "api-server", "scheduler", "dag-processor", *self.workers]
        return "\n".join(f"--- {name} ---\n{_tail(self.logs / f'{name}.log', lines)}" for name in names)

    # -- REST --
    def set_connection(self, conn_id: str, conn: dict[str, Any]) -> None:
        import json

        body = {
            "connection_id": conn_id,
            "conn_type": conn["conn_type"],
            "host": conn.get("host"),
            "login": conn.get("login"),
            "password": conn.get("password"),
            "extra": json.dumps(conn.get("extra") or {}),
        }
        if self.api("GET", f"/connections/{conn_id}", ok=(404,)).get("connection_id") == conn_id:
            self.api("PATCH", f"/connections/{conn_id}", body)
        else:
            self.api("POST", "/connections", body)

    def trigger(self, dag_id: str, run_id: str, start: Any, end: Any, conf: dict[str, Any] | None = None) -> Any:
        """A manual run for the data interval [start, end) (logical date = end, as the hourly schedule would)."""
        body = {
            "dag_run_id": run_id,
            "logical_date": end.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": end.isoformat(),
            "conf": conf or {},
        }
        return self.api("POST", f"/dags/{dag_id}/dagRuns", body)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state in FINISHED:
                return state
            time.sleep(1.0)
        raise TimeoutError(f"run {run_id} still {state} after {timeout:.0f}s\n{self.log_tail()}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=1000"
        return list(self.api("GET", path)["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[dict[str, Any]]:
        """Every try of one task instance (earlier tries from the history, then the current one)."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/{map_index}/tries"
        return list(self.api("GET", path)["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = (
            f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
            f"?map_index={map_index}&deserialize=true"
        )
        return self.api("GET", path)["value"]


@contextlib.contextmanager
def running_cluster(home: Path, **kwargs: Any) -> Iterator[CeleryCluster]:
    cluster = CeleryCluster(home, **kwargs)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
