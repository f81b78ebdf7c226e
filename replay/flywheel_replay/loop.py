"""The closed loop of `flywheel-replay demo`, after the first champion: the remaining months of real data, in order.

Per model, the demo replays its own sources' bundled data (dbt lineage from its mart to the raw tables): the first
``INITIAL_MONTHS`` months train the first champion, every later month goes through the loop. Each month: its batch
lands, is ingested, transformed and validated; its rows are replayed as requests to `flywheel serve` (its own
process, champion/challenger/shadow routing, prediction log), a part of the month at a time (a week by default);
after each part, `canary__<model>` loads the log, publishes the labels known by then (an outcome is known once its
event time has passed) and judges a running canary at that replayed time (its ``as_of``: every canary time rule
reads it); `monitor__<model>` judges the month. When the monitor's policy requests a retrain (an Asset event),
`train__<model>` runs next, as the scheduler would run it, and the canary runs once more, as its hourly schedule
would: the new blessed challenger enters its first stage (shadow) on the following month's traffic.

The demo ends with a table per month and a chart of the live primary metric next to a never-retrained first
model's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from rich.console import Console

from flywheel.settings import Settings
from flywheel_replay.summary import MonthRow

INITIAL_MONTHS = 12  # a year before the loop: every season once in the first model's training data

RunDags = Callable[..., None]


@dataclass(frozen=True)
class DemoPlan:
    model: str
    tables: list[str]  # the raw tables its mart is built from: only their data is landed for it
    initial: list[str]  # months landed before the first training
    loop: list[str]  # months replayed through the loop, in order


def demo_plan(
    model: str,
    settings: Settings,
    first: str | None = None,
    last: str | None = None,
    loop_last: str | None = None,
    loop_months: int | None = None,
) -> DemoPlan:
    """The months of ``model``'s bundled data: the first year (or ``first``..``last``) before the loop, the rest
    (up to ``loop_last``, at most ``loop_months`` of them) through it."""
    from flywheel_replay.landing import model_months, model_sources

    tables = model_sources(model, settings)
    months = model_months(tables, settings)
    if not months:
        raise ValueError(f"{model}: its sources have no bundled data to replay")
    chosen = [m for m in months if (first or m) <= m <= (last or m)]
    initial = chosen if first or last else months[:INITIAL_MONTHS]
    if not initial:
        raise ValueError(f"{model}: no data between {first} and {last} (it has {months[0]} .. {months[-1]})")
    loop = [m for m in months if m > initial[-1] and (loop_last is None or m <= loop_last)][:loop_months]
    return DemoPlan(model, tables, initial, loop)


def _ledger_events_since(model: str, settings: Settings, since: datetime) -> list[str]:
    from flywheel.data.warehouse import open_warehouse
    from flywheel.registry import ledger

    entries = ledger.history(open_warehouse(settings), model, limit=50)
    wanted = {"canary_started", "canary_advanced", "promoted", "rolled_back", "blessed", "rejected", "paged"}
    return [
        f"{e['event']} v{e['version']}"
        for e in reversed(entries)
        if e["event"] in wanted and pd.Timestamp(e["recorded_at"]).to_pydatetime() >= since.replace(tzinfo=None)
    ]


def _serve_and_judge(
    model: str, month: str, url: str, settings: Settings, run_dags: RunDags, since: datetime, canary_runs: int
) -> MonthRow:
    """After the month's batch went through ingest and transform: its rows as requests to the model's service,
    labels and the canary, the monitor, and the training a retrain request asks for."""
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring import history
    from flywheel.orchestration.assets import retrain_requested
    from flywheel.orchestration.runner import asset_events_since
    from flywheel.specs import load_spec
    from flywheel_replay.traffic import (
        month_parts,
        period_records,
        post_records,
        wait_for_routing,
        wait_until_logged,
    )

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    answered: dict[str, int] = {}
    # Each part's traffic, then the canary at its end (its replayed time: `as_of`). The canary runs hourly in
    # production; ``canary_runs`` a month is the replay's coarse stand-in, so that a stage that has its evidence
    # after a week moves on then, not at the month's end (each run costs a canary DAG run of a few seconds).
    for first_day, end_day, part_end in month_parts(month, canary_runs):
        part = post_records(url, period_records(spec, open_warehouse(settings), first_day, end_day))
        answered = {k: answered.get(k, 0) + part.get(k, 0) for k in {*answered, *part}}
        wait_until_logged(url)  # the answers' and the shadow's rows are in the log the canary reads
        as_of = {"as_of": part_end}  # the canary's one clock: the replayed time, not the wall clock
        run_dags([f"canary__{model}"], as_of)
        wait_for_routing(url, settings, model)  # the service answers as the canary just decided
    start = pd.Timestamp(f"{month}-01")
    window = {"window_start": start.isoformat(), "window_end": (start + pd.offsets.MonthBegin(1)).isoformat()}
    run_dags([f"monitor__{model}"], window)
    retrains = asset_events_since(retrain_requested(model).name, since)
    for event in retrains:
        run_dags([f"train__{model}"], {"reason": event.get("reason", "retrain requested")})
    if retrains:  # the hourly canary starts a new blessed challenger's first stage before the next month's traffic
        run_dags([f"canary__{model}"], as_of)
        wait_for_routing(url, settings, model)
    decision = history.decision_for(open_warehouse(settings), model, "live", pd.Timestamp(window["window_end"]))
    row = MonthRow(month, answered)
    if decision is not None:
        row.severity, row.action = str(decision["severity"]), str(decision["action"])
    row.alerts = _alerts_for(model, settings, pd.Timestamp(window["window_end"]))
    row.events = _ledger_events_since(model, settings, since)
    return row


def _replayed_before(model: str, month: str, settings: Settings) -> MonthRow | None:
    """A month the monitor already judged live is not replayed again: `flywheel-replay demo` twice sends no traffic
    twice (re-sent requests would be new traffic, not a re-run) and changes nothing."""
    from flywheel.data import predictions
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring import history

    warehouse = open_warehouse(settings)
    history.ensure_tables(warehouse)
    end = pd.Timestamp(f"{month}-01") + pd.offsets.MonthBegin(1)
    decision = history.decision_for(warehouse, model, "live", end.to_pydatetime())
    if decision is None:
        return None
    predictions.ensure_tables(warehouse)
    served = warehouse.query_df(
        f"select arm, version, count(*) as n from {predictions.PREDICTION_LOG} p join {predictions.LABELS} l "
        "on l.model = p.model and l.entity_id = p.entity_id where p.model = ? and p.source = 'api' "
        "and l.event_time >= ? and l.event_time < ? group by arm, version",
        (model, pd.Timestamp(f"{month}-01").to_pydatetime(), end.to_pydatetime()),
    )
    answered = {f"{r.arm} v{r.version}": int(r.n) for r in served.itertuples(index=False)}
    row = MonthRow(month, answered, str(decision["severity"]), str(decision["action"]))
    row.alerts = _alerts_for(model, settings, end)
    row.events = ["(replayed before)"]
    return row


def _alerts_for(model: str, settings: Settings, window_end: pd.Timestamp) -> int:
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring.alerts import DELIVERIES, ensure_table

    warehouse = open_warehouse(settings)
    ensure_table(warehouse)
    rows = warehouse.fetch_all(
        f"select count(distinct fingerprint) from {DELIVERIES} where model = ? and window_end = ? "
        "and status = 'delivered'",
        (model, window_end.to_pydatetime()),
    )
    return int(rows[0][0])


def loop_demo(
    plans: list[DemoPlan], settings: Settings, console: Console, run_dags: RunDags, land, canary_runs: int = 4
) -> list[Path]:
    """Replay every plan's loop side by side: step i lands each model's i-th loop month, one ``ingest`` and one
    ``transform`` run take all of them (as in production, where every source delivers and one dbt run builds),
    then each model's own service, canary and monitor take its month. Prints one table per model and returns the
    charts' paths. ``land(first, last, tables)`` lands months of the given raw tables; ``canary_runs``: canary
    runs per replayed month, each after its share of the month's traffic."""
    from contextlib import ExitStack

    from flywheel.serving.process import flywheel_serve
    from flywheel_replay.summary import live_quality_by_month, print_table, save_chart

    plans = [p for p in plans if p.loop]
    console.rule("The loop: " + "; ".join(f"{p.model} {p.loop[0]} .. {p.loop[-1]}" for p in plans))
    # A replay posts a month of rows as fast as it can; on a busy laptop a batch may exceed production's timeout.
    env = {
        "FLYWHEEL_SERVE_REFRESH_SECONDS": "0.5",
        "FLYWHEEL_SERVE_LOG_FLUSH_SECONDS": "0.2",
        "FLYWHEEL_SERVE_SHADOW_BATCH_SECONDS": "0.1",  # the shadow's rows are in the log before the canary runs
        "FLYWHEEL_SERVE_TIMEOUT_SECONDS": "30",
    }
    rows: dict[str, list[MonthRow]] = {p.model: [] for p in plans}
    with ExitStack() as services:
        urls = {
            p.model: services.enter_context(
                flywheel_serve(p.model, settings.home / "logs" / f"serve-{p.model}.log", env)
            )
            for p in plans
        }
        for step in range(max((len(p.loop) for p in plans), default=0)):
            due: list[tuple[DemoPlan, str]] = []
            for plan in (p for p in plans if step < len(p.loop)):
                earlier = _replayed_before(plan.model, plan.loop[step], settings)
                if earlier is None:
                    due.append((plan, plan.loop[step]))
                else:
                    rows[plan.model].append(earlier)
                    _print_row(console, plan.model, earlier)
            if not due:
                continue
            since = datetime.now(UTC)
            for plan, month in due:
                land(month, month, plan.tables)
            run_dags(["ingest", "transform"])
            for plan, month in due:
                row = _serve_and_judge(plan.model, month, urls[plan.model], settings, run_dags, since, canary_runs)
                rows[plan.model].append(row)
                _print_row(console, plan.model, row)
    charts = []
    for plan in plans:
        figures = live_quality_by_month(plan.model, settings, [r.month for r in rows[plan.model]])
        print_table(console, plan.model, rows[plan.model], figures)
        charts.append(save_chart(plan.model, settings, figures, rows[plan.model]))
    return charts


def _print_row(console: Console, model: str, row: MonthRow) -> None:
    served = ", ".join(f"{k} {v:,}" for k, v in row.answered.items())
    console.print(
        f"[bold]{model} {row.month}[/bold]: {served}; drift {row.severity}; policy {row.action}; "
        f"{'; '.join(row.events) or 'no registry changes'}"
    )
