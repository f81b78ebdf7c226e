"""The monitor of one model for one window: gather the evidence, call the judgement, write what it decided.

1. gather: the champion and its training window, the reference and current rows (``monitoring.windows``), the drift
   verdict (``monitoring.drift``), quality on the labelled rows, the history of judged windows, the canary, the dbt
   lineage of the drifted columns;
2. judge: ``flywheel.decisions.monitor.judge`` (pure) returns the figures, the retrain action and the alert packet;
3. write: the figures (``ops.monitor_metrics``), the Evidently report and the packet (report store), the decision
   (``ops.monitor_decisions``) and, live, the ledger entry. The decision row is written last: a run that fails
   before it leaves the window unjudged, and its retry judges it whole.

Live runs (``mode='live'``) write the ledger, send alerts and may request a retrain; what-if runs (a replay of past
windows to try a policy) write the same figures under ``mode='what_if'`` and send nothing. A re-run of a window
keeps its first decision: clearing a monitor run never requests a second retrain or a second alert.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pandas as pd

from flywheel.core.clock import naive_utc
from flywheel.core.packet import AlertPacket, ReportLinks
from flywheel.decisions import monitor as judgement
from flywheel.decisions.monitor import LIVE, WHAT_IF, Mode
from flywheel.decisions.monitor_evidence import WindowEvidence
from flywheel.decisions.monitor_result import MonitorResult
from flywheel.jobs.monitor_inputs import context, gather, judged_features
from flywheel.monitoring import alerts, history
from flywheel.monitoring.evidently_report import render
from flywheel.monitoring.windows import LABEL
from flywheel.registry import ledger
from flywheel.training.cost import measured
from flywheel.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["LIVE", "WHAT_IF", "report_prefix", "run_monitor", "send_alert"]

_LEDGER_EVENTS = {"retrain": "retrain_requested", "suppressed": "retrain_suppressed", "page": "paged"}


def report_prefix(name: str, mode: str, window: tuple[datetime, datetime]) -> str:
    """Stable, predictable names: ``<model>/monitor/<start>_<end>/`` (``monitor-what-if`` for replays)."""
    folder = "monitor" if mode == LIVE else "monitor-what-if"
    return f"{name}/{folder}/{window[0]:%Y-%m-%d}_{window[1]:%Y-%m-%d}/"


def run_monitor(
    workspace: Workspace, name: str, window: tuple[datetime, datetime], mode: Mode = LIVE, actor: str = "monitor"
) -> MonitorResult:
    """Judge ``window`` (start inclusive, end exclusive) for ``name``; returns the decision and where things are."""
    warehouse = workspace.warehouse
    history.ensure_tables(warehouse)
    window = (naive_utc(window[0]), naive_utc(window[1]))
    earlier = history.decision_for(warehouse, name, mode, window[1])
    if earlier is not None:
        result = MonitorResult.from_record(earlier, already_judged=True)
        log.info(
            "%s: window ending %s already judged (%s, %s): keeping that decision",
            name,
            window[1],
            result.severity,
            result.action,
        )
        return result
    champion = workspace.registry.champion(name)
    if champion is None:
        return _no_champion(workspace, name, window, mode, actor)
    return _judge(workspace, name, champion, window, mode, actor)


def _no_champion(
    workspace: Workspace, name: str, window: tuple[datetime, datetime], mode: Mode, actor: str
) -> MonitorResult:
    reason = "no @champion yet: the first training is requested"
    result = MonitorResult(
        model=name,
        mode=mode,
        window_start=window[0],
        window_end=window[1],
        champion="-",
        severity="insufficient_data",
        action="retrain",
        trigger_kind="no_champion",
        reason=reason,
    )
    history.record_decision(workspace.warehouse, name, mode, result.record())
    if mode == LIVE:
        ledger.record(
            workspace.warehouse,
            ledger.LedgerEntry(name, "-", "retrain_requested", actor, reason, {"window_end": window[1]}),
        )
    return result


def _judged(
    workspace: Workspace, name: str, champion: str, window: tuple[datetime, datetime], mode: Mode
) -> tuple[WindowEvidence, ReportLinks, judgement.Judgement]:
    """The window's evidence, its Evidently reports (written) and the judgement of both."""
    spec, monitor = workspace.spec(name), workspace.monitor_spec(name)
    evidence, windows, run, holdout = gather(workspace, spec, monitor, champion, window)
    store, prefix = workspace.store("reports"), report_prefix(name, mode, window)
    report = ReportLinks(verdict=store.uri(prefix + "verdict.json"))  # no report without a verdict: none linked
    if evidence.verdict.severity != "insufficient_data":
        numeric, categorical = judged_features(spec, monitor)
        rendered = render(
            windows.reference,
            windows.current,
            evidence.verdict,
            numeric,
            categorical,
            LABEL,
            spec.task,
            holdout if evidence.labelled_rows else None,
            classes=spec.classes,
        )
        store.write_bytes(prefix + "report.html", rendered.html)
        store.write_bytes(prefix + "evidently.json", rendered.json)
        quality_html = None
        if rendered.quality_html is not None and rendered.quality_json is not None:
            store.write_bytes(prefix + "quality.html", rendered.quality_html)
            store.write_bytes(prefix + "quality.json", rendered.quality_json)
            quality_html = store.uri(prefix + "quality.html")
        report = ReportLinks(
            html=store.uri(prefix + "report.html"),
            json=store.uri(prefix + "evidently.json"),
            verdict=report.verdict,
            quality_html=quality_html,
        )
    inputs = context(workspace, spec, monitor, evidence, mode, run, report)
    return evidence, report, judgement.judge(evidence, inputs, monitor)


