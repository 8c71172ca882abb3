"""Fixtures for the real-browser tests: Debian's chromium through Playwright, the Salesforce emulator, and
``airflow standalone`` in a temporary AIRFLOW_HOME on a free port (started the same way as ``make airflow``).

Chromium cannot be downloaded here (no ``playwright install``): the tests use ``/usr/bin/chromium`` from Debian
(``make ui-deps``). Without it the tests skip locally, and fail under ``CI=true``, where they must run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _load_airflow_ui() -> Any:
    """``scripts/airflow_ui.py`` (not a package): the one place that knows how to start Airflow for the UI."""
    spec = importlib.util.spec_from_file_location("rudder_sf_airflow_ui", REPO / "scripts" / "airflow_ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


airflow_ui = _load_airflow_ui()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the browser tests must run; install it with `make ui-deps`)", pytrace=False)
    pytest.skip(f"{reason}; install it with `make ui-deps` (as root)")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = os.environ.get("RUDDER_SF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        _unavailable(f"Debian's chromium is not installed ({path} not found)")
    if importlib.util.find_spec("playwright") is None:
        _unavailable("the Python package playwright is not installed (pip extra `ui`)")
    return path


@pytest.fixture(scope="module")
def workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The module's own temporary directory (AIRFLOW_HOME, emulator, events, browser profile).

    Not pytest's ``tmp_path``: other pytest sessions on the machine rotate those away while Airflow still runs.
    Removed afterwards, unless a test failed (then its path is printed, logs included).
    """
    path = Path(tempfile.mkdtemp(prefix="rudder-sf-ui-"))
    failed_before = request.session.testsfailed
    yield path
    if request.session.testsfailed > failed_before:
        print(f"\nUI test files kept for inspection: {path} (Airflow log: {path / 'airflow' / 'standalone.log'})")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def emulator(workdir: Path) -> Iterator[Any]:
    from rudder_sf_emulator.client import start_emulator

    with start_emulator(workdir / "emulator") as handle:
        yield airflow_ui.prepare_emulator(handle)


@pytest.fixture(scope="module")
def airflow(chromium_executable: str, workdir: Path) -> Iterator[Any]:
    """A running ``airflow standalone`` (all components healthy); every process it started is stopped after."""
    home = workdir / "airflow"
    server = airflow_ui.AirflowStandalone(home, airflow_ui.free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium_executable: str, workdir: Path) -> Iterator[BrowserContext]:
    """Debian chromium with a fresh, empty profile directory (Playwright passes it as --user-data-dir)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(workdir / "chromium-profile"),
            executable_path=chromium_executable,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def page(browser: BrowserContext) -> Page:
    return browser.new_page()


@pytest.fixture(scope="session")
def stage_events() -> Any:
    """``stage_events(base, hour, ...)``: synthetic identify events as ``<base>/YYYY/MM/DD/HH/*.jsonl.gz``."""
    return airflow_ui.stage_events


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """``docs/screenshots`` (the README's pictures), or ``$RUDDER_SF_SCREENSHOTS_DIR`` to keep the tree clean."""
    folder = Path(os.environ.get("RUDDER_SF_SCREENSHOTS_DIR") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
