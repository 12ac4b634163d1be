"""`ftscale sweep plan|init|run|point|status|migrate|export-wandb`: look at a sweep spec, run it (all of it, or one
point), summarise a sweep directory, copy its store, and hand a sweep to W&B agents. Each command is a typed function
(`cli/commands.py`)."""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

from ftscale.cli.main import quiet_libraries
from ftscale.cli.options import Positive, RetryFailed, Spec, StoreURL, SweepDir, WandbMode, Workers
from ftscale.errors import InputError, MissingFileError
from ftscale.reports.adaptive import adaptive_lines
from ftscale.reports.finalize import complete_sweep
from ftscale.reports.terminal import sweep_lines
from ftscale.reports.wandb_settings import project
from ftscale.sweeps.adaptive import parse_select
from ftscale.sweeps.executors import Executor, InProcess, run_isolated
from ftscale.sweeps.layout import Target, open_store
from ftscale.sweeps.placement import OnGpus, gpu_sets, parse_gpus, visible_gpus
from ftscale.sweeps.runner import fit_if_due, point_args, prepare_sweep, run_point, run_sweep, select_if_due
from ftscale.sweeps.store import FitTask
from ftscale.sweeps.store.url import parse, redact

FACTORS = ("model_size", "non_embedding_params", "pretrain_tokens", "pet_size", "train_size", "seed")
HEADERS = ("size", "params", "pretrain tokens", "pet size", "train size", "seed")  # the factors, short
LEFT = ("id", "method", "axes", "backbone", "revision", "status")


def console() -> Console:
    """The commands' terminal; piped output is not cut to a width: the tables are meant to be read in full (a plan's
    17 columns with hub ids do not fit in 200)."""
    return Console(width=None if sys.stdout.isatty() else 1000)


def plan(spec: Spec, *, mfu: Positive = 0.4, peak_flops: Positive = 989e12) -> int:
    """Print the points of a sweep spec and what they cost (parameters, steps, FLOPs, GPU-hours); runs nothing.

    Args:
        mfu: model FLOPs utilisation to cost at
        peak_flops: peak FLOP/s of one GPU (the default: H100 bf16 dense)
    """
    from ftscale.sweeps.cost import sweep_cost  # loads torch: only the commands that read a spec pay for it
    from ftscale.sweeps.spec import load_spec

    out = console()
    loaded = load_spec(spec)
    points = loaded.points()
    total = sweep_cost(loaded, mfu, peak_flops)
    cost = {row.point_id: row for row in total.rows}
    table = Table(title=f"sweep {loaded.name}: {len(points)} points")
    headers = ("id", "method", "axes", "backbone", "revision", *HEADERS, "total params", "trainable", "steps")
    for header in (*headers, "FLOPs", "GPU-h"):
        table.add_column(header, no_wrap=header == "id", justify="left" if header in LEFT else "right")
    for point in points:
        f, c = point.factors, cost.get(point.id)
        values = [_cell(f.get(k)) for k in ("model", "revision", *FACTORS, "total_params")]
        estimate = [_cell(getattr(c, k, None)) for k in ("trainable_params", "steps", "flops", "gpu_hours")]
        table.add_row(point.id, point.method, "+".join(point.axes) or "(base)", *values, *estimate)
    out.print(table)
    by_method = ", ".join(f"{m} {n}" for m, n in Counter(p.method for p in points).items())
    out.print(f"runs: {len(points)} ({by_method})")
    unknown = f"; {total.unknown} points without an estimate (no step cap or unknown sizes)" if total.unknown else ""
    out.print(
        f"training: {total.flops:.3g} FLOPs, {total.gpu_hours:,.1f} GPU-hours at {mfu:.0%} MFU of "
        f"{peak_flops:.3g} FLOP/s per GPU (an upper bound where early stopping ends points sooner){unknown}"
    )
    for axis, rules in loaded.held_out.items():
        if rules:
            out.print(f"held out from the {axis} fits: {', '.join(rules)}")
    return 0


def init(spec: Spec, *, dir: SweepDir = None, store: StoreURL = None, wandb: WandbMode = None) -> int:
    """Create (or extend) a sweep's store and print, one per line, the `ftscale fit` command of every pending point.

    Each carries ScalingLawCallback: run them in any order, anywhere that sees the store (a SLURM array, a loop);
    the run that completes the sweep fits it.
    """
    _, target = prepare_sweep(spec, dir, store, wandb)
    for row in target.open().rows():
        if row["status"] == "pending":
            print(shlex.join(["ftscale", *point_args(row, target)]))
    if store and parse(store).password is not None:
        print("note: the commands name the store without its password: where they run, set $PGPASSWORD or put "
              "it in ~/.pgpass (docs/clusters.md)", file=sys.stderr)  # fmt: skip
    return 0


