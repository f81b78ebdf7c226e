"""Warehouse access: the DuckDB file of the embedded mode, or PostgreSQL in production.

Flywheel writes only three kinds of tables: ``raw.*`` (ingested batches, all text as delivered), and ``ops.*``
(its own logs and ledgers). dbt owns ``staging`` and ``marts``. SQL in the library is written with ``?``
placeholders and portable syntax; the Postgres backend translates placeholders to psycopg's ``%s``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from flywheel.settings import Settings


class Warehouse(Protocol):
    def query_df(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def table_exists(self, schema: str, table: str) -> bool: ...
    def replace_rows(self, table: str, frame: pd.DataFrame, where: str, params: Sequence[Any]) -> None: ...


@dataclass
class DuckDBWarehouse:
    path: str

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import duckdb

        # Same configuration as dbt-duckdb (read-write): in one process, DuckDB refuses a second connection to
        # the same file with another configuration, and Cosmos runs dbt in-process.
        con = duckdb.connect(self.path)
        try:
            yield con
        finally:
            con.close()

    def query_df(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._connect() as con:
            return con.execute(sql, list(params)).df()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._connect() as con:
            con.execute(sql, list(params))

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as con:
            return con.execute(sql, list(params)).fetchall()

    def table_exists(self, schema: str, table: str) -> bool:
        rows = self.fetch_all(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?", (schema, table)
        )
        return bool(rows)

    def replace_rows(self, table: str, frame: pd.DataFrame, where: str, params: Sequence[Any]) -> None:
        """Delete the rows matching ``where`` and insert ``frame``, in one transaction."""
        with self._connect() as con:
            con.register("incoming", frame)
            con.execute("begin transaction")
            try:
                con.execute(f"delete from {table} where {where}", list(params))
                columns = ", ".join(f'"{c}"' for c in frame.columns)
                con.execute(f"insert into {table} ({columns}) select {columns} from incoming")
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise


@dataclass
class PostgresWarehouse:
    url: str

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(self.url) as con:
            yield con

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def query_df(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._connect() as con, con.cursor() as cur:
            cur.execute(self._sql(sql), list(params))
            columns = [d.name for d in cur.description or []]
            return pd.DataFrame(cur.fetchall(), columns=columns)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._connect() as con:
            con.execute(self._sql(sql), list(params))

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as con, con.cursor() as cur:
            cur.execute(self._sql(sql), list(params))
            return cur.fetchall()

    def table_exists(self, schema: str, table: str) -> bool:
        rows = self.fetch_all(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?", (schema, table)
        )
        return bool(rows)

    def replace_rows(self, table: str, frame: pd.DataFrame, where: str, params: Sequence[Any]) -> None:
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        with self._connect() as con:  # psycopg commits on clean exit, rolls back on error
            con.execute(self._sql(f"delete from {table} where {where}"), list(params))
            with con.cursor() as cur, cur.copy(f"copy {table} ({columns}) from stdin") as copy:
                for row in frame.itertuples(index=False, name=None):
                    copy.write_row([None if _is_missing(v) else v for v in row])


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def ensure_ops_table(warehouse: Warehouse, table: str, columns: str) -> None:
    """Create ``ops.<table>`` (Flywheel's own logs and ledgers) with ``columns`` if it does not exist."""
    warehouse.execute("create schema if not exists ops")
    warehouse.execute(f"create table if not exists {table} ({columns})")


def open_warehouse(settings: Settings) -> Warehouse:
    """The warehouse the settings name (jobs get theirs from the workspace, which opens it once)."""
    if settings.warehouse_is_duckdb:
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        return DuckDBWarehouse(str(settings.duckdb_path))
    return PostgresWarehouse(settings.warehouse_url)
