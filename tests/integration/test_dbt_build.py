"""The same dbt project builds, and all its tests pass, on DuckDB (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.ingest.load import ingest_landing
from flywheel.ingest.replay import land_months
from flywheel.settings import Settings, get_settings
from flywheel.storage import LocalStore
from tests.helpers import dbt_build, fresh_postgres_database, hotel_contract

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MONTHS = ("2016-01", "2016-02")
ROWS = 2248 + 3891


def _load_raw(settings: Settings, tmp_path: Path) -> None:
    contract = hotel_contract(settings.dbt_project_dir)
    stores = [LocalStore(str(tmp_path / k)) for k in ("landing", "archive", "quarantine")]
    land_months(contract, settings.project_dir, stores[0], *MONTHS)
    report = ingest_landing(contract, *stores, open_warehouse(settings))
    assert report.loaded_rows == ROWS


def _marts(settings: Settings) -> list[tuple]:
    warehouse = open_warehouse(settings)
    return [
        warehouse.fetch_all(f"select count(*), count(distinct booking_key), sum(is_canceled) from marts.{mart}")[0]
        for mart in ("fct_bookings", "ml_booking_features")
    ]


def _build(settings: Settings, tmp_path: Path) -> tuple[str, list[tuple]]:
    _load_raw(settings, tmp_path)
    out = dbt_build(settings)
    assert "ERROR=0" in out and "unit test" in out
    return out, _marts(settings)


def test_dbt_build_on_duckdb_and_postgres_gives_the_same_marts(tmp_path: Path):
    base = get_settings()
    duck = Settings(home=tmp_path / "duck", project_dir=base.project_dir)
    _, duck_marts = _build(duck, tmp_path / "duck")
    assert duck_marts == [(ROWS, ROWS, duck_marts[0][2])] * 2

    with fresh_postgres_database() as url:
        pg = Settings(home=tmp_path / "pg", project_dir=base.project_dir, warehouse_url=url)
        assert pg.dbt_target == "prod"
        _, pg_marts = _build(pg, tmp_path / "pg")
        keys = lambda s: open_warehouse(s).fetch_all(  # noqa: E731
            "select booking_key from marts.ml_booking_features order by booking_key"
        )
        assert keys(pg) == keys(duck)  # the surrogate key is the same on both warehouses
    assert pg_marts == duck_marts
