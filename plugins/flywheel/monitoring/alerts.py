"""Alert packets and their routes: log, generic JSON webhook, Slack-format webhook, e-mail.

A packet (``flywheel.core.packet.AlertPacket``) says everything on-call needs; the monitor builds it and the
routes only format it. Delivery rules:

* the same condition (model, champion version, severity, action) is not re-sent to a route within the quiet
  period, measured on the monitor's clock (the window's end), so a replay behaves like live;
* each route is tried on its own: a failing route is recorded and does not stop the others; afterwards the task
  fails, so Airflow's retry re-sends to the failed routes only (the delivered ones are in their quiet period).
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from flywheel.core.packet import AlertPacket
from flywheel.core.severity import SEVERITY_ORDER
from flywheel.data.warehouse import Warehouse, ensure_ops_table
from flywheel.settings import Settings
from flywheel.specs import AlertPolicySpec, AlertRouteSpec

log = logging.getLogger(__name__)

DELIVERIES = "ops.alert_deliveries"


class AlertDeliveryError(RuntimeError):
    """At least one route failed; the others were delivered."""


@dataclass(frozen=True)
class Delivery:
    route: str
    status: str  # delivered | quiet | skipped | failed
    detail: str = ""


def fingerprint(packet: AlertPacket) -> str:
    """What the quiet period deduplicates: a quality drop is never silenced by an earlier drift alert."""
    if packet.quality is not None and packet.quality.dropped:
        cause = "quality"
    else:
        cause = "unmonitored" if packet.unmonitored_windows else "drift"
    return f"{packet.model}:v{packet.version}:{packet.severity}:{packet.action}:{cause}"


def route_name(route: AlertRouteSpec) -> str:
    return f"{route.kind}:{route.url_env or ','.join(route.to) or 'log'}"


# -- formatting --------------------------------------------------------------------------------------------------


def summary_lines(packet: AlertPacket) -> list[str]:
    """The packet in plain text, most important first (Slack, e-mail and the log all use it)."""
    w = packet.window
    head = f"[{packet.severity.upper()}] {packet.model} v{packet.version}: {_cause(packet)}"
    lines = [f"{head} in the window {w.start[:10]} .. {w.end[:10]} ({packet.current_rows:,} rows)"]
    lines.append(packet.verdict)
    for f in packet.drifted_features[:8]:
        lines.append(f"  - {f.column}: {f.direction}; {f.method} {f.statistic:.3f} > threshold {f.threshold:.3f}")
    if len(packet.drifted_features) > 8:
        lines.append(f"  - and {len(packet.drifted_features) - 8} more (see the report)")
    p = packet.prediction_drift
    if p:
        state = "drifted" if p.drifted else "stable"
        lines.append(f"Prediction: {state}, {p.direction} ({p.statistic:.3f} vs {p.threshold:.3f})")
    lines += _quality_lines(packet)
    if packet.category_changes:
        lines.append("Categories: " + "; ".join(c.describe(rows=False) for c in packet.category_changes[:5]))
    upstream = sorted({u.node for nodes in packet.upstream_dbt.values() for u in nodes})
    if upstream:
        lines.append("Upstream dbt: " + ", ".join(upstream))
    lines.append(f"Canary: {packet.canary.summary}")
    lines.append(f"Retraining: {packet.retrain.action}, {packet.retrain.reason}")
    if packet.report.html:
        lines.append(f"Report: {packet.report.html}")
        if packet.report.quality_html:
            lines.append(f"Quality report (live against the champion's holdout): {packet.report.quality_html}")
    else:
        lines.append(
            f"Report: none for this window (too few rows for a drift verdict); verdict: {packet.report.verdict}"
        )
    lines.append(f"What to do: {packet.runbook}")
    return lines


def _quality_lines(packet: AlertPacket) -> list[str]:
    """Quality on labels, the estimate before them, and how much of the model the drift touches."""
    lines: list[str] = []
    q = packet.quality
    if q:
        # ``threshold`` is absent from packets written before regression models (a retried old delivery).
        limit = f"; worse than {q.threshold:.4f} is a drop" if q.threshold is not None else ""
        lines.append(
            f"Quality: live {q.metric} {q.live:.4f} vs champion holdout {q.champion_holdout:.4f} "
            f"({q.change:+.4f} in the metric's favour{limit}) on {q.labelled_rows:,} labelled rows"
        )
    else:
        lines.append("Quality: no labels for this window yet")
    e = packet.quality_estimate
    if e:
        lines.append(
            f"Estimated before labels: {e.metric} {e.estimate:.4f} ({e.change:+.4f} against the holdout; worse than "
            f"{e.threshold:.4f} is a drop; {e.method})"
        )
    i = packet.drift_impact
    if i and i.importance_share > 0:
        weights = "of the model's importance" if i.weighted else "of the judged features"
        lines.append(f"Impact: the drifted features carry {i.importance_share:.0%} {weights}: " + ", ".join(i.top))
    return lines


def _cause(packet: AlertPacket) -> str:
    """The headline: what is at risk, in a few words."""
    if packet.action == "page":
        return "PAGE, drift persists after a retrain"
    if packet.quality is not None and packet.quality.dropped:
        return "quality dropped"
    if packet.severity == "critical":
        return "quality at risk before labels"
    if packet.unmonitored_windows and not packet.drifted_features:
        return f"no drift verdict for {packet.unmonitored_windows} window(s)"
    return "inputs drifted, quality not at risk" if packet.drifted_features else "inputs changed"


def slack_payload(packet: AlertPacket) -> dict[str, Any]:
    lines = summary_lines(packet)
    return {
        "text": lines[0],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": lines[0][:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines[1:])[:2900]}},
        ],
    }


# -- routes ----------------------------------------------------------------------------------------------------


def _post_json(url: str, body: dict[str, Any], timeout: float) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url[:40]!r}")
    request = urllib.request.Request(
        url, data=json.dumps(body, default=str).encode(), headers={"Content-Type": "application/json"}
    )
    # bandit B310 warns of file:// URLs: only http(s) gets here (checked above).
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}")


def _url(route: AlertRouteSpec) -> str:
    url = os.environ.get(route.url_env or "", "")
    if not url:
        raise LookupError(f"{route.url_env} is not set")
    return url


def _send_email(route: AlertRouteSpec, packet: AlertPacket, settings: Settings) -> None:
    if not settings.smtp_host:
        raise LookupError("FLYWHEEL_SMTP_HOST is not set")
    lines = summary_lines(packet)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = lines[0], settings.alert_sender, ", ".join(route.to)
    message.set_content("\n".join(lines))
    message.add_attachment(packet.to_json().decode(), subtype="json", filename="alert.json")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=route.timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)


def _send(route: AlertRouteSpec, packet: AlertPacket, settings: Settings) -> None:
    senders: dict[str, Callable[[], None]] = {
        "log": lambda: (log.error if packet.severity == "critical" else log.warning)(
            "ALERT %s", "\n".join(summary_lines(packet))
        ),
        "webhook": lambda: _post_json(
            _url(route), packet.model_dump(mode="json", by_alias=True), route.timeout_seconds
        ),
        "slack": lambda: _post_json(_url(route), slack_payload(packet), route.timeout_seconds),
        "email": lambda: _send_email(route, packet, settings),
    }
    senders[route.kind]()


# -- delivery with a quiet period ------------------------------------------------------------------------------


def ensure_table(warehouse: Warehouse) -> None:
    ensure_ops_table(
        warehouse,
        DELIVERIES,
        "fingerprint varchar, model varchar, route varchar, window_end timestamp, status varchar, detail varchar, "
        "recorded_at timestamp",
    )


def _delivered_recently(warehouse: Warehouse, key: str, route: str, now: datetime, quiet: timedelta) -> bool:
    rows = warehouse.fetch_all(
        f"select count(*) from {DELIVERIES} where fingerprint = ? and route = ? and status = 'delivered' "
        "and window_end > ? and window_end <= ?",
        (key, route, now - quiet, now),
    )
    return rows[0][0] > 0


def deliver(
    packet: AlertPacket, policy: AlertPolicySpec, settings: Settings, warehouse: Warehouse, now: datetime
) -> list[Delivery]:
    """Send ``packet`` to every route whose minimum severity it reaches; raise after trying all if one failed."""
    ensure_table(warehouse)
    key, results = fingerprint(packet), []
    level = SEVERITY_ORDER[packet.severity]
    for route in policy.routes:
        name = route_name(route)
        if level < SEVERITY_ORDER[route.min_severity] and packet.action != "page":
            results.append(Delivery(name, "skipped", f"below {route.min_severity}"))
            continue
        if _delivered_recently(warehouse, key, name, now, timedelta(hours=policy.quiet_period_hours)):
            results.append(Delivery(name, "quiet", f"same condition sent within {policy.quiet_period_hours:g} h"))
            continue
        try:
            _send(route, packet, settings)
            results.append(Delivery(name, "delivered"))
        except LookupError as missing:  # a route not configured on this installation: say so, lose nothing else
            results.append(Delivery(name, "skipped", f"not configured: {missing}"))
        except Exception as error:
            log.error("alert route %s failed: %s", name, error)
            results.append(Delivery(name, "failed", f"{type(error).__name__}: {error}"))
    for result in results:
        warehouse.execute(
            f"insert into {DELIVERIES} values (?, ?, ?, ?, ?, ?, current_timestamp)",
            (key, packet.model, result.route, now, result.status, result.detail),
        )
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise AlertDeliveryError(
            f"{len(failed)} alert route(s) failed ({'; '.join(f'{r.route}: {r.detail}' for r in failed)}); "
            f"delivered to: {', '.join(r.route for r in results if r.status == 'delivered') or 'none'}"
        )
    return results
