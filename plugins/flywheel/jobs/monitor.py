"""The monitor of one model for one window: drift verdict, Evidently report, metrics, retrain policy, alert packet.

Live runs (``mode='live'``) write the ledger, send alerts and may request a retrain; what-if runs (a replay of past
windows to try a policy) write the same figures under ``mode='what_if'`` and send nothing. A re-run of a window
keeps its first decision: clearing a monitor run never requests a second retrain or a second alert.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from flywheel.data import predictions
from flywheel.data.warehouse import Warehouse, open_warehouse
from flywheel.monitoring import alerts, history, policy, upstream
from flywheel.monitoring.drift import SEVERITY_ORDER, DriftSettings, DriftVerdict, check_drift
from flywheel.monitoring.evidently_report import PREDICTION, render
from flywheel.monitoring.windows import LABEL, Windows, load_windows
from flywheel.registry import artifacts, canary_state, ledger, register, tracking
from flywheel.settings import Settings, get_settings
from flywheel.specs import ModelSpec, MonitorSpec, load_monitor_spec, load_spec
from flywheel.storage import open_store
from flywheel.training.tasks import primary_metric

log = logging.getLogger(__name__)

LIVE, WHAT_IF = "live", "what_if"


def specs(name: str, settings: Settings) -> tuple[ModelSpec, MonitorSpec]:
    spec = load_spec(settings.models_dir / f"{name}.yaml")
    return spec, load_monitor_spec(settings.monitoring_dir / f"{name}.yaml", spec)


def report_prefix(name: str, mode: str, window: tuple[datetime, datetime]) -> str:
    """Stable, predictable names: ``<model>/monitor/<start>_<end>/`` (``monitor-what-if`` for replays)."""
    folder = "monitor" if mode == LIVE else "monitor-what-if"
    return f"{name}/{folder}/{window[0]:%Y-%m-%d}_{window[1]:%Y-%m-%d}/"


def drift_settings(monitor: MonitorSpec) -> DriftSettings:
    d = monitor.drift
    return DriftSettings(
        d.min_rows, d.effect_threshold, d.null_quantile, d.calibration_resamples, critical_share=d.critical_share
    )


# -- quality ---------------------------------------------------------------------------------------------------


def quality(
    spec: ModelSpec, monitor: MonitorSpec, windows: Windows, champion_metric: float | None
) -> dict[str, Any] | None:
    """The spec's primary metric on the window's labelled rows, against the champion's holdout figure.

    ``change`` is the live figure's advantage over the holdout one in the metric's direction (negative = worse, for
    ROC AUC a lower value, for MAE a higher one); ``threshold`` is the worst live value that does not count as a
    quality drop."""
    metric = primary_metric(spec)
    labelled = windows.current[windows.current[LABEL].notna()]
    live = metric.value(labelled[LABEL], labelled[PREDICTION])
    if len(labelled) < monitor.quality.min_labelled_rows or live is None or champion_metric is None:
        return None
    return {
        "metric": metric.name,
        "live": round(live, 4),
        "champion_holdout": round(champion_metric, 4),
        "change": round(metric.advantage(live, champion_metric), 4),
        "limit": -monitor.quality.max_drop,
        "threshold": round(metric.bound(champion_metric, monitor.quality.max_drop), 4),
        "labelled_rows": len(labelled),
    }


# -- one window ------------------------------------------------------------------------------------------------


def _row(metric: str, subject: str, value: float, threshold: float | None = None, flagged: bool = False) -> dict:
    return {"metric": metric, "subject": subject, "value": value, "threshold": threshold, "flagged": bool(flagged)}


def _metric_rows(verdict: DriftVerdict, target: Any, quality_result: dict | None, windows: Windows) -> list[dict]:
    """One row per metric of the window: what ``ops.monitor_metrics`` charts."""
    rows = [_row(f"drift.{c.method}", c.column, c.statistic, c.threshold, c.drifted) for c in verdict.columns]
    for metric, result in (("prediction_drift", verdict.prediction), ("target_drift", target)):
        if result is not None:
            rows.append(_row(metric, result.column, result.statistic, result.threshold, result.drifted))
    if quality_result:
        q = quality_result
        rows.append(
            _row(
                f"quality.{q['metric']}",
                "live",
                q["live"],
                q["threshold"],
                q["change"] < q["limit"],
            )
        )
    severity = verdict.severity
    rows += [
        _row("drifted_share", "features", verdict.drifted_share, flagged=severity == "critical"),
        _row("severity", severity, SEVERITY_ORDER[severity], flagged=severity in ("warning", "critical")),
        _row("rows", "current", verdict.current_rows),
        _row("rows", "reference", verdict.reference_rows),
        _row("rows", "labelled", windows.labelled_rows),
        _row("rows", "logged_predictions", windows.logged_predictions),
    ]
    return rows


def _target_drift(spec: ModelSpec, windows: Windows, settings: DriftSettings):
    from flywheel.monitoring.drift import column_drift

    labelled = windows.current[LABEL].dropna()
    if len(labelled) < settings.min_rows:
        return None
    kind = "numeric" if spec.task == "regression" else "categorical"
    return column_drift(LABEL, kind, windows.reference[LABEL], labelled, settings)


def _new_labelled_rows(warehouse: Warehouse, name: str, last_event: str) -> int:
    predictions.ensure_tables(warehouse)
    rows = warehouse.fetch_all(
        f"select count(*) from {predictions.LABELS} where model = ? and event_time > ?",
        (name, datetime.fromisoformat(last_event)),
    )
    return int(rows[0][0])


def run_monitor(
    name: str,
    window: tuple[datetime, datetime],
    mode: str = LIVE,
    actor: str = "monitor",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Judge ``window`` (start inclusive, end exclusive) for ``name``; returns the decision and where things are."""
    settings = settings or get_settings()
    spec, monitor = specs(name, settings)
    warehouse, client = open_warehouse(settings), tracking.client(settings)
    history.ensure_tables(warehouse)
    window = (window[0].replace(tzinfo=None), window[1].replace(tzinfo=None))
    earlier = history.decision_for(warehouse, name, mode, window[1])
    if earlier is not None:
        log.info(
            "%s: window ending %s already judged (%s, %s): keeping that decision",
            name,
            window[1],
            earlier["severity"],
            earlier["action"],
        )
        return {**{k: str(v) for k, v in earlier.items()}, "already_judged": True}
    champion = register.alias_version(client, name, register.CHAMPION)
    if champion is None:
        return _no_champion(name, window, mode, actor, warehouse)
    return _judge(spec, monitor, champion, window, mode, actor, settings, warehouse, client)


