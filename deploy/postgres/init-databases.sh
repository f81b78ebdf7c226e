#!/usr/bin/env bash
# Runs once, on the first start of an empty PostgreSQL volume (docker-entrypoint-initdb.d): one database and one
# owner per concern, so Airflow's metadata, MLflow's store and the warehouse can be backed up and restored apart.
set -euo pipefail
create() {  # create <role> <password> <database>
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$1" -v password="$2" -v db="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
SQL
}
create airflow "$AIRFLOW_DB_PASSWORD" airflow
create mlflow "$MLFLOW_DB_PASSWORD" mlflow
create warehouse "$WAREHOUSE_DB_PASSWORD" warehouse
