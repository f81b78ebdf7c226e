"""The production topology of docker-compose.yaml, without containers, on loopback: the machine's PostgreSQL (fresh
databases for Airflow's metadata, MLflow's store and the warehouse), Redis as the Celery broker, a moto S3 server
standing in for MinIO, an MLflow server (Postgres store, artifacts proxied to S3, authentication on), and Airflow
with the CeleryExecutor: api-server, scheduler, dag-processor and two Celery workers.

The loop is triggered through Airflow's REST API (`ingest`; the Assets run `transform`, then `train__<model>`),
and the test checks the marts in Postgres, artifacts and reports in S3, the model and its alias in the registry,
and that both workers ran tasks. Faults of the distributed stack on the way (docs/reliability.md, 16 and 17): the
broker restarted while a task is sent, a worker lost mid-build and another mid-training. Every process it started
is stopped. Same DAG files, same library as the embedded mode: only the environment differs."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flywheel.settings import get_settings
from tests.airflow_api import AirflowAPI, background_process, wait_http
from tests.helpers import CuttableProxy, free_port, fresh_postgres_database, moto_s3_server, small_spec_copies

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]

MODEL = "hotel_cancellation"
BUCKET = "flywheel"
ADMIN_PASSWORD = secrets.token_urlsafe(16)
SERVICE_PASSWORD = secrets.token_urlsafe(16)
ANALYST_PASSWORD = secrets.token_urlsafe(16)
BIN = Path(sys.executable).parent
PROJECT = get_settings().project_dir


@contextmanager
def _signed_in_as(user: str, password: str) -> Iterator[None]:
    """MLflow's client reads its credentials from the environment: this process signs in as ``user`` inside."""
    os.environ.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password)
    try:
        yield
    finally:
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(key, None)