def run(
    spec: Spec,
    *,
    dir: SweepDir = None,
    store: StoreURL = None,
    workers: Workers = 1,
    gpus: str | None = None,
    gpus_per_point: int = 1,
    isolate: bool = False,
    retry_failed: RetryFailed = False,
    wandb: WandbMode = None,
    select: list[str] | None = None,
    budget: float | None = None,
    launcher: Literal["local", "slurm"] = "local",
    partition: str | None = None,
    account: str | None = None,
    gpus_per_node: int | None = None,
    cpus_per_task: int | None = None,
    mem_gb: float | None = None,
    time: int | None = None,
    slurm_extra: list[str] | None = None,
) -> int:
    """Run every pending point of a sweep (resumes: finished points are never rerun).

    Rerunning resumes: done points are skipped, and the points of a runner that died are taken over once their
    lease expires. The run whose result completes the sweep fits its laws and writes laws.json, the figures and
    report.html, once. --partition, --account, --gpus-per-node, --cpus-per-task, --mem-gb, --time and
    --slurm-extra apply to --launcher slurm only (not given: the partition's defaults).

    Args:
        workers: runner processes (--launcher slurm: array tasks)
        gpus: place points on these GPUs, e.g. 0,1,2,3: each runs in its own subprocess on its own
            --gpus-per-point of them
        gpus_per_point: GPUs per point; a point on several trains with FSDP
        isolate: one subprocess per point (frees GPU memory, contains crashes) instead of running in-process
        select: an adaptive sweep, target_df=N: find the candidate (model x method x PET size) with the lowest loss
            at Df N by running every candidate's smallest sizes first and dropping those worse than the leader with
            P >= 0.95 before their larger sizes run (docs/clusters.md, 'Adaptive sweeps')
        budget: with --select: the share in (0, 1] of the full sweep's planned training steps it may spend (not
            given: 1)
        launcher: local: runner processes on this machine; slurm: --workers array tasks through submitit, each
            draining the shared PostgreSQL store (docs/clusters.md)
        partition: SLURM partition of every array task
        account: SLURM account to charge
        gpus_per_node: GPUs of each SLURM task (its points use them)
        cpus_per_task: CPUs of each SLURM task
        mem_gb: memory of each SLURM task, in GB
        time: time limit of each SLURM task in minutes; a task that reaches it is requeued and drains on (not given:
            240)
        slurm_extra: any other sbatch option, KEY=VALUE, several or repeated: --slurm-extra qos=high
            constraint=a100
    """
    out = console()
    # The run whose result completes the sweep fits it (ScalingLawCallback, through the store's fit task); so does a
    # failure the runner records itself (a run that died before its Trainer existed), or a runner that finds the
    # fit of a complete sweep unfinished.
    options = {"retry_failed": retry_failed, "fit": complete_sweep, "store": store, "wandb": wandb}
    options["adaptive"] = parse_select(select, budget)  # checked before torch loads (in_process)
    slurm = {"partition": partition, "account": account, "gpus_per_node": gpus_per_node,
             "cpus_per_task": cpus_per_task, "mem_gb": mem_gb, "time": time}  # fmt: skip
    if launcher == "slurm":
        if gpus is not None:
            raise InputError(
                "--gpus places points on this machine's GPUs; a SLURM task's points use its node's (--gpus-per-node)"
            )
        return submit(spec, dir, workers, slurm, slurm_extra or [], options, out)
    given = [f"--{name.replace('_', '-')}" for name, value in slurm.items() if value is not None]
    if given or slurm_extra:
        raise InputError(f"{', '.join(given or ['--slurm-extra'])}: SLURM options need --launcher slurm")
    placed = []
    if gpus is not None:
        placed = [OnGpus(devices) for devices in gpu_sets(parse_gpus(gpus), gpus_per_point, visible_gpus())]
    execute = run_isolated if isolate else in_process()
    options |= {"placed": placed, "worker_setup": quiet_libraries}
    results = run_sweep(spec, dir, workers, execute, **options)
    counts = results.counts()
    out.print(", ".join(f"{n} {s}" for s, n in counts.items()))
    for line in adaptive_lines(results):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print(f"results: {results} (ftscale sweep status DIR)", markup=False)
    if FitTask(results).state()["fitted_at"] is not None:  # fitted: the claims and the decision, one line each
        for line in sweep_lines(dir or Path("runs") / "sweeps" / results.sweep):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    return 1 if counts["failed"] else 0


def submit(
    spec: str, sweep_dir: Path | None, workers: int, slurm: dict, extra: list[str], options: dict, out: Console
) -> int:
    """`ftscale sweep run --launcher slurm`: submit the array, record and print its task ids."""
    from ftscale.sweeps.slurm import JOBS, TIME_MIN, Resources, parse_extra, submit_array

    time_min = slurm.pop("time") or TIME_MIN
    resources = Resources(**slurm, time_min=time_min, extra=parse_extra(extra))
    target, jobs = submit_array(spec, sweep_dir, workers, resources, **options)
    out.print(f"submitted {len(jobs)} array tasks: {' '.join(job.job_id for job in jobs)}", markup=False)
    out.print(f"ids in {target.sweep_dir / JOBS}; ftscale sweep status {target.sweep_dir}", markup=False)
    return 0


