"""The model view as a FastAPI app: ``/`` the page, ``/api/models`` the same as JSON, ``/reports/...`` the
Evidently reports of a local reports folder. Mounted by Airflow's api-server (``flywheel.orchestration.ui_plugin``)
under ``/flywheel``; runnable alone for development (``uvicorn --factory flywheel.views.app:create_app``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

log = logging.getLogger(__name__)


def _views() -> tuple[list[Any], dict[str, str]]:
    """Every model's view; a model whose spec is broken or whose records cannot be read is named with why."""
    from flywheel.jobs.spec_files import describe, load_spec_files
    from flywheel.settings import get_settings
    from flywheel.views.model_view import model_view
    from flywheel.workspace import Workspace

    settings = get_settings()
    files = load_spec_files(settings.models_dir, settings.monitoring_dir)
    problems = {name: describe(p) for name, p in {**files.broken_models, **files.broken_monitors}.items()}
    workspace, views = Workspace(settings), []
    for name in files.names:
        if name in problems:
            continue
        try:
            views.append(model_view(workspace, name))
        except Exception as exc:  # one model's unreadable records must not hide the others
            log.exception("model view of %s", name)
            problems[name] = f"cannot be shown: {type(exc).__name__}: {exc}"
    return views, problems


def create_app() -> FastAPI:
    app = FastAPI(title="Flywheel models", description="Flywheel's model view inside Airflow's UI")

    @app.get("/", response_class=HTMLResponse)
    def models_page() -> str:
        from flywheel.views.page import models_page

        views, problems = _views()
        return models_page(views, problems)

    @app.get("/api/models")
    def models_json() -> dict[str, Any]:
        views, problems = _views()
        return {"models": [view.to_dict() for view in views], "problems": problems}

    @app.get("/reports/{path:path}")
    def report(path: str) -> FileResponse:
        from flywheel.settings import get_settings

        root = Path(get_settings().reports_uri).resolve()
        if "://" in get_settings().reports_uri:
            raise HTTPException(404, "reports are in object storage: open them from there")
        wanted = (root / path).resolve()
        if not wanted.is_relative_to(root) or not wanted.is_file():
            raise HTTPException(404, f"no report {path!r}")
        return FileResponse(wanted)

    return app
