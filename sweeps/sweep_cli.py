"""`ftscale sweep plan|run|point|status|export-wandb`: look at a sweep spec, run it (all of it, or one point),
summarise a sweep directory, and hand a sweep to W&B agents."""

import argparse
import functools
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ftscale.sweeps.finalize import report_sweep
from ftscale.sweeps.runner import STORE, run_point, run_sweep
from ftscale.sweeps.store import Store
from ftscale.sweeps.wandb_points import log_finished_point

FACTORS = ("model_size", "non_embedding_params", "pretrain_tokens", "pet_size", "train_size", "seed")
HEADERS = ("size", "params", "pretrain tokens", "pet size", "train size", "seed")  # the factors, short


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftscale sweep",
        description="Expand a sweep spec (configs/sweeps/*.yaml) into finetuning runs, run them into a "
        "results store that several runners can share, and summarise it.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{plan,run,point,status,export-wandb}")
    plan = commands.add_parser("plan", help="print the points of a spec and what they cost; runs nothing")
    plan.add_argument("spec", help="sweep spec YAML, e.g. configs/sweeps/demo.yaml")
    run = commands.add_parser(
        "run",
        help="run every pending point (resumes: finished points are never rerun)",
        description="Run every pending point of a sweep. Rerunning resumes: done points are skipped, and the "
        "points of a runner that died are taken over once their lease expires.",
    )
    run.add_argument("spec", help="sweep spec YAML, e.g. configs/sweeps/demo.yaml")
    run.add_argument("--dir", type=Path, help="sweep directory (default: runs/sweeps/<name>)")
    run.add_argument("--workers", type=int, default=1, help="runner processes sharing the store (default: 1)")
    run.add_argument(
        "--isolate",
        action="store_true",
        help="one subprocess per point (frees GPU memory, contains crashes) instead of running in-process",
    )
    run.add_argument("--retry-failed", action="store_true", help="run failed points again")
    _wandb_option(run)
    point = commands.add_parser(
        "point",
        help="run one point by id into the sweep's store (what a W&B sweep agent runs)",
        description="Run one point of a sweep, leased in the store like a runner's point, and log its W&B run. "
        "A done point, or one another runner holds, is left alone.",
    )
    point.add_argument("spec", help="sweep spec YAML, e.g. configs/sweeps/demo.yaml")
    point.add_argument("--point", required=True, help="the point's id (ftscale sweep plan SPEC lists them)")
    point.add_argument("--dir", type=Path, help="sweep directory (default: runs/sweeps/<name>)")
    point.add_argument("--retry-failed", action="store_true", help="run the point again if it failed")
    _wandb_option(point)
    export = commands.add_parser(
        "export-wandb",
        help="write a W&B sweep config whose agents run the points (wandb sweep FILE; wandb agent ID)",
    )
    export.add_argument("spec", help="sweep spec YAML, e.g. configs/sweeps/demo.yaml")
    export.add_argument("--out", type=Path, help="file to write (default: print it)")
    export.add_argument("--dir", type=Path, help="sweep directory the agents record into (default: runs/sweeps/<name>)")
    status = commands.add_parser("status", help="summarise a sweep directory: counts, metrics and errors")
    status.add_argument("dir", type=Path, help="sweep directory (holds results.sqlite)")
    return parser


def _wandb_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--wandb",
        choices=["online", "offline", "off"],
        help="W&B mode for the points and the fit (default: online with credentials, else offline)",
    )


def plan(spec_path: str, console: Console) -> None:
    from ftscale.sweeps.spec import load_spec  # loads torch: only the commands that read a spec pay for it

    spec = load_spec(spec_path)
    points = spec.points()
    table = Table(title=f"sweep {spec.name}: {len(points)} points")
    table.add_column("id", no_wrap=True)
    table.add_column("method")
    table.add_column("axes")
    for header in HEADERS:
        table.add_column(header, justify="right")
    for point in points:
        values = [_cell(point.factors[f]) for f in FACTORS]
        table.add_row(point.id, point.method, "+".join(point.axes), *values)
    console.print(table)
    by_method = ", ".join(f"{m.name} {sum(p.method == m.name for p in points)}" for m in spec.methods)
    console.print(f"runs: {len(points)} ({by_method})")
    if spec.max_steps is None:
        console.print("training steps: not fixed (set trainer.max_steps to estimate the cost)")
    else:
        steps = len(points) * spec.max_steps
        examples = f", {steps * spec.batch_size:,} training examples" if spec.batch_size else ""
        console.print(f"training steps: {steps:,} ({spec.max_steps} per run){examples}")
    for axis, rules in spec.held_out.items():
        if rules:
            console.print(f"held out from the {axis} fits: {', '.join(rules)}")


