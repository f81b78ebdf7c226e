"""Airflow's ``[core] hostname_callable`` for Flywheel workers.

Several Celery workers on one host (docker compose --scale, or the topology test) share the machine's name, so
task instances could not say which worker ran them. A worker started with ``FLYWHEEL_WORKER_NAME`` reports that
name; every other process reports the fully qualified host name, Airflow's default.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    return os.environ.get("FLYWHEEL_WORKER_NAME") or socket.getfqdn()