def _no_champion(
    name: str, window: tuple[datetime, datetime], mode: str, actor: str, warehouse: Warehouse
) -> dict[str, Any]:
    reason = "no @champion yet: the first training is requested"
    row = {
        "window_start": window[0],
        "window_end": window[1],
        "champion": "-",
        "severity": "insufficient_data",
        "drifted": "",
        "quality_drop": None,
        "action": "retrain",
        "trigger_kind": "no_champion",
        "reason": reason,
        "report_uri": "",
    }
    history.record_decision(warehouse, name, mode, row)
    if mode == LIVE:
        ledger.record(
            warehouse, ledger.LedgerEntry(name, "-", "retrain_requested", actor, reason, {"window_end": window[1]})
        )
    return {**row, "window_start": str(window[0]), "window_end": str(window[1])}


def _champion_context(client: Any, name: str, champion: str) -> tuple[object, tuple[str, str], dict[str, float]]:
    """The champion's model, its training window (tags written at training time) and its run's metrics."""
    run = client.get_run(client.get_model_version(name, champion).run_id)
    window = (run.data.tags["flywheel.data_first_event"], run.data.tags["flywheel.data_last_event"])
    return artifacts.load_verified_model(client, name, champion), window, run.data.metrics


def _judge(spec, monitor, champion, window, mode, actor, settings, warehouse, client) -> dict[str, Any]:
    name = spec.name
    model, data_window, run_metrics = _champion_context(client, name, champion)
    windows = load_windows(spec, monitor, warehouse, champion, model, data_window, window)
    ignored = set(monitor.drift.ignore)
    numeric = [c for c in spec.features.numeric if c not in ignored]
    categorical = [c for c in spec.features.categorical if c not in ignored]
    dsettings = drift_settings(monitor)
    verdict = check_drift(
        windows.reference, windows.current, numeric, categorical, dsettings, prediction_column=PREDICTION
    )
    target = _target_drift(spec, windows, dsettings) if verdict.severity != "insufficient_data" else None
    champion_metric = run_metrics.get(f"holdout_{spec.gates.primary_metric}")
    quality_result = quality(spec, monitor, windows, champion_metric)
    history.write_metrics(
        warehouse, name, mode, champion, window, _metric_rows(verdict, target, quality_result, windows)
    )

    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    prefix = report_prefix(name, mode, window)
    report = {
        "html": store.uri(prefix + "report.html"),
        "json": store.uri(prefix + "evidently.json"),
        "verdict": store.uri(prefix + "verdict.json"),
    }
    if verdict.severity != "insufficient_data":
        rendered = render(windows.reference, windows.current, verdict, numeric, categorical, LABEL, spec.task)
        store.write_bytes(prefix + "report.html", rendered.html)
        store.write_bytes(prefix + "evidently.json", rendered.json)

    decision = _decide(spec, monitor, champion, window, mode, verdict, quality_result, warehouse, client, data_window)
    packet = build_packet(
        spec, monitor, champion, window, verdict, target, quality_result, windows, decision, report, settings, client
    )
    store.write_bytes(prefix + "verdict.json", json.dumps(packet, indent=2, default=str).encode())
    alerting = decision.action == "page" or verdict.severity in ("warning", "critical")
    row = {
        "window_start": window[0],
        "window_end": window[1],
        "champion": champion,
        "severity": verdict.severity,
        "drifted": ",".join(c.column for c in verdict.drifted),
        "quality_drop": None if quality_result is None else -quality_result["change"],
        "action": decision.action,
        "trigger_kind": decision.trigger,
        "reason": decision.reason,
        "report_uri": report["html"],
    }
    history.record_decision(warehouse, name, mode, row)
    if mode == LIVE and decision.action != "none":
        event = {"retrain": "retrain_requested", "suppressed": "retrain_suppressed", "page": "paged"}[decision.action]
        ledger.record(
            warehouse,
            ledger.LedgerEntry(
                name,
                champion,
                event,
                actor,
                decision.reason,
                {
                    "window_end": window[1],
                    "trigger": decision.trigger,
                    "drifted": row["drifted"],
                    "report": report["html"],
                },
            ),
        )
    log.info(
        "%s v%s %s..%s: %s; %s: %s",
        name,
        champion,
        window[0].date(),
        window[1].date(),
        verdict.reason,
        decision.action,
        decision.reason,
    )
    return {**{k: str(v) for k, v in row.items()}, "packet": prefix + "verdict.json" if alerting else "", "mode": mode}


