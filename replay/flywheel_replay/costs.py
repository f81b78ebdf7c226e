"""What the loop's own work cost over a replay, for the demo's summary: the trainings after the first champion
(their CPU seconds, how many were warm starts) and the monitor's windows (their CPU seconds), as the runs and the
monitor recorded them (``training_cpu_seconds`` on each MLflow run, ``monitor_cost.cpu_seconds`` per window)."""

from __future__ import annotations

from typing import Any

from flywheel.settings import Settings


def loop_costs(model: str, settings: Settings) -> dict[str, Any]:
    from flywheel.data.warehouse import open_warehouse
    from flywheel.monitoring import history
    from flywheel.registry import tracking

    client = tracking.client(settings)
    trainings = []
    for version in client.search_model_versions(f"name = '{model}'"):
        if int(version.version) > 1:
            run = client.get_run(version.run_id)
            trainings.append((run.data.tags.get(tracking.STRATEGY_TAG), run.data.metrics.get("training_cpu_seconds")))
    warehouse = open_warehouse(settings)
    history.ensure_tables(warehouse)
    monitor = warehouse.fetch_all(
        f"select count(*), sum(value) from {history.METRICS} where model = ? and mode = 'live' and metric = ?",
        (model, "monitor_cost.cpu_seconds"),
    )[0]
    return {
        "retrain_trainings": len(trainings),
        "warm_starts": sum(1 for strategy, _ in trainings if strategy == "warm_start"),
        "retrain_cpu_seconds": round(sum(cpu for _, cpu in trainings if cpu is not None), 1),
        "monitor_windows": int(monitor[0] or 0),
        "monitor_cpu_seconds": round(float(monitor[1] or 0.0), 1),
    }
