"""One registration or alias change per model at a time, across every process that shares the warehouse.

MLflow aliases have no compare-and-set, and two registrations of one run would make two versions, so the
registry's writes (register, promote, rollback) take this lock. With PostgreSQL (production: Celery workers on
several hosts) it is a session-level advisory lock, which PostgreSQL releases when the holder's connection ends,
also when its process is killed; with the embedded DuckDB warehouse (one host) it is a file lock in the home.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock

from flywheel.settings import Settings

TIMEOUT_SECONDS = 120


class RegistryLockTimeout(TimeoutError):
    pass


@contextmanager
def registry_lock(name: str, settings: Settings) -> Iterator[None]:
    if not settings.warehouse_is_duckdb:
        with _advisory_lock(settings.warehouse_url, f"flywheel.registry.{name}"):
            yield
        return
    lock_dir = settings.home / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / f"registry-{name}.lock"), timeout=TIMEOUT_SECONDS):
        yield


@contextmanager
def _advisory_lock(url: str, key: str) -> Iterator[None]:
    """Held by a connection of its own; closing it (or the process dying) releases the lock."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"set lock_timeout = '{TIMEOUT_SECONDS}s'")
        try:
            con.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (key,))
        except psycopg.errors.LockNotAvailable as exc:
            raise RegistryLockTimeout(
                f"{key}: another process has held the registry lock for {TIMEOUT_SECONDS} s; "
                "see which with: select pid, query from pg_stat_activity where wait_event = 'advisory'"
            ) from exc
        yield
