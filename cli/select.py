"""`ftscale select TABLE --target-df N`: which candidate to finetune, from its partial curve, and how sure that is."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ftscale.cli import parsing
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.io import read_table
from ftscale.scaling_laws.selection import Curve, Selection, select, visible_limit
from ftscale.scaling_laws.tails import PREDICTORS

PROG = "ftscale select"
DESCRIPTION = """Predict every candidate's loss at --target-df from its measured curve (one row per finetuning run:
candidate, Df, loss; rows of one candidate at the same Df, e.g. seeds, are averaged), rank the candidates and say
how sure the choice is: P(best) is the share of bootstrap draws in which a candidate has the lowest loss.

The predictor (a power-phase line per candidate as in Lin et al.'s AtS, or the same lines with slopes pooled across
candidates) is chosen by a backtest inside the budget, never on the target. With --budget F only rows with
Df <= F x target are read: the others may hold anything. See docs/scaling_laws.md, "Choosing a candidate"."""


def _parser():
    command = parsing.parser(PROG, DESCRIPTION)
    command.add_argument("table", type=Path, help="CSV, TSV or JSONL file, one measurement per row")
    command.add_argument("--target-df", type=float, required=True, help="the finetuning size to choose for")
    command.add_argument("--budget", type=float, help="read only rows with Df <= BUDGET x target, BUDGET in (0, 1]")
    command.add_argument("--candidate", required=True, help="column of the candidate id (e.g. the model)")
    command.add_argument("--df", required=True, help="column of the finetuning data size Df (> 0)")
    command.add_argument("--loss", required=True, help="column of the measured loss")
    command.add_argument("--method", help="column of the finetuning method: a candidate is then (id, method)")
    command.add_argument("--family", help="column of the model family: slopes are pooled within family x method")
    command.add_argument("--size", help="column of the model size (parameters), a covariate of the pooled slopes")
    command.add_argument("--loss0", help="column of the loss before finetuning (Df = 0), a covariate as well")
    command.add_argument(
        "--predictor", action="append", choices=list(PREDICTORS), help="repeatable: the menu (default: all)"
    )
    command.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws (default %(default)d)")
    command.add_argument("--level", type=float, default=0.95, help="interval coverage (default %(default)g)")
    command.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)d)")
    command.add_argument("--out", type=Path, metavar="FILE", help="also write the table: .csv or .json")
    return command


def read_curves(args) -> dict[str, Curve]:
    """Candidates' curves from the table's rows with Df within the budget; of the other rows only Df and the
    candidate's id are read."""
    if args.out is not None and args.out.suffix.lower() not in (".csv", ".json"):
        raise ScalingLawError(f"--out {args.out}: the file name must end in .csv or .json")
    limit = visible_limit(args.target_df, args.budget)
    columns, rows, lines = read_table(args.table)
    named = {"--candidate": args.candidate, "--df": args.df, "--loss": args.loss}
    named |= {f"--{k}": getattr(args, k) for k in ("method", "family", "size", "loss0") if getattr(args, k)}
    for option, column in named.items():
        if column not in columns:
            raise ScalingLawError(
                f"{args.table}: no column {column!r} ({option}); available columns: {', '.join(map(str, columns))}"
            )
    found: dict[str, dict] = {}
    for row, line in zip(rows, lines, strict=True):
        df = _number(row, args.df, args.table, line)
        if df <= 0:
            raise ScalingLawError(
                f"{args.table}: line {line}, column {args.df!r}: Df is {df:g}; it must be > 0 "
                "(give the loss before finetuning in a --loss0 column)"
            )
        name = str(row[args.candidate]) + (f" / {row[args.method]}" if args.method else "")
        pool = "|".join(str(row[c]) for c in (args.family, args.method) if c) or None
        entry = found.setdefault(name, {"df": [], "loss": [], "pool": pool, "size": set(), "loss0": set()})
        if df > limit:  # a candidate seen only beyond the budget is still named, and refused by select
            continue
        entry["df"].append(df)
        entry["loss"].append(_number(row, args.loss, args.table, line))
        for key, column in (("size", args.size), ("loss0", args.loss0)):
            if column:
                entry[key].add(_number(row, column, args.table, line))
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


def main(argv: list[str]) -> int:
    """Run `ftscale select`; input errors raise ScalingLawError (one line, printed by `ftscale`)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error already reported in one line (2)
        return e.code if isinstance(e.code, int) else 0
    curves = read_curves(args)
    result = select(
        curves,
        args.target_df,
        budget=args.budget,
        predictors=args.predictor,
        n_bootstrap=args.bootstrap,
        level=args.level,
        seed=args.seed,
    )
    show(result, Console())
    if args.out:
        write(result, args.out)
        print(f"written: {args.out}")
    return 0
