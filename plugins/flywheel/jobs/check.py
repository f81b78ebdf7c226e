"""`flywheel check`: every spec, monitoring file and expectation suite, against each other and the dbt project, in
seconds and without running a DAG (the rules: ``flywheel.decisions.config_check``).

What it reads: the files; the dbt manifest (parsed into the home's dbt target when it is missing); and, where this
home's warehouse has built a mart, that mart's columns and types and a binary label's values. A mart not built yet
is checked by name only, and the report says so.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.decisions.config_check import (
    Mart,
    Problem,
    ProjectFacts,
    spec_problems,
    suite_problems,
    type_family,
)
from flywheel.jobs.spec_files import load_checked
from flywheel.settings import Settings
from flywheel.specs import ModelSpec, load_monitor_spec, load_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckReport:
    problems: list[Problem]
    files: int  # files checked
    unbuilt_marts: list[str]  # marts the specs name that this home has not built (columns not checked)


def check_project(settings: Settings) -> CheckReport:
    manifest = _manifest(settings)
    problems: list[Problem] = []
    specs: dict[str, ModelSpec] = {}
    broken: set[str] = set()
    model_files = sorted(settings.models_dir.glob("*.yaml"))
    for path in model_files:
        spec, found = load_checked(path, f"models/{path.name}", load_spec)
        problems += found
        if spec is None:
            broken.add(path.stem)
        else:
            specs[spec.name] = spec
    facts = _facts(settings, manifest, list(specs.values()))
    for name, spec in specs.items():
        problems += spec_problems(spec, f"models/{name}.yaml", facts)
    monitor_files = sorted(settings.monitoring_dir.glob("*.yaml"))
    for path in monitor_files:
        relative = f"monitoring/{path.name}"
        if path.stem not in specs and path.stem not in broken:
            problems.append(Problem(relative, "", f"there is no models/{path.name}", "name the file after its model"))
            continue
        problems += load_checked(path, relative, lambda p: load_monitor_spec(p, specs.get(p.stem)))[1]
    suite_files = sorted(settings.expectations_dir.glob("*.json"))
    for path in suite_files:
        problems += _suite(path, facts)
    unbuilt = sorted({s.source.mart for s in specs.values() if s.source.mart not in facts.marts} & facts.dbt_models)
    return CheckReport(problems, len(model_files) + len(monitor_files) + len(suite_files), unbuilt)


def _suite(path: Path, facts: ProjectFacts) -> list[Problem]:
    from flywheel.data.validation import SuiteFileError, load_suite

    relative = f"expectations/{path.name}"
    try:
        load_suite(path)
    except (SuiteFileError, json.JSONDecodeError) as exc:
        return [Problem(relative, "", str(exc).removeprefix(f"{path.name}: "), "fix the suite (GX 1.x format)")]
    document = json.loads(path.read_text())
    columns = {
        column
        for expectation in document.get("expectations", [])
        for key in ("column", "column_A", "column_B")
        if isinstance(column := expectation.get("kwargs", {}).get(key), str)
    }
    return suite_problems(relative, path.stem, sorted(columns), facts)


def _manifest(settings: Settings) -> dict[str, Any]:
    path = settings.dbt_manifest_path
    if not path.exists():
        from dbt.cli.main import dbtRunner

        os.environ.update(settings.dbt_env())
        project = str(settings.dbt_project_dir)
        args = ["parse", "--quiet", "--project-dir", project, "--profiles-dir", project]
        args += ["--target", settings.dbt_target, "--target-path", str(settings.dbt_target_path)]
        outcome = dbtRunner().invoke(args)
        if not outcome.success:
            raise RuntimeError(f"the dbt project does not parse: {outcome.exception or 'see dbt.log'}")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def _facts(settings: Settings, manifest: dict[str, Any], specs: list[ModelSpec]) -> ProjectFacts:
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    flagged: dict[str, str] = {}
    for node in [*nodes, *manifest["sources"].values()]:
        where = f"{node['resource_type']} {node['name']}"
        for column, spec in node.get("columns", {}).items():
            meta = {**spec.get("meta", {}), **spec.get("config", {}).get("meta", {})}
            if meta.get("flywheel_leaks_label"):
                flagged[column] = f"leaks the label (dbt marks it flywheel_leaks_label in {where})"
            elif meta.get("flywheel_pii"):
                flagged[column] = f"is personal data (dbt marks it flywheel_pii in {where})"
    return ProjectFacts(frozenset(n["name"] for n in nodes), _built_marts(settings, specs), flagged)


def _built_marts(settings: Settings, specs: list[ModelSpec]) -> dict[str, Mart]:
    """Each mart's columns as this home's warehouse has built them (none for a fresh home)."""
    if settings.warehouse_is_duckdb and not settings.duckdb_path.exists():
        return {}
    from flywheel.data.warehouse import open_warehouse

    try:
        warehouse = open_warehouse(settings)
        rows = warehouse.fetch_all(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = 'marts'"
        )
    except Exception as exc:  # a locked or unreachable warehouse: check what does not need it
        log.warning("the warehouse could not be read (%s): columns not checked", exc)
        return {}
    columns: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        columns.setdefault(table, {})[column] = type_family(str(data_type))
    marts = {table: Mart(cols) for table, cols in columns.items()}
    for spec in specs:
        mart, target = spec.source.mart, spec.source.target_column
        if spec.task != "regression" and mart in marts and target in marts[mart].columns:
            limit = max(len(spec.classes), 2) + 4  # enough to show what does not belong
            values = warehouse.fetch_all(f"select distinct {target} from marts.{mart} limit {limit}")
            marts[mart] = Mart(marts[mart].columns, tuple(v for (v,) in values))
    return marts
