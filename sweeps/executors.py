"""How one claimed point is run: in this process (imports paid once) or in a process of its own; either way its
output goes to the point's log, a failure raises its cause, and an interrupt raises KeyboardInterrupt."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftscale.sweeps.interrupts import GRACE_S, INTERRUPTED, interruptible
from ftscale.sweeps.layout import Target

TRACEBACK = "Traceback (most recent call last):"


@dataclass(frozen=True)
class Job:
    """One claimed point, ready to run: `args` runs it with `ftscale fit`, its `ScalingLawCallback` included;
    `stop` (if given) is set when the runner is interrupted in another thread than the one running the job."""

    point_id: str
    args: list[str]
    owner: str
    log_path: Path
    target: Target
    stop: Any = None  # a threading or multiprocessing Event


Executor = Callable[[Job], None]  # runs a job, whose callback records its result; raises if the run failed


@dataclass(frozen=True)
class InProcess:
    """Runs a point in this process with `run`, the CLI's `ftscale fit` entry (`ftscale.cli.lightning.main`; given
    by the caller, as sweeps does not import the CLI): imports are paid once per runner. The run's own exception
    is raised (its traceback also written to the point's log); an interrupt (also Lightning's `sys.exit(1)` for
    one) as KeyboardInterrupt."""

    run: Callable[[list[str]], int | None]

    def __call__(self, job: Job) -> None:
        argv = sys.argv
        sys.argv = argv[:1]  # LightningCLI warns when given args while sys.argv holds the runner's own
        try:
            with _output_to(job.log_path), interruptible():
                try:
                    code = self.run(job.args)
                except Exception:
                    traceback.print_exc()  # into the point's log, whose tail the store keeps with the error
                    raise
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


def run_isolated(job: Job, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> None:
    """Run a point in its own `python -m ftscale.cli fit` process (memory freed after, crashes contained), with
    `env` added to this process's environment and `extra` arguments after the point's.

    The process has a process group of its own: a Ctrl-C reaches it from this runner alone, which passes it on
    and gives it `GRACE_S` to save its state and exit (KeyboardInterrupt here). Any other exception while it runs
    (e.g. submitit's SystemExit on a requeue) kills it.
    """
    with open(job.log_path, "a") as log:
        command = [sys.executable, "-m", "ftscale.cli", *job.args, *extra]
        process = subprocess.Popen(command, stdout=log, stderr=log, env=os.environ | (env or {}), process_group=0)
        code = _wait(process, job.stop)
    if code in (INTERRUPTED, -signal.SIGINT):
        raise KeyboardInterrupt  # it was stopped by a SIGINT of its own
    if code:
        raise RuntimeError(f"ftscale fit exited with {code}: {_reason(job.log_path)}")


def _wait(process: subprocess.Popen, stop: Any) -> int:
    """The point process's exit code; on an interrupt (here, or `stop` set by the thread that received it) the
    process is told with SIGINT, waited for up to GRACE_S, then killed, and KeyboardInterrupt raised."""
    try:
        while True:
            try:
                return process.wait(timeout=None if stop is None else 0.5)
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    raise KeyboardInterrupt from None
    except KeyboardInterrupt:
        with contextlib.suppress(ProcessLookupError):  # to its group: all of a point's processes (its ranks)
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    except BaseException:
        process.kill()
        process.wait()
        raise


def _reason(log_path: Path) -> str:
    """Why a run exited, from its log: the last `error:` message (ftscale's and jsonargparse's), else the exception
    line of the last traceback, else the last line."""
    lines = [line.rstrip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    if not lines:
        return "(nothing logged)"
    error = max((i for i, line in enumerate(lines) if line.startswith("error:")), default=None)
    if error is not None:
        return " ".join(line.strip() for line in lines[error:])[:500]
    start = max((i for i, line in enumerate(lines) if line.startswith(TRACEBACK)), default=None)
    if start is not None:  # the exception line: the first unindented line after the frames
        return next((line for line in lines[start + 1 :] if not line.startswith(" ")), lines[-1])[:500]
    return lines[-1][:500]
