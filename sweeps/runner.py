"""Running a sweep: put its points in the store, claim, run and record them until none is left, then fit the sweep
once (a task of the store). An interrupted run gives its points back: a rerun resumes them. An adaptive sweep
(`sweeps/adaptive.py`) is drained stage by stage: when a stage is settled, whichever runner finds it so runs the
selection after it (a task of the store, done once), which opens the next stage's points or ends the sweep."""

import contextlib
import io
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ftscale.configs import config_path
from ftscale.errors import InputError
from ftscale.sweeps.adaptive import Adaptive, plan_stages
from ftscale.sweeps.cores import threads_per_worker
from ftscale.sweeps.executors import Executor, Job, run_isolated
from ftscale.sweeps.interrupts import GRACE_S, INTERRUPTED, interruptible, sigint_ignored
from ftscale.sweeps.layout import (
    SPEC,
    SUPERSEDED,
    Target,
    mark_superseded,
    open_store,
    point_dir,
    point_run_id,
    set_aside,
)
from ftscale.sweeps.spec import SweepSpec, load_spec, point_cli_args
from ftscale.sweeps.stage_selection import decide
from ftscale.sweeps.store import LEASE_S, LeaseLost, Store, fit_when_due, lease_owner
from ftscale.sweeps.store.lease import is_dead_here, renewing
from ftscale.sweeps.store.stages import StageTask, select_when_due

CALLBACK = "ftscale.callbacks.ScalingLawCallback"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
LOG_TAIL = 30  # lines of a failed point's log kept with its error

# The sweep's fit, given by the caller (`reports.finalize.complete_sweep`; sweeps does not import reports), called as
# fit(sweep_dir, store=URL, wandb=MODE, fit_id=ID) by whichever process runs the store's fit task.
FitSweep = Callable[..., None]


def prepare_sweep(
    spec_path: str | Path,
    sweep_dir: str | Path | None = None,
    store: str | None = None,
    wandb: str | None = None,
    adaptive: Adaptive | None = None,
) -> tuple[SweepSpec, Target]:
    """Load a spec and put its points in its store (default dir `runs/sweeps/<name>`), with a copy of the spec.

    With `adaptive`, or for a store that holds an adaptive sweep already, the points are placed in their stages
    (`sweeps/adaptive.py`): InputError if the store's adaptive sweep has other settings or other points."""
    spec = load_spec(spec_path)
    target = Target(Path(sweep_dir or Path("runs") / "sweeps" / spec.name), store, wandb)
    target.sweep_dir.mkdir(parents=True, exist_ok=True)  # a PostgreSQL store makes no file in it
    # Opened for the spec's name first (and with the URL as given, whose password libpq then keeps): a store made
    # for another spec is refused before anything is written.
    results = open_store(target.sweep_dir, store, spec.name)
    stages = StageTask(results)
    settings = adaptive.settings() if adaptive is not None else stages.settings()
    plan = None if settings is None else plan_stages(spec, Adaptive.from_settings(settings))
    if plan is not None:
        stages.check_points(set(plan))  # before they are added: new points of a changed spec would be claimable
    results.add_points(spec.points())
    if plan is not None:
        stages.configure(settings, plan)
    (target.sweep_dir / SPEC).write_text(config_path(spec_path).read_text())  # the fit reads held_out rules from it
    return spec, target


