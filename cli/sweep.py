"""`ftscale sweep plan|run|point|status|export-wandb`: look at a sweep spec, run it (all of it, or one point),
summarise a sweep directory, and hand a sweep to W&B agents."""

from __future__ import annotations

import shlex
import sys
from argparse import Namespace
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ftscale.cli import parsing
from ftscale.cli.main import quiet_libraries
from ftscale.errors import InputError, MissingFileError
from ftscale.reports.adaptive import adaptive_lines
from ftscale.reports.finalize import complete_sweep
from ftscale.reports.terminal import sweep_lines
from ftscale.reports.wandb_settings import project
from ftscale.sweeps.adaptive import Adaptive, parse_select
from ftscale.sweeps.executors import Executor, InProcess, run_isolated
from ftscale.sweeps.layout import Target, open_store
from ftscale.sweeps.placement import OnGpus, gpu_sets, parse_gpus, visible_gpus
from ftscale.sweeps.runner import FitSweep, fit_if_due, point_args, prepare_sweep, run_point, run_sweep, select_if_due
from ftscale.sweeps.store import FitTask
from ftscale.sweeps.store.url import parse, redact

FACTORS = ("model_size", "non_embedding_params", "pretrain_tokens", "pet_size", "train_size", "seed")
HEADERS = ("size", "params", "pretrain tokens", "pet size", "train size", "seed")  # the factors, short
LEFT = ("id", "method", "axes", "backbone", "revision", "status")


def parser() -> parsing.Parser:
    command = parsing.parser(
        "ftscale sweep",
        "Expand a sweep spec (configs/sweeps/*.yaml) into finetuning runs, run them into a results store that "
        "several runners (or machines) can share, and summarise it.",
    )
    commands = command.add_subparsers(
        dest="command",
        required=True,
        parser_class=parsing.Parser,
        metavar="{plan,init,run,point,status,migrate,export-wandb}",
    )
    plan = commands.add_parser("plan", help="print the points of a spec and what they cost; runs nothing")
    parsing.add_spec(plan)
    plan.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation to cost at (default %(default)s)")
    plan.add_argument(
        "--peak-flops", type=float, default=989e12, help="peak FLOP/s of one GPU (default: H100 bf16 dense, 989e12)"
    )
    run = commands.add_parser(
        "run",
        help="run every pending point (resumes: finished points are never rerun)",
        description="Run every pending point of a sweep. Rerunning resumes: done points are skipped, and the "
        "points of a runner that died are taken over once their lease expires. The run whose result completes "
        "the sweep fits its laws and writes laws.json, the figures and report.html, once.",
    )
    parsing.add_spec(run)
    parsing.add_sweep_dir(run)
    parsing.add_store(run)
    parsing.add_workers(run)
    run.add_argument(
        "--gpus",
        metavar="0,1,2,3",
        help="place points on these GPUs: each runs in its own subprocess on its own --gpus-per-point of them",
    )
    run.add_argument(
        "--gpus-per-point", type=int, default=1, help="GPUs per point; a point on several trains with FSDP (default 1)"
    )
    run.add_argument(
        "--isolate",
        action="store_true",
        help="one subprocess per point (frees GPU memory, contains crashes) instead of running in-process",
    )
    parsing.add_retry_failed(run)
    parsing.add_wandb(run)
    _add_select(run)
    _add_launcher(run)
    point = commands.add_parser(
        "point",
        help="run one point by id into the sweep's store (what a W&B sweep agent runs)",
        description="Run one point of a sweep, leased in the store like a runner's point. A done point, or one "
        "another runner holds, is left alone.",
    )
    parsing.add_spec(point)
    point.add_argument("--point", required=True, help="the point's id (ftscale sweep plan SPEC lists them)")
    parsing.add_sweep_dir(point)
    parsing.add_store(point)
    parsing.add_retry_failed(point)
    parsing.add_wandb(point)
    init = commands.add_parser(
        "init",
        help="put a spec's points in its store and print each point's `ftscale fit` command (for your own launcher)",
        description="Create (or extend) a sweep's store and print, one per line, the `ftscale fit` command of every "
        "pending point. Each carries ScalingLawCallback: run them in any order, anywhere that sees the store (a "
        "SLURM array, a loop); the run that completes the sweep fits it.",
    )
    parsing.add_spec(init)
    parsing.add_sweep_dir(init)
    parsing.add_store(init)
    parsing.add_wandb(init)
    export = commands.add_parser(
        "export-wandb",
        help="write a W&B sweep config whose agents run the points (wandb sweep FILE; wandb agent ID)",
    )
    parsing.add_spec(export)
    export.add_argument("--out", type=Path, help="file to write (default: print it)")
    parsing.add_sweep_dir(export)
    migrate = commands.add_parser(
        "migrate",
        help="copy a sweep's store to another (SQLite <-> PostgreSQL), statuses, metrics and completion included",
    )
    migrate.add_argument("src", help="store URL or SQLite path to copy from, e.g. runs/sweeps/demo/results.sqlite")
    migrate.add_argument("dst", help="store URL to copy into, e.g. postgresql://me@db-host/ftscale")
    status = commands.add_parser("status", help="summarise a sweep directory: counts, metrics and errors")
    status.add_argument("dir", type=Path, help="sweep directory")
    parsing.add_store(status)
    return command


