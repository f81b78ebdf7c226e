"""Flywheel's own MLflow account, so that only Flywheel's promotion path moves ``@champion`` in production.

Run once per deployment by ``airflow-init`` (docker-compose.yaml), after the MLflow server is up, with the admin's
credentials (``MLFLOW_ADMIN_USER`` / ``MLFLOW_ADMIN_PASSWORD``) and the service account's (``MLFLOW_TRACKING_USERNAME``
/ ``MLFLOW_TRACKING_PASSWORD``, what every Flywheel process signs in with). It creates the account, or sets its
password again (a rotated secret), and makes sure it is not an admin. MLflow gives the creator of an experiment or
a registered model MANAGE on it, and everyone else the default permission (``deploy/mlflow/basic_auth.ini``: READ):
the registered models Flywheel creates can then be changed, their aliases moved, by Flywheel (and the MLflow admin,
the break-glass account) only. Any other user gets 403."""

from __future__ import annotations

import os
import sys

from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client


def ensure_service_account(tracking_uri: str, admin: tuple[str, str], service: tuple[str, str]) -> str:
    """Create (or re-password) the service account as the admin; returns what was done."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = admin
    try:
        client = get_app_client("basic-auth", tracking_uri=tracking_uri)
        try:
            client.create_user(*service)
            done = "created"
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            client.update_user_password(*service)
            done = "password set again"
        client.update_user_admin(service[0], False)
        return done
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


if __name__ == "__main__":
    env = os.environ
    if env["MLFLOW_TRACKING_USERNAME"] == env["MLFLOW_ADMIN_USER"]:
        sys.exit("MLFLOW_SERVICE_USER must differ from MLFLOW_ADMIN_USER: Flywheel does not run as MLflow's admin")
    outcome = ensure_service_account(
        env["MLFLOW_TRACKING_URI"],
        (env["MLFLOW_ADMIN_USER"], env["MLFLOW_ADMIN_PASSWORD"]),
        (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]),
    )
    print(f"MLflow service account {env['MLFLOW_TRACKING_USERNAME']!r}: {outcome}")