def run_sweep(
    spec_path: str | Path,
    sweep_dir: str | Path | None = None,
    workers: int = 1,
    execute: Executor = run_isolated,
    fit: FitSweep | None = None,
    lease_s: float = LEASE_S,
    retry_failed: bool = False,
    pretrain: bool = True,
    show_progress: bool = True,
    store: str | None = None,
    wandb: str | None = None,
    placed: Sequence[Executor] = (),
    worker_setup: Callable[[], None] | None = None,
    adaptive: Adaptive | None = None,
) -> Store:
    """Run every pending point of a sweep (default dir `runs/sweeps/<name>`), then its fit if due; return its store.

    `execute` runs a point (default: a process of its own; the CLI gives `InProcess`). `placed` executors (e.g. one
    per disjoint GPU set, `sweeps/placement.py`) each drain the store in a thread of their own, so as many points
    run at once, each on its own devices; a point that dies frees them for the next.

    Done points are never rerun; failed ones only with `retry_failed`. `workers` runner processes share the store
    (with several, `execute`, `fit` and `worker_setup` must be picklable: module-level functions or partials of
    them); `worker_setup` runs first in each (and in each pretraining process). `pretrain` first pretrains
    (cached) every ladder checkpoint the points use, so runners never race on it. The sweep's fit (`fit`) runs
    once, in whichever process completes the sweep, or here if that process died. A Ctrl-C gives every point
    in flight back (pending, resumed from its last save by the next claim) and raises KeyboardInterrupt.

    `adaptive` makes it an adaptive sweep (`sweeps/adaptive.py`); a store that holds one goes on with it anyway.
    """
    if workers < 1:
        raise InputError(f"--workers={workers}: use at least 1")
    with interruptible():
        spec, target = prepare_sweep(spec_path, sweep_dir, store, wandb, adaptive)
        results = target.open()
        if retry_failed:
            results.retry_failed()
        if pretrain:
            pretrain_spec(spec, workers, worker_setup)
        kwargs = {"execute": execute, "lease_s": lease_s, "fit": fit}
        crashed: list[int] = []
        with _progress(results, spec.name, show_progress) as refresh:
            if placed:
                _run_threads(target, placed, refresh, kwargs)
            elif workers == 1:
                drain(target, on_point=refresh, **kwargs)
            else:
                crashed = _run_workers(target, workers, refresh, kwargs, worker_setup)
        fit_if_due(target, fit, store=results)  # e.g. a runner process that died fitting
        if crashed:
            raise RuntimeError(f"{len(crashed)} of {workers} runner processes crashed (exit codes {crashed})")
    return results


def run_point(
    spec_path: str | Path,
    point_id: str,
    sweep_dir: str | Path | None = None,
    execute: Executor = run_isolated,
    lease_s: float = LEASE_S,
    retry_failed: bool = False,
    fit: FitSweep | None = None,
    store: str | None = None,
    wandb: str | None = None,
) -> str:
    """Run one point of a sweep by id, leased in the store like a runner's, then the sweep's fit if it is due;
    return the point's status afterwards.

    A point that is done, or running under another runner's live lease, is left alone; a failed one runs
    again only with `retry_failed`. InputError if the spec has no such point.
    """
    with interruptible():
        _, target = prepare_sweep(spec_path, sweep_dir, store, wandb)
        results = target.open()
        if retry_failed:
            results.retry_failed(point_id)
        owner = lease_owner()
        row = results.claim_point(point_id, owner, lease_s)
        if row is not None:
            _run_claimed(results, row, target, owner, execute, lease_s, fit)
        select_if_due(target, fit, owner, results)  # an adaptive sweep's stage this point settled
        fit_if_due(target, fit, owner, results)  # its claim may have completed the sweep, or an earlier fit died
        return results.get(point_id)["status"]


def fit_if_due(target: Target, fit: FitSweep | None, owner: str | None = None, store: Store | None = None) -> bool:
    """Run the sweep's fit here if it is due (see `fit_when_due`; `owner`: the lease holder whose write completed
    the sweep); return whether it ran here. Nothing without a `fit`."""
    if fit is None:
        return False

    def run(fit_id: str) -> None:
        fit(target.sweep_dir, store=target.store, wandb=target.wandb, fit_id=fit_id)

    return fit_when_due(store or target.open(), run, owner)


def select_if_due(target: Target, fit: FitSweep | None, owner: str | None = None, store: Store | None = None) -> bool:
    """Run the selection after an adaptive sweep's settled stage here if it is due (see `select_when_due`), and the
    sweep's fit if the selection ended the sweep; return whether the selection ran here."""
    store = store or target.open()
    owner = owner or lease_owner()
    ran, completed = select_when_due(store, decide, owner)
    if completed:
        fit_if_due(target, fit, owner, store)
    return ran


def drain(
    target: Target,
    execute: Executor = run_isolated,
    lease_s: float = LEASE_S,
    fit: FitSweep | None = None,
    on_point: Callable[[], None] | None = None,
    stop: Any = None,
) -> int:
    """Claim and run points of a sweep's store until none is left, then run its fit if it is due; return how many
    points this runner ran. An adaptive sweep's selection after a settled stage runs here when this runner finds
    it due, and it waits while another runs it. `stop` (an Event) ends it before its next claim."""
    store = target.open()
    ran = 0
    while stop is None or not stop.is_set():
        owner = lease_owner()  # one per claim: a completion taken by a claim is told apart from a run's
        try:
            row = store.claim(owner, lease_s)
        except KeyboardInterrupt:  # the claim may have committed before the interrupt: give back what it took
            for held in store.rows():
                if held["status"] == "running" and held["lease_owner"] == owner:
                    store.release(held["id"], owner)
            raise
        if row is None:
            if select_if_due(target, fit, owner, store):
                continue  # the next stage's points are open, or the sweep ended
            if not store.counts()["running"] and not StageTask(store).busy():
                fit_if_due(target, fit, owner, store)  # the claim may have failed the sweep's last point
                break
            # Other runners still hold points (or the selection): take over those whose runner died, else wait.
            if not _expire_dead_local_runners(store):
                time.sleep(min(lease_s / 3, 1.0))
            if on_point is not None:
                on_point()
            continue
        _run_claimed(store, row, target, owner, execute, lease_s, fit, stop)
        ran += 1
        if on_point is not None:
            on_point()
    return ran


