"""Replays a month of real rows as live traffic: the mart's rows (features only) posted to the service."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from flywheel.data.warehouse import Warehouse
from flywheel.serving.schema import as_records
from flywheel.specs import ModelSpec

log = logging.getLogger(__name__)


def month_records(spec: ModelSpec, warehouse: Warehouse, month: str) -> list[dict[str, Any]]:
    """The records of ``month`` (YYYY-MM) as the service expects them: entity_id + features, no label."""
    import pandas as pd

    start = pd.Timestamp(f"{month}-01")
    return period_records(
        spec, warehouse, start.date().isoformat(), (start + pd.offsets.MonthBegin(1)).date().isoformat()
    )


def period_records(spec: ModelSpec, warehouse: Warehouse, first_day: str, end_day: str) -> list[dict[str, Any]]:
    """The records whose event date is in [``first_day``, ``end_day``), in event-time order."""
    s = spec.source
    frame = warehouse.query_df(
        f"select cast({s.id_column} as varchar) as entity_id, {', '.join(spec.features.all)} from marts.{s.mart} "
        f"where cast({s.event_time_column} as date) >= cast(? as date) and "
        f"cast({s.event_time_column} as date) < cast(? as date) order by {s.event_time_column}, 1",
        (first_day, end_day),
    )
    return as_records(spec, frame)


def month_parts(month: str, parts: int = 2) -> list[tuple[str, str, str]]:
    """``month`` cut into ``parts`` runs of whole days (the last ones a day longer when the days do not divide), as
    (first day, end day exclusive, as_of: the part's last second)."""
    import pandas as pd

    start = pd.Timestamp(f"{month}-01")
    days = (start + pd.offsets.MonthBegin(1) - start).days
    bounds = [start + pd.Timedelta(days=days * i // parts) for i in range(parts + 1)]
    return [
        (a.date().isoformat(), b.date().isoformat(), (b - pd.Timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S"))
        for a, b in itertools.pairwise(bounds)
    ]


def month_end(month: str) -> str:
    """The last second of ``month`` (YYYY-MM), ISO format: when a replayed month's outcomes are all known."""
    import pandas as pd

    return (pd.Timestamp(f"{month}-01") + pd.offsets.MonthEnd(0)).strftime("%Y-%m-%dT23:59:59")


def post_records(
    base_url: str, records: list[dict[str, Any]], batch: int = 100, token: str | None = None, client: Any = None
) -> dict[str, int]:
    """POST the records in batches; returns how many records each alias answered."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answered: dict[str, int] = {}
    with client or httpx.Client(base_url=base_url, timeout=30) as http:
        for start in range(0, len(records), batch):
            response = _post_with_retry(http, {"records": records[start : start + batch]}, headers)
            for prediction in response.json()["predictions"]:
                key = f"{prediction['alias']} v{prediction['version']}"
                answered[key] = answered.get(key, 0) + 1
    log.info("replayed %d records to %s: %s", len(records), base_url, answered)
    return answered


def _post_with_retry(http: Any, body: dict[str, Any], headers: dict[str, str], attempts: int = 3) -> Any:
    """A client's usual politeness: a 503/504 (a busy machine) is retried after a pause, then raised."""
    import time

    for attempt in range(attempts):
        response = http.post("/predict", json=body, headers=headers)
        if response.status_code not in (503, 504) or attempt == attempts - 1:
            response.raise_for_status()
            return response
        log.warning("HTTP %d from the service, retrying in %d s", response.status_code, 2**attempt)
        time.sleep(2**attempt)
    raise AssertionError("unreachable")


def wait_until_logged(base_url: str, timeout: float = 60.0) -> None:
    """Until the service's prediction log holds every record it answered or shadow-scored (``/ready``'s
    ``log_pending`` is 0): what the canary and the monitor read next must be complete. Polling instead of a fixed
    pause: a replayed week used to wait a second here whatever the log needed."""
    _wait_for_ready(base_url, lambda ready: ready.get("log_pending") == 0, "its prediction log written", timeout)


def wait_for_routing(base_url: str, settings: Any, model: str, timeout: float = 60.0) -> None:
    """Until the service answers with the versions and shares the registry holds now (it re-reads the registry
    every ``serve_refresh_seconds``): the next records must be routed as the canary just decided."""
    from flywheel.registry import tracking
    from flywheel.serving.models import routing_target

    expected = routing_target(tracking.client(settings), model).versions()
    _wait_for_ready(
        base_url,
        lambda ready: {k: ready.get(k) for k in expected} == expected,
        f"the registry's routing {expected}",
        timeout,
    )


def _wait_for_ready(base_url: str, done: Callable[[dict[str, Any]], bool], what: str, timeout: float) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        ready = httpx.get(f"{base_url}/ready", timeout=10).json()
        if done(ready):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base_url} did not reach {what} within {timeout:.0f} s; /ready says {ready}")
        time.sleep(0.05)
