"""The model view's HTML: a Jinja2 template (autoescaped) and the live-quality chart as inline SVG (matplotlib)."""

from __future__ import annotations

import io
from pathlib import Path

from flywheel.views.model_view import ModelView

TEMPLATES = Path(__file__).parent / "templates"


def quality_chart(view: ModelView) -> str:
    """Live quality per monitor window (on labels) beside its estimate before labels, as an SVG element."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    windows = [w for w in view.windows if w.live is not None or w.estimate is not None]
    if not windows:
        return ""
    figure = Figure(figsize=(7, 2.6))
    axes = figure.add_subplot()
    months = [w.start[:7] for w in windows]
    nan = float("nan")  # a window without labels (or without an estimate) leaves a gap in its line
    live = [nan if w.live is None else w.live for w in windows]
    estimate = [nan if w.estimate is None else w.estimate for w in windows]
    axes.plot(months, live, marker="o", label=f"live {view.metric} (labels)")
    axes.plot(months, estimate, marker=".", linestyle="--", label="estimate before labels")
    if view.champion_metric is not None:
        axes.axhline(view.champion_metric, color="grey", linewidth=0.8, label="champion on its holdout")
    axes.set_ylabel(view.metric)
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def render(template: str, **context: object) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return environment.get_template(template).render(**context)


def models_page(views: list[ModelView], problems: dict[str, str]) -> str:
    charts = {view.name: quality_chart(view) for view in views}
    return render("models.html", views=views, charts=charts, problems=problems)