def _decide(
    spec, monitor, champion, window, mode, verdict, quality_result, warehouse, client, data_window
) -> policy.RetrainDecision:
    windows, requests = history.past(warehouse, spec.name, mode, window[1])
    now = policy.WindowRecord(
        window[1],
        champion,
        verdict.severity,
        tuple(c.column for c in verdict.drifted),
        None if quality_result is None else -quality_result["change"],
    )
    challenger = register.alias_version(client, spec.name, register.CHALLENGER)
    running = canary_state.read(client, spec.name, challenger).running if challenger else False
    new_labels = _new_labelled_rows(warehouse, spec.name, data_window[1])
    return policy.decide(monitor.retrain, monitor.quality.max_drop, [*windows, now], requests, running, new_labels)


# -- the alert packet ------------------------------------------------------------------------------------------


def _canary_summary(client: Any, name: str) -> dict[str, Any]:
    challenger = register.alias_version(client, name, register.CHALLENGER)
    if challenger is None:
        return {"status": "none", "summary": "no challenger, no canary running"}
    state = canary_state.read(client, name, challenger)
    if state.running:
        summary = f"v{challenger} at {state.share:.0%} of traffic since {state.started_at}"
    else:
        summary = f"v{challenger} is @challenger, canary {state.status or 'not started'}"
    return {"status": state.status or "not_started", "version": challenger, "share": state.share, "summary": summary}