def _judge(
    workspace: Workspace, name: str, champion: str, window: tuple[datetime, datetime], mode: Mode, actor: str
) -> MonitorResult:
    with measured() as cost:  # what judging a window costs, recorded beside its figures
        evidence, report, judged = _judged(workspace, name, champion, window, mode)
    rows = [vars(r) for r in judged.metrics] + [
        {"metric": f"monitor_cost.{what}", "subject": "", "value": value, "threshold": None, "flagged": False}
        for what, value in (("cpu_seconds", cost.cpu_seconds), ("wall_seconds", cost.wall_seconds))
    ]
    history.write_metrics(workspace.warehouse, name, mode, champion, window, rows)
    prefix = report_prefix(name, mode, window)
    workspace.store("reports").write_bytes(prefix + "verdict.json", judged.packet.to_json())
    decision = judged.decision
    result = MonitorResult(
        model=name,
        mode=mode,
        window_start=window[0],
        window_end=window[1],
        champion=champion,
        severity=evidence.verdict.severity,
        drifted=tuple(c.column for c in evidence.verdict.drifted),
        quality_drop=None if evidence.quality is None else evidence.quality.drop,
        action=decision.action,
        trigger_kind=decision.trigger,
        reason=decision.reason,
        report_uri=report.main,
        packet=prefix + "verdict.json" if judged.alerting else "",
    )
    history.record_decision(workspace.warehouse, name, mode, result.record())
    if mode == LIVE and decision.action != "none":
        extra = {"window_end": window[1], "trigger": decision.trigger, "drifted": ",".join(result.drifted)}
        ledger.record(
            workspace.warehouse,
            ledger.LedgerEntry(
                name,
                champion,
                _LEDGER_EVENTS[decision.action],
                actor,
                decision.reason,
                {**extra, "report": report.main},
            ),
        )
    log.info(
        "%s v%s %s..%s: %s; %s: %s",
        name,
        champion,
        window[0].date(),
        window[1].date(),
        evidence.verdict.reason,
        decision.action,
        decision.reason,
    )
    return result


def open_rows_window(workspace: Workspace, name: str, end: datetime) -> tuple[datetime, int]:
    """A window of rows (``window: {rows: N}``) still open at ``end``: where it opened (the end of the last live
    window, else the end of the champion's training data, else ``end``) and how many mart rows arrived since."""
    warehouse, spec = workspace.warehouse, workspace.spec(name)
    history.ensure_tables(warehouse)
    end = naive_utc(end)
    judged = history.past(warehouse, name, LIVE, end + timedelta(microseconds=1))
    champion = workspace.registry.champion(name)
    if not judged.empty:
        start = pd.Timestamp(judged["window_end"].iloc[-1]).to_pydatetime()
    elif champion is not None:
        start = datetime.fromisoformat(workspace.registry.training_run(name, champion).data_window[1])
        start = naive_utc(start) + timedelta(microseconds=1)  # the reference ends with that row
    else:
        start = end
    s = spec.source
    rows = warehouse.fetch_all(
        f"select count(*) from marts.{s.mart} where {s.event_time_column} >= ? and {s.event_time_column} < ?",
        (start, end),
    )
    return start, int(rows[0][0])


def send_alert(workspace: Workspace, result: MonitorResult) -> list[alerts.Delivery]:
    """Deliver a live window's packet to its routes (quiet period and per-route isolation: monitoring.alerts)."""
    if not result.alerting:
        return []
    monitor = workspace.monitor_spec(result.model)
    packet = AlertPacket.model_validate_json(workspace.store("reports").read_bytes(result.packet))
    now = datetime.fromisoformat(packet.window.end)
    return alerts.deliver(packet, monitor.alerts, workspace.settings, workspace.warehouse, now)
