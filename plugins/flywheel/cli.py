"""``flywheel``: the command line for people (init, land, run, demo, status, env)."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from flywheel.report import print_monitor_history, print_summary
from flywheel.settings import Settings, apply_environment

app = typer.Typer(help="Flywheel: a closed MLOps loop for tabular models, run by Airflow.", no_args_is_help=True)
# The console writes to its own copy of the terminal: while a DAG runs, file descriptors 1 and 2 are pointed at the
# task log file (see orchestration.runner.output_to), and the progress bar must still reach the user.
# Piped (CI logs, `| tee`): wide enough for the demo's month table instead of rich's default of 80 columns.
console = Console(
    file=os.fdopen(os.dup(1), "w", buffering=1),
    force_terminal=sys.stdout.isatty() or None,
    width=None if sys.stdout.isatty() else 150,
)

DEMO_DAGS = ("ingest", "transform")


def _settings() -> Settings:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return apply_environment()


def _run_tool(args: list[str], cwd: Path, what: str) -> None:
    started = time.monotonic()
    with console.status(f"{what}..."):
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        console.print(f"[red]{what} failed[/red] ({shlex.join(args)}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        raise typer.Exit(1)
    console.print(f"[green]✓[/green] {what} ({time.monotonic() - started:.1f} s)")


@app.command()
def init() -> None:
    """Create local state: Airflow's metadata database and the parsed dbt manifest (idempotent)."""
    settings = _settings()
    bin_dir = Path(sys.executable).parent
    _run_tool([str(bin_dir / "airflow"), "db", "migrate"], settings.project_dir, "Airflow metadata database")
    _run_tool(
        [str(bin_dir / "dbt"), "parse", "--quiet", "--target-path", str(settings.dbt_target_path)],
        settings.dbt_project_dir,
        "dbt parse (manifest)",
    )
    console.print(f"Local state lives in {settings.home}")


@app.command()
def land(
    first: Annotated[str | None, typer.Option(help="first month, YYYY-MM")] = None,
    last: Annotated[str | None, typer.Option(help="last month, YYYY-MM")] = None,
) -> None:
    """Replay the bundled datasets into landing as monthly batch files."""
    from flywheel.jobs.ingest import replay_months

    settings = _settings()
    names = replay_months(first, last, settings)
    console.print(f"[green]✓[/green] landed {len(names)} batch files in {settings.landing_uri}")


def _run_dags(dag_ids: list[str], settings: Settings, conf: dict[str, object] | None = None) -> None:
    from flywheel.orchestration.runner import load_dags, run_dag
    from flywheel.orchestration.runner import output_to as quiet

    with console.status("Parsing the DAG files..."), quiet(settings.home / "logs" / "dag-parsing.log"):
        dags = load_dags()
    for dag_id in dag_ids:
        if dag_id not in dags:
            console.print(f"[red]No DAG {dag_id!r}[/red]; known: {', '.join(sorted(dags))}")
            raise typer.Exit(1)
        log_file = settings.home / "logs" / f"{dag_id}.log"
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} tasks"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[running]}"),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(f"DAG {dag_id}", total=len(dags[dag_id].tasks), running="")  # type: ignore[attr-defined]

            def report(finished: int, total: int, running: list[str], task: int = task) -> None:
                bar.update(task, completed=finished, total=total, running=", ".join(running))

            outcome = run_dag(dags[dag_id], log_file, report, conf=conf)
        if outcome.state != "success":
            console.print(
                f"[red]DAG {dag_id} {outcome.state}[/red]: failed tasks {outcome.failed_tasks}. Task logs: {log_file}"
            )
            raise typer.Exit(1)


@app.command()
def run(dag_ids: Annotated[list[str], typer.Argument(help="DAG ids, run in this order")]) -> None:
    """Run DAGs in-process with dag.test() (the embedded mode); task logs go to .flywheel/logs/<dag>.log."""
    _run_dags(dag_ids, _settings())


def _model_names(settings: Settings) -> list[str]:
    from flywheel.specs import load_specs

    return [s.name for s in load_specs(settings.models_dir)]


