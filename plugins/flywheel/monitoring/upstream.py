"""Which dbt models feed a drifted column: the mart's ancestry in the dbt manifest, narrowed per column.

dbt-core's manifest has no column-level lineage, so a model or source counts as upstream of a column when it is an
ancestor of the mart and documents the column in its YAML or names it in its SQL. That is what an analyst opens
first; the packet also gives the file to open.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=4)
def _manifest(path: str, mtime: float) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _load(manifest_path: Path) -> dict[str, Any]:
    return _manifest(str(manifest_path), manifest_path.stat().st_mtime) if manifest_path.is_file() else {}


def _ancestry(manifest: dict[str, Any], unique_id: str) -> list[str]:
    """``unique_id`` and every node above it, nearest first."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    seen, queue = [], [unique_id]
    while queue:
        current = queue.pop(0)
        if current in seen or current not in nodes:
            continue
        seen.append(current)
        queue.extend(nodes[current].get("depends_on", {}).get("nodes", []))
    return seen


def _mentions(node: dict[str, Any], column: str) -> bool:
    if column in node.get("columns", {}):
        return True
    return re.search(rf"\b{re.escape(column)}\b", node.get("raw_code", "") or "") is not None


def _mart_id(nodes: dict[str, Any], mart: str) -> str | None:
    return next((k for k, n in nodes.items() if n.get("resource_type") == "model" and n.get("name") == mart), None)


def source_tables(manifest_path: Path, mart: str) -> list[str]:
    """The raw tables (``schema.table``) a mart is built from: the dbt sources among its ancestors."""
    manifest = _load(manifest_path)
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    mart_id = _mart_id(nodes, mart)
    if mart_id is None:
        raise LookupError(f"no dbt model {mart!r} in {manifest_path} (run `flywheel init` to parse the project)")
    return sorted(
        f"{nodes[uid]['schema']}.{nodes[uid].get('identifier') or nodes[uid]['name']}"
        for uid in _ancestry(manifest, mart_id)
        if nodes[uid].get("resource_type") == "source"
    )


def upstream_of_columns(manifest_path: Path, mart: str, columns: list[str]) -> dict[str, list[dict[str, str]]]:
    """For each column, the dbt models and sources (nearest first) it comes through, with the file to open."""
    manifest = _load(manifest_path)
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    mart_id = _mart_id(nodes, mart)
    if mart_id is None:
        return {c: [] for c in columns}
    lineage = _ancestry(manifest, mart_id)
    result: dict[str, list[dict[str, str]]] = {}
    for column in columns:
        result[column] = [
            {
                "node": nodes[uid]["resource_type"] + ":" + _display_name(nodes[uid]),
                "file": nodes[uid].get("original_file_path", ""),
            }
            for uid in lineage
            if _mentions(nodes[uid], column)
        ]
    return result


def _display_name(node: dict[str, Any]) -> str:
    if node.get("resource_type") == "source":
        return f"{node.get('source_name')}.{node.get('name')}"
    return str(node.get("name"))
