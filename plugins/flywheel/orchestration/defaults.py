"""Defaults shared by every Flywheel DAG."""

from __future__ import annotations

from datetime import datetime, timedelta

START_DATE = datetime(2026, 1, 1)

DEFAULT_ARGS = {
    "owner": "flywheel",
    "retries": 1,
    "retry_delay": timedelta(seconds=30),
}
