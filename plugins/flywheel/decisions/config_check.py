"""`flywheel check`'s judgement: is a model's configuration consistent with the dbt project it reads from?

Pure: the facts about the project (which dbt models exist, each built mart's columns and types, which columns dbt
marks as leaking the label or as personal data, a binary label's values) are gathered by ``flywheel.jobs.check``;
here every rule names the file, the field and what to do, so a new user can fix a spec without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.core.tasks import BINARY_CLASSIFICATION, MULTICLASS_CLASSIFICATION, REGRESSION
from flywheel.specs import ModelSpec

NUMERIC, TEXT, TEMPORAL, BOOLEAN, OTHER = "number", "text", "date/time", "boolean", "other"


@dataclass(frozen=True)
class Problem:
    file: str  # relative to the project, e.g. models/hotel_cancellation.yaml
    field: str  # the field's path in the file (features.numeric[3]), or "" for the file as a whole
    message: str  # what is wrong, with the rule
    fix: str  # what to do

    def describe(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}. {self.fix}"


@dataclass(frozen=True)
class Mart:
    """A built mart's columns (name -> type family) and, for a binary label, the values it holds."""

    columns: dict[str, str]
    label_values: tuple[Any, ...] | None = None  # distinct target values (at most a few), when read


@dataclass(frozen=True)
class ProjectFacts:
    dbt_models: frozenset[str]  # every model of the dbt project
    marts: dict[str, Mart] = field(default_factory=dict)  # only marts built in this home's warehouse
    flagged: dict[str, str] = field(default_factory=dict)  # column -> why it must not be a feature (from dbt meta)


def type_family(sql_type: str) -> str:
    """DuckDB's and PostgreSQL's type names, by what a spec may do with them."""
    name = sql_type.lower()
    if name.startswith(("bool",)):
        return BOOLEAN
    if name.startswith(("date", "timestamp", "time")):
        return TEMPORAL
    if name.startswith(("varchar", "text", "char", "character", "string", "uuid", "enum")):
        return TEXT
    numeric = ("int", "bigint", "smallint", "tinyint", "hugeint", "uint", "ubigint", "usmallint", "utinyint")
    if name.startswith((*numeric, "double", "float", "real", "decimal", "numeric")):
        return NUMERIC
    return OTHER


def validation_problems(file: str, errors: Sequence[dict[str, Any]]) -> list[Problem]:
    """pydantic's errors of one file, each with its field path (a rule across fields names its first field)."""
    problems = []
    for error in errors:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.get("loc", ())).lstrip(".")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not path and message.split(" ", 1)[0].count(".") >= 1:  # a cross-field rule that names its field first
            path = message.split(" ", 1)[0]
        problems.append(Problem(file, path, message, "see docs/adding-a-model.md for the field"))
    return problems


def spec_problems(spec: ModelSpec, file: str, facts: ProjectFacts) -> list[Problem]:
    """A valid spec against the dbt project: the mart exists; when it is built, every column exists with a type the
    spec can use; the label fits the task; no feature is a column dbt marks as leaking the label or personal."""
    source = spec.source
    if source.mart not in facts.dbt_models:
        return [
            Problem(
                file,
                "source.mart",
                f"no dbt model {source.mart!r} in the dbt project",
                f"name one of its marts ({', '.join(sorted(m for m in facts.dbt_models if m.startswith('ml_')))}) "
                "or add the model to dbt_project/models/marts",
            )
        ]
    problems = [
        Problem(file, path, f"{column!r} {facts.flagged[column]}", "remove it from the features")
        for path, column in _feature_paths(spec)
        if column in facts.flagged
    ]
    mart = facts.marts.get(source.mart)
    if mart is None:  # not built in this home: the columns cannot be checked (jobs.check says so)
        return problems
    roles = [
        ("source.id_column", source.id_column, None),
        ("source.event_time_column", source.event_time_column, (TEMPORAL,)),
        ("source.partition_column", source.partition_column, None),
        *((path, column, (NUMERIC, BOOLEAN) if ".numeric" in path else None) for path, column in _feature_paths(spec)),
    ]
    for path, column, allowed in roles:
        if column not in mart.columns:
            problems.append(_missing(file, path, column, source.mart, mart))
        elif allowed and mart.columns[column] not in allowed:
            fix = (
                "cast it in the dbt model, or list it under features.categorical"
                if ".numeric" in path
                else "cast it to a date or timestamp in the dbt model"
            )
            problems.append(
                Problem(
                    file, path, f"{column!r} is {mart.columns[column]} in marts.{source.mart}, not a {allowed[0]}", fix
                )
            )
    return problems + _label_problems(spec, file, mart)


def _label_problems(spec: ModelSpec, file: str, mart: Mart) -> list[Problem]:
    target, where = spec.source.target_column, f"marts.{spec.source.mart}"
    if target not in mart.columns:
        return [_missing(file, "source.target_column", target, spec.source.mart, mart)]
    family = mart.columns[target]
    if spec.task == REGRESSION and family != NUMERIC:
        return [
            Problem(
                file,
                "source.target_column",
                f"{target!r} is {family} in {where}",
                "a regression label must be a number",
            )
        ]
    values = {v for v in (mart.label_values or ()) if v is not None}
    if spec.task == MULTICLASS_CLASSIFICATION:
        unknown = sorted(str(v) for v in values if str(v) not in spec.classes)
        if not unknown:
            return []
        return [
            Problem(
                file,
                "classes",
                f"{target!r} in {where} holds {', '.join(map(repr, unknown[:5]))}, not among classes "
                f"{list(spec.classes)}",
                "add them to 'classes', or map them to one of the classes in the dbt model",
            )
        ]
    if spec.task != BINARY_CLASSIFICATION:
        return []
    if family == TEXT or not values <= {0, 1}:  # True == 1, False == 0
        shown = ", ".join(repr(v) for v in sorted(values, key=str)[:5]) or family
        return [
            Problem(
                file,
                "source.target_column",
                f"{target!r} in {where} holds {shown}: a binary_classification label must be 0/1",
                "map it to 0/1 in the dbt model (case when ... then 1 else 0 end), or for more than two classes "
                "use task: multiclass_classification with 'classes'",
            )
        ]
    return []


def _missing(file: str, path: str, column: str, mart_name: str, mart: Mart) -> Problem:
    from difflib import get_close_matches

    near = get_close_matches(column, list(mart.columns), n=3, cutoff=0.7)
    hint = f" (did you mean {', '.join(near[:3])}?)" if near else ""
    return Problem(
        file, path, f"{column!r} is not a column of marts.{mart_name}{hint}", "fix the name, or add it to the dbt model"
    )


def _feature_paths(spec: ModelSpec) -> list[tuple[str, str]]:
    return [(f"features.numeric[{i}]", c) for i, c in enumerate(spec.features.numeric)] + [
        (f"features.categorical[{i}]", c) for i, c in enumerate(spec.features.categorical)
    ]


def suite_problems(file: str, mart: str, columns: Sequence[str], facts: ProjectFacts) -> list[Problem]:
    """An expectation suite (expectations/<mart>.json) validates a dbt model's partitions: the model must exist and,
    when it is built, have every column the suite names."""
    if mart not in facts.dbt_models:
        return [
            Problem(
                file, "", f"no dbt model {mart!r}: a suite is named after the mart it validates", "rename or delete it"
            )
        ]
    built = facts.marts.get(mart)
    return [
        Problem(file, "expectations", f"names column {c!r}, which marts.{mart} does not have", "fix the column name")
        for c in columns
        if built is not None and c not in built.columns
    ]