def _add_select(run: parsing.Parser) -> None:
    run.add_argument(
        "--select",
        action="append",
        metavar="target_df=N",
        help="an adaptive sweep: find the candidate (model x method x PET size) with the lowest loss at Df N by "
        "running every candidate's smallest sizes first and dropping those worse than the leader with P >= 0.95 "
        "before their larger sizes run (docs/clusters.md, 'Adaptive sweeps')",
    )
    run.add_argument(
        "--budget",
        type=float,
        metavar="FRACTION",
        help="with --select: the share in (0, 1] of the full sweep's planned training steps it may spend (default 1)",
    )


def adaptive_option(args: Namespace) -> Adaptive | None:
    """The adaptive settings of `sweep run` (--select, --budget); None for an ordinary sweep."""
    return parse_select(args.select, args.budget)


def _add_launcher(run: parsing.Parser) -> None:
    run.add_argument(
        "--launcher",
        choices=["local", "slurm"],
        default="local",
        help="local: runner processes on this machine (default); slurm: --workers array tasks through submitit, "
        "each draining the shared PostgreSQL store (docs/clusters.md)",
    )
    slurm = run.add_argument_group("SLURM (--launcher slurm; unset: the partition's defaults)")
    slurm.add_argument("--partition", help="partition of every array task")
    slurm.add_argument("--account", help="account to charge")
    slurm.add_argument("--gpus-per-node", type=int, metavar="N", help="GPUs of each task (its points use them)")
    slurm.add_argument("--cpus-per-task", type=int, metavar="N", help="CPUs of each task")
    slurm.add_argument("--mem-gb", type=float, metavar="GB", help="memory of each task")
    slurm.add_argument(
        "--time",
        type=int,
        metavar="MINUTES",
        help="time limit of each task; a task that reaches it is requeued and drains on (default: 240)",
    )
    slurm.add_argument(
        "--slurm-extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other sbatch option, repeatable: --slurm-extra qos=high --slurm-extra constraint=a100",
    )


SLURM_OPTIONS = ("partition", "account", "gpus_per_node", "cpus_per_task", "mem_gb", "time")


def submit(args: Namespace, fit: FitSweep, console: Console) -> int:
    """`ftscale sweep run --launcher slurm`: submit the array, record and print its task ids."""
    from ftscale.sweeps.slurm import JOBS, TIME_MIN, Resources, parse_extra, submit_array

    resources = Resources(
        partition=args.partition,
        gpus_per_node=args.gpus_per_node,
        time_min=args.time or TIME_MIN,
        account=args.account,
        cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb,
        extra=parse_extra(args.slurm_extra),
    )
    options = {"store": args.store, "wandb": args.wandb, "fit": fit, "retry_failed": args.retry_failed}
    options["adaptive"] = adaptive_option(args)
    target, jobs = submit_array(args.spec, args.dir, args.workers, resources, **options)
    console.print(f"submitted {len(jobs)} array tasks: {' '.join(job.job_id for job in jobs)}", markup=False)
    console.print(f"ids in {target.sweep_dir / JOBS}; ftscale sweep status {target.sweep_dir}", markup=False)
    return 0


