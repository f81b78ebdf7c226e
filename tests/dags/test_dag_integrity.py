"""DAG integrity, after Airflow's own test_example_dags: every DAG imports, and parsing a DAG file makes no
database query and opens no connection (files, yes: specs, suites and the dbt manifest are config)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flywheel.settings import get_settings

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the test home's manifest

DAG_FILES = sorted((get_settings().project_dir / "dags").glob("*.py"))

# Run in a fresh interpreter so that nothing imported by other tests hides a connection made at import time.
_PARSE_WITH_CONNECTIONS_FORBIDDEN = textwrap.dedent("""
    import json, runpy, socket, sqlite3, sys

    attempts = []

    def forbid(what):
        def refuse(*args, **kwargs):
            attempts.append(what)
            raise RuntimeError(f"{what} at DAG parse time")
        return refuse

    socket.socket.connect = forbid("socket connect")
    socket.create_connection = forbid("socket connect")
    sqlite3.connect = forbid("sqlite3 connect")
    import duckdb, psycopg, sqlalchemy.engine
    duckdb.connect = forbid("duckdb connect")
    psycopg.connect = forbid("psycopg connect")
    sqlalchemy.engine.Engine.connect = forbid("SQLAlchemy connect")
    from airflow.sdk import DAG

    found = {}
    for path in sys.argv[1:]:
        namespace = runpy.run_path(path)
        found[path] = sorted(v.dag_id for v in namespace.values() if isinstance(v, DAG))
    print(json.dumps({"dags": found, "attempts": attempts}))
""")


def _parse(*paths) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_WITH_CONNECTIONS_FORBIDDEN, *map(str, paths)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_parsing_dag_files_opens_no_connection():
    result = _parse(*DAG_FILES)
    assert result["attempts"] == []
    by_file = {os.path.basename(k): v for k, v in result["dags"].items()}
    models = [p.stem for p in sorted(get_settings().models_dir.glob("*.yaml"))]
    assert by_file == {
        "canary.py": sorted([*(f"canary__{m}" for m in models), *(f"score__{m}" for m in models)]),
        "ingest.py": ["ingest"],
        "monitor.py": [f"monitor__{p.stem}" for p in sorted(get_settings().monitoring_dir.glob("*.yaml"))],
        "train.py": [f"train__{p.stem}" for p in sorted(get_settings().models_dir.glob("*.yaml"))],
        "transform.py": ["transform"],
    }


def test_dagbag_has_no_import_errors_and_every_dag_is_documented(dagbag):
    bag = dagbag
    assert bag.import_errors == {}
    monitored = len(list(get_settings().monitoring_dir.glob("*.yaml")))
    assert len(bag.dags) == 2 + 3 * len(list(get_settings().models_dir.glob("*.yaml"))) + monitored
    for dag in bag.dags.values():
        assert dag.doc_md and "flywheel" in dag.tags, dag.dag_id
        assert dag.max_active_runs == 1


def test_each_dbt_model_is_its_own_task_and_each_mart_is_validated_after_its_own_build(dagbag):
    dag = dagbag.dags["transform"]
    tasks = {t.task_id for t in dag.tasks}
    models = ("stg_hotels__bookings", "fct_bookings", "ml_booking_features")
    bike = ("stg_bike_sharing__hourly_rentals", "fct_hourly_rentals", "ml_bike_demand_features")
    assert {f"dbt.{model}_model_build" for model in (*models, *bike)} <= tasks  # `dbt build`: the model + its tests
    relationships = {  # a test of two models is its own task after both (it failed inside the first one's build)
        "ml_booking_features": "dbt.relationships_ml_booking_features_booking_key__booking_key__ref_fct_bookings__test",
        "ml_bike_demand_features": "dbt.relationships_ml_bike_demand_features_rental_hour_key__rental_hour_key"
        "__ref_fct_hourly_rentals__test",
    }
    fct = {"ml_booking_features": "fct_bookings", "ml_bike_demand_features": "fct_hourly_rentals"}
    for mart in ("ml_booking_features", "ml_bike_demand_features"):
        validate = dag.get_task(f"validate_{mart}")
        assert {t.task_id for t in validate.upstream_list} == {f"dbt.{mart}_model_build", relationships[mart]}
        test = dag.get_task(relationships[mart])
        assert {t.task_id for t in test.upstream_list} == {f"dbt.{mart}_model_build", f"dbt.{fct[mart]}_model_build"}
    # The two sources' models do not wait for each other: a broken hotel delivery does not stop the bike model.
    assert not dag.get_task("dbt.ml_bike_demand_features_model_build").get_flat_relative_ids(upstream=True) & {
        f"dbt.{model}_model_build" for model in models
    }


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_are_wiring_only(path):
    """No logic in DAG files: imports, then calls to builders from flywheel.orchestration."""
    module = ast.parse(path.read_text())
    body = [node for node in module.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    definitions = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)]
    assert not definitions, f"{path.name} defines functions or classes; put them in flywheel.orchestration"
    assert len(body) <= 5, f"{path.name} has {len(body)} statements; put logic in flywheel.orchestration"


_BAG_WITH_ERRORS = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    print(json.dumps({"dags": sorted(bag.dags), "errors": {k.split("/")[-1]: v for k, v in bag.import_errors.items()}}))
""")


