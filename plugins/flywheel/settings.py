"""Environment-only settings: every path, URI and endpoint Flywheel uses, in one place.

The embedded default needs no services: everything lives under one git-ignored folder (``FLYWHEEL_HOME``,
``.flywheel/`` in the project). Production sets the same variables to Postgres, S3 and an MLflow server; no code
changes between the two.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# plugins/flywheel/settings.py -> the project root is two folders above the package.
_PROJECT_DIR = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Flywheel settings, read from ``FLYWHEEL_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="FLYWHEEL_", frozen=True, extra="ignore")

    project_dir: Path = _PROJECT_DIR
    home: Path = _PROJECT_DIR / ".flywheel"
    specs_dir: Path | None = Field(default=None, description="the model specs' folder; default <project>/models")
    monitoring_specs_dir: Path | None = Field(
        default=None, description="the monitoring policies' folder; default <project>/monitoring"
    )

    # Storage locations: a local folder or s3://bucket/prefix (read and written through boto3).
    landing_uri: str = ""
    archive_uri: str = ""
    quarantine_uri: str = ""
    reports_uri: str = ""
    predictions_uri: str = Field(default="", description="where the prediction service drops its log files")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto)")

    # The warehouse dbt builds and Flywheel reads: duckdb:///path/file.duckdb or
    # postgresql://user:pw@host/db  # pragma: allowlist secret
    warehouse_url: str = ""
    dbt_target: str = ""

    mlflow_tracking_uri: str = ""
    mlflow_artifacts_uri: str = Field(default="", description="empty with an MLflow server: the server decides")

    # Training: the cores one training may use, and no more (flywheel.training.fit.cores says how). A worker that
    # shares its cores with other work (a test run, a busy Airflow worker) sets fewer.
    training_cores: int = Field(default=2, ge=1)
    # Orchestration: how long a failed task (a lost worker, a database that went away) waits before its retry.
    task_retry_delay_seconds: float = Field(default=30.0, ge=0)

    # The prediction service (flywheel serve).
    serve_token: str | None = Field(default=None, description="bearer token required on /predict when set")
    serve_compiled: bool = Field(
        default=True, description="score through the model compiled at load (serving.compiled) where it compiles"
    )
    serve_model_threads: int = Field(
        default=1, ge=1, description="OpenMP/BLAS threads per model call (serving.threads says why 1)"
    )
    serve_workers: int = Field(
        default=1,
        ge=1,
        description="worker processes of flywheel serve, each with its own models, prediction log and thread pool",
    )
    serve_max_body_bytes: int = 1_000_000
    serve_rate_limit_per_minute: int = 6000
    serve_timeout_seconds: float = Field(default=5.0, description="an answer not ready by then is a 504 (stuck model)")
    serve_max_pending_requests: int = Field(
        default=64,
        ge=1,
        description="requests admitted and not yet scored, per worker; past it 503 with Retry-After at once",
    )
    serve_refresh_seconds: float = 5.0
    serve_log_flush_seconds: float = 1.0
    serve_spool_dir: Path | None = Field(
        default=None, description="the prediction log's local segments before the store has them; default <home>/spool"
    )
    serve_spool_max_bytes: int = Field(
        default=1 << 30, ge=1, description="spooled log bytes at which /predict answers 503 (/ready at 80 %)"
    )
    serve_shadow_queue_requests: int = Field(
        default=1000, ge=1, description="requests waiting for a shadow model before new ones are skipped (counted)"
    )
    serve_shadow_batch_seconds: float = Field(
        default=0.5, ge=0, description="a shadow model scores what arrived in this long in one call"
    )

    # Alert e-mail (the monitor's "email" routes). Webhook URLs are named per route in monitoring/<model>.yaml.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    alert_sender: str = "flywheel@localhost"
    # Links in alerts and the runbook point here (the Airflow UI, the docs); empty = the project folder.
    docs_base_url: str = ""

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        home = self.home
        defaults = {
            "landing_uri": str(home / "landing"),
            "archive_uri": str(home / "archive"),
            "quarantine_uri": str(home / "quarantine"),
            "reports_uri": str(home / "reports"),
            "predictions_uri": str(home / "predictions"),
            "warehouse_url": f"duckdb:///{home / 'warehouse.duckdb'}",
            "mlflow_tracking_uri": f"sqlite:///{home / 'mlflow.db'}",
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        # A local store keeps artifacts in the home folder; an MLflow server (http) stores them where it is
        # configured to (production: proxied to S3), so the client sets no location of its own.
        if not self.mlflow_artifacts_uri and not self.mlflow_tracking_uri.startswith(("http://", "https://")):
            object.__setattr__(self, "mlflow_artifacts_uri", str(home / "mlartifacts"))
        if not self.dbt_target:
            object.__setattr__(self, "dbt_target", "dev" if self.warehouse_is_duckdb else "prod")
        _check_locations(self)
        return self

    # -- derived paths ---------------------------------------------------------------------------------------
    @property
    def warehouse_is_duckdb(self) -> bool:
        return self.warehouse_url.startswith("duckdb://")

    @property
    def duckdb_path(self) -> Path:
        return Path(self.warehouse_url.removeprefix("duckdb:///"))  # duckdb:////abs/path or duckdb:///relative

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt_project"

    @property
    def dbt_target_path(self) -> Path:
        """Where `flywheel init` parses the dbt project to (local state, not the project folder)."""
        return self.home / "dbt_target"

    @property
    def dbt_manifest_path(self) -> Path:
        return self.dbt_target_path / "manifest.json"

    @property
    def spool_dir(self) -> Path:
        return self.serve_spool_dir or self.home / "spool"

    @property
    def models_dir(self) -> Path:
        return self.specs_dir or self.project_dir / "models"

    @property
    def monitoring_dir(self) -> Path:
        return self.monitoring_specs_dir or self.project_dir / "monitoring"

    @property
    def expectations_dir(self) -> Path:
        return self.project_dir / "expectations"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    # -- environments handed to the tools Flywheel drives ---------------------------------------------------
    def dbt_env(self) -> dict[str, str]:
        """Variables read by ``dbt_project/profiles.yml`` for the current warehouse."""
        # The target itself is passed on dbt's command line (Cosmos: ProfileConfig.target_name), not exported:
        # FLYWHEEL_DBT_TARGET is the user's setting, and exporting a derived value would feed it back.
        env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DBT_LOG_PATH": str(self.home / "dbt_logs")}
        if self.warehouse_is_duckdb:
            env["FLYWHEEL_DUCKDB_PATH"] = str(self.duckdb_path)
            return env
        url = urlparse(self.warehouse_url)
        env.update(
            FLYWHEEL_PG_HOST=url.hostname or "127.0.0.1",
            FLYWHEEL_PG_PORT=str(url.port or 5432),
            FLYWHEEL_PG_USER=unquote(url.username or "postgres"),
            FLYWHEEL_PG_PASSWORD=unquote(url.password or ""),
            FLYWHEEL_PG_DBNAME=url.path.lstrip("/") or "postgres",
        )
        return env

    def airflow_env(self) -> dict[str, str]:
        """Defaults for Airflow in the embedded mode; variables already set win (see ``apply_environment``)."""
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.project_dir / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.project_dir / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.airflow_home / 'airflow.db'}",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(self.home / "cosmos_cache"),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "GX_ANALYTICS_ENABLED": "False",
            "DO_NOT_TRACK": "true",
            # DuckDB allows one writing process per file: under `airflow standalone` (LocalExecutor) tasks must
            # not overlap. dag.test() runs tasks one by one anyway; production uses Postgres and real parallelism.
            **({"AIRFLOW__CORE__PARALLELISM": "1"} if self.warehouse_is_duckdb else {}),
            **self.dbt_env(),
        }


# Setting -> the URI schemes it accepts ("" = a local path, no scheme). Checked at start-up so that a typo
# (``s3:/bucket``, ``postgres//host``) stops the process with the variable's name instead of becoming a folder.
_SCHEMES: dict[str, tuple[str, ...]] = {
    **{f"{store}_uri": ("", "s3") for store in ("landing", "archive", "quarantine", "reports", "predictions")},
    "warehouse_url": ("duckdb", "postgresql", "postgres"),
    "mlflow_tracking_uri": ("sqlite", "http", "https", "postgresql", "file"),
    "s3_endpoint_url": ("http", "https"),
    "docs_base_url": ("http", "https"),
}


def _check_locations(settings: Settings) -> None:
    if not (settings.project_dir / "dbt_project").is_dir():
        raise ValueError(
            f"FLYWHEEL_PROJECT_DIR={str(settings.project_dir)!r}: not a Flywheel project (no dbt_project/ folder); "
            "unset it to use the installed project"
        )
    for name, schemes in _SCHEMES.items():
        value = getattr(settings, name)
        if not value:
            continue  # optional, and unset
        scheme = urlparse(value).scheme if "://" in value else ""
        variable = f"FLYWHEEL_{name.upper()}"
        if scheme not in schemes:
            allowed = ", ".join(f"{s}://..." if s else "a local path" for s in schemes)
            raise ValueError(f"{variable}={value!r}: expected {allowed}")
        if scheme == "s3" and not urlparse(value).netloc:
            raise ValueError(f"{variable}={value!r}: an S3 location names its bucket, s3://bucket/prefix")
        if scheme == "duckdb" and not value.removeprefix("duckdb:///"):
            raise ValueError(f"{variable}={value!r}: a DuckDB warehouse names its file, duckdb:///path/file.duckdb")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def apply_environment(settings: Settings | None = None) -> Settings:
    """Export the embedded defaults for Airflow, dbt and MLflow without overriding what the user set."""
    settings = settings or get_settings()
    for key, value in settings.airflow_env().items():
        os.environ.setdefault(key, value)
    settings.home.mkdir(parents=True, exist_ok=True)
    if "AIRFLOW__API_AUTH__JWT_SECRET" not in os.environ:
        # One secret for every local process instead of a random one each (Airflow warns otherwise); it is
        # created once, kept in the ignored home folder and never committed.
        secret_file = settings.home / "jwt_secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(48))
            secret_file.chmod(0o600)
        os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = secret_file.read_text().strip()
    return settings
