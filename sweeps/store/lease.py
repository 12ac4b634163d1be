"""Who holds a lease, and how long: lease owners that name their process and machine, and the heartbeat that
keeps a lease while its holder lives.

An owner is `HOST:PID:BOOT:TOKEN`: the host is for people; PID and BOOT (the kernel's boot id, the same for
every container of one running kernel) let a runner on the same machine prove the holder dead; TOKEN is random,
so no two owners are equal, also on machines that share a hostname.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LEASE_S = 120.0  # renewed every third of it while the holder lives, so only a dead holder's lease runs out
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This machine's identity while it runs: the kernel's boot id ('' where there is none, e.g. not Linux)."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Owner:
    """A lease holder: a process (pid) of one running machine (boot id), with a random token."""

    host: str
    pid: int
    boot: str
    token: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.boot}:{self.token}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        """The owner a lease names; None for anything else (e.g. owners of older ftscale versions)."""
        parts = (text or "").split(":")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])

    def is_dead_here(self) -> bool:
        """Whether this holder is provably dead: it ran on this very machine (same boot id) and its pid is gone.

        A hostname alone proves nothing: containers and nodes can share one.
        """
        return bool(self.boot) and self.boot == boot_id() and not _alive(self.pid)


def lease_owner() -> str:
    """A new owner for this process: its host, pid and machine, and a random token of its own."""
    return str(Owner(socket.gethostname(), os.getpid(), boot_id(), secrets.token_hex(8)))


def is_dead_here(owner: str | None) -> bool:
    """Whether the lease holder `owner` is provably dead (see `Owner.is_dead_here`); False if unsure."""
    parsed = Owner.parse(owner)
    return parsed is not None and parsed.is_dead_here()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


@contextlib.contextmanager
def renewing(renew: Callable[[], object], lease_s: float = LEASE_S) -> Iterator[None]:
    """Call `renew` every third of `lease_s` in a thread while the block runs (a holder that dies stops renewing,
    so its lease runs out); a busy or unreachable store is tried again at the next beat."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 3):
            with contextlib.suppress(Exception):
                renew()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
