"""Running a sweep: put its points in the store, then claim, run and record them until none are left."""

import contextlib
import io
import json
import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ftscale.sweeps.spec import SweepSpec, load_spec, point_cli_args, point_dir
from ftscale.sweeps.store import LeaseLost, Store

STORE = "results.sqlite"
SPEC = "spec.yaml"  # the runner's copy of the spec: a sweep directory describes itself
LEASE_S = 120.0  # renewed every third of it while a point runs, so only a dead runner's points expire
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
LOG_TAIL = 30  # lines of a failed point's log kept with its error


@dataclass(frozen=True)
class Job:
    """One claimed point, ready to run: `args` runs it with `ftscale fit`, RecordResult included."""

    point_id: str
    args: list[str]
    store_path: Path
    owner: str
    log_path: Path


Executor = Callable[[Job], None]  # runs a job, which records its own result; raises if the run failed
OnComplete = Callable[[Path], None]  # called with the sweep directory once the sweep is complete
OnDone = Callable[[Path, str], None]  # called with the sweep directory and a point's id once the point is done


def run_in_process(job: Job) -> None:
    """Run a point in this process (imports are paid once per runner), its output into the point's log."""
    from ftscale.sweeps.cli import quiet_libraries
    from ftscale.sweeps.lightning_cli import FtscaleCLI

    quiet_libraries()
    argv = sys.argv
    sys.argv = argv[:1]  # LightningCLI warns when given args while sys.argv holds the runner's own
    try:
        with _output_to(job.log_path):
            FtscaleCLI(job.args)
    except SystemExit as exit_:  # jsonargparse reports bad arguments by exiting
        if exit_.code:
            raise RuntimeError(f"ftscale fit exited with {exit_.code}: {_reason(job.log_path)}") from None
    finally:
        sys.argv = argv


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


def run_isolated(job: Job) -> None:
    """Run a point in its own `python -m ftscale.sweeps.cli fit` process (memory freed after, crashes contained)."""
    with open(job.log_path, "a") as log:
        code = subprocess.run(
            [sys.executable, "-m", "ftscale.sweeps.cli", *job.args], stdout=log, stderr=log
        ).returncode
    if code:
        raise RuntimeError(f"ftscale fit exited with {code}: {_reason(job.log_path)}")


def _reason(log_path: Path) -> str:
    """Why a run exited, from its log: the last `error:` message (ftscale's and jsonargparse's), else the last line."""
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    start = max((i for i, line in enumerate(lines) if line.startswith("error:")), default=len(lines) - 1)
    return " ".join(lines[start:])[:500] if lines else "(nothing logged)"


def prepare_sweep(spec_path: str | Path, sweep_dir: str | Path | None = None) -> tuple[SweepSpec, Path, Store]:
    """Load a spec and put its points in the store of `sweep_dir` (default `runs/sweeps/<name>`), a copy beside it."""
    spec = load_spec(spec_path)
    sweep_dir = Path(sweep_dir or Path("runs") / "sweeps" / spec.name)
    store = Store(sweep_dir / STORE)
    store.add_points(spec.points())
    (sweep_dir / SPEC).write_text(Path(spec_path).read_text())  # the fit reads held_out rules from it
    return spec, sweep_dir, store


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
    on_done: OnDone | None = None,
) -> Store:
    """Run every pending point of a sweep (default dir `runs/sweeps/<name>`); return its results store.

    Done points are never rerun; failed ones only with `retry_failed`. `workers` runner processes share
    the store; `on_done(sweep_dir, point_id)` runs after each point a runner finished, `on_complete(sweep_dir)`
    exactly once per sweep, in whichever process completes it (with several workers, the hooks and `execute`
    must be picklable: module-level functions or partials of them).
    `pretrain` first pretrains (cached) every ladder checkpoint the points use, so runners never race on it.
    """
    if workers < 1:
        raise ValueError(f"--workers={workers}: use at least 1")
    spec, sweep_dir, store = prepare_sweep(spec_path, sweep_dir)
    if retry_failed:
        store.retry_failed()
    if pretrain:
        _pretrain(spec)
    execute = execute or (run_isolated if isolate else run_in_process)
    kwargs = {"execute": execute, "lease_s": lease_s, "on_complete": on_complete, "on_done": on_done}
    with _progress(store, spec.name, show_progress) as refresh:
        if workers == 1:
            drain(sweep_dir, on_point=refresh, **kwargs)
        else:
            _run_workers(sweep_dir, workers, refresh, kwargs)
    return store