def status(sweep_dir: Path, console: Console) -> int:
    path = sweep_dir / STORE
    if not path.is_file():
        raise FileNotFoundError(f"{sweep_dir} holds no {STORE}; is it a sweep directory (ftscale sweep run --dir)?")
    store = Store(path)
    table = Table(title=f"{sweep_dir}")
    table.add_column("id", no_wrap=True)
    for header in ("method", "status", "tries", *HEADERS, "test/loss", "val/loss", "wall s"):
        table.add_column(header, justify="left" if header in ("method", "status") else "right")
    errors = []
    for row in store.rows():
        metrics = row["metrics"] or {}
        values = [_cell(row["factors"].get(f)) for f in FACTORS]
        measured = [_cell(metrics.get(k)) for k in ("test/loss", "val/loss", "wall_time_s")]
        table.add_row(row["id"], row["method"], row["status"], str(row["attempts"]), *values, *measured)
        if row["status"] == "failed":
            errors.append(f"{row['id']}: {_last_line(row['error'])}")
    console.print(table)
    counts = store.counts()
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) + (" (complete)" if store.is_complete() else ""))
    for error in errors:
        console.print(f"failed {error}", markup=False)
    return 0


def export_wandb(spec_path: str, out: Path | None, sweep_dir: Path | None, console: Console) -> int:
    from ftscale.sweeps.spec import load_spec  # see plan
    from ftscale.sweeps.wandb_sweep import sweep_config, write_sweep_config

    spec = load_spec(spec_path)
    text = write_sweep_config(sweep_config(spec, spec_path, sweep_dir), out)
    if out is None:
        print(text, end="")  # as written, for `> sweep.yaml`
    else:
        points = len(spec.points())
        then = f"wandb sweep {out}, then wandb agent ENTITY/PROJECT/SWEEP_ID from the repository root on every machine"
        console.print(f"{out}: W&B grid sweep over {points} points; next: {then}", markup=False)
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _last_line(error: str | None) -> str:
    lines = [line for line in (error or "").splitlines() if line.strip()]
    # The exception line, not the log tail appended after it.
    marker = next((i for i, line in enumerate(lines) if line.startswith("--- last lines of")), len(lines))
    return lines[marker - 1] if marker else "(no error text)"


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    # Piped output is not cut to 80 columns: the tables are meant to be read in full.
    console = Console(width=None if sys.stdout.isatty() else 200)
    if args.command == "plan":
        plan(args.spec, console)
        return 0
    if args.command == "status":
        return status(args.dir, console)
    if args.command == "export-wandb":
        return export_wandb(args.spec, args.out, args.dir, console)
    # Each point is logged to W&B as it finishes; the process whose result completes the sweep fits its laws
    # and writes the report, exactly once.
    hooks = {
        "on_done": functools.partial(log_finished_point, wandb=args.wandb),
        "on_complete": functools.partial(report_sweep, wandb=args.wandb),
    }
    if args.command == "point":
        state = run_point(args.spec, args.point, args.dir, retry_failed=args.retry_failed, **hooks)
        console.print(f"point {args.point}: {state}", markup=False)
        return 1 if state == "failed" else 0
    store = run_sweep(
        args.spec, args.dir, workers=args.workers, isolate=args.isolate, retry_failed=args.retry_failed, **hooks
    )
    counts = store.counts()
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))
    console.print(f"results: {store.path} (ftscale sweep status {store.path.parent})")
    return 1 if counts["failed"] else 0
