"""Alert routes against real local servers: a webhook receiver (HTTP), a Slack-format receiver, an SMTP server.
A broken route does not stop the others, the failure is recorded and raised after every route was tried, a retry
re-sends to the failed route only, and the same condition does not re-alert within the quiet period."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from flywheel.core.packet import AlertPacket
from flywheel.data.warehouse import open_warehouse
from flywheel.monitoring import alerts
from flywheel.settings import Settings, get_settings
from flywheel.specs import AlertPolicySpec, AlertRouteSpec
from tests.helpers import free_port, http_receiver, smtp_receiver

pytestmark = pytest.mark.integration

NOW = datetime(2017, 7, 1)
PACKET = AlertPacket.model_validate(
    {
        "model": "hotel_cancellation",
        "version": "3",
        "action": "alert",
        "severity": "critical",
        "window": {"start": "2017-06-01T00:00:00", "end": "2017-07-01T00:00:00"},
        "since": "2017-05-01T00:00:00",
        "verdict": "9 of 22 features drifted (41%; critical at 25%): adr, agent",
        "reference": "training window 2015-07-01 .. 2017-02-28, same calendar months (06)",
        "current_rows": 5200,
        "reference_rows": 3900,
        "drifted_features": [
            {
                "column": "adr",
                "kind": "numeric",
                "method": "wasserstein",
                "statistic": 0.41,
                "threshold": 0.1,
                "direction": "higher (98 -> 121)",
            },
            {
                "column": "agent",
                "kind": "categorical",
                "method": "jensenshannon",
                "statistic": 0.22,
                "threshold": 0.1,
                "direction": "more '9' (+8.0 pp), fewer '240' (-5.0 pp)",
            },
        ],
        "judged_features": 22,
        "prediction_drift": {
            "statistic": 0.2,
            "threshold": 0.1,
            "drifted": True,
            "direction": "lower (0.3 -> 0.2)",
            "logged": 5000,
            "rescored": 200,
        },
        "target_drift": None,
        "quality": {
            "metric": "roc_auc",
            "live": 0.85,
            "champion_holdout": 0.9,
            "change": -0.05,
            "limit": -0.03,
            "threshold": 0.87,
            "labelled_rows": 5200,
        },
        "upstream_dbt": {
            "adr": [{"node": "model:ml_booking_features", "file": "models/marts/ml_booking_features.sql"}]
        },
        "canary": {"status": "none", "summary": "no challenger, no canary running"},
        "retrain": {"action": "retrain", "reason": "critical drift in 2 windows in a row", "trigger": "drift"},
        "report": {
            "html": "s3://reports/hotel_cancellation/monitor/2017-06-01_2017-07-01/report.html",
            "json": "s3://reports/hotel_cancellation/monitor/2017-06-01_2017-07-01/evidently.json",
            "verdict": "s3://reports/hotel_cancellation/monitor/2017-06-01_2017-07-01/verdict.json",
        },
        "runbook": "docs/runbooks/drift.md",
        "what_to_do": ["Open the report"],
    }
)


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path, project_dir=get_settings().project_dir)


def test_a_broken_route_does_not_stop_the_others_and_only_it_is_retried(settings, monkeypatch):
    dead_port = free_port()  # nothing listens there
    with http_receiver() as (url, webhook), smtp_receiver() as (smtp_port, mail):
        monkeypatch.setenv("TEST_WEBHOOK_URL", f"{url}/hook")
        monkeypatch.setenv("TEST_SLACK_URL", f"http://127.0.0.1:{dead_port}/slack")
        settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp_port})
        policy = AlertPolicySpec(
            quiet_period_hours=24 * 30,
            routes=(
                AlertRouteSpec(kind="slack", url_env="TEST_SLACK_URL", timeout_seconds=2),  # broken, and first
                AlertRouteSpec(kind="webhook", url_env="TEST_WEBHOOK_URL"),
                AlertRouteSpec(kind="email", to=("oncall@example.com",)),
                AlertRouteSpec(kind="log", min_severity="warning"),
            ),
        )
        warehouse = open_warehouse(settings)
        with pytest.raises(alerts.AlertDeliveryError, match="slack:TEST_SLACK_URL") as failure:
            alerts.deliver(PACKET, policy, settings, warehouse, NOW)
        assert "delivered to: webhook:TEST_WEBHOOK_URL, email:oncall@example.com, log:log" in str(failure.value)

        assert len(webhook.received) == 1
        path, body = webhook.received[0]
        assert path == "/hook" and json.loads(body) == PACKET.model_dump(
            mode="json", by_alias=True
        )  # the whole packet, every field
        assert len(mail.received) == 1
        message = mail.received[0][1].decode()
        assert "[CRITICAL] hotel_cancellation v3" in message and "adr: higher (98 -> 121)" in message

        # Airflow's retry: the failed route is tried again, the delivered ones are in their quiet period.
        with pytest.raises(alerts.AlertDeliveryError):
            alerts.deliver(PACKET, policy, settings, warehouse, NOW)
        assert len(webhook.received) == 1 and len(mail.received) == 1
        rows = warehouse.fetch_all(f"select route, status from {alerts.DELIVERIES} order by recorded_at")
        assert ("slack:TEST_SLACK_URL", "failed") in rows and ("webhook:TEST_WEBHOOK_URL", "quiet") in rows


def test_quiet_period_and_what_re_alerts(settings, monkeypatch):
    with http_receiver() as (url, receiver):
        monkeypatch.setenv("TEST_SLACK_URL", url)
        policy = AlertPolicySpec(
            quiet_period_hours=24 * 40, routes=(AlertRouteSpec(kind="slack", url_env="TEST_SLACK_URL"),)
        )
        warehouse = open_warehouse(settings)
        alerts.deliver(PACKET, policy, settings, warehouse, NOW)
        alerts.deliver(PACKET, policy, settings, warehouse, NOW + timedelta(days=30))  # same condition: quiet
        assert len(receiver.received) == 1
        alerts.deliver(
            PACKET.model_copy(update={"version": "4"}), policy, settings, warehouse, NOW + timedelta(days=30)
        )  # new champion
        alerts.deliver(
            PACKET.model_copy(update={"action": "page"}), policy, settings, warehouse, NOW + timedelta(days=30)
        )  # a page
        alerts.deliver(PACKET, policy, settings, warehouse, NOW + timedelta(days=41))  # quiet period over
        assert len(receiver.received) == 4
        slack = json.loads(receiver.received[0][1])
        assert slack["text"].startswith("[CRITICAL] hotel_cancellation v3") and slack["blocks"][0]["type"] == "header"
        warning = PACKET.model_copy(update={"severity": "warning", "version": "5"})
        assert (
            alerts.deliver(warning, policy, settings, warehouse, NOW)[0].status == "skipped"
        )  # route is critical-only