def run_point(
    spec_path: str | Path,
    point_id: str,
    sweep_dir: str | Path | None = None,
    execute: Executor = run_in_process,
    lease_s: float = LEASE_S,
    retry_failed: bool = False,
    on_done: OnDone | None = None,
    on_complete: OnComplete | None = None,
) -> str:
    """Run one point of a sweep by id, leased in the store like a runner's; return its status afterwards.

    A point that is done, or running under another runner's live lease, is left alone; a failed one runs
    again only with `retry_failed`. KeyError if the spec has no such point.
    """
    _, sweep_dir, store = prepare_sweep(spec_path, sweep_dir)
    if retry_failed:
        store.retry_failed(point_id)
    owner = _owner()
    row = store.claim_point(point_id, owner, lease_s)
    if row is not None:
        _run_claimed(store, row, sweep_dir, owner, execute, lease_s, on_done)
        if on_complete is not None and store.completed_by() == owner:
            on_complete(sweep_dir)
    return store.get(point_id)["status"]


def drain(
    sweep_dir: str | Path,
    execute: Executor = run_in_process,
    lease_s: float = LEASE_S,
    on_complete: OnComplete | None = None,
    on_point: Callable[[], None] | None = None,
    on_done: OnDone | None = None,
) -> int:
    """Claim and run points of a sweep directory's store until none is left; return how many this runner ran."""
    sweep_dir = Path(sweep_dir)
    store = Store(sweep_dir / STORE)
    owner = _owner()
    ran = 0
    while True:
        row = store.claim(owner, lease_s)
        if row is None:
            if not store.counts()["running"]:
                break
            # Other runners still hold points: take over those whose runner died, else wait for them.
            if not _expire_dead_local_runners(store):
                time.sleep(min(lease_s / 3, 1.0))
            if on_point is not None:
                on_point()
            continue
        _run_claimed(store, row, sweep_dir, owner, execute, lease_s, on_done)
        ran += 1
        if on_point is not None:
            on_point()
    # The write that completed the sweep was this runner's (the store decides it atomically, once).
    if on_complete is not None and store.completed_by() == owner:
        on_complete(sweep_dir)
    return ran


def _run_claimed(
    store: Store, row: dict, sweep_dir: Path, owner: str, execute: Executor, lease_s: float, on_done: OnDone | None
) -> None:
    """Run a point leased to `owner` and settle it: done by its own RecordResult, else failed with the error."""
    job = _job(row, sweep_dir, store.path, owner)
    try:
        with _heartbeat(store, job.point_id, owner, lease_s):
            execute(job)
        if store.get(job.point_id)["status"] == "running":
            raise RuntimeError("the run ended without recording a result (no test/ metrics)")
    except KeyboardInterrupt:
        store.release(job.point_id, owner)
        raise
    except Exception as error:
        with contextlib.suppress(LeaseLost):  # another runner took the point over: its outcome counts
            store.fail(job.point_id, owner, _error_text(error, job.log_path))
        return
    if on_done is not None:
        on_done(sweep_dir, job.point_id)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


def _job(row: dict, sweep_dir: Path, store_path: Path, owner: str) -> Job:
    point_id = row["id"]
    record = {
        "class_path": "ftscale.callbacks.record_result.RecordResult",
        "init_args": {"store_path": str(store_path), "point_id": point_id, "owner": owner},
    }
    args = [*point_cli_args(row["args"], sweep_dir, point_id), *QUIET, f"--trainer.callbacks+={json.dumps(record)}"]
    log_dir = point_dir(sweep_dir, point_id)
    log_dir.mkdir(parents=True, exist_ok=True)
    return Job(point_id, args, store_path, owner, log_dir / "run.log")


@contextlib.contextmanager
def _heartbeat(store: Store, point_id: str, owner: str, lease_s: float) -> Iterator[None]:
    """Keep renewing the lease while the point runs; a runner that dies stops renewing, so its point expires."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 3):
            with contextlib.suppress(sqlite3.OperationalError):  # busy past the timeout: try again next beat
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


def _run_workers(sweep_dir: Path, workers: int, refresh: Callable[[], None], kwargs: dict) -> None:
    # Spawned, not forked: a fork of a process holding torch threads or an open SQLite handle is unsafe.
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=drain, args=(sweep_dir,), kwargs=kwargs) for _ in range(workers)]
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


def _pretrain(spec: SweepSpec) -> None:
    from ftscale.backbones.pretrain import load_pretrain_config, pretrain_ladder

    sizes = sorted({size for size in (*spec.model_sizes, spec.default_size) if size})
    pretrain_ladder(replace(load_pretrain_config(spec.ladder), sizes=sizes))


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