def test_a_broken_spec_breaks_only_its_own_models_dags(tmp_path):
    """One invalid models/*.yaml and one invalid monitoring/*.yaml: Airflow reports each as an import error naming
    the file and the field, and every other model's DAGs load as before; `flywheel run` of a broken model's DAG
    says why instead of running."""
    import shutil

    import yaml

    settings = get_settings()
    models, monitoring = tmp_path / "models", tmp_path / "monitoring"
    shutil.copytree(settings.models_dir, models)
    shutil.copytree(settings.monitoring_dir, monitoring)
    spec = yaml.safe_load((models / "hotel_cancellation.yaml").read_text())
    spec["gates"]["primary_metric"] = "mae"  # a regression metric for a classifier
    (models / "hotel_cancellation.yaml").write_text(yaml.safe_dump(spec))
    policy = yaml.safe_load((monitoring / "bike_demand.yaml").read_text())
    policy["quality"]["max_drop"] = "a lot"
    (monitoring / "bike_demand.yaml").write_text(yaml.safe_dump(policy))
    env = {**os.environ, "FLYWHEEL_SPECS_DIR": str(models), "FLYWHEEL_MONITORING_SPECS_DIR": str(monitoring)}

    done = subprocess.run(
        [sys.executable, "-c", _BAG_WITH_ERRORS, str(settings.project_dir / "dags")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    bag = json.loads(done.stdout.strip().splitlines()[-1])
    others = [p.stem for p in sorted(models.glob("*.yaml")) if p.stem != "hotel_cancellation"]
    assert len(others) >= 2
    for model in others:
        assert {f"train__{model}", f"score__{model}", f"canary__{model}"} <= set(bag["dags"]), model
    assert "monitor__bike_demand" not in bag["dags"]
    assert {f"monitor__{m}" for m in others if m != "bike_demand"} <= set(bag["dags"])
    assert not any(d.endswith("__hotel_cancellation") for d in bag["dags"])
    assert set(bag["errors"]) == {"train.py", "canary.py", "monitor.py"}
    for file in ("train.py", "canary.py"):
        assert "models/hotel_cancellation.yaml: gates.primary_metric" in bag["errors"][file]
        assert "use one of" in bag["errors"][file]  # the rule and what to do
    assert "monitoring/bike_demand.yaml: quality.max_drop" in bag["errors"]["monitor.py"]

    ran = subprocess.run(
        [str(Path(sys.executable).parent / "flywheel"), "run", "train__hotel_cancellation"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ran.returncode == 1
    assert "models/hotel_cancellation.yaml: gates.primary_metric" in " ".join(ran.stdout.split())