def _environment(
    home: Path, databases: dict[str, str], s3: str, ports: dict[str, int], redis_db: int
) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW", "FLYWHEEL_", "DBT_"))}
    airflow_db = databases["airflow"].replace("postgresql://", "postgresql+psycopg2://")
    api = f"http://127.0.0.1:{ports['api']}"
    return {
        **keep,
        # Flywheel: the same settings as docker-compose.yaml's x-flywheel-env, on loopback.
        "FLYWHEEL_HOME": str(home),
        "FLYWHEEL_SPECS_DIR": str(home / "specs"),  # the small specs: the topology is under test, not the model
        "FLYWHEEL_WAREHOUSE_URL": databases["warehouse"],
        **{f"FLYWHEEL_{k.upper()}_URI": f"s3://{BUCKET}/{k}" for k in ("landing", "archive", "quarantine", "reports")},
        "FLYWHEEL_PREDICTIONS_URI": f"s3://{BUCKET}/predictions",
        "FLYWHEEL_S3_ENDPOINT_URL": s3,
        "FLYWHEEL_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
        "FLYWHEEL_TASK_RETRY_DELAY_SECONDS": "5",  # 30 in production: the killed tasks' retries start sooner here
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
        "MLFLOW_TRACKING_USERNAME": "flywheel",  # the service account, as in production (not the admin)
        "MLFLOW_TRACKING_PASSWORD": SERVICE_PASSWORD,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "GX_ANALYTICS_ENABLED": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        # Airflow: x-airflow-env.
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": __import__("cryptography.fernet").fernet.Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "flywheel.orchestration.hostname.worker_hostname",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        # Redis through a proxy the test can cut: a broker restart (compose runs it with appendonly: queues kept).
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{ports['redis']}/{redis_db}",
        # A queue of this run's own: a Celery worker left over on the same Redis (another run, killed) cannot take
        # this run's tasks (one did once, and the ingest waited in a stranger's worker until the test timed out).
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"flywheel-test-{secrets.token_hex(4)}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + databases["airflow"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
        # A lost worker's task is failed (and retried) this long after its last heartbeat: 120 s in
        # docker-compose.yaml, 20 s here, where the test kills workers on purpose.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }


@dataclass
class Topology:
    env: dict[str, str]
    s3: str
    ports: dict[str, int]
    logs: Path
    workers: dict[str, subprocess.Popen]  # by the name tasks report as their hostname
    start_worker: Callable[[str, str], None]  # (name, log name): a new worker process under that name
    redis: CuttableProxy  # between every process and the broker


def _kill_mid_task(api: AirflowAPI, topology: Topology, dag_id: str, task_id: str) -> tuple[str, str]:
    """SIGKILL the Celery worker running ``dag_id.task_id`` two seconds into the task: its whole process group
    (worker, task supervisor, task), as when a node is lost. Returns the killed worker's name and the run id."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        run = api.latest_run(dag_id)
        if run:
            instance = api.get(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{task_id}")
            if instance["state"] == "running" and instance["hostname"] in topology.workers:
                time.sleep(2)
                name = instance["hostname"]
                os.killpg(topology.workers[name].pid, signal.SIGKILL)
                topology.workers[name].wait(timeout=30)
                return name, run["dag_run_id"]
            assert instance["state"] not in ("success", "failed"), f"{dag_id}.{task_id} ended before the kill"
        time.sleep(0.5)
    raise AssertionError(f"{dag_id}.{task_id} did not start within 600 s")


def _retried_on_the_other_worker(api: AirflowAPI, dag_id: str, run_id: str, task_id: str, killed: str) -> None:
    """The killed try failed (Airflow found it without heartbeats) and the retry succeeded on the other worker."""
    tries = api.tries(dag_id, run_id, task_id)
    assert [(t["state"], t["hostname"] == killed) for t in tries] == [("failed", True), ("success", False)], tries


def _run(args: list[str], env: dict[str, str], cwd: Path = PROJECT, timeout: float = 600) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    import boto3
    import redis

    home = tmp_path_factory.mktemp("topology")
    logs = home / "process-logs"
    logs.mkdir()
    redis_db = 9 + secrets.randbelow(7)  # a database of its own among 9-15: another run may share the server
    redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()
    with ExitStack() as stack:
        databases = {n: stack.enter_context(fresh_postgres_database()) for n in ("airflow", "mlflow", "warehouse")}
        s3 = stack.enter_context(moto_s3_server())
        boto3.client(
            "s3", endpoint_url=s3, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        ).create_bucket(Bucket=BUCKET)
        redis_proxy = CuttableProxy(6379)
        stack.callback(redis_proxy.close)
        ports = {"api": free_port(), "mlflow": free_port(), "redis": redis_proxy.port}
        env = _environment(home, databases, s3, ports, redis_db)
        (home / "passwords.json").write_text(json.dumps({"admin": ADMIN_PASSWORD}))
        for model in ("hotel_cancellation", "bike_demand"):
            small_spec_copies(PROJECT, home / "specs", [model], model=model)
        _run(
            [str(BIN / "dbt"), "parse", "--quiet", "--target-path", str(home / "dbt_target")],
            env,
            PROJECT / "dbt_project",
        )
        _run([str(BIN / "airflow"), "db", "migrate"], env)

        mlflow_env = {
            **env,
            "MLFLOW_AUTH_CONFIG_PATH": str(home / "basic_auth.ini"),
            "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_S3_ENDPOINT_URL": s3,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
        }
        ini = (PROJECT / "deploy" / "mlflow" / "basic_auth.ini").read_text()
        (home / "basic_auth.ini").write_text(ini.replace("/var/lib/mlflow-auth", str(home)))
        stack.enter_context(
            background_process(
                "mlflow",
                [
                    str(BIN / "mlflow"),
                    "server",
                    "--app-name",
                    "basic-auth",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["mlflow"]),
                    "--backend-store-uri",
                    databases["mlflow"],
                    "--artifacts-destination",
                    f"s3://{BUCKET}/mlartifacts",
                    "--serve-artifacts",
                    "--workers",
                    "1",
                ],
                mlflow_env,
                logs,
            )
        )
        airflow = str(BIN / "airflow")
        stack.enter_context(
            background_process("api-server", [airflow, "api-server", "--port", str(ports["api"])], env, logs)
        )
        stack.enter_context(background_process("scheduler", [airflow, "scheduler"], env, logs))
        stack.enter_context(background_process("dag-processor", [airflow, "dag-processor"], env, logs))
        workers: dict[str, subprocess.Popen] = {}

        def start_worker(name: str, log_name: str) -> None:
            worker_env = {
                **env,
                "FLYWHEEL_WORKER_NAME": name,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            command = [airflow, "celery", "worker", "--celery-hostname", f"{log_name}@%h", "--concurrency", "1"]
            workers[name] = stack.enter_context(background_process(log_name, command, worker_env, logs))

        for worker in ("worker-1", "worker-2"):
            start_worker(worker, worker)
        wait_http(f"http://127.0.0.1:{ports['mlflow']}/health", "MLflow server", logs)
        # What airflow-init does in docker-compose.yaml: Flywheel's own MLflow account, created by the admin.
        account = {**env, "MLFLOW_ADMIN_USER": "admin", "MLFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD}
        _run([str(BIN / "python"), str(PROJECT / "deploy" / "mlflow" / "service_account.py")], account)
        wait_http(f"http://127.0.0.1:{ports['api']}/api/v2/monitor/health", "Airflow api-server", logs)
        yield Topology(env, s3, ports, logs, workers, start_worker, redis_proxy)
    redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()


def test_the_loop_runs_on_the_production_topology(topology):
    """The loop from S3 to @champion across two Celery workers, with the broker restarted (connections cut for 3 s)
    as the ingest's first task is sent, a worker lost (SIGKILL of its process group) in the middle of the dbt build
    and another in the middle of the training: each failed task is retried (the killed ones on the other worker) and
    the outcome is a clean run's (every landed file loaded once, every row once in the mart, one version, the alias
    and the ledger agree)."""
    env, s3, ports = topology.env, topology.s3, topology.ports
    _run([str(BIN / "flywheel-replay"), "land", "--first", "2016-01", "--last", "2016-06"], env)  # six months to S3
    api = AirflowAPI(f"http://127.0.0.1:{ports['api']}", ADMIN_PASSWORD)
    chain = ["ingest", "transform", f"train__{MODEL}", f"score__{MODEL}"]
    api.wait_for_dags(chain)
    for dag_id in chain:
        api.unpause(dag_id)
    api.trigger("ingest")
    topology.redis.cut()  # the broker restarts while the ingest's first task is being queued
    time.sleep(3)
    topology.redis.restore()
    killed, run_id = _kill_mid_task(api, topology, "transform", "dbt.build")
    api.wait_for_success("transform", timeout=600)
    _retried_on_the_other_worker(api, "transform", run_id, "dbt.build", killed)
    topology.start_worker(killed, f"{killed}-restarted")  # as compose's restart policy brings it back
    killed, run_id = _kill_mid_task(api, topology, f"train__{MODEL}", "train_model")
    train = api.wait_for_success(f"train__{MODEL}", timeout=900)
    _retried_on_the_other_worker(api, f"train__{MODEL}", run_id, "train_model", killed)
    api.wait_for_success("ingest", timeout=60)

    hostnames = set()
    for dag_id in ("ingest", "transform", f"train__{MODEL}"):
        for run in api.get(f"/dags/{dag_id}/dagRuns", limit=10)["dag_runs"]:
            hostnames |= {t["hostname"] for t in api.task_states(dag_id, run["dag_run_id"]) if t["state"] == "success"}
    assert {"worker-1", "worker-2"} <= hostnames, hostnames

    from flywheel.data.warehouse import PostgresWarehouse

    warehouse = PostgresWarehouse(env["FLYWHEEL_WAREHOUSE_URL"])
    raw = warehouse.fetch_all("select count(*) from raw.hotel_bookings")[0][0]
    # Every landed file loaded once, whatever the broker's restart did to the ingest's tries.
    loaded = warehouse.fetch_all(
        "select count(*), count(distinct file_sha256), sum(row_count) from ops.ingested_files "
        "where raw_table = 'raw.hotel_bookings' and status = 'loaded'"
    )
    assert loaded == [(6, 6, raw)], loaded
    ingest_tries = {
        run["dag_run_id"]: [
            (t["task_id"], t["try_number"], t["state"])
            for t in api.get(f"/dags/ingest/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
        ]
        for run in api.get("/dags/ingest/dagRuns", limit=10)["dag_runs"]
    }
    print(f"\ningest runs around the broker restart: {ingest_tries}")
    assert raw > 20_000 and warehouse.fetch_all("select count(*) from marts.ml_booking_features")[0][0] == raw

    import boto3

    s3_client = boto3.client(
        "s3", endpoint_url=s3, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=BUCKET, MaxKeys=1000).get("Contents", [])]
    assert any(k.startswith("mlartifacts/") and k.endswith("MLmodel") for k in keys), keys[:50]
    assert any(k.startswith("reports/validation/") for k in keys)
    assert any(k.startswith("archive/") for k in keys) and not any(k.startswith("landing/") for k in keys)

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    with _signed_in_as("admin", ADMIN_PASSWORD):
        client = MlflowClient(env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_URI"])
        champion = client.get_model_version_by_alias(MODEL, "champion")
        assert [v.version for v in client.search_model_versions(f"name = '{MODEL}'")] == [champion.version]
        experiment = client.get_experiment_by_name(MODEL).experiment_id
        states = [r.info.status for r in client.search_runs([experiment])]
        # One finished run; the killed try's, if it had begun one, marked FAILED by the retry (none left RUNNING).
        assert states.count("FINISHED") == 1 and set(states) <= {"FINISHED", "FAILED"}, states
        run = client.get_run(champion.run_id)
        assert run.data.tags["flywheel.trigger_reason"] == "first validated data and no @champion yet"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        get_app_client("basic-auth", tracking_uri=env["MLFLOW_TRACKING_URI"]).create_user("analyst", ANALYST_PASSWORD)
    # Protected aliases: a person's own MLflow account reads the registry but cannot move @champion (only
    # Flywheel's service account, which created the model, can: its promotion path checks and records it).
    with _signed_in_as("analyst", ANALYST_PASSWORD):
        client = MlflowClient(env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_URI"])
        assert client.get_model_version_by_alias(MODEL, "champion").version == champion.version
        for move in (
            lambda: client.set_registered_model_alias(MODEL, "champion", champion.version),
            lambda: client.delete_registered_model_alias(MODEL, "champion"),
        ):
            with pytest.raises(MlflowException) as refused:
                move()
            assert refused.value.get_http_status_code() == 403, refused.value
    promoted = warehouse.fetch_all(
        "select version from ops.model_ledger where model = ? and event = 'promoted' order by recorded_at desc",
        (MODEL,),
    )
    assert [str(v) for (v,) in promoted] == [champion.version]  # the ledger and the alias agree
    unauthenticated = httpx.get(f"{env['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/registered-models/search", timeout=10)
    assert unauthenticated.status_code == 401  # authentication is on
    assert train["state"] == "success"