def _run_claimed(
    store: Store,
    row: dict,
    target: Target,
    owner: str,
    execute: Executor,
    lease_s: float,
    fit: FitSweep | None,
    stop: Any = None,
) -> None:
    """Run a point leased to `owner`: its ScalingLawCallback records it (and fits a sweep it completes); a run that
    fails before its Trainer exists, or ends recording nothing, is failed here, and a sweep that completes fitted
    the same way. An interrupted run is given back: pending, resumed from its last save by the next claim."""
    # What an earlier attempt that ended without a result left: its W&B run directory set aside (each run once),
    # its Lightning logs marked.
    directory = point_dir(target.sweep_dir, row["id"])
    job = _job(row, target, owner, stop)
    try:  # from the claim on: an interrupt anywhere gives the point back
        set_aside(target.sweep_dir, point_run_id(row["id"], store.sweep_uid()), directory / SUPERSEDED)
        mark_superseded(directory)
        with renewing(lambda: store.heartbeat(job.point_id, owner, lease_s), lease_s):
            execute(job)
        if store.get(job.point_id)["status"] == "running":
            raise RuntimeError("the run ended without recording a result (no test/ metrics)")
    except KeyboardInterrupt:
        store.release(job.point_id, owner)
        raise
    except Exception as error:
        completed = False
        with contextlib.suppress(LeaseLost):  # recorded by the callback already, or taken over by another runner
            completed = store.fail(job.point_id, owner, _error_text(error, job.log_path))
        if completed:
            fit_if_due(target, fit, owner, store)


def _expire_dead_local_runners(store: Store) -> int:
    """Expire the leases of runners that provably died on this machine (same boot id, pid gone) instead of waiting
    their leases out; a runner elsewhere, even under the same hostname, keeps its lease until it runs out."""
    expired = 0
    for row in store.rows():
        if row["status"] == "running" and is_dead_here(row["lease_owner"]):
            store.expire(row["id"], row["lease_owner"])
            expired += 1
    return expired


def point_args(row: dict, target: Target, owner: str | None = None) -> list[str]:
    """`ftscale` arguments that run a stored point into its directory with its `ScalingLawCallback` (`owner`: the
    lease a runner took for it; without one the callback claims the point itself). No password: see `Target`."""
    init = {"sweep_dir": str(target.sweep_dir), "point_id": row["id"]}
    init |= {k: v for k, v in (("store", target.store), ("owner", owner), ("wandb", target.wandb)) if v is not None}
    callback = json.dumps({"class_path": CALLBACK, "init_args": init})
    args = [*point_cli_args(row["args"], target.sweep_dir, row["id"]), *QUIET, f"--trainer.callbacks+={callback}"]
    return args + (["--wandb", target.wandb] if target.wandb is not None else [])


def _job(row: dict, target: Target, owner: str, stop: Any = None) -> Job:
    log_dir = point_dir(target.sweep_dir, row["id"])
    log_dir.mkdir(parents=True, exist_ok=True)
    return Job(row["id"], point_args(row, target, owner), owner, log_dir / "run.log", target, stop)


def _error_text(error: BaseException, log_path: Path) -> str:
    text = "".join(traceback.format_exception(error)).rstrip()
    if log_path.is_file():
        tail = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL:]
        if tail:
            text += f"\n--- last lines of {log_path} ---\n" + "\n".join(tail)
    return text


def _terminal() -> TextIO:
    """Today's stdout through a file descriptor of its own, so the point logs that fd 1 is sent to skip it."""
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    except (OSError, ValueError, io.UnsupportedOperation):  # stdout without a descriptor (e.g. captured)
        return sys.stdout