def plan(spec_path: str, mfu: float, peak_flops: float, console: Console) -> None:
    from ftscale.sweeps.cost import sweep_cost  # loads torch: only the commands that read a spec pay for it
    from ftscale.sweeps.spec import load_spec

    spec = load_spec(spec_path)
    points = spec.points()
    total = sweep_cost(spec, mfu, peak_flops)
    cost = {row.point_id: row for row in total.rows}
    table = Table(title=f"sweep {spec.name}: {len(points)} points")
    headers = ("id", "method", "axes", "backbone", "revision", *HEADERS, "total params", "trainable", "steps")
    for header in (*headers, "FLOPs", "GPU-h"):
        table.add_column(header, no_wrap=header == "id", justify="left" if header in LEFT else "right")
    for point in points:
        f, c = point.factors, cost.get(point.id)
        values = [_cell(f.get(k)) for k in ("model", "revision", *FACTORS, "total_params")]
        estimate = [_cell(getattr(c, k, None)) for k in ("trainable_params", "steps", "flops", "gpu_hours")]
        table.add_row(point.id, point.method, "+".join(point.axes) or "(base)", *values, *estimate)
    console.print(table)
    by_method = ", ".join(f"{m} {n}" for m, n in Counter(p.method for p in points).items())
    console.print(f"runs: {len(points)} ({by_method})")
    unknown = f"; {total.unknown} points without an estimate (no step cap or unknown sizes)" if total.unknown else ""
    console.print(
        f"training: {total.flops:.3g} FLOPs, {total.gpu_hours:,.1f} GPU-hours at {mfu:.0%} MFU of "
        f"{peak_flops:.3g} FLOP/s per GPU (an upper bound where early stopping ends points sooner){unknown}"
    )
    for axis, rules in spec.held_out.items():
        if rules:
            console.print(f"held out from the {axis} fits: {', '.join(rules)}")


def status(sweep_dir: Path, store_url: str | None, console: Console) -> int:
    if not sweep_dir.is_dir():
        raise MissingFileError(f"{sweep_dir} is not a directory; give a sweep directory (ftscale sweep run --dir)")
    store = open_store(sweep_dir, store_url)
    # An adaptive sweep's stage whose selection is due (or its process died): selected now, once.
    if select_if_due(Target(sweep_dir, store_url), complete_sweep, store=store):
        console.print("ran the selection after the adaptive sweep's last stage", markup=False)
    # A complete sweep whose fit did not finish (its process died): fitted now, once.
    if fit_if_due(Target(sweep_dir, store_url), complete_sweep, store=store):
        console.print("fitted the sweep: its earlier fit had not finished", markup=False)
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
    for line in adaptive_lines(store):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(_fit_line(FitTask(store).state()), markup=False)
    _print_array_tasks(sweep_dir, console)
    return 0


def _fit_line(state: dict) -> str:
    """The sweep's fit task in one line: not due yet, running (by whom, until when), done, or failed (why)."""
    if state["completed_by"] is None:
        return "fit: when the sweep is complete"
    if state["fitted_at"] is not None:
        return "fit: done (ftscale law fit-sweep DIR fits again)"
    if state["fit_error"] is not None:
        return f"fit: failed: {_last_line(state['fit_error'])}; fit it with ftscale law fit-sweep DIR"
    if state["fit_owner"] is not None and state["fit_expires"] >= state["now"]:
        return f"fit: running in {state['fit_owner']} (lease for {state['fit_expires'] - state['now']:.0f} s more)"
    return "fit: due (the next sweep run, sweep point or sweep status fits it)"


def _print_array_tasks(sweep_dir: Path, console: Console) -> None:
    """The SLURM array tasks draining the sweep, if it was submitted as one (`ftscale sweep run --launcher slurm`)."""
    # sweeps.slurm.JOBS, looked for first: importing submitit attaches a logging handler to today's stdout.
    if not (sweep_dir / "slurm.json").is_file():
        return
    from ftscale.sweeps.slurm import array_tasks

    tasks = array_tasks(sweep_dir)
    table = Table(title="array tasks")
    table.add_column("task", no_wrap=True)
    table.add_column("state")
    for job_id, state in tasks:
        table.add_row(job_id, state)
    console.print(table)


