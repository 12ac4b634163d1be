"""Reading measurement tables (CSV, TSV, JSONL) and saved fit results, with errors that say where."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ftscale.scaling_laws.compare import Comparison
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.points import Points, as_points
from ftscale.scaling_laws.result import FitResult


def read_table(path: str | Path) -> tuple[list[str], list[dict[str, object]], list[int]]:
    """Column names, rows as mappings, and each row's 1-based line number; format from the suffix
    (.csv, .tsv/.tab, .jsonl/.ndjson), else sniffed from the first line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ScalingLawError(f"{path}: cannot read ({e.strerror or e})") from None
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson") or (suffix not in (".csv", ".tsv", ".tab") and first.startswith("{")):
        return _read_jsonl(path, lines)
    tab = suffix in (".tsv", ".tab") or (suffix != ".csv" and "\t" in first)
    return _read_delimited(path, lines, "\t" if tab else ",")


def _read_delimited(path: Path, lines: list[str], sep: str):
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        raise ScalingLawError(f"{path}: empty file")
    records = list(csv.reader([ln for _, ln in numbered], delimiter=sep))
    columns = [c.strip() for c in records[0]]
    rows, where = [], []
    for (line, _), rec in zip(numbered[1:], records[1:], strict=True):
        if len(rec) != len(columns):
            raise ScalingLawError(
                f"{path}: line {line} has {len(rec)} fields, the header has {len(columns)}; malformed line"
            )
        rows.append(dict(zip(columns, (v.strip() for v in rec), strict=True)))
        where.append(line)
    return columns, rows, where


def _read_jsonl(path: Path, lines: list[str]):
    columns: dict[str, None] = {}  # insertion-ordered set
    rows, where = [], []
    for i, ln in enumerate(lines, start=1):
        if not ln.strip():
            continue
        try:
            row = json.loads(ln)
        except json.JSONDecodeError as e:
            raise ScalingLawError(f"{path}: line {i} is not valid JSON ({e.msg}); malformed line") from None
        if not isinstance(row, dict):
            raise ScalingLawError(f"{path}: line {i} is not a JSON object; malformed line")
        columns.update(dict.fromkeys(row))
        rows.append(row)
        where.append(i)
    if not rows:
        raise ScalingLawError(f"{path}: empty file")
    return list(columns), rows, where


def read_points(path: str | Path, x: str | None, df: str, loss: str, group: str | None = None) -> Points:
    """Validated points from columns of a table file; x may be None (single-factor laws). group: a column of
    replicate ids (seeds): rows sharing X and Df are then replicates of one cell."""
    columns, rows, lines = read_table(path)
    numeric = [c for c in (x, df, loss) if c is not None]
    for c in [*numeric, *([group] if group is not None else [])]:
        if c not in columns:
            raise ScalingLawError(f"{path}: no column {c!r}; available columns: {', '.join(columns)}")
    values = {c: [] for c in numeric}
    for row, line in zip(rows, lines, strict=True):
        for c in numeric:
            v = row.get(c)
            try:
                values[c].append(float(v))
            except (TypeError, ValueError):
                raise ScalingLawError(f"{path}: line {line}, column {c!r}: {v!r} is not a number") from None
    groups = None
    if group is not None:
        missing = next((line for row, line in zip(rows, lines, strict=True) if row.get(group) in (None, "")), None)
        if missing is not None:
            raise ScalingLawError(f"{path}: line {missing}, column {group!r} is empty; every row needs a group")
        groups = [row[group] for row in rows]
    return as_points(
        None if x is None else values[x],
        values[df],
        values[loss],
        source=str(path),
        names=(x or "x", df, loss),
        lines=np.array(lines),
        groups=groups,
        group_name=group or "group",
    )


def load_fit(path: str | Path) -> FitResult:
    """A saved FitResult; for a saved comparison (`--law all`), the chosen fit (by cross-validation)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise ScalingLawError(f"{path}: cannot read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise ScalingLawError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    if isinstance(data, dict) and "fits" in data and "ranked_by" in data:
        return Comparison.from_json(json.dumps(data)).winner
    if not isinstance(data, dict):
        raise ScalingLawError(f"{path}: not a fit result")
    try:
        return FitResult.from_dict(data)
    except ScalingLawError as e:
        raise ScalingLawError(f"{path}: {e}") from None
