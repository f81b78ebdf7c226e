"""Test-run templates: state that many tests start from, built once per test run and copied per test.

A template is a home with a model's bundled data landed, ingested, built by dbt and validated up to a month, and
its first champion (v1) trained, gated and promoted with the small spec (a one-point search: these tests assert
what the loop does, not how good the model is). Built under a file lock in the run's shared temporary folder, so
pytest-xdist workers build each template once between them and wait for it otherwise.

A copy takes the warehouse file, the MLflow store (SQLite), the landed/archived files, the dbt target and the
specs; not the artifact folder: the MLflow store records the template's artifact location, and runs are keyed by
id, so the copies read v1's files from the template and write their own runs beside them without clashing. A test
that creates a new experiment (another model name) gets its artifact folder in its own home as usual."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from flywheel.settings import Settings, get_settings
from tests.helpers import build_loop_until, small_spec_copies, train_first_champion


@dataclass(frozen=True)
class Template:
    model: str
    mart: str
    first: str | None  # the first month landed (None: the data's first)
    last: str  # the last month landed before v1 is trained


TEMPLATES = {
    # 2015-07 .. 2016-06: the demo's first year (49,157 bookings); v1 as the first champion.
    "hotel_first_year": Template("hotel_cancellation", "ml_booking_features", None, "2016-06"),
    # 2011-01 .. 2011-06: six months of bike hours (4,300 rows); enough for the split, seconds to train.
    "bike_first_half_year": Template("bike_demand", "ml_bike_demand_features", "2011-01", "2011-06"),
}

_READY = "template-ready"


def _build(template: Template, home: Path) -> None:
    settings = _settings(home)
    small_spec_copies(settings.project_dir, settings.models_dir, [template.model], model=template.model)
    build_loop_until(settings, template.last, template.first, mart=template.mart)
    serves_from = (pd.Timestamp(f"{template.last}-01") + pd.offsets.MonthBegin(1)).date().isoformat()
    assert train_first_champion(settings, template.model, serves_from) == "1"


def _settings(home: Path, **overrides: Any) -> Settings:
    return Settings(
        home=home,
        project_dir=get_settings().project_dir,
        specs_dir=home / "specs",
        monitoring_specs_dir=home / "monitoring",  # the specs' policies (small_spec_copies writes them)
        **overrides,
    )


def built(name: str, root: Path) -> Path:
    """The template's home under ``root`` (the test run's shared folder), built first if no worker has yet."""
    from filelock import FileLock

    home = root / name
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{name}.lock")):
        if not (home / _READY).exists():
            shutil.rmtree(home, ignore_errors=True)
            _build(TEMPLATES[name], home)
            (home / _READY).touch()
    return home


def copy_of(name: str, root: Path, home: Path, **overrides: Any) -> Settings:
    """A copy of the template in ``home`` (a new folder), with settings for it (``overrides`` as in Settings)."""
    source = built(name, root)
    shutil.copytree(
        source, home, dirs_exist_ok=True, ignore=shutil.ignore_patterns("mlartifacts", "tmp", "logs", _READY)
    )
    return _settings(home, **overrides)
