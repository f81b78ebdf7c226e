"""Test-wide setup: all local state in a fresh temporary FLYWHEEL_HOME, never the developer's .flywheel/; one
OpenMP / BLAS thread per test process; the longest modules first.

`make test` runs the suite on two pytest-xdist workers (`-n 2 --dist loadscope`: a module runs whole on one
worker). Each worker imports this file itself, so each has its own home; what several workers share (the templates
in tests/templates.py) is built once under a file lock."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before numpy, scikit-learn or a subprocess start: each worker gets one thread (2 workers on 2 cores). The model's
# OpenMP threads would otherwise double up on every fit and predict (a one-row predict costs 7x on busy cores).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("FLYWHEEL_TRAINING_CORES", "1")  # one core per training: the other worker has the other

import pytest  # noqa: E402

_HOME = Path(tempfile.mkdtemp(prefix="flywheel-test-"))
os.environ["FLYWHEEL_HOME"] = str(_HOME)
# The test home's specs: the shipped ones with a one-candidate search (tests.helpers.one_candidate_copies; the same
# names, estimators, gates and policies). The DAG runs on this home assert what the loop does; the search is most
# of a training's time and has its own tests, which read the shipped specs (project_dir / "models").
os.environ["FLYWHEEL_SPECS_DIR"] = str(_HOME / "specs")
os.environ.setdefault("TMPDIR", str(_HOME / "tmp"))  # MLflow leaves a temp dir behind per models:/ load
(_HOME / "tmp").mkdir(exist_ok=True)
tempfile.tempdir = None

from flywheel.settings import apply_environment, get_settings  # noqa: E402

get_settings.cache_clear()
apply_environment()

PROJECT_DIR = Path(__file__).resolve().parents[1]

from tests.helpers import one_candidate_copies  # noqa: E402

one_candidate_copies(PROJECT_DIR, _HOME / "specs")

# The longest modules first (seconds on one worker, from the CI log's durations): xdist hands out one module at a
# time to whichever worker is free, so starting with the long ones keeps the two workers' ends close together.
# A module not listed here runs after these, in collection order.
LONGEST_FIRST = (
    "tests/integration/test_full_loop.py",
    "tests/integration/test_production_topology.py",
    "tests/reliability/test_kill_training.py",
    "tests/integration/test_embedded_loop.py",
    "tests/integration/test_canary.py",
    "tests/integration/test_approval.py",
    "tests/reliability/test_kill_ingest_and_dbt.py",
    "tests/integration/test_serving.py",
    "tests/reliability/test_durable_log.py",
    "tests/reliability/test_store_outages.py",
    "tests/reliability/test_concurrent_registry.py",
    "tests/reliability/test_personal_data.py",
    "tests/integration/test_monitor.py",
    "tests/reliability/test_bad_input.py",
    "tests/unit/monitoring/test_drift.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest modules first (with `--dist loadscope --no-loadscope-reorder`, xdist hands out modules in
    this order; each module runs whole on one worker, so its module fixtures are built once)."""
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_worker() -> None:
    """The environment above covers libraries loaded later; threadpoolctl also caps any loaded before it."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


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


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The dbt manifest of the test home (a clean clone has none), as after `flywheel init`: the DAGs render from
    it and demo plans follow its lineage. Asked for by the tests that use the test home's manifest (DAG tests, the
    embedded loop through ``dagbag``, demo plans); a test with a home of its own builds its own with `dbt build`."""
    _run(
        ["dbt", "parse", "--quiet", "--target-path", str(get_settings().dbt_target_path)],
        get_settings().dbt_project_dir,
    )
    return get_settings().dbt_manifest_path


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database (SQLite under the test home), for dag.test()."""
    _run(["airflow", "db", "migrate"], PROJECT_DIR)


@pytest.fixture(scope="session")
def dagbag(dbt_manifest):  # type: ignore[no-untyped-def]
    """The DAG folder, parsed once per worker."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_DIR / "dags"))


@pytest.fixture(scope="session")
def dags(airflow_db, dagbag) -> dict[str, object]:
    """Every DAG by id, for dag.test() runs (the DAG files must have imported cleanly)."""
    assert dagbag.import_errors == {}, dagbag.import_errors
    return dict(dagbag.dags)


@pytest.fixture(scope="session")
def template_root(tmp_path_factory, worker_id) -> Path:
    """Where this test run's templates live: shared by the xdist workers (their base folders' parent)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if worker_id != "master" else base) / "templates"


@pytest.fixture(scope="session")
def template(template_root):  # type: ignore[no-untyped-def]
    """``template(name, home, **settings)``: a copy of a test-run template (tests/templates.py) in ``home``."""
    from tests.templates import copy_of

    def copy(name: str, home: Path, **overrides: object):  # type: ignore[no-untyped-def]
        return copy_of(name, template_root, home, **overrides)

    return copy
