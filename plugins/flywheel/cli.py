"""``flywheel``: the command line for people (init, run, status, history, promote, rollback, monitor, serve, env).

The demo's replay has its own command, ``flywheel-replay`` (the ``replay/`` package, not part of the product)."""

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
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

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


def settings_from_environment() -> Settings:
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
    settings = settings_from_environment()
    bin_dir = Path(sys.executable).parent
    _run_tool([str(bin_dir / "airflow"), "db", "migrate"], settings.project_dir, "Airflow metadata database")
    _run_tool(
        [str(bin_dir / "dbt"), "parse", "--quiet", "--target-path", str(settings.dbt_target_path)],
        settings.dbt_project_dir,
        "dbt parse (manifest)",
    )
    console.print(f"Local state lives in {settings.home}")


def run_dags(dag_ids: list[str], settings: Settings, conf: dict[str, object] | None = None) -> None:
    from flywheel.orchestration.runner import load_dags, run_dag
    from flywheel.orchestration.runner import output_to as quiet

    with console.status("Parsing the DAG files..."), quiet(settings.home / "logs" / "dag-parsing.log"):
        dags, import_errors = load_dags()
    for dag_id in dag_ids:
        if dag_id not in dags:
            errors = [e for e in import_errors.values() if dag_id in e] or list(import_errors.values())
            reason = f": {errors[0].strip().splitlines()[-1]}" if errors else f"; known: {', '.join(sorted(dags))}"
            console.print(f"[red]No DAG {dag_id!r}[/red]{reason}")
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
            task = bar.add_task(f"DAG {dag_id}", total=len(dags[dag_id].tasks), running="")

            def report(finished: int, total: int, running: list[str], task: TaskID = task) -> None:
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
    run_dags(dag_ids, settings_from_environment())


def model_names(settings: Settings) -> list[str]:
    """The models whose spec and monitoring policy validate; each broken one is named with its problems and left
    out, so it does not stop the others (`flywheel check` lists every problem)."""
    from flywheel.jobs.spec_files import describe, load_spec_files

    files = load_spec_files(settings.models_dir, settings.monitoring_dir)
    for name, problems in {**files.broken_models, **files.broken_monitors}.items():
        Console(stderr=True).print(f"[yellow]{name} is left out[/yellow]: {describe(problems)}")  # not in --json
    return [name for name in files.names if name not in files.broken_monitors]


def one_model(model: str | None, settings: Settings) -> str:
    """The named model, or the only one there is; a clear error otherwise."""
    names = model_names(settings)
    if model is None and len(names) == 1:
        return names[0]
    if model not in names:
        console.print(
            f"[red]{'Name a model' if model is None else f'No model {model!r}'}[/red]: "
            f"models/ has {', '.join(names)} (e.g. --model {names[0]})"
        )
        raise typer.Exit(2)
    return model


def _moved_to_replay(command: str) -> None:
    console.print(
        f"[yellow]`flywheel {command}` is the demo's replay, its own command now[/yellow]: "
        f"`.venv/bin/flywheel-replay {command}` with the same options (or `make demo`). The replay is a development "
        "tool: `make install` installs it; the production image does not."
    )
    raise typer.Exit(2)


_PASS_ANY = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(hidden=True, context_settings=_PASS_ANY)
def demo() -> None:  # moved to `flywheel-replay demo`
    _moved_to_replay("demo")


@app.command(hidden=True, context_settings=_PASS_ANY)
def land() -> None:  # moved to `flywheel-replay land`
    _moved_to_replay("land")


@app.command()
def status(
    model: Annotated[str | None, typer.Argument(help="model name (models/<name>.yaml); default: every model")] = None,
) -> None:
    """Rows per stage, validation, and each model's aliases, metrics, canary, monitor and last ledger entries."""
    settings = settings_from_environment()
    from flywheel.workspace import Workspace

    print_summary(console, [one_model(model, settings)] if model else model_names(settings), Workspace(settings))


