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
