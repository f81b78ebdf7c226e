"""The production compose file, checked without Docker: it passes, and the check fails when an image is unpinned,
a referenced variable is missing from .env.example, a service lacks a health check or the docs name a ghost."""

from __future__ import annotations

import importlib.util

import pytest

from flywheel.settings import get_settings

ROOT = get_settings().project_dir
_spec = importlib.util.spec_from_file_location("check_compose", ROOT / "deploy" / "check_compose.py")
check_compose = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_compose)  # type: ignore[union-attr]

COMPOSE = (ROOT / "docker-compose.yaml").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()


def test_the_compose_file_passes():
    assert check_compose.check(COMPOSE, ENV_EXAMPLE, DEPLOY_DOC) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("image: redis:7.4.2-bookworm", "image: redis", "redis: image 'redis' is not pinned"),
        ("image: postgres:16.6-bookworm", "image: postgres:latest", "postgres: image 'postgres:latest' is not pinned"),
        ("REDIS_PASSWORD: ${REDIS_PASSWORD:?}", "REDIS_PASSWORD: ${REDIS_PASSWORD_TYPO:?}", "${REDIS_PASSWORD_TYPO}"),
        ("- minio-data:/data", "- /srv/minio:/data", "minio: /data is not on a named volume"),
        ("- --app-name=basic-auth", "- --workers=2", "mlflow: the server runs without authentication"),
    ],
)
def test_the_check_fails_on_a_broken_compose_file(old, new, problem):
    assert old in COMPOSE
    problems = check_compose.check(COMPOSE.replace(old, new, 1), ENV_EXAMPLE, DEPLOY_DOC)
    assert any(problem in p for p in problems), problems


def test_the_check_fails_on_a_missing_variable_health_check_or_ghost_service():
    without = "\n".join(line for line in ENV_EXAMPLE.splitlines() if not line.startswith("MLFLOW_DB_PASSWORD="))
    assert any("${MLFLOW_DB_PASSWORD}" in p for p in check_compose.check(COMPOSE, without, DEPLOY_DOC))
    no_health = COMPOSE.replace('      test: ["CMD-SHELL", "pg_isready -U postgres -d warehouse"]\n', "", 1)
    no_health = no_health.replace(
        "    healthcheck:\n      interval: 10s\n      timeout: 5s\n      retries: 10\n      start_period: 20s\n", "", 1
    )
    assert "postgres: no healthcheck" in check_compose.check(no_health, ENV_EXAMPLE, DEPLOY_DOC)
    ghost = DEPLOY_DOC.replace("| `redis` |", "| `rabbitmq` |", 1)
    assert any("`rabbitmq`" in p for p in check_compose.check(COMPOSE, ENV_EXAMPLE, ghost))


def test_no_secret_is_written_in_the_compose_file():
    """Every key that names a secret takes its value from the environment."""
    import re

    secret_key = re.compile(r"^\s*([A-Z0-9_]*(PASSWORD|SECRET|TOKEN|FERNET_KEY|SECRET_KEY|ACCESS_KEY)):\s*(.*)$")
    found = [m for line in COMPOSE.splitlines() if (m := secret_key.match(line))]
    assert len(found) > 10
    for match in found:
        assert "${" in match.group(3), match.group(0)
