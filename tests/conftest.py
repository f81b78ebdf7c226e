"""Test-wide setup: all local state in a fresh temporary FLYWHEEL_HOME, never the developer's .flywheel/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="flywheel-test-"))
os.environ["FLYWHEEL_HOME"] = str(_HOME)
os.environ.setdefault("TMPDIR", str(_HOME / "tmp"))  # MLflow leaves a temp dir behind per models:/ load
(_HOME / "tmp").mkdir(exist_ok=True)
tempfile.tempdir = None

from flywheel.settings import apply_environment, get_settings  # noqa: E402

get_settings.cache_clear()
apply_environment()

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


def _run(args: list[str], cwd: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [str(Path(sys.executable).parent / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """A clean clone has no dbt manifest; the DAGs render from it (as after `flywheel init`)."""
    _run(
        ["dbt", "parse", "--quiet", "--target-path", str(get_settings().dbt_target_path)],
        get_settings().dbt_project_dir,
    )
    return get_settings().dbt_manifest_path


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database (SQLite under the test home), for dag.test()."""
    _run(["airflow", "db", "migrate"], PROJECT_DIR)
