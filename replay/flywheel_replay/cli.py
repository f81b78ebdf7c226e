"""``flywheel-replay``: the demo (``demo``) and the landing of bundled months (``land``), on top of ``flywheel``."""

from __future__ import annotations

import time
from typing import Annotated

import pandas as pd
import typer

from flywheel.cli import console, init, model_names, one_model, run_dags, settings_from_environment
from flywheel.report import print_summary
from flywheel_replay.landing import replay_months
from flywheel_replay.loop import demo_plan, loop_demo

app = typer.Typer(help="Replays Flywheel's bundled datasets through the loop, month by month.", no_args_is_help=True)

FIRST_DAGS = ("ingest", "transform")  # the first year's batches, before the first training


@app.command()
def land(
    first: Annotated[str | None, typer.Option(help="first month, YYYY-MM")] = None,
    last: Annotated[str | None, typer.Option(help="last month, YYYY-MM")] = None,
) -> None:
    """Replay the bundled datasets into landing as monthly batch files."""
    settings = settings_from_environment()
    names = replay_months(first, last, settings)
    console.print(f"[green]✓[/green] landed {len(names)} batch files in {settings.landing_uri}")


@app.command()
def demo(
    model: Annotated[
        list[str] | None, typer.Option(help="run this model (repeat for several); default: every models/*.yaml")
    ] = None,
    first: Annotated[str | None, typer.Option(help="first month to land before training (default: data's)")] = None,
    last: Annotated[str | None, typer.Option(help="last month before the loop (default: first year)")] = None,
    loop: Annotated[bool, typer.Option(help="go on: replay the later months through the whole loop")] = True,
    loop_last: Annotated[str | None, typer.Option(help="last month of the loop (default: the data's last)")] = None,
    loop_months: Annotated[
        int | None, typer.Option(min=1, help="replay at most this many months of each model's loop (default: all)")
    ] = None,
    canary_runs_per_month: Annotated[
        int, typer.Option(min=1, max=31, help="canary runs per replayed month, each after its part of the traffic")
    ] = 4,
) -> None:
    """The main job, per model: land its first year of real data, ingest, dbt build, validate, train, gate,
    register a champion; then replay the later months through the loop (traffic, labels, canary, monitor,
    drift-triggered retraining) and end with a table and a chart of live quality against a never-retrained model."""
    from flywheel.jobs.train import has_champion
    from flywheel.workspace import Workspace

    started = time.monotonic()
    init()
    settings = settings_from_environment()
    models = [one_model(m, settings) for m in model] if model else model_names(settings)
    plans = [demo_plan(m, settings, first, last, loop_last, loop_months) for m in models]
    for plan in plans:
        landed = replay_months(plan.initial[0], plan.initial[-1], settings, plan.tables)
        console.print(
            f"[green]✓[/green] {plan.model}: landed {len(landed)} batch files ({plan.initial[0]} .. "
            f"{plan.initial[-1]} of {', '.join(plan.tables)}); the loop replays {len(plan.loop)} more months"
        )
    run_dags(list(FIRST_DAGS), settings)

    # As the scheduler does on new validated data: only a model without a champion is trained here; after that,
    # retraining is the monitor's decision (a second `flywheel-replay demo` trains nothing).
    first_training = [f"train__{m}" for m in models if not has_champion(Workspace(settings), m)]
    for name in sorted(set(models) - {t.removeprefix("train__") for t in first_training}):
        console.print(f"{name}: @champion exists; retraining is the monitor's decision")
    for plan in plans:
        if f"train__{plan.model}" in first_training:
            # The first champion starts serving with the loop's first month: the deployment history's clock.
            starts = pd.Timestamp(f"{plan.initial[-1]}-01") + pd.offsets.MonthBegin(1)
            reason = "first validated data and no @champion yet"
            run_dags([f"train__{plan.model}"], settings, {"reason": reason, "as_of": starts.isoformat()})
    charts = []
    if loop:
        charts = loop_demo(
            plans,
            settings,
            console,
            run_dags=lambda dags, conf=None: run_dags(dags, settings, conf),
            land=lambda first, last, tables: replay_months(first, last, settings, tables),
            canary_runs=canary_runs_per_month,
        )
    print_summary(console, models, Workspace(settings))
    for chart in charts:
        console.print(f"Chart of live quality: {chart}")
    console.print(f"\nDemo finished in {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    app()
