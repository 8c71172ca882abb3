# Two commands do everything: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: install test lint typecheck pytest demo airflow bench lock clean install-check install-constraints

install: $(STAMP)

# Re-installs only when the lock or either distribution's metadata changes; a second run does nothing. The provider
# and the emulator (emulator/, its own distribution) are both installed editable; the lock holds what both need.
$(STAMP): requirements.lock pyproject.toml emulator/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . -e ./emulator
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy emulator/src/rudder_sf_emulator airflow_provider_rudder_sf

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck ui-deps pg-deps redis-deps pytest install-check

# The built wheel in fresh Python 3.11 venvs with the oldest supported and the pinned Airflow: imports, providers
# list, and the example DAG end to end on the emulator (scripts/install_check.py). Venvs live in .install-check/
# and are reused while tests/install/*.txt (or requirements.lock) are unchanged.
INSTALL_CHECK_AIRFLOW ?= 3.0.6 3.3.2
install-check: $(STAMP)
	$(BIN)/python scripts/install_check.py $(INSTALL_CHECK_AIRFLOW)

# Re-pin the install check's other Airflow versions (tests/install/airflow-<version>.in) after a dependency change.
# Only the provider's own dependencies: the check's venvs get the provider wheel alone (the emulator it drives runs
# from this venv).
install-constraints: $(STAMP)
	for spec in tests/install/airflow-*.in; do \
		$(BIN)/uv pip compile --quiet --python-version 3.11 \
			--output-file $${spec%.in}.txt pyproject.toml $$spec || exit 1; \
	done

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_mapping.py

# Regenerate the pinned lock after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev --extra ui --extra bench \
		--output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .airflow .demo .pytest_cache .mypy_cache .ruff_cache .install-check

# Browser test prerequisites: Debian's chromium (no browser downloads are possible here).
.PHONY: ui-deps
ui-deps:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is missing and cannot be installed without root: the browser test will skip (it fails under CI=true)"

# PostgreSQL test prerequisites: Debian's postgresql binaries (initdb, pg_ctl). The tests start their own throw-away
# cluster; installing creates no system cluster (create_main_cluster = false), so none is started.
.PHONY: pg-deps
pg-deps:
	@ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && apt-get update -qq && mkdir -p /etc/postgresql-common && \
		{ [ -e /etc/postgresql-common/createcluster.conf ] || \
			echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf; } && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold \
			postgresql >/dev/null; } || \
		echo "postgresql (initdb, pg_ctl) is missing and could not be installed (needs root and apt-get): the Postgres tests will skip (they fail under CI=true)"

# Celery test prerequisites: Debian's redis-server binary (the broker of tests/distributed). The test starts its own
# server on a free loopback port; the package's system service is neither enabled nor started here.
.PHONY: redis-deps
redis-deps:
	@command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || \
	{ [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		{ [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && \
			chmod +x /usr/sbin/policy-rc.d && touch /tmp/.rudder-sf-policy-rc; }; } && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
		status=$$?; [ ! -e /tmp/.rudder-sf-policy-rc ] || rm -f /usr/sbin/policy-rc.d /tmp/.rudder-sf-policy-rc; \
		[ $$status = 0 ]; } || \
		echo "redis-server is missing and could not be installed (needs root and apt-get): the Celery test will skip (it fails under CI=true)"

# Airflow (standalone) on the demo data and the Salesforce emulator, for clicking through; Ctrl-C stops it all.
airflow: $(STAMP)
	$(BIN)/python scripts/airflow_ui.py