def _one_model(model: str | None, settings: Settings) -> str:
    """The named model, or the only one there is; a clear error otherwise."""
    names = _model_names(settings)
    if model is None and len(names) == 1:
        return names[0]
    if model not in names:
        console.print(
            f"[red]{'Name a model' if model is None else f'No model {model!r}'}[/red]: "
            f"models/ has {', '.join(names)} (e.g. --model {names[0]})"
        )
        raise typer.Exit(2)
    return model


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
) -> None:
    """The main job, per model: land its first year of real data, ingest, dbt build, validate, train, gate,
    register a champion; then replay the later months through the loop (traffic, labels, canary, monitor,
    drift-triggered retraining) and end with a table and a chart of live quality against a never-retrained model."""
    from flywheel.demo import demo_plan
    from flywheel.jobs.ingest import replay_months
    from flywheel.jobs.train import has_champion

    started = time.monotonic()
    init()
    settings = _settings()
    models = [_one_model(m, settings) for m in model] if model else _model_names(settings)
    plans = [demo_plan(m, settings, first, last, loop_last, loop_months) for m in models]
    for plan in plans:
        landed = replay_months(plan.initial[0], plan.initial[-1], settings, plan.tables)
        console.print(
            f"[green]✓[/green] {plan.model}: landed {len(landed)} batch files ({plan.initial[0]} .. "
            f"{plan.initial[-1]} of {', '.join(plan.tables)}); the loop replays {len(plan.loop)} more months"
        )
    _run_dags(list(DEMO_DAGS), settings)

    # As the scheduler does on new validated data: only a model without a champion is trained here; after that,
    # retraining is the monitor's decision (a second `flywheel demo` trains nothing).
    first_training = [f"train__{m}" for m in models if not has_champion(m, settings)]
    for name in sorted(set(models) - {t.removeprefix("train__") for t in first_training}):
        console.print(f"{name}: @champion exists; retraining is the monitor's decision")
    if first_training:
        _run_dags(first_training, settings, {"reason": "first validated data and no @champion yet"})
    charts = []
    if loop:
        from flywheel.demo import loop_demo

        charts = loop_demo(
            plans,
            settings,
            console,
            run_dags=lambda dags, conf=None: _run_dags(dags, settings, conf),
            land=lambda first, last, tables: replay_months(first, last, settings, tables),
        )
    print_summary(console, models, settings)
    for chart in charts:
        console.print(f"Chart of live quality: {chart}")
    console.print(f"\nDemo finished in {time.monotonic() - started:.0f} s.")


@app.command()
def status(
    model: Annotated[str | None, typer.Argument(help="model name (models/<name>.yaml); default: every model")] = None,
) -> None:
    """Rows per stage, validation, and each model's aliases, metrics, canary, monitor and last ledger entries."""
    settings = _settings()
    print_summary(console, [_one_model(model, settings)] if model else _model_names(settings), settings)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="the blessed version to make @champion")],
    reason: Annotated[str, typer.Option(help="why; written to the ledger")],
    model: Annotated[str | None, typer.Option(help="model name (needed when models/ has several)")] = None,
) -> None:
    """Move @champion by hand (blessed versions only), recorded in the ledger like any promotion."""
    import getpass

    from flywheel.jobs.canary import manual_promote

    settings = _settings()
    model = _one_model(model, settings)
    moved = manual_promote(model, version, getpass.getuser(), reason, settings)
    console.print(f"{model}: @champion {'moved to' if moved else 'already was'} v{version}")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="why; written to the ledger")],
    model: Annotated[str | None, typer.Option(help="model name (needed when models/ has several)")] = None,
) -> None:
    """Remove @challenger (ends its canary; the champion keeps serving), recorded in the ledger."""
    import getpass

    from flywheel.jobs.canary import manual_rollback

    settings = _settings()
    model = _one_model(model, settings)
    version = manual_rollback(model, getpass.getuser(), reason, settings)
    console.print(f"{model}: " + (f"v{version} rolled back" if version else "no @challenger to roll back"))


@app.command()
def monitor(
    first: Annotated[str, typer.Option("--from", help="first window, YYYY-MM")],
    last: Annotated[str, typer.Option("--to", help="last window, YYYY-MM")],
    model: Annotated[str | None, typer.Option(help="model name (needed when models/ has several)")] = None,
    what_if: Annotated[bool, typer.Option(help="a replay: send nothing, request nothing, keep live history")] = True,
) -> None:
    """Run monitor__MODEL over past monthly windows (the embedded backfill) and show what the policy in
    monitoring/MODEL.yaml would have alerted and retrained. Edit the policy and run it again to compare."""
    import pandas as pd

    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring import history

    settings = _settings()
    model = _one_model(model, settings)
    warehouse = open_warehouse(settings)
    history.ensure_tables(warehouse)
    if what_if:  # a fresh simulation of the current policy, not a continuation of the last one
        warehouse.execute(f"delete from {history.DECISIONS} where model = ? and mode = 'what_if'", (model,))
    for start in pd.date_range(f"{first}-01", f"{last}-01", freq="MS"):
        conf = {"window_start": start.isoformat(), "window_end": (start + pd.offsets.MonthBegin(1)).isoformat()}
        _run_dags([f"monitor__{model}"], settings, {**conf, "what_if": what_if})
    print_monitor_history(console, history.decisions(warehouse, model, "what_if" if what_if else "live"))


@app.command()
def serve(
    model: Annotated[str | None, typer.Argument(help="model name (models/<name>.yaml)")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """The prediction service: @champion and @challenger of MODEL behind POST /predict."""
    import uvicorn

    from flywheel.serving.app import create_app
    from flywheel.specs import load_spec

    settings = _settings()
    model = _one_model(model, settings)
    logging.getLogger("flywheel").setLevel(logging.INFO)
    app_ = create_app(load_spec(settings.models_dir / f"{model}.yaml"), settings)
    uvicorn.run(app_, host=host, port=port, log_level="info")


@app.command()
def env() -> None:
    """Print the environment of the embedded mode, for `eval "$(flywheel env)"` before `airflow ...` or `dbt ...`."""
    settings = _settings()
    for key, value in {
        **settings.airflow_env(),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.environ["AIRFLOW__API_AUTH__JWT_SECRET"],
    }.items():
        typer.echo(f"export {key}={shlex.quote(os.environ.get(key, value))}")


if __name__ == "__main__":
    app()
