"""Checks a landed file against its source contract before a single row reaches the warehouse.

Each problem becomes a ``Violation`` naming the file, the column and the rule, with example line numbers, so the
reason file in quarantine tells the data owner exactly what to fix.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

import pandas as pd

from flywheel.ingest.contract import ColumnContract, SourceContract

_INTEGER = re.compile(r"^[+-]?\d+$")
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Violation:
    file: str
    column: str | None
    rule: str
    detail: str
    example_lines: list[int] = field(default_factory=list)
    count: int = 0

    def describe(self) -> str:
        where = f"column '{self.column}'" if self.column else "the file"
        lines = f" (e.g. lines {', '.join(map(str, self.example_lines))})" if self.example_lines else ""
        return f"{self.file}: {where} breaks rule '{self.rule}': {self.detail}{lines}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class BatchRejected(Exception):
    """A landed file broke its contract; it is quarantined, never loaded."""

    def __init__(self, file: str, violations: list[Violation]):
        self.file = file
        self.violations = violations
        super().__init__("; ".join(v.describe() for v in violations))


def parse_landed_file(name: str, data: bytes, contract: SourceContract) -> pd.DataFrame:
    """Check ``data`` against the contract and return it as text columns, or raise ``BatchRejected``."""
    rows = _read_rows(name, data)
    header, body = rows[0], rows[1:]
    violations = _check_header(name, header, contract)
    if violations:
        raise BatchRejected(name, violations)
    if not body:
        raise BatchRejected(name, [Violation(name, None, "not_empty", "the file has a header but no rows")])
    violations = _check_field_counts(name, header, body)
    if not violations and not data.endswith((b"\n", b"\r")):
        violations = [
            Violation(
                name,
                None,
                "complete_last_line",
                "the file does not end with a line break: it looks truncated",
                [len(body) + 1],
                1,
            )
        ]
    if violations:
        raise BatchRejected(name, violations)
    frame = pd.DataFrame(body, columns=header, dtype="string")
    absent = {c: pd.Series(pd.NA, index=frame.index, dtype="string") for c in contract.column_names if c not in header}
    frame = frame.assign(**absent)[contract.column_names]  # optional columns a file left out load as NULL
    missing = set(contract.landing.missing_values)
    violations = [v for c in contract.columns if (v := _check_values(name, frame, c, missing))]
    if violations:
        raise BatchRejected(name, violations)
    return frame


def _read_rows(name: str, data: bytes) -> list[list[str]]:
    if not data.strip():
        raise BatchRejected(name, [Violation(name, None, "not_empty", "the file is empty (0 rows, no header)")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchRejected(
            name, [Violation(name, None, "csv_utf8", f"not UTF-8 text at byte {exc.start}: not a CSV file")]
        ) from exc
    try:
        return [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise BatchRejected(name, [Violation(name, None, "csv_syntax", str(exc))]) from exc


def _check_header(name: str, header: list[str], contract: SourceContract) -> list[Violation]:
    expected = contract.column_names
    missing = [c.name for c in contract.columns if c.name not in header and not c.optional]
    unexpected = [c for c in header if c not in expected]
    violations = []
    for column in missing:
        hint = f"; the file has unexpected columns {unexpected} (renamed?)" if unexpected else ""
        violations.append(Violation(name, column, "column_present", f"required column '{column}' is missing{hint}"))
    for column in unexpected:
        violations.append(Violation(name, column, "column_known", f"column '{column}' is not in the source contract"))
    duplicated = sorted({c for c in header if header.count(c) > 1})
    violations += [Violation(name, c, "column_unique", "the header repeats this column") for c in duplicated]
    return violations


def _check_field_counts(name: str, header: list[str], body: list[list[str]]) -> list[Violation]:
    bad = [i + 2 for i, row in enumerate(body) if len(row) != len(header)]  # +2: 1-based, after the header
    if not bad:
        return []
    last_line_only = bad == [len(body) + 1]
    rule = "complete_last_line" if last_line_only else "field_count"
    detail = (
        "the last line is cut short: the file looks truncated"
        if last_line_only
        else f"{len(bad)} lines do not have the header's {len(header)} fields"
    )
    return [Violation(name, None, rule, detail, bad[:_MAX_EXAMPLES], len(bad))]


def _check_values(name: str, frame: pd.DataFrame, column: ColumnContract, missing: set[str]) -> Violation | None:
    if column.kind == "text":
        return None
    values = frame[column.name].fillna("").str.strip()
    present = ~values.isin(missing | {""})
    parses = values[present].map(lambda v: _parses(v, column))
    bad_index = parses.index[~parses.astype(bool)]
    if bad_index.empty:
        return None
    examples = [f"{values[i]!r}" for i in bad_index[:3]]
    return Violation(
        name,
        column.name,
        f"parses_as_{column.kind}",
        f"{len(bad_index)} values are not {column.parses_as}, e.g. {', '.join(examples)}",
        [int(i) + 2 for i in bad_index[:_MAX_EXAMPLES]],
        len(bad_index),
    )


def _parses(value: str, column: ColumnContract) -> bool:
    if column.kind == "integer":
        return bool(_INTEGER.match(value))
    if column.kind == "number":
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    try:
        datetime.strptime(value, column.date_format or "%Y-%m-%d")
    except ValueError:
        return False
    return True