def point(
    spec: Spec,
    *,
    point: str,
    dir: SweepDir = None,
    store: StoreURL = None,
    retry_failed: RetryFailed = False,
    wandb: WandbMode = None,
) -> int:
    """Run one point of a sweep by id into the sweep's store (what a W&B sweep agent runs).

    The point is leased in the store like a runner's point. A done point, or one another runner holds, is left
    alone. Exit code 1 when the point failed.

    Args:
        point: the point's id (ftscale sweep plan SPEC lists them)
    """
    options = {"retry_failed": retry_failed, "fit": complete_sweep, "store": store, "wandb": wandb}
    state = run_point(spec, point, dir, execute=in_process(), **options)
    console().print(f"point {point}: {state}", markup=False)
    return 1 if state == "failed" else 0


def status(sweep_dir: Path, *, store: StoreURL = None) -> int:
    """Summarise a sweep directory: counts, metrics and errors, the adaptive stages, the fit and any SLURM tasks.

    A complete sweep whose fit (or an adaptive stage whose selection) did not finish is fitted (selected) first.

    Args:
        sweep_dir: the sweep directory (`ftscale sweep run --dir`, default runs/sweeps/<name>)
    """
    if not sweep_dir.is_dir():
        raise MissingFileError(f"{sweep_dir} is not a directory; give a sweep directory (ftscale sweep run --dir)")
    out = console()
    results = open_store(sweep_dir, store)
    # An adaptive sweep's stage whose selection is due (or its process died): selected now, once.
    if select_if_due(Target(sweep_dir, store), complete_sweep, store=results):
        out.print("ran the selection after the adaptive sweep's last stage", markup=False)
    # A complete sweep whose fit did not finish (its process died): fitted now, once.
    if fit_if_due(Target(sweep_dir, store), complete_sweep, store=results):
        out.print("fitted the sweep: its earlier fit had not finished", markup=False)
    table = Table(title=f"{sweep_dir}")
    table.add_column("id", no_wrap=True)
    for header in ("method", "status", "tries", *HEADERS, "test/loss", "val/loss", "wall s"):
        table.add_column(header, justify="left" if header in ("method", "status") else "right")
    errors = []
    for row in results.rows():
        metrics = row["metrics"] or {}
        values = [_cell(row["factors"].get(f)) for f in FACTORS]
        measured = [_cell(metrics.get(k)) for k in ("test/loss", "val/loss", "wall_time_s")]
        table.add_row(row["id"], row["method"], row["status"], str(row["attempts"]), *values, *measured)
        if row["status"] == "failed":
            errors.append(f"{row['id']}: {_last_line(row['error'])}")
    out.print(table)
    counts = results.counts()
    out.print(", ".join(f"{n} {s}" for s, n in counts.items()) + (" (complete)" if results.is_complete() else ""))
    for error in errors:
        out.print(f"failed {error}", markup=False)
    for line in adaptive_lines(results):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print(_fit_line(FitTask(results).state()), markup=False)
    _print_array_tasks(sweep_dir, out)
    return 0


def migrate(src: str, dst: str) -> int:
    """Copy a sweep's store to another (SQLite <-> PostgreSQL), statuses, metrics and completion included.

    Args:
        src: store URL or SQLite path to copy from, e.g. runs/sweeps/demo/results.sqlite
        dst: store URL to copy into, e.g. postgresql://me@db-host/ftscale
    """
    from ftscale.sweeps.migrate import migrate as copy_store

    copied = copy_store(src, dst)
    console().print(f"copied {copied} points from {redact(src)} to {redact(dst)}", markup=False)
    return 0


def export_wandb(spec: Spec, *, out: Path | None = None, dir: SweepDir = None) -> int:
    """Write a W&B sweep config whose agents run the points (wandb sweep FILE; wandb agent ID).

    Args:
        out: file to write; not given: print it
    """
    from ftscale.sweeps.spec import load_spec  # see plan
    from ftscale.sweeps.wandb_sweep import sweep_config, write_sweep_config

    loaded = load_spec(spec)
    text = write_sweep_config(sweep_config(loaded, spec, project(), dir), out)
    if out is None:
        print(text, end="")  # as written, for `> sweep.yaml`
    else:
        points = len(loaded.points())
        then = f"wandb sweep {out}, then wandb agent ENTITY/PROJECT/SWEEP_ID from this directory on every machine"
        console().print(f"{out}: W&B grid sweep over {points} points; next: {then}", markup=False)
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


def _print_array_tasks(sweep_dir: Path, out: Console) -> None:
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
    out.print(table)


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