@app.command()
def history(
    model: Annotated[str | None, typer.Argument(help="model name (needed when models/ has several)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document instead of tables")] = False,
) -> None:
    """Which version answered what share of traffic, from when to when, who moved it and why (the ledger's)."""
    from flywheel.report_history import print_history

    settings = settings_from_environment()
    print_history(console, one_model(model, settings), settings, as_json)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="the blessed version to make @champion")],
    reason: Annotated[str, typer.Option(help="why; written to the ledger")],
    model: Annotated[str | None, typer.Option(help="model name (needed when models/ has several)")] = None,
) -> None:
    """Move @champion by hand (blessed versions only), recorded in the ledger like any promotion."""
    import getpass

    from flywheel.jobs.canary import manual_promote
    from flywheel.workspace import Workspace

    settings = settings_from_environment()
    model = one_model(model, settings)
    moved = manual_promote(Workspace(settings), model, version, getpass.getuser(), reason)
    console.print(f"{model}: @champion {'moved to' if moved else 'already was'} v{version}")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="why; written to the ledger")],
    model: Annotated[str | None, typer.Option(help="model name (needed when models/ has several)")] = None,
) -> None:
    """Remove @challenger (ends its canary; the champion keeps serving), recorded in the ledger."""
    import getpass

    from flywheel.jobs.canary import manual_rollback
    from flywheel.workspace import Workspace

    settings = settings_from_environment()
    model = one_model(model, settings)
    version = manual_rollback(Workspace(settings), model, getpass.getuser(), reason)
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

    settings = settings_from_environment()
    model = one_model(model, settings)
    warehouse = open_warehouse(settings)
    history.ensure_tables(warehouse)
    if what_if:  # a fresh simulation of the current policy, not a continuation of the last one
        warehouse.execute(f"delete from {history.DECISIONS} where model = ? and mode = 'what_if'", (model,))
    for start in pd.date_range(f"{first}-01", f"{last}-01", freq="MS"):
        conf = {"window_start": start.isoformat(), "window_end": (start + pd.offsets.MonthBegin(1)).isoformat()}
        run_dags([f"monitor__{model}"], settings, {**conf, "what_if": what_if})
    mode = "what_if" if what_if else "live"
    figures = history.alert_figures(warehouse, model, mode)
    print_monitor_history(console, history.decisions(warehouse, model, mode), figures)


@app.command()
def serve(
    model: Annotated[str | None, typer.Argument(help="model name (models/<name>.yaml)")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int | None, typer.Option(help="worker processes (default: settings serve_workers)")] = None,
) -> None:
    """The prediction service: @champion and @challenger of MODEL behind POST /predict."""
    from flywheel.serving.threads import pin_model_threads

    settings = settings_from_environment()
    pin_model_threads(settings.serve_model_threads)  # before scikit-learn (and its OpenMP runtime) is imported

    from flywheel.serving.workers import serve as serve_model

    model = one_model(model, settings)
    logging.getLogger("flywheel").setLevel(logging.INFO)
    count = workers or settings.serve_workers
    if count < 1:
        console.print(f"[red]--workers must be at least 1[/red], got {count}")
        raise typer.Exit(2)
    serve_model(model, settings, host, port, count)


@app.command()
def check() -> None:
    """Check every spec, monitoring file and expectation suite against each other and the dbt project (seconds)."""
    from rich.table import Table

    from flywheel.jobs.check import check_project

    started = time.monotonic()
    report = check_project(settings_from_environment())
    if report.unbuilt_marts:
        console.print(
            f"[yellow]not built in this home yet[/yellow]: {', '.join(report.unbuilt_marts)}; their columns were not "
            "checked (run `make demo`, or `flywheel run ingest transform`, then check again)"
        )
    if not report.problems:
        console.print(
            f"[green]✓[/green] {report.files} files checked, no problems ({time.monotonic() - started:.1f} s)"
        )
        return
    table = Table("file", "field", "problem", "what to do", show_lines=True)
    for problem in report.problems:
        table.add_row(problem.file, problem.field, problem.message, problem.fix)
    console.print(table)
    console.print(f"[red]{len(report.problems)} problem(s)[/red] in {report.files} files")
    raise typer.Exit(1)


@app.command()
def env() -> None:
    """Print the environment of the embedded mode, for `eval "$(flywheel env)"` before `airflow ...` or `dbt ...`."""
    settings = settings_from_environment()
    for key, value in {
        **settings.airflow_env(),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.environ["AIRFLOW__API_AUTH__JWT_SECRET"],
    }.items():
        typer.echo(f"export {key}={shlex.quote(os.environ.get(key, value))}")


if __name__ == "__main__":
    app()
