# The Flywheel image: the committed lock, the library, the DAGs, the dbt project and the specs. One image for every
# Airflow component, the MLflow server and the prediction service (docker-compose.yaml picks the command).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    FLYWHEEL_HOME=/opt/flywheel/state \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    GX_ANALYTICS_ENABLED=False \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true

# git: lineage tags record the project's revision; libpq: psycopg's runtime for the warehouse and metadata DBs.
RUN apt-get update \
    && apt-get install --no-install-recommends -y git libpq5 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 flywheel

WORKDIR /opt/flywheel
COPY requirements/lock.txt requirements/lock.txt
RUN python -m pip install -r requirements/lock.txt

COPY --chown=flywheel:flywheel . .
# PYTHONDONTWRITEBYTECODE keeps the image read-only at run time, so the project's modules are compiled here (pip
# compiled the lock's): every task process imports them.
RUN python -m pip install --no-deps -e . \
    && python -m compileall -q plugins dags \
    && mkdir -p "$FLYWHEEL_HOME/spool" /var/lib/mlflow-auth /opt/flywheel/auth \
    && chown -R flywheel:flywheel "$FLYWHEEL_HOME" /var/lib/mlflow-auth /opt/flywheel/auth

USER flywheel
# The dbt manifest the DAGs render from (Cosmos), parsed at build time like `flywheel init` does locally.
RUN cd dbt_project && dbt parse --quiet --target-path "$FLYWHEEL_HOME/dbt_target"
