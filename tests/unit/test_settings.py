from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("FLYWHEEL_LANDING_URI", "gs://bucket/landing", "expected a local path, s3://..."),
        ("FLYWHEEL_REPORTS_URI", "s3:///reports", "names its bucket"),
        ("FLYWHEEL_WAREHOUSE_URL", "mysql://db/warehouse", "expected duckdb://..., postgresql://..."),
        ("FLYWHEEL_WAREHOUSE_URL", "duckdb:///", "names its file"),
        ("FLYWHEEL_MLFLOW_TRACKING_URI", "htp://mlflow:5000", "expected sqlite://..."),
        ("FLYWHEEL_S3_ENDPOINT_URL", "minio:9000", "expected http://..., https://..."),
    ],
)
def test_a_wrong_location_stops_start_up_naming_the_variable(monkeypatch, tmp_path, variable, value, words):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        Settings(home=tmp_path)
    assert f"{variable}={value!r}" in str(error.value) and words in str(error.value)


def test_production_locations_are_accepted(monkeypatch, tmp_path):
    for variable, value in {
        "FLYWHEEL_LANDING_URI": "s3://flywheel/landing",
        "FLYWHEEL_WAREHOUSE_URL": "postgresql://flywheel@postgres:5432/warehouse",
        "FLYWHEEL_MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "FLYWHEEL_S3_ENDPOINT_URL": "http://minio:9000",
    }.items():
        monkeypatch.setenv(variable, value)
    settings = Settings(home=tmp_path)
    assert settings.landing_uri == "s3://flywheel/landing" and not settings.warehouse_is_duckdb


def test_a_project_folder_without_the_project_stops_start_up(tmp_path):
    with pytest.raises(ValidationError) as error:
        Settings(home=tmp_path, project_dir=tmp_path)
    assert "FLYWHEEL_PROJECT_DIR=" in str(error.value) and "no dbt_project/ folder" in str(error.value)
