"""The monitor with the production warehouse (PostgreSQL): the same code writes its figures, decisions, ledger
entries and alert deliveries there, and a re-run of the window changes nothing."""

from __future__ import annotations

from datetime import datetime

import pytest

from flywheel.data import predictions
from flywheel.data.warehouse import open_warehouse
from flywheel.jobs import monitor as monitor_job
from flywheel.monitoring import alerts, history
from flywheel.monitoring.alerts import Delivery
from flywheel.registry import ledger
from flywheel.settings import Settings, get_settings
from flywheel.specs import load_spec
from flywheel.workspace import Workspace
from tests.helpers import build_loop_until, fresh_postgres_database, small_spec_copies, train_first_champion

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MODEL = "hotel_cancellation"


def test_the_monitor_on_postgres(tmp_path):
    with fresh_postgres_database() as url:
        settings = Settings(
            home=tmp_path, project_dir=get_settings().project_dir, warehouse_url=url, specs_dir=tmp_path / "specs"
        )
        small_spec_copies(settings.project_dir, settings.models_dir, [MODEL], model=MODEL)  # the monitor's test
        build_loop_until(settings, "2016-06", "2016-01")  # six months: enough for the split, quick to train
        train_first_champion(settings, MODEL)
        build_loop_until(settings, "2016-07", "2016-07")
        warehouse = open_warehouse(settings)
        spec = load_spec(settings.models_dir / f"{MODEL}.yaml")
        assert predictions.publish_labels(spec, warehouse, datetime(2016, 7, 31, 23, 59, 59)) > 4000

        window = (datetime(2016, 7, 1), datetime(2016, 8, 1))
        workspace = Workspace(settings)
        result = monitor_job.run_monitor(workspace, MODEL, window)
        assert result.severity in ("warning", "critical")
        assert monitor_job.send_alert(workspace, result)[0] == Delivery("log:log", "delivered", "")

        metrics = warehouse.fetch_all(f"select count(*), count(distinct metric) from {history.METRICS}")[0]
        assert metrics[0] >= 22 + 6 and metrics[1] >= 6
        decisions = history.decisions(warehouse, MODEL)
        assert len(decisions) == 1 and decisions.iloc[0]["severity"] == result.severity
        entries = len(ledger.history(warehouse, MODEL, limit=1000))
        deliveries = warehouse.fetch_all(f"select count(*) from {alerts.DELIVERIES}")[0][0]

        assert monitor_job.run_monitor(workspace, MODEL, window).already_judged is True
        assert len(ledger.history(warehouse, MODEL, limit=1000)) == entries
        assert warehouse.fetch_all(f"select count(*) from {alerts.DELIVERIES}")[0][0] == deliveries
