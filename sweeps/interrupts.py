"""Ctrl-C is no failure: the first SIGINT of a process stops its work as one KeyboardInterrupt (later ones are ignored
while it stops), also where Lightning turns an interrupt into `sys.exit(1)`; training defers it to a step's end,
where its state is whole; processes it starts hear of an interrupt from it, not from the terminal."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

INTERRUPTED = 130  # the exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report one
GRACE_S = 30.0  # how long a process told to stop may take to save its state and exit before it is killed

_fired = False  # this process received its first SIGINT (and is stopping)
_depth = 0
_deferring = 0


def _on_sigint(signum: int, frame: object) -> None:
    global _fired
    if not _fired:
        _fired = True
        if not _deferring:
            raise KeyboardInterrupt


def pending() -> bool:
    """Whether a SIGINT arrived (within `deferred`: one that is still to be raised)."""
    return _fired


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within (e.g. training, `callbacks/resume.py`), the first SIGINT is only recorded: the code checks `pending()`
    where its state is whole (a step's end) and raises KeyboardInterrupt there itself."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within: the first SIGINT raises KeyboardInterrupt and later ones are ignored (the first is being handled, e.g.
    points released in the store); a SystemExit raised for it (Lightning ends an interrupted run with
    `sys.exit(1)`) leaves the block as KeyboardInterrupt. Nests; signals are handled in the main thread only."""
    global _depth, _fired
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _on_sigint) if main else None
    _depth += 1
    try:
        yield
    except SystemExit:
        if _fired:
            raise KeyboardInterrupt from None
        raise
    finally:
        _depth -= 1
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)
        if _depth == 0:
            _fired = False


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored within (main thread only): a process started here starts ignoring it, so that an early
    Ctrl-C, while it still imports, stops it through its parent and not with a traceback of its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