def _run_workers(
    target: Target, workers: int, refresh: Callable[[], None], kwargs: dict, setup: Callable[[], None] | None
) -> list[int]:
    """Drain the store in `workers` runner processes; return the exit codes of those that crashed. A Ctrl-C stops
    them all (each gives its point back) and is raised on, also one that reached only a runner process."""
    # Spawned, not forked: a fork of a process holding torch threads or an open SQLite handle is unsafe.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    threads = threads_per_worker(workers)
    processes = [
        context.Process(target=_drain_on, args=(target, threads, setup), kwargs=kwargs | {"stop": stop})
        for _ in range(workers)
    ]
    with sigint_ignored():  # they ignore Ctrl-C until their runner takes it over (`_drain_on`)
        for process in processes:
            process.start()
    try:
        while alive := [p.sentinel for p in processes if p.is_alive()]:
            refresh()
            wait_for(alive, timeout=0.5)
    except KeyboardInterrupt:
        _stop(processes, stop)
        raise
    for process in processes:
        process.join()
    refresh()
    if any(p.exitcode == INTERRUPTED for p in processes):
        raise KeyboardInterrupt  # a runner process was stopped by Ctrl-C: so is the sweep
    return [p.exitcode for p in processes if p.exitcode]


def _stop(processes: list, stop: Any) -> None:
    """Stop runner processes: no more claims, a SIGINT each (one that had the terminal's already ignores it), and
    GRACE_S to give their points back and exit before they are killed."""
    stop.set()
    for process in processes:
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _drain_on(target: Target, threads: int, setup: Callable[[], None] | None, **kwargs) -> None:
    """`drain` in a runner process whose points use `threads` torch threads, after `setup`; a Ctrl-C ends it with
    exit code 130 (its point given back) and no traceback."""
    import torch

    torch.set_num_threads(threads)
    if setup is not None:
        setup()
    try:
        with interruptible():
            drain(target, **kwargs)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)


def _run_threads(target: Target, executors: Sequence[Executor], refresh: Callable[[], None], kwargs: dict) -> None:
    # Threads suffice: each point runs in a subprocess of its own, a thread only waits for it.
    failures: list[BaseException] = []
    stop = threading.Event()

    def run(execute: Executor) -> None:
        try:
            drain(target, **(kwargs | {"execute": execute, "stop": stop}))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(execute,), daemon=True) for execute in executors]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            refresh()
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()  # each thread passes the interrupt on to its point's process (`run_isolated`) and gives it back
        for thread in threads:
            thread.join()
        raise
    refresh()
    if failures:
        raise failures[0]


def pretrain_spec(spec: SweepSpec, workers: int = 1, setup: Callable[[], None] | None = None) -> None:
    """Pretrain (cached) every ladder checkpoint the spec's points use, so runners never race on it; with
    `workers`, that many sizes at once, sharing this machine's cores, each process set up by `setup`."""
    from ftscale.ladder.pretrain import load_pretrain_config, pretrain_ladder

    if spec.ladder_sizes:  # a spec over Hugging Face models has nothing to pretrain
        config = replace(load_pretrain_config(spec.ladder), sizes=sorted(spec.ladder_sizes))
        pretrain_ladder(config, workers, threads_per_worker(min(workers, len(config.sizes))), setup)


@contextlib.contextmanager
def _progress(store: Store, name: str, show: bool) -> Iterator[Callable[[], None]]:
    """One overall bar (points done, failed and left, ETA); yields the function that refreshes it from the store."""
    columns = (
        TextColumn("sweep {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]} done, {task.fields[failed]} failed, {task.fields[left]} left"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    terminal = _terminal()
    # Long speed window: a point can take minutes, and the ETA should average over many of them.
    progress = Progress(*columns, console=Console(file=terminal), disable=not show, speed_estimate_period=3600)
    try:
        with progress:
            counts = store.counts()
            # Points settled before this run start the bar, so they do not count towards the speed (ETA).
            settled = counts["done"] + counts["failed"] + counts.get("skipped", 0)
            task = progress.add_task(name, total=sum(counts.values()), completed=settled, done=0, failed=0, left=0)

            def refresh() -> None:
                _update(progress, task, store.counts())

            _update(progress, task, counts)
            yield refresh
    finally:
        if terminal is not sys.stdout:
            terminal.close()


def _update(progress: Progress, task: TaskID, counts: dict[str, int]) -> None:
    settled = counts["done"] + counts["failed"] + counts.get("skipped", 0)
    left = counts["pending"] + counts["running"] + counts.get("held", 0)
    progress.update(task, completed=settled, done=counts["done"], failed=counts["failed"], left=left)
