"""What the loop's own work cost over a replay, for the demo's summary: the trainings after the first champion
(their CPU seconds, how many were warm starts) and the monitor's windows (their CPU seconds), as the runs and the
monitor recorded them (``training_cpu_seconds`` on each MLflow run, ``monitor_cost.cpu_seconds`` per window).
With a business section in the spec, also in money (``business.cost_per_cpu_hour``): the loop's cost per 1,000
rows served (retrains, monitor, scoring) against the value the champion adds over its baseline per 1,000 rows
(its holdout figure, the model card's), and the return on that cost (ROI = (value - cost) / cost)."""

from __future__ import annotations

from typing import Any

from flywheel.settings import Settings


def loop_costs(model: str, settings: Settings, rows_served: int = 0) -> dict[str, Any]:
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
    costs = {
        "retrain_trainings": len(trainings),
        "warm_starts": sum(1 for strategy, _ in trainings if strategy == "warm_start"),
        "retrain_cpu_seconds": round(sum(cpu for _, cpu in trainings if cpu is not None), 1),
        "monitor_windows": int(monitor[0] or 0),
        "monitor_cpu_seconds": round(float(monitor[1] or 0.0), 1),
    }
    return {**costs, **_in_money(model, settings, client, costs, rows_served)}


def _in_money(model: str, settings: Settings, client: Any, costs: dict[str, Any], rows: int) -> dict[str, Any]:
    from flywheel.registry.register import CHAMPION, alias_version
    from flywheel.specs import load_spec

    business = load_spec(settings.models_dir / f"{model}.yaml").business
    champion = alias_version(client, model, CHAMPION)
    if business is None or champion is None or rows <= 0:
        return {}
    metrics = client.get_run(client.get_model_version(model, champion).run_id).data.metrics
    if "holdout_value_per_1000" not in metrics or "scoring_cpu_seconds_per_1000" not in metrics:
        return {}
    scoring = metrics["scoring_cpu_seconds_per_1000"] * rows / 1000
    cpu = costs["retrain_cpu_seconds"] + costs["monitor_cpu_seconds"] + scoring
    cost_per_1000 = cpu / 3600 * business.cost_per_cpu_hour / rows * 1000
    gained = metrics["holdout_value_per_1000"] - metrics["baseline_holdout_value_per_1000"]
    return {
        "currency": business.currency,
        "cost_per_cpu_hour": business.cost_per_cpu_hour,
        "loop_cost_per_1000_rows": round(cost_per_1000, 6),
        "value_over_baseline_per_1000_rows": round(gained, 2),
        "roi": round((gained - cost_per_1000) / cost_per_1000, 1) if cost_per_1000 > 0 else None,
    }
