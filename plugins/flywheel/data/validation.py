"""Validates each new partition of a mart with its Great Expectations suite; quarantines the ones that fail.

A suite lives in ``expectations/<mart>.json`` (file stem == suite name == mart). Partitions are the mart's
``batch_id`` values. A partition is validated again only when its content or the suite changes, so re-runs are
cheap and idempotent. A failing partition is recorded in ``ops.quarantined_batches`` (training skips it), its
readable result is written to the quarantine store, and ``PartitionValidationError`` names the batch, the column
and the expectation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from flywheel.data.warehouse import Warehouse
from flywheel.storage import Store

log = logging.getLogger(__name__)

VALIDATION_LOG = "ops.validated_partitions"
QUARANTINE = "ops.quarantined_batches"
_EXAMPLES = 5


class SuiteFileError(ValueError):
    """A suite file that GX would load only in part (GX drops malformed expectations with a log line)."""


class PartitionValidationError(Exception):
    """One or more partitions failed their suite; they are quarantined and nothing downstream runs."""


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    kwargs: dict[str, Any]
    unexpected_count: int | None
    examples: list[Any]

    def describe(self) -> str:
        where = f"column '{self.column}'" if self.column else "the table"
        rule = ", ".join(f"{k}={v}" for k, v in self.kwargs.items() if k not in ("column", "batch_id"))
        count = f": {self.unexpected_count} rows" if self.unexpected_count is not None else ""
        examples = f", e.g. {self.examples}" if self.examples else ""
        return f"{where} failed {self.expectation}({rule}){count}{examples}"


@dataclass
class PartitionResult:
    mart: str
    batch_id: str
    rows: int
    success: bool
    failures: list[Failure] = field(default_factory=list)
    result_uri: str = ""


def suite_path(expectations_dir: Path, mart: str) -> Path:
    return expectations_dir / f"{mart}.json"


def load_suite(path: Path) -> Any:
    """Load a suite file, refusing it if GX would silently drop any of its expectations."""
    from great_expectations.core import ExpectationSuite
    from great_expectations.exceptions.exceptions import InvalidExpectationConfigurationError

    document = json.loads(path.read_text())
    document.pop("id", None)
    if document.get("name") != path.stem:
        raise SuiteFileError(f"{path.name}: suite name {document.get('name')!r} must equal the file stem")
    declared = document.get("expectations", [])
    try:
        suite = ExpectationSuite(**document)
    except InvalidExpectationConfigurationError as exc:
        raise SuiteFileError(f"{path.name}: {exc}") from exc
    if len(suite.expectations) != len(declared):
        raise SuiteFileError(
            f"{path.name}: declares {len(declared)} expectations but GX loaded {len(suite.expectations)}; "
            "fix the malformed ones (see the GX log above)"
        )
    return suite


def dataframe_batch_definition(name: str) -> Any:
    """A GX batch definition for in-memory frames (one ephemeral context, reused for every partition)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return (
        context.data_sources.add_pandas("flywheel")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("partition")
    )


def validate_frame(
    frame: pd.DataFrame, suite: Any, batch_definition: Any = None
) -> tuple[bool, list[Failure], dict[str, Any]]:
    """Run ``suite`` on an in-memory frame; returns (success, failures, GX result as JSON)."""
    batch_definition = batch_definition or dataframe_batch_definition(suite.name)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format="SUMMARY").to_json_dict()
    failures = []
    for item in result["results"]:
        if item["success"]:
            continue
        config, outcome = item["expectation_config"], item.get("result") or {}
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
        failures.append(
            Failure(
                expectation=config["type"],
                column=kwargs.get("column"),
                kwargs=kwargs,
                unexpected_count=outcome.get("unexpected_count"),
                examples=(outcome.get("partial_unexpected_list") or [])[:_EXAMPLES]
                or ([outcome["observed_value"]] if "observed_value" in outcome else []),
            )
        )
    return bool(result["success"]), failures, result


def ensure_tables(warehouse: Warehouse) -> None:
    warehouse.execute("create schema if not exists ops")
    warehouse.execute(
        f"create table if not exists {VALIDATION_LOG} (mart varchar, batch_id varchar, content_sha256 varchar, "
        "suite_sha256 varchar, success boolean, row_count bigint, result_uri varchar, validated_at timestamp, "
        "run_key varchar)"
    )
    warehouse.execute(
        f"create table if not exists {QUARANTINE} (mart varchar, batch_id varchar, stage varchar, "
        "reason varchar, result_uri varchar, quarantined_at timestamp)"
    )