def build_packet(
    spec, monitor, champion, window, verdict, target, quality_result, windows, decision, report, settings, client
) -> dict[str, Any]:
    """Everything on-call needs, in one JSON document (docs/runbooks/drift.md explains each field)."""
    drifted = [
        {
            "column": c.column,
            "kind": c.kind,
            "method": c.method,
            "statistic": c.statistic,
            "threshold": c.threshold,
            "direction": c.direction,
        }
        for c in verdict.drifted
    ]
    base = settings.docs_base_url.rstrip("/")
    runbook = f"{base}/{monitor.alerts.runbook}" if base else monitor.alerts.runbook
    severity = "critical" if decision.action == "page" else verdict.severity
    return {
        "model": spec.name,
        "version": champion,
        "action": "page" if decision.action == "page" else "alert",
        "severity": severity,
        "window": {"start": window[0].isoformat(), "end": window[1].isoformat()},
        "since": _since(open_warehouse(settings), spec.name, verdict.severity, window),
        "verdict": verdict.reason,
        "reference": windows.reference_description,
        "current_rows": verdict.current_rows,
        "reference_rows": verdict.reference_rows,
        "drifted_features": drifted,
        "judged_features": len(verdict.columns),
        "prediction_drift": None
        if verdict.prediction is None
        else {
            "statistic": verdict.prediction.statistic,
            "threshold": verdict.prediction.threshold,
            "drifted": verdict.prediction.drifted,
            "direction": verdict.prediction.direction,
            "logged": windows.logged_predictions,
            "rescored": verdict.current_rows - windows.logged_predictions,
        },
        "target_drift": None
        if target is None
        else {
            "statistic": target.statistic,
            "threshold": target.threshold,
            "drifted": target.drifted,
            "direction": target.direction,
        },
        "quality": quality_result,
        "upstream_dbt": upstream.upstream_of_columns(
            settings.dbt_manifest_path, spec.source.mart, [c.column for c in verdict.drifted]
        ),
        "canary": _canary_summary(client, spec.name),
        "retrain": {"action": decision.action, "reason": decision.reason, "trigger": decision.trigger},
        "report": report,
        "runbook": runbook,
        "what_to_do": _what_to_do(severity, decision.action, runbook),
    }


def _since(warehouse: Warehouse, name: str, severity: str, window: tuple[datetime, datetime]) -> str:
    """The start of the unbroken run of windows at this severity or worse, ending with this one."""
    rows = warehouse.fetch_all(
        f"select window_start, severity from {history.DECISIONS} where model = ? and mode = 'live' and window_end < ? "
        "order by window_end desc",
        (name, window[1]),
    )
    since = window[0]
    for start, past_severity in rows:
        if SEVERITY_ORDER.get(past_severity, -1) < SEVERITY_ORDER[severity]:
            break
        since = start
    return since.isoformat() if hasattr(since, "isoformat") else str(since)


def _what_to_do(severity: str, action: str, runbook: str) -> list[str]:
    if action == "page":
        return [
            "Retraining did not absorb this drift: do not retrain again until the cause is known.",
            "Check the upstream dbt models listed for the drifted columns (a changed source, a broken join?).",
            f"Follow '{runbook}#drift-persists-after-a-retrain'.",
        ]
    steps = ["Open the report and compare the drifted columns' distributions (reference vs current)."]
    if severity == "critical":
        steps.append("If the change is real (prices, markets), let the retrain policy act; watch the canary.")
        steps.append("If it is a data problem, quarantine the batch and fix the upstream model first.")
    else:
        steps.append("No action needed unless it turns critical; it is recorded for trends.")
    steps.append(f"Runbook: {runbook}")
    return steps


def send_alert(name: str, result: dict[str, Any], settings: Settings | None = None) -> list[dict[str, str]]:
    """Deliver a live window's packet to its routes (quiet period and per-route isolation: monitoring.alerts)."""
    if not result.get("packet") or result.get("mode") != LIVE:
        return []
    settings = settings or get_settings()
    _, monitor = specs(name, settings)
    store = open_store(settings.reports_uri, settings.s3_endpoint_url)
    packet = json.loads(store.read_bytes(result["packet"]))
    now = datetime.fromisoformat(packet["window"]["end"])
    deliveries = alerts.deliver(packet, monitor.alerts, settings, open_warehouse(settings), now)
    return [{"route": d.route, "status": d.status, "detail": d.detail} for d in deliveries]
