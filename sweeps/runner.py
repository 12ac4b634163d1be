"""Running a sweep: put its points in the store, then claim, run and record them until none are left."""

import contextlib
import io
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ftscale.callbacks.scaling_law import LEASE_S, lease_owner
from ftscale.sweeps.cores import threads_per_worker
from ftscale.sweeps.layout import SPEC, open_store, point_dir
from ftscale.sweeps.spec import SweepSpec, load_spec, point_cli_args
from ftscale.sweeps.store import LeaseLost, Store

CALLBACK = "ftscale.callbacks.ScalingLawCallback"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
LOG_TAIL = 30  # lines of a failed point's log kept with its error


@dataclass(frozen=True)
class Job:
    """One claimed point, ready to run: `args` runs it with `ftscale fit`, its `ScalingLawCallback` included."""

    point_id: str
    args: list[str]
    owner: str
    log_path: Path
    target: "Target"


Executor = Callable[[Job], None]  # runs a job, whose callback records its result; raises if the run failed
# Called with the sweep directory when a failure the runner itself recorded (a run that died before its Trainer
# existed, or a point whose runners died too often) completed the sweep; the callback covers every other case.
OnComplete = Callable[[Path], None]


def run_in_process(job: Job) -> None:
    """Run a point in this process (imports are paid once per runner), its output into the point's log."""
    from ftscale.cli.main import main

    argv = sys.argv
    sys.argv = argv[:1]  # LightningCLI warns when given args while sys.argv holds the runner's own
    try:
        with _output_to(job.log_path):
            code = main(job.args)
    except SystemExit as exit_:  # --help and --print_config exit
        code = exit_.code
    finally:
        sys.argv = argv
    if code:
        raise RuntimeError(f"ftscale fit exited with {code}: {_reason(job.log_path)}")


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send stdout and stderr into a file: Python's, logging handlers' and native code's (file descriptors 1, 2)."""
    with open(path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        for stream in (sys.__stdout__, sys.__stderr__):
            stream.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            for stream in (sys.__stdout__, sys.__stderr__, log):
                stream.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def _terminal() -> TextIO:
    """Today's stdout through a file descriptor of its own, so the point logs that fd 1 is sent to skip it."""
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    except (OSError, ValueError, io.UnsupportedOperation):  # stdout without a descriptor (e.g. captured)
        return sys.stdout


def run_isolated(job: Job, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> None:
    """Run a point in its own `python -m ftscale.cli fit` process (memory freed after, crashes contained), with
    `env` added to this process's environment and `extra` arguments after the point's."""
    with open(job.log_path, "a") as log:
        command = [sys.executable, "-m", "ftscale.cli", *job.args, *extra]
        code = subprocess.run(command, stdout=log, stderr=log, env=os.environ | (env or {})).returncode
    if code:
        raise RuntimeError(f"ftscale fit exited with {code}: {_reason(job.log_path)}")


def _reason(log_path: Path) -> str:
    """Why a run exited, from its log: the last `error:` message (ftscale's and jsonargparse's), else the last line."""
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    start = max((i for i, line in enumerate(lines) if line.startswith("error:")), default=len(lines) - 1)
    return " ".join(lines[start:])[:500] if lines else "(nothing logged)"


@dataclass(frozen=True)
class Target:
    """Where a sweep's points run and record: its directory, its store (URL; None: the directory's SQLite file)
    and the W&B mode its runs and its fit log with."""

    sweep_dir: Path
    store: str | None = None
    wandb: str | None = None

    def open(self) -> Store:
        return open_store(self.sweep_dir, self.store)


def prepare_sweep(
    spec_path: str | Path, sweep_dir: str | Path | None = None, store: str | None = None, wandb: str | None = None
) -> tuple[SweepSpec, Target]:
    """Load a spec and put its points in its store (default dir `runs/sweeps/<name>`), with a copy of the spec."""
    spec = load_spec(spec_path)
    target = Target(Path(sweep_dir or Path("runs") / "sweeps" / spec.name), store, wandb)
    target.sweep_dir.mkdir(parents=True, exist_ok=True)  # a PostgreSQL store makes no file in it
    # Opened for the spec's name first: a store made for another spec is refused before anything is written.
    open_store(target.sweep_dir, store, spec.name).add_points(spec.points())
    (target.sweep_dir / SPEC).write_text(Path(spec_path).read_text())  # the fit reads held_out rules from it
    return spec, target


def run_sweep(
    spec_path: str | Path,
    sweep_dir: str | Path | None = None,
    workers: int = 1,
    isolate: bool = False,
    on_complete: OnComplete | None = None,
    execute: Executor | None = None,
    lease_s: float = LEASE_S,
    retry_failed: bool = False,
    pretrain: bool = True,
    show_progress: bool = True,
    store: str | None = None,
    wandb: str | None = None,
    placed: Sequence[Executor] = (),
) -> Store:
    """Run every pending point of a sweep (default dir `runs/sweeps/<name>`); return its results store.

    `placed` executors (e.g. one per disjoint GPU set, `sweeps/placement.py`) each drain the store in a thread of
    their own, so as many points run at once, each on its own devices; a point that dies frees them for the next.

    Done points are never rerun; failed ones only with `retry_failed`. `workers` runner processes share
    the store (with several, `on_complete` and `execute` must be picklable: module-level functions or
    partials of them). `pretrain` first pretrains (cached) every ladder checkpoint the points use, so
    runners never race on it.
    """
    if workers < 1:
        raise ValueError(f"--workers={workers}: use at least 1")
    spec, target = prepare_sweep(spec_path, sweep_dir, store, wandb)
    results = target.open()
    if retry_failed:
        results.retry_failed()
    if pretrain:
        pretrain_spec(spec, workers)
    execute = execute or (run_isolated if isolate else run_in_process)
    kwargs = {"execute": execute, "lease_s": lease_s, "on_complete": on_complete}
    with _progress(results, spec.name, show_progress) as refresh:
        if placed:
            _run_threads(target, placed, refresh, kwargs)
        elif workers == 1:
            drain(target, on_point=refresh, **kwargs)
        else:
            _run_workers(target, workers, refresh, kwargs)
    return results


def run_point(
    spec_path: str | Path,
    point_id: str,
    sweep_dir: str | Path | None = None,
    execute: Executor = run_in_process,
    lease_s: float = LEASE_S,
    retry_failed: bool = False,
    on_complete: OnComplete | None = None,
    store: str | None = None,
    wandb: str | None = None,
) -> str:
    """Run one point of a sweep by id, leased in the store like a runner's; return its status afterwards.

    A point that is done, or running under another runner's live lease, is left alone; a failed one runs
    again only with `retry_failed`. KeyError if the spec has no such point.
    """
    _, target = prepare_sweep(spec_path, sweep_dir, store, wandb)
    results = target.open()
    if retry_failed:
        results.retry_failed(point_id)
    owner = lease_owner()
    row = results.claim_point(point_id, owner, lease_s)
    if row is not None:
        _run_claimed(results, row, target, owner, execute, lease_s, on_complete)
    elif on_complete is not None and results.completed_by() == owner:
        on_complete(target.sweep_dir)  # the claim failed a point whose runners died too often, the sweep's last
    return results.get(point_id)["status"]


def drain(
    target: Target,
    execute: Executor = run_in_process,
    lease_s: float = LEASE_S,
    on_complete: OnComplete | None = None,
    on_point: Callable[[], None] | None = None,
) -> int:
    """Claim and run points of a sweep's store until none is left; return how many this runner ran."""
    store = target.open()
    ran = 0
    while True:
        owner = lease_owner()  # one per claim: a completion taken by a claim is told apart from a run's
        row = store.claim(owner, lease_s)
        if row is None:
            if on_complete is not None and store.completed_by() == owner:
                on_complete(target.sweep_dir)  # the claim failed a dead point, and that completed the sweep
            if not store.counts()["running"]:
                break
            # Other runners still hold points: take over those whose runner died, else wait for them.
            if not _expire_dead_local_runners(store):
                time.sleep(min(lease_s / 3, 1.0))
            if on_point is not None:
                on_point()
            continue
        _run_claimed(store, row, target, owner, execute, lease_s, on_complete)
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
    on_complete: OnComplete | None,
) -> None:
    """Run a point leased to `owner`: its ScalingLawCallback records it (and fits a sweep it completes); a run
    that fails before its Trainer exists, or ends recording nothing, is failed here through the same path."""
    job = _job(row, target, owner)
    try:
        with _heartbeat(store, job.point_id, owner, lease_s):
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
        if completed and on_complete is not None:
            on_complete(target.sweep_dir)


def _expire_dead_local_runners(store: Store) -> int:
    """Expire the leases of runners on this host whose process is gone (killed), instead of waiting them out."""
    host, expired = socket.gethostname(), 0
    for row in store.rows():
        name, _, rest = (row["lease_owner"] or "").partition(":")
        pid = rest.partition(":")[0]
        if row["status"] == "running" and name == host and pid.isdigit() and not _alive(int(pid)):
            store.expire(row["id"], row["lease_owner"])
            expired += 1
    return expired


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def point_args(row: dict, target: Target, owner: str | None = None) -> list[str]:
    """`ftscale` arguments that run a stored point into its directory with its `ScalingLawCallback` (`owner`: the
    lease a runner took for it; without one the callback claims the point itself)."""
    init = {"sweep_dir": str(target.sweep_dir), "point_id": row["id"]}
    init |= {k: v for k, v in (("store", target.store), ("owner", owner), ("wandb", target.wandb)) if v is not None}
    callback = json.dumps({"class_path": CALLBACK, "init_args": init})
    args = [*point_cli_args(row["args"], target.sweep_dir, row["id"]), *QUIET, f"--trainer.callbacks+={callback}"]
    return args + (["--wandb", target.wandb] if target.wandb is not None else [])


def _job(row: dict, target: Target, owner: str) -> Job:
    log_dir = point_dir(target.sweep_dir, row["id"])
    log_dir.mkdir(parents=True, exist_ok=True)
    return Job(row["id"], point_args(row, target, owner), owner, log_dir / "run.log", target)


@contextlib.contextmanager
def _heartbeat(store: Store, point_id: str, owner: str, lease_s: float) -> Iterator[None]:
    """Keep renewing the lease while the point runs; a runner that dies stops renewing, so its point expires."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 3):
            with contextlib.suppress(Exception):  # a busy or unreachable store: try again at the next beat
                store.heartbeat(point_id, owner, lease_s)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _error_text(error: BaseException, log_path: Path) -> str:
    text = "".join(traceback.format_exception(error)).rstrip()
    if log_path.is_file():
        tail = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL:]
        if tail:
            text += f"\n--- last lines of {log_path} ---\n" + "\n".join(tail)
    return text


def _run_workers(target: Target, workers: int, refresh: Callable[[], None], kwargs: dict) -> None:
    # Spawned, not forked: a fork of a process holding torch threads or an open SQLite handle is unsafe.
    context = multiprocessing.get_context("spawn")
    threads = threads_per_worker(workers)
    processes = [context.Process(target=_drain_on, args=(target, threads), kwargs=kwargs) for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            refresh()
            time.sleep(0.5)
    finally:
        for process in processes:
            process.join()
    refresh()
    crashed = [p.exitcode for p in processes if p.exitcode]
    if crashed:
        raise RuntimeError(f"{len(crashed)} of {workers} runner processes crashed (exit codes {crashed})")


def _drain_on(target: Target, threads: int, **kwargs) -> int:
    """`drain` in a runner process whose points use `threads` torch threads."""
    import torch

    torch.set_num_threads(threads)
    return drain(target, **kwargs)


def _run_threads(target: Target, executors: Sequence[Executor], refresh: Callable[[], None], kwargs: dict) -> None:
    # Threads suffice: each point runs in a subprocess of its own, a thread only waits for it.
    failures: list[BaseException] = []

    def run(execute: Executor) -> None:
        try:
            drain(target, **(kwargs | {"execute": execute}))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(execute,), daemon=True) for execute in executors]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        refresh()
        time.sleep(0.5)
    refresh()
    if failures:
        raise failures[0]


def pretrain_spec(spec: SweepSpec, workers: int = 1) -> None:
    """Pretrain (cached) every ladder checkpoint the spec's points use, so runners never race on it; with
    `workers`, that many sizes at once, sharing this machine's cores."""
    from ftscale.backbones.pretrain import load_pretrain_config, pretrain_ladder
    from ftscale.cli.main import quiet_libraries

    if spec.ladder_sizes:  # a spec over Hugging Face models has nothing to pretrain
        config = replace(load_pretrain_config(spec.ladder), sizes=sorted(spec.ladder_sizes))
        pretrain_ladder(config, workers, threads_per_worker(min(workers, len(config.sizes))), quiet_libraries)


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
            settled = counts["done"] + counts["failed"]
            task = progress.add_task(name, total=sum(counts.values()), completed=settled, done=0, failed=0, left=0)

            def refresh() -> None:
                _update(progress, task, store.counts())

            _update(progress, task, counts)
            yield refresh
    finally:
        if terminal is not sys.stdout:
            terminal.close()


def _update(progress: Progress, task: TaskID, counts: dict[str, int]) -> None:
    settled = counts["done"] + counts["failed"]
    left = counts["pending"] + counts["running"]
    progress.update(task, completed=settled, done=counts["done"], failed=counts["failed"], left=left)
