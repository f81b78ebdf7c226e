from __future__ import annotations

from pathlib import Path

from flywheel.settings import Settings


def test_embedded_defaults_live_under_one_home(tmp_path: Path):
    settings = Settings(home=tmp_path)
    for uri in (
        settings.landing_uri,
        settings.archive_uri,
        settings.quarantine_uri,
        settings.reports_uri,
        settings.mlflow_artifacts_uri,
    ):
        assert Path(uri).is_relative_to(tmp_path)
    assert settings.warehouse_is_duckdb and settings.dbt_target == "dev"
    assert settings.dbt_env()["FLYWHEEL_DUCKDB_PATH"] == str(tmp_path / "warehouse.duckdb")


def test_postgres_warehouse_selects_the_prod_target():
    settings = Settings(warehouse_url="postgresql://analyst:s%40cret@db.internal:6543/warehouse")
    env = settings.dbt_env()
    assert settings.dbt_target == "prod"
    assert (
        env["FLYWHEEL_PG_HOST"],
        env["FLYWHEEL_PG_PORT"],
        env["FLYWHEEL_PG_USER"],
        env["FLYWHEEL_PG_PASSWORD"],
        env["FLYWHEEL_PG_DBNAME"],
    ) == ("db.internal", "6543", "analyst", "s@cret", "warehouse")