def quarantined_batches(warehouse: Warehouse, mart: str) -> list[str]:
    ensure_tables(warehouse)
    return [r[0] for r in warehouse.fetch_all(f"select batch_id from {QUARANTINE} where mart = ?", (mart,))]


def validate_new_partitions(
    mart: str,
    warehouse: Warehouse,
    expectations_dir: Path,
    reports: Store,
    quarantine: Store,
    run_key: str = "",
) -> list[PartitionResult]:
    """Validate every partition of ``marts.<mart>`` not yet validated in its current content and suite.

    ``run_key`` identifies the orchestrator's run: a retry or clear of the run that found a bad partition fails
    again (the verdict of a run does not change), while later runs skip the quarantined partition.
    """
    ensure_tables(warehouse)
    path = suite_path(expectations_dir, mart)
    suite = load_suite(path)
    suite_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    frame = warehouse.query_df(f"select * from marts.{mart}")
    seen = {
        (batch, content): (success, key)
        for batch, content, success, key in warehouse.fetch_all(
            f"select batch_id, content_sha256, success, run_key from {VALIDATION_LOG} "
            "where mart = ? and suite_sha256 = ?",
            (mart, suite_sha),
        )
    }
    results, failed_before = [], []
    batch_definition = None
    for batch_id, partition in frame.groupby("batch_id", sort=True):
        content_sha = _content_sha(partition)
        if (batch_id, content_sha) in seen:
            success, key = seen[(batch_id, content_sha)]
            if not success and run_key and key == run_key:
                failed_before.append(str(batch_id))
            continue
        batch_definition = batch_definition or dataframe_batch_definition(mart)
        result = _validate_partition(mart, str(batch_id), partition, suite, batch_definition, reports, quarantine)
        _record(warehouse, result, content_sha, suite_sha, run_key)
        results.append(result)
    failed = [r for r in results if not r.success]
    if failed or failed_before:
        again = f"\nAlready failed earlier in this run: {', '.join(failed_before)}" if failed_before else ""
        raise PartitionValidationError(_failure_message(failed) + again)
    return results


def _validate_partition(
    mart: str,
    batch_id: str,
    partition: pd.DataFrame,
    suite: Any,
    batch_definition: Any,
    reports: Store,
    quarantine: Store,
) -> PartitionResult:
    success, failures, gx_result = validate_frame(partition.reset_index(drop=True), suite, batch_definition)
    readable = {
        "mart": mart,
        "batch_id": batch_id,
        "rows": len(partition),
        "success": success,
        "failures": [{**f.__dict__, "summary": f.describe()} for f in failures],
        "gx_result": gx_result,
    }
    payload = json.dumps(readable, indent=2, default=str).encode()
    name = f"validation/{mart}/{batch_id}.json"
    uri = reports.write_bytes(name, payload)
    if not success:
        uri = quarantine.write_bytes(f"{batch_id}/validation/{mart}.json", payload)
        log.error("%s partition %s failed validation, quarantined: %s", mart, batch_id, uri)
    else:
        log.info(
            "%s partition %s passed %d expectations (%d rows): %s",
            mart,
            batch_id,
            len(suite.expectations),
            len(partition),
            uri,
        )
    return PartitionResult(mart, batch_id, len(partition), success, failures, uri)


def _record(warehouse: Warehouse, result: PartitionResult, content_sha: str, suite_sha: str, run_key: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    warehouse.execute(
        f"insert into {VALIDATION_LOG} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            result.mart,
            result.batch_id,
            content_sha,
            suite_sha,
            result.success,
            result.rows,
            result.result_uri,
            now,
            run_key,
        ),
    )
    warehouse.execute(f"delete from {QUARANTINE} where mart = ? and batch_id = ?", (result.mart, result.batch_id))
    if not result.success:
        reason = "; ".join(f.describe() for f in result.failures)
        warehouse.execute(
            f"insert into {QUARANTINE} values (?, ?, 'validate', ?, ?, ?)",
            (result.mart, result.batch_id, reason, result.result_uri, now),
        )


def _content_sha(partition: pd.DataFrame) -> str:
    ordered = partition.sort_values(list(partition.columns[:1])).reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _failure_message(failed: list[PartitionResult]) -> str:
    if not failed:
        return "Partitions failed validation and are quarantined (training skips them)."
    lines = [f"{len(failed)} partition(s) failed validation and were quarantined (training will skip them):"]
    for result in failed:
        lines.append(f"- {result.mart} batch {result.batch_id} ({result.rows} rows), result: {result.result_uri}")
        lines += [f"    {f.describe()}" for f in result.failures]
    return "\n".join(lines)
