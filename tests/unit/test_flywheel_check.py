"""`flywheel check` on a copy of the project: the shipped files pass, and each kind of mistake a new user makes is
named by file and field, in seconds, without stopping the check of the other files."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from flywheel.decisions.config_check import Mart, ProjectFacts, spec_problems, type_family
from flywheel.jobs.check import check_project
from flywheel.settings import get_settings
from flywheel.specs import load_spec

PROJECT = get_settings().project_dir


def _warehouse(path: Path) -> None:
    """The marts as a built home has them (typed columns, a 0/1 label, the outcome's three classes), plus a text
    column for one mistake."""
    connection = duckdb.connect(str(path))
    connection.execute("create schema marts")
    for spec_file in ("hotel_cancellation", "bike_demand", "booking_outcome"):
        spec = load_spec(PROJECT / "models" / f"{spec_file}.yaml")
        s = spec.source
        columns = [f"cast('1' as varchar) as {s.id_column}", f"date '2016-01-01' as {s.event_time_column}"]
        columns += [f"cast('2016-01' as varchar) as {s.partition_column}", "cast('yes' as varchar) as label_text"]
        columns += [f"cast(1.0 as double) as {c}" for c in spec.features.numeric]
        columns += [f"cast('a' as varchar) as {c}" for c in spec.features.categorical]
        label = "cast(v as integer)" if spec.task == "binary_classification" else "cast(v as double)"
        values = "(0), (1)"
        if spec.classes:
            label, values = "v", ", ".join(f"('{c}')" for c in spec.classes)
        connection.execute(
            f"create table marts.{s.mart} as select {', '.join(columns)}, {label} as {s.target_column} "
            f"from (values {values}) t(v)"
        )
    connection.close()


@pytest.fixture
def project(tmp_path, dbt_manifest):  # type: ignore[no-untyped-def]
    """A copy of the project's models, monitoring files and suites beside the real dbt project, with a home whose
    warehouse has both marts built."""
    root, home = tmp_path / "project", tmp_path / "home"
    for folder in ("models", "monitoring", "expectations"):
        shutil.copytree(PROJECT / folder, root / folder)
    (root / "dbt_project").symlink_to(PROJECT / "dbt_project")
    (home / "dbt_target").mkdir(parents=True)
    shutil.copy(dbt_manifest, home / "dbt_target" / "manifest.json")
    _warehouse(home / "warehouse.duckdb")
    settings = get_settings().model_copy(
        update={
            "project_dir": root,
            "home": home,
            "warehouse_url": f"duckdb:///{home / 'warehouse.duckdb'}",
            "specs_dir": None,
        }
    )
    return root, settings


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_the_shipped_files_pass(project):
    _, settings = project
    report = check_project(settings)
    assert report.problems == [] and report.unbuilt_marts == []
    assert report.files == 9  # three models, their monitoring files and suites


def _rename_class(document: dict, old: str, new: str) -> None:  # type: ignore[type-arg]
    """The spec speaks of a class the mart does not have (its classes and value matrix agree with each other)."""
    rename = {old: new}
    document["classes"] = [rename.get(c, c) for c in document["classes"]]
    values = document["business"]["values"]
    document["business"]["values"] = {
        rename.get(a, a): {rename.get(d, d): v for d, v in row.items()} for a, row in values.items()
    }


HOTEL = "models/hotel_cancellation.yaml"
MISTAKES = {
    "missing column": (
        HOTEL,
        lambda d: d["features"]["numeric"].__setitem__(0, "lead_tme"),
        "features.numeric[0]",
        "'lead_tme' is not a column of marts.ml_booking_features (did you mean lead_time?)",
    ),
    "wrong type": (
        HOTEL,
        lambda d: d["features"]["numeric"].append(d["features"]["categorical"].pop(0)),
        "features.numeric[15]",
        "'hotel' is text in marts.ml_booking_features, not a number",
    ),
    "text label in a binary task": (
        HOTEL,
        lambda d: d["source"].__setitem__("target_column", "label_text"),
        "source.target_column",
        "a binary_classification label must be 0/1",
    ),
    "label value not among the classes": (
        "models/booking_outcome.yaml",
        lambda d: _rename_class(d, "No-Show", "Noshow"),
        "classes",
        "'booking_outcome' in marts.ml_booking_outcome_features holds 'No-Show', not among classes",
    ),
    "leaking column": (
        HOTEL,
        lambda d: d["features"]["categorical"].append("reservation_status"),
        "features.categorical[9]",
        "leaks the label",
    ),
    "personal column": (
        HOTEL,
        lambda d: d["features"]["categorical"].append("email"),
        "features.categorical[9]",
        "is personal data",
    ),
    "unknown metric for the task": (
        HOTEL,
        lambda d: d["gates"].__setitem__("primary_metric", "mae"),
        "gates.primary_metric",
        "does not judge a binary_classification model",
    ),
    "warm start for an estimator that cannot": (
        HOTEL,
        lambda d: (
            d["estimator"].update(class_path="sklearn.ensemble.RandomForestClassifier", params={}, search_space={}),
            d.__setitem__("retrain", {"strategy": "warm_start"}),
        ),
        "retrain.strategy",
        "RandomForestClassifier cannot: use strategy: full",
    ),
    "mart missing": (HOTEL, lambda d: d["source"].__setitem__("mart", "ml_bookings"), "source.mart", "no dbt model"),
    "misspelt field": (HOTEL, lambda d: d.__setitem__("featurs", d.pop("features")), "featurs", "Extra inputs"),
    "bad cron": (
        "monitoring/bike_demand.yaml",
        lambda d: (d.pop("window", None), d.__setitem__("schedule", "61 * * * *")),
        "schedule",
        "is not a cron expression",
    ),
}


@pytest.mark.parametrize("kind", MISTAKES)
def test_each_mistake_is_named_by_file_and_field_in_seconds(project, kind):
    root, settings = project
    file, change, field, message = MISTAKES[kind]
    _edit(root / file, change)
    started = time.monotonic()
    report = check_project(settings)
    seconds = time.monotonic() - started
    found = [p for p in report.problems if p.file == file and p.field == field and message in p.message]
    assert found, [p.describe() for p in report.problems]
    assert all(p.fix for p in report.problems)
    assert seconds < 10, seconds
    # One broken file does not stop the others from being checked: the bike model is still judged against its mart.
    assert not [p for p in report.problems if p.file.startswith("models/bike")]


def test_a_suite_for_a_missing_mart_and_a_monitoring_file_without_its_model(project):
    root, settings = project
    suite = json.loads((root / "expectations" / "ml_booking_features.json").read_text())
    (root / "expectations" / "ml_bookings.json").write_text(json.dumps({**suite, "name": "ml_bookings"}))
    shutil.copy(root / "monitoring" / "bike_demand.yaml", root / "monitoring" / "bike_demnd.yaml")
    described = [p.describe() for p in check_project(settings).problems]
    assert (
        "expectations/ml_bookings.json: no dbt model 'ml_bookings': a suite is named after the mart it validates. "
        "rename or delete it" in described
    ), described
    assert any(d.startswith("monitoring/bike_demnd.yaml: there is no models/bike_demnd.yaml") for d in described)


def test_an_unbuilt_mart_is_checked_by_name_only():
    spec = load_spec(PROJECT / "models" / "hotel_cancellation.yaml")
    facts = ProjectFacts(frozenset({"ml_booking_features"}))
    assert spec_problems(spec, HOTEL, facts) == []
    built = ProjectFacts(facts.dbt_models, {"ml_booking_features": Mart({"booking_key": "text"})})
    assert {p.field for p in spec_problems(spec, HOTEL, built)} >= {"source.event_time_column", "features.numeric[0]"}


@pytest.mark.parametrize(
    ("sql_type", "family"),
    [
        ("INTEGER", "number"),
        ("DOUBLE", "number"),
        ("numeric(10,2)", "number"),
        ("VARCHAR", "text"),
        ("character varying", "text"),
        ("DATE", "date/time"),
        ("timestamp with time zone", "date/time"),
        ("BOOLEAN", "boolean"),
    ],
)
def test_type_families(sql_type, family):
    assert type_family(sql_type) == family