def export_wandb(spec_path: str, out: Path | None, sweep_dir: Path | None, console: Console) -> int:
    from ftscale.sweeps.spec import load_spec  # see plan
    from ftscale.sweeps.wandb_sweep import sweep_config, write_sweep_config

    spec = load_spec(spec_path)
    text = write_sweep_config(sweep_config(spec, spec_path, project(), sweep_dir), out)
    if out is None:
        print(text, end="")  # as written, for `> sweep.yaml`
    else:
        points = len(spec.points())
        then = f"wandb sweep {out}, then wandb agent ENTITY/PROJECT/SWEEP_ID from this directory on every machine"
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


def in_process() -> Executor:
    """The runners' executor: each point in the runner's own process (imports paid once), through `ftscale fit`."""
    from ftscale.cli.lightning import main as fit  # loads torch and Lightning: only the commands that train pay

    return InProcess(fit)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    # Piped output is not cut to 80 columns: the tables are meant to be read in full.
    console = Console(width=None if sys.stdout.isatty() else 200)
    if args.command == "plan":
        plan(args.spec, args.mfu, args.peak_flops, console)
        return 0
    if args.command == "status":
        return status(args.dir, args.store, console)
    if args.command == "export-wandb":
        return export_wandb(args.spec, args.out, args.dir, console)
    if args.command == "migrate":
        from ftscale.sweeps.migrate import migrate

        copied = migrate(args.src, args.dst)
        console.print(f"copied {copied} points from {redact(args.src)} to {redact(args.dst)}", markup=False)
        return 0
    if args.command == "init":
        _, target = prepare_sweep(args.spec, args.dir, args.store, args.wandb)
        for row in target.open().rows():
            if row["status"] == "pending":
                print(shlex.join(["ftscale", *point_args(row, target)]))
        if args.store and parse(args.store).password is not None:
            print("note: the commands name the store without its password: where they run, set $PGPASSWORD or put "
                  "it in ~/.pgpass (docs/clusters.md)", file=sys.stderr)  # fmt: skip
        return 0
    # The run whose result completes the sweep fits it (ScalingLawCallback, through the store's fit task); so does a
    # failure the runner records itself (a run that died before its Trainer existed), or a runner that finds the
    # fit of a complete sweep unfinished.
    options = {"retry_failed": args.retry_failed, "fit": complete_sweep, "store": args.store, "wandb": args.wandb}
    if args.command == "run" and args.launcher == "slurm":
        if args.gpus is not None:
            raise InputError(
                "--gpus places points on this machine's GPUs; a SLURM task's points use its node's (--gpus-per-node)"
            )
        return submit(args, complete_sweep, console)
    if args.command == "run":
        given = [f"--{name.replace('_', '-')}" for name in SLURM_OPTIONS if getattr(args, name) is not None]
        if given or args.slurm_extra:
            raise InputError(f"{', '.join(given or ['--slurm-extra'])}: SLURM options need --launcher slurm")
        options["adaptive"] = adaptive_option(args)  # checked before torch loads (in_process)
    if args.command == "point":
        state = run_point(args.spec, args.point, args.dir, execute=in_process(), **options)
        console.print(f"point {args.point}: {state}", markup=False)
        return 1 if state == "failed" else 0
    placed = []
    if args.gpus is not None:
        sets = gpu_sets(parse_gpus(args.gpus), args.gpus_per_point, visible_gpus())
        placed = [OnGpus(devices) for devices in sets]
    execute = run_isolated if args.isolate else in_process()
    options |= {"placed": placed, "worker_setup": quiet_libraries}
    store = run_sweep(args.spec, args.dir, args.workers, execute, **options)
    counts = store.counts()
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))
    for line in adaptive_lines(store):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"results: {store} (ftscale sweep status DIR)", markup=False)
    if FitTask(store).state()["fitted_at"] is not None:  # fitted: the claims and the decision, one line each
        for line in sweep_lines(args.dir or Path("runs") / "sweeps" / store.sweep):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 1 if counts["failed"] else 0
