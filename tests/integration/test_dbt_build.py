"""The same dbt project builds, and all its tests pass, on DuckDB (embedded) and PostgreSQL (production), for both
sources: the hotel bookings and the bike-sharing hours (whose mart joins each hour to the same hour a day and a
week earlier: interval arithmetic that must mean the same on both warehouses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.ingest.contract import load_contracts
from flywheel.ingest.load import ingest_landing
from flywheel.settings import Settings, get_settings
from flywheel.storage import LocalStore
from flywheel_replay.landing import land_months
from tests.helpers import dbt_build, fresh_postgres_database, hotel_contract

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MONTHS = ("2016-01", "2016-02")
ROWS = 2248 + 3891
BIKE_MONTHS = ("2011-01", "2011-02")
BIKE_ROWS = 688 + 649  # hours present in the data (some hours had no rental and are absent)


def _load_raw(settings: Settings, tmp_path: Path) -> None:
    hotels = hotel_contract(settings.dbt_project_dir)
    (bikes,) = [c for c in load_contracts(settings.dbt_project_dir) if c.qualified_table == "raw.bike_hourly_rentals"]
    stores = [LocalStore(str(tmp_path / k)) for k in ("landing", "archive", "quarantine")]
    for contract, months, rows in ((hotels, MONTHS, ROWS), (bikes, BIKE_MONTHS, BIKE_ROWS)):
        land_months(contract, settings.project_dir, stores[0], *months)
        report = ingest_landing(contract, *stores, open_warehouse(settings))
        assert report.loaded_rows == rows


def _marts(settings: Settings) -> list[tuple]:
    warehouse = open_warehouse(settings)
    return [
        *(
            warehouse.fetch_all(f"select count(*), count(distinct booking_key), sum(is_canceled) from marts.{mart}")[0]
            for mart in ("fct_bookings", "ml_booking_features")
        ),
        warehouse.fetch_all(
            "select count(*), count(distinct rental_hour_key), sum(rentals), count(rentals_same_hour_previous_day), "
            "sum(rentals_same_hour_previous_day), count(rentals_same_hour_previous_week), "
            "sum(rentals_same_hour_previous_week) from marts.ml_bike_demand_features"
        )[0],
    ]


def _personal_columns_beyond_raw(settings: Settings) -> list[tuple]:
    """Columns named like a source column tagged ``flywheel_pii`` in any built relation outside ``raw``. Renamed
    copies are the behavioural test's to find (tests/reliability/test_personal_data.py follows the values)."""
    tagged = {c.name for contract in load_contracts(settings.dbt_project_dir) for c in contract.columns if c.pii}
    assert tagged, "no source declares personal data: nothing to check"
    return open_warehouse(settings).fetch_all(
        "select table_schema, table_name, column_name from information_schema.columns "
        f"where table_schema not in ('raw', 'information_schema', 'pg_catalog') "
        f"and column_name in ({', '.join('?' for _ in tagged)})",
        sorted(tagged),
    )


def _hours_with_an_earlier_hour(project_dir: Path) -> tuple[int, int]:
    import pandas as pd

    data = pd.read_csv(project_dir / "data" / "bike_sharing" / "hour.csv.gz")
    data = data[data["dteday"].str[:7].isin(BIKE_MONTHS)]
    hours = pd.to_datetime(data["dteday"]) + pd.to_timedelta(data["hr"], unit="h")
    present = set(hours)
    return tuple(int(sum(h - pd.Timedelta(days=d) in present for h in hours)) for d in (1, 7))  # type: ignore[return-value]


def _build(settings: Settings, tmp_path: Path) -> tuple[str, list[tuple]]:
    _load_raw(settings, tmp_path)
    out = dbt_build(settings)
    assert "ERROR=0" in out and "unit test" in out
    assert _personal_columns_beyond_raw(settings) == []  # staging drops or hashes every tagged column
    return out, _marts(settings)


def test_dbt_build_on_duckdb_and_postgres_gives_the_same_marts(tmp_path: Path):
    base = get_settings()
    duck = Settings(home=tmp_path / "duck", project_dir=base.project_dir)
    _, duck_marts = _build(duck, tmp_path / "duck")
    assert duck_marts[:2] == [(ROWS, ROWS, duck_marts[0][2])] * 2
    bike = duck_marts[2]
    assert bike[:2] == (BIKE_ROWS, BIKE_ROWS)
    # The earlier hours are joined exactly: the same counts as pandas finds in the delivered file.
    assert (bike[3], bike[5]) == _hours_with_an_earlier_hour(base.project_dir)

    with fresh_postgres_database() as url:
        pg = Settings(home=tmp_path / "pg", project_dir=base.project_dir, warehouse_url=url)
        assert pg.dbt_target == "prod"
        _, pg_marts = _build(pg, tmp_path / "pg")
        keys = lambda s: open_warehouse(s).fetch_all(  # noqa: E731
            "select booking_key from marts.ml_booking_features order by booking_key"
        )
        assert keys(pg) == keys(duck)  # the surrogate key is the same on both warehouses
    assert pg_marts == duck_marts
