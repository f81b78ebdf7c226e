"""Scenario 10: the security checks CI runs (bandit on the library, a secret scan of the repository, each shown
to catch what it is for), and the model loader refusing a model whose files are not the ones registered.

The MLflow server's authentication in docker-compose.yaml is checked by tests/unit/test_compose.py and used by
tests/integration/test_production_topology.py. pip-audit is not here: see docs/reliability.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import train as train_job
from flywheel.registry import artifacts, promote, tracking
from flywheel.serving.models import ModelPool
from flywheel.settings import get_settings
from flywheel.workspace import Workspace
from tests.helpers import build_loop_until, small_spec_copies, train_first_champion

pytestmark = pytest.mark.reliability

PROJECT = get_settings().project_dir
BIN = Path(sys.executable).parent


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=PROJECT, capture_output=True, text=True, check=True)
    return [f for f in listed.stdout.splitlines() if (PROJECT / f).is_file()]


def _bandit(target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "bandit"), "-q", "-c", str(PROJECT / "pyproject.toml"), "-r", str(target)],
        capture_output=True,
        text=True,
    )


def _secret_scan(files: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """detect-secrets' pre-commit hook: fails on any secret not audited in the baseline (it works in a git tree)."""
    return subprocess.run(
        [str(BIN / "detect-secrets-hook"), "--baseline", ".secrets.baseline", *files],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_bandit_finds_nothing_in_the_library_and_would_catch_a_shell_injection(tmp_path):
    done = _bandit(PROJECT / "plugins")
    assert done.returncode == 0, done.stdout[-4000:]
    (tmp_path / "bad.py").write_text("import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n")
    caught = _bandit(tmp_path)
    assert caught.returncode == 1 and "B602" in caught.stdout, caught.stdout


def test_the_repository_holds_no_secret_and_the_scan_would_catch_one(tmp_path):
    """Known false positives carry `# pragma: allowlist secret` on their line (moto's "test" key, an example URL);
    the one in prose (docs/monitoring.md) is audited in .secrets.baseline, which records its line number: after
    moving it, refresh with `detect-secrets scan --baseline .secrets.baseline $(git ls-files)`."""
    done = _secret_scan(_tracked_files(), PROJECT)
    assert done.returncode == 0, done.stdout[-4000:]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copyfile(PROJECT / ".secrets.baseline", tmp_path / ".secrets.baseline")
    (tmp_path / "settings_local.py").write_text('smtp_password = "k9Vq-2xLr-8Tzw-PmQ4"\n')  # pragma: allowlist secret
    caught = _secret_scan(["settings_local.py"], tmp_path)
    assert caught.returncode == 1 and "Secret Keyword" in caught.stdout, caught.stdout


@pytest.mark.integration
def test_a_model_whose_files_changed_after_registration_is_neither_served_nor_promoted(tmp_path, template):
    name = "bike_tampered"  # a new experiment: its artifacts are in this test's own home
    settings = template("bike_first_half_year", tmp_path)  # 2011-01 .. 2011-06 built
    small_spec_copies(PROJECT, settings.models_dir, [name])
    client = tracking.client(settings)
    champion = train_first_champion(settings, name)
    pool = ModelPool(name, settings)
    assert pool.refresh().champion.version == champion

    # A second version, blessed, whose model file is then replaced by another model's (same format, loads fine).
    build_loop_until(settings, "2011-07", "2011-07", mart="ml_bike_demand_features")
    version = train_job.register_model(Workspace(settings), name, train_job.train(Workspace(settings), name))
    client.set_model_version_tag(name, version, "flywheel.blessed", "true")
    model_id = client.get_model_version(name, version).source.removeprefix("models:/")
    files = list((tmp_path / "mlartifacts").rglob("model.skops"))
    (stored,) = [p for p in files if model_id in str(p)]
    (other,) = [p for p in files if p != stored]
    shutil.copyfile(other, stored)

    with pytest.raises(artifacts.ArtifactError, match=r"changed file model\.skops"):
        artifacts.load_verified_model(client, name, version)
    with pytest.raises(promote.PromotionError, match=r"changed file model\.skops"):
        promote.promote(name, version, "test", "tampered", client, open_warehouse(settings), settings)
    # The service asked to switch to it keeps the champion it has and says why on /ready.
    client.set_registered_model_alias(name, "champion", version)
    with pytest.raises(artifacts.ArtifactError):
        pool.refresh()
    assert pool.routing.champion.version == champion
