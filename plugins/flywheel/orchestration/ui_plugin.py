"""Airflow's plugin for Flywheel's model view: the FastAPI app of ``flywheel.views`` on Airflow's own api-server
(under ``/flywheel``) and an entry in the UI's navigation that shows it inside Airflow, next to the DAGs, the
Required actions (approvals) and the task logs. Loaded from the plugins folder by ``plugins/flywheel_ui.py``."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from flywheel.views.app import create_app

MODEL_VIEW_APP: dict[str, Any] = {"app": create_app(), "url_prefix": "/flywheel", "name": "Flywheel models"}
MODEL_VIEW_NAV: dict[str, Any] = {
    "name": "Flywheel models",
    "href": "flywheel/",  # relative: Airflow may be served under a sub-path
    "destination": "nav",
    "url_route": "flywheel-models",  # shown inside Airflow's UI (an iframe at /plugin/flywheel-models)
}


class FlywheelPlugin(AirflowPlugin):
    name = "flywheel"
    fastapi_apps = [MODEL_VIEW_APP]  # noqa: RUF012 - Airflow's plugin interface: class attributes, lists
    external_views = [MODEL_VIEW_NAV]  # noqa: RUF012
