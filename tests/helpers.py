"""Shared test helpers: a PostgreSQL database per test, and slices of the real data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = os.environ.get("FLYWHEEL_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the machine's PostgreSQL, dropped afterwards.

    Without a server the test is skipped with the reason, unless FLYWHEEL_REQUIRE_POSTGRES=1 (set by .ci/run),
    which turns the skip into a failure so CI always runs these tests.
    """
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); these tests need it"
        if os.environ.get("FLYWHEEL_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " and FLYWHEEL_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(message)
    name = f"flywheel_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'create database "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'drop database if exists "{name}" with (force)')
