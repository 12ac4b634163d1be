"""Runner identity: a lease names its holder's process, machine (boot id) and a random token, and is ended early
only when its holder is provably dead on this very machine -- never because a hostname matches."""

import os
import socket
import subprocess
import sys
from dataclasses import replace

from ftscale.sweeps.executors import Job
from ftscale.sweeps.layout import Target
from ftscale.sweeps.runner import drain
from ftscale.sweeps.store.lease import Owner, boot_id, is_dead_here, lease_owner
from tests.sweeps.test_store import make_store


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_an_owner_names_its_host_process_machine_and_a_random_token():
    first, second = lease_owner(), lease_owner()
    owner = Owner.parse(first)
    assert first != second and str(owner) == first
    assert (owner.host, owner.pid, owner.boot) == (socket.gethostname(), os.getpid(), boot_id())
    assert boot_id() and len(owner.token) == 16
    assert Owner.parse("host:123:a1b2c3d4") is None  # an older ftscale's owner: never proven dead


def test_a_holder_is_dead_only_when_it_ran_on_this_machine_and_its_pid_is_gone():
    me, gone = Owner.parse(lease_owner()), dead_pid()
    assert not is_dead_here(str(me))
    assert is_dead_here(str(replace(me, pid=gone)))
    assert not is_dead_here(str(replace(me, pid=gone, boot="another-machine")))  # same hostname, other machine
    assert not is_dead_here(str(replace(me, pid=gone, boot="")))  # no boot id: nothing is proven
    assert not is_dead_here("host:123:a1b2c3d4") and not is_dead_here(None)


def runs_here(ran: list[str]):
    def execute(job: Job) -> None:
        ran.append(job.point_id)
        job.target.open().finish(job.point_id, job.owner, {"by": "here"})

    return execute


def test_runners_that_share_a_hostname_but_not_a_machine_never_expire_each_others_points(url, tmp_path):
    store = make_store(url, 3)
    # A runner on another machine under this hostname holds p000 under a live lease; its pid means nothing here.
    other = str(Owner(socket.gethostname(), dead_pid(), "another-machine", "0123456789abcdef"))
    assert store.claim_point("p000", other, lease_s=600)["attempts"] == 1
    seen_waiting = []

    def other_finishes_once_this_runner_waits() -> None:  # called after each point and while the runner waits
        if store.counts()["done"] == 2 and store.get("p000")["status"] == "running":
            seen_waiting.append(store.get("p000")["lease_owner"])
            store.finish("p000", other, {"by": "other"})

    ran: list[str] = []
    drain(Target(tmp_path, url), execute=runs_here(ran), on_point=other_finishes_once_this_runner_waits)
    assert sorted(ran) == ["p001", "p002"] and seen_waiting == [other]
    assert store.get("p000")["metrics"] == {"by": "other"} and store.get("p000")["attempts"] == 1


def test_a_point_whose_holder_died_on_this_machine_is_taken_over_at_once(url, tmp_path):
    store = make_store(url, 2)
    died_here = str(replace(Owner.parse(lease_owner()), pid=dead_pid()))
    store.claim_point("p000", died_here, lease_s=600)
    ran: list[str] = []
    drain(Target(tmp_path, url), execute=runs_here(ran))  # its lease has ten minutes left
    assert sorted(ran) == ["p000", "p001"] and store.get("p000")["attempts"] == 2
