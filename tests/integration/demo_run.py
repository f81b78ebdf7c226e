"""`flywheel` and `flywheel-replay` as a user runs them on a home of their own, for the demo tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flywheel.settings import get_settings


def clean_env(home: Path, webhook: str) -> dict[str, str]:
    """The user's environment: nothing from this test process's embedded setup, one home, one webhook, and the
    home's own spec copies where it has them (``specs/``: the shipped specs with a one-candidate search)."""
    prefixes = ("AIRFLOW", "MLFLOW", "FLYWHEEL_", "DBT_", "GX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    specs = {"FLYWHEEL_SPECS_DIR": str(home / "specs")} if (home / "specs").is_dir() else {}
    return {**env, "FLYWHEEL_HOME": str(home), "FLYWHEEL_ALERT_WEBHOOK_URL": webhook, **specs}


def flywheel(
    home: Path, args: list[str], timeout: float, webhook: str = "http://127.0.0.1:9/unused", command: str = "flywheel"
) -> str:
    """``<command> <args>`` as a user runs it on ``home`` (``flywheel``, or ``flywheel-replay`` for the demo: what
    ``make demo`` runs); returns its output, fails with its tail."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / command), *args],
        cwd=get_settings().project_dir,
        env=clean_env(home, webhook),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    (home / f"{command}-{args[0]}-output.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return done.stdout
