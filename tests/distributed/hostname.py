"""``[core] hostname_callable`` for the test's Celery workers: both run on this machine, so each names itself from
``RUDDER_SF_WORKER_HOSTNAME`` (set per worker), and task instances record which worker ran them."""

from __future__ import annotations

import os


def worker_hostname() -> str:
    return os.environ["RUDDER_SF_WORKER_HOSTNAME"]
