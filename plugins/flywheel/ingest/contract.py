"""The raw-file contract of each landed source, read from the dbt source definitions.

The dbt sources YAML is the one place that lists a raw table's columns; Flywheel reads it instead of keeping a
second list. Per column, ``config.meta.parses_as`` says what every value must parse as (``text``, ``integer``,
``number`` or ``date:<strftime format>``), ``optional: true`` that a file may leave the column out (it loads as
NULL), and ``flywheel_pii: hash | drop`` that it holds personal data, which staging must hash with the
warehouse's key or leave behind (docs/reliability.md, "Personal data"). Per table,
``config.meta.flywheel_landing`` says which landing files belong to it and how the replay cuts the bundled dataset
into monthly batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

_KINDS = ("text", "integer", "number", "date")


class ReplayMonth(BaseModel):
    """How to read a row's month: from a year column and an English month-name column, or from a date column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: str | None = None
    month_name: str | None = None
    date: str | None = None


class LandingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file_glob: str
    missing_values: tuple[str, ...] = ()
    replay_dataset: str
    replay_month_from: ReplayMonth


class ColumnContract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    parses_as: str
    optional: bool = False
    pii: Literal["hash", "drop"] | None = None

    @field_validator("parses_as")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value.split(":", 1)[0] not in _KINDS:
            raise ValueError(f"parses_as must be one of {_KINDS} (date as 'date:<format>'), got {value!r}")
        return value

    @property
    def kind(self) -> str:
        return self.parses_as.split(":", 1)[0]

    @property
    def date_format(self) -> str | None:
        return self.parses_as.split(":", 1)[1] if self.kind == "date" else None


class SourceContract(BaseModel):
    """What a landed file of one raw table must look like."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    schema_name: str
    table: str
    landing: LandingConfig
    columns: tuple[ColumnContract, ...] = Field(min_length=1)

    @property
    def qualified_table(self) -> str:
        return f"{self.schema_name}.{self.table}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _meta(column: dict) -> dict:
    return (column.get("config") or {}).get("meta") or {}


def _column(column: dict) -> ColumnContract:
    meta = _meta(column)
    return ColumnContract(
        name=column["name"],
        parses_as=meta["parses_as"],
        optional=meta.get("optional", False),
        pii=meta.get("flywheel_pii"),
    )


def load_contracts(dbt_project_dir: Path) -> list[SourceContract]:
    """Every source table in the dbt project whose YAML carries ``config.meta.flywheel_landing``."""
    contracts = []
    for path in sorted((dbt_project_dir / "models").rglob("_*__sources.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for source in document.get("sources", []):
            for table in source.get("tables", []):
                landing = (table.get("config") or {}).get("meta", {}).get("flywheel_landing")
                if landing is None:
                    continue
                columns = [_column(c) for c in table.get("columns", []) if "parses_as" in _meta(c)]
                contracts.append(
                    SourceContract(
                        source=source["name"],
                        schema_name=source.get("schema", source["name"]),
                        table=table["name"],
                        landing=LandingConfig(**landing),
                        columns=tuple(columns),
                    )
                )
    return contracts
