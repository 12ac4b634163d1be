"""`ftscale select TABLE --target-df N`: which candidate to finetune, from its partial curve, and how sure that is."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.io import read_table
from ftscale.scaling_laws.selection import Curve, Selection, visible_limit
from ftscale.scaling_laws.selection import select as choose
from ftscale.scaling_laws.tails import PREDICTORS

Predictor = Literal[tuple(PREDICTORS)]  # the menu's names, as choices


def read_curves(
    table: Path,
    limit: float,
    *,
    candidate: str,
    df: str,
    loss: str,
    method: str | None = None,
    family: str | None = None,
    size: str | None = None,
    loss0: str | None = None,
) -> dict[str, Curve]:
    """Candidates' curves from the rows of `table` with Df <= `limit`, the other arguments naming its columns; of
    the other rows only Df and the candidate's id are read."""
    columns, rows, lines = read_table(table)
    named = {"--candidate": candidate, "--df": df, "--loss": loss}
    optional = {"--method": method, "--family": family, "--size": size, "--loss0": loss0}
    named |= {option: column for option, column in optional.items() if column}
    for option, column in named.items():
        if column not in columns:
            raise ScalingLawError(
                f"{table}: no column {column!r} ({option}); available columns: {', '.join(map(str, columns))}"
            )
    found: dict[str, dict] = {}
    for row, line in zip(rows, lines, strict=True):
        at = _number(row, df, table, line)
        if at <= 0:
            raise ScalingLawError(
                f"{table}: line {line}, column {df!r}: Df is {at:g}; it must be > 0 "
                "(give the loss before finetuning in a --loss0 column)"
            )
        name = str(row[candidate]) + (f" / {row[method]}" if method else "")
        pool = "|".join(str(row[c]) for c in (family, method) if c) or None
        entry = found.setdefault(name, {"df": [], "loss": [], "pool": pool, "size": set(), "loss0": set()})
        if at > limit:  # a candidate seen only beyond the budget is still named, and refused by select
            continue
        entry["df"].append(at)
        entry["loss"].append(_number(row, loss, table, line))
        for key, column in (("size", size), ("loss0", loss0)):
            if column:
                entry[key].add(_number(row, column, table, line))
    return {
        name: Curve(e["df"], e["loss"], _one(e, "loss0", name), _one(e, "size", name), e["pool"])
        for name, e in found.items()
    }


def _number(row: dict, column: str, path: Path, line: int) -> float:
    value = row.get(column)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScalingLawError(f"{path}: line {line}, column {column!r}: {value!r} is not a number") from None


def _one(entry: dict, key: str, name: str) -> float | None:
    values = entry[key]
    if len(values) > 1:
        raise ScalingLawError(f"candidate {name!r} has several {key} values {sorted(values)}; give one per candidate")
    return next(iter(values), None)


def show(result: Selection, console: Console) -> None:
    """The ranked table, the predictor chosen and the one-line verdict."""
    budget = "" if result.budget is None else f", budget {result.budget:g}"
    table = Table(title=f"predicted loss at Df = {result.target_df:g}{budget}")
    table.add_column("rank", justify="right")
    table.add_column("candidate", overflow="fold")
    for header in ("loss", f"{100 * result.level:g}% interval", "P(best)", "P(worse)"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in result.rows():
        interval = f"[{row['low']:.4g}, {row['high']:.4g}]"
        worse = "" if row["rank"] == 1 else f"{row['p_worse_than_leader']:.2f}"
        cells = (str(row["rank"]), str(row["candidate"]), f"{row['predicted_loss']:.4g}", interval)
        table.add_row(*cells, f"{row['p_best']:.2f}", worse)
    console.print(table)
    spread = ", ".join(f"{name} {value:.4g}" for name, value in result.backtest_spread.items())
    console.print(f"predictor: {result.predictor} (backtest inside the budget, spread of log-loss errors: {spread})")
    console.print("P(worse): the share of draws in which a candidate's loss exceeds that of rank 1")
    console.print(result.verdict(), style="bold")


def write(result: Selection, path: Path) -> None:
    """The table as CSV (one row per candidate) or JSON (the whole summary), by the file's suffix."""
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        return
    rows = result.rows()
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def select(
    table: Path,
    *,
    target_df: float,
    budget: float | None = None,
    candidate: str,
    df: str,
    loss: str,
    method: str | None = None,
    family: str | None = None,
    size: str | None = None,
    loss0: str | None = None,
    predictor: list[Predictor] | None = None,
    bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    out: Path | None = None,
) -> int:
    """Which candidate to finetune for a target Df, predicted from each candidate's partial curve, and how sure.

    Predict every candidate's loss at --target-df from its measured curve (one row per finetuning run: candidate,
    Df, loss; rows of one candidate at the same Df, e.g. seeds, are averaged), rank the candidates and say how sure
    the choice is: P(best) is the share of bootstrap draws in which a candidate has the lowest loss.

    The predictor (a power-phase line per candidate as in Lin et al.'s AtS, or the same lines with slopes pooled
    across candidates) is chosen by a backtest inside the budget, never on the target. With --budget F only rows
    with Df <= F x target are read: the others may hold anything. See docs/scaling_laws.md, "Choosing a candidate".

    Args:
        table: CSV, TSV or JSONL file, one measurement per row
        target_df: the finetuning size to choose for
        budget: read only rows with Df <= BUDGET x target, BUDGET in (0, 1]
        candidate: column of the candidate id (e.g. the model)
        df: column of the finetuning data size Df (> 0)
        loss: column of the measured loss
        method: column of the finetuning method: a candidate is then (id, method)
        family: column of the model family: slopes are pooled within family x method
        size: column of the model size (parameters), a covariate of the pooled slopes
        loss0: column of the loss before finetuning (Df = 0), a covariate as well
        predictor: the predictors to choose among; not given: all
        bootstrap: bootstrap draws
        level: interval coverage
        seed: bootstrap seed
        out: also write the table to this .csv or .json file
    """
    if out is not None and out.suffix.lower() not in (".csv", ".json"):
        raise ScalingLawError(f"--out {out}: the file name must end in .csv or .json")
    columns = {"method": method, "family": family, "size": size, "loss0": loss0}
    curves = read_curves(table, visible_limit(target_df, budget), candidate=candidate, df=df, loss=loss, **columns)
    result = choose(
        curves, target_df, budget=budget, predictors=predictor, n_bootstrap=bootstrap, level=level, seed=seed
    )
    show(result, Console())
    if out:
        write(result, out)
        print(f"written: {out}")
    return 0
