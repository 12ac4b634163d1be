"""The results store on both backends: idempotent points, atomic claims across processes, leases, exactly-once
completion, and no finished point lost or rerun when a runner is killed."""

import multiprocessing
import os
import signal
import time
import uuid
from dataclasses import dataclass, field

import psycopg
import pytest

from ftscale.errors import InputError
from ftscale.sweeps.store import LeaseLost, Store, open_store
from ftscale.sweeps.store.url import with_sweep


@dataclass(frozen=True)
class FakePoint:
    id: str
    method: str = "lora"
    axes: tuple[str, ...] = ("model_size",)
    factors: dict = field(default_factory=lambda: {"train_size": 8})
    args: tuple[str, ...] = ("fit",)


def make_store(url: str, n: int) -> Store:
    store = open_store(url)
    store.add_points([FakePoint(f"p{i:03d}") for i in range(n)])
    return store


def claim_all(url: str, owner: str, out) -> None:
    """Claim (and finish) points until none is left; report the ids claimed."""
    store = open_store(url)
    claimed = []
    while (row := store.claim(owner, lease_s=60)) is not None:
        claimed.append(row["id"])
        store.finish(row["id"], owner, {"test/loss": 1.0})
    out.put((owner, claimed))


def finish_at_once(url: str, point_id: str, owner: str, barrier, out) -> None:
    store = open_store(url)
    barrier.wait()
    out.put((owner, store.finish(point_id, owner, {"test/loss": 1.0})))


def finish_some_then_hold(url: str, out) -> None:
    """A runner that finishes 3 points, then holds 2 leases until it is killed."""
    store = open_store(url)
    for _ in range(3):
        row = store.claim("victim", lease_s=60)
        store.finish(row["id"], "victim", {"by": "victim"})
    out.put([store.claim("victim", lease_s=1.0)["id"] for _ in range(2)])
    time.sleep(3600)


def drain_until_complete(url: str, owner: str, out) -> None:
    """A runner that claims until the sweep is complete, waiting for leases held by others to end."""
    store = open_store(url)
    claimed, deadline = [], time.monotonic() + 60
    while not store.is_complete() and time.monotonic() < deadline:
        row = store.claim(owner, lease_s=60)
        if row is None:
            time.sleep(0.05)
            continue
        claimed.append(row["id"])
        store.finish(row["id"], owner, {"by": owner})
    out.put((owner, claimed))


def run_processes(target, args_list: list[tuple], context=None) -> list:
    """Start one spawned process per args (each given a queue last), and return what each put on it."""
    context = context or multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [context.Process(target=target, args=(*args, out)) for args in args_list]
    for process in processes:
        process.start()
    results = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return results


def test_add_points_is_idempotent_and_keeps_results(url):
    store = make_store(url, 3)
    row = store.claim("a", lease_s=60)
    store.finish(row["id"], "a", {"test/loss": 2.5})
    assert store.add_points([FakePoint("p000", axes=("model_size", "pet_size")), FakePoint("p001")]) == 0
    first = store.get("p000")
    assert first["status"] == "done" and first["metrics"] == {"test/loss": 2.5}
    assert first["axes"] == ["model_size", "pet_size"]  # metadata refreshed, result kept
    assert [r["id"] for r in store.rows()] == ["p000", "p001", "p002"]
    assert store.counts() == {"pending": 2, "running": 0, "done": 1, "failed": 0}
    assert store.get("nope") is None


def test_claims_from_several_processes_take_each_point_exactly_once(url):
    store = make_store(url, 50)
    results = dict(run_processes(claim_all, [(url, f"w{i}") for i in range(4)]))
    claimed = [point for ids in results.values() for point in ids]
    assert sorted(claimed) == [f"p{i:03d}" for i in range(50)]
    assert all(row["status"] == "done" and row["attempts"] == 1 for row in store.rows())
    assert store.is_complete() and store.completed_by() in results


def test_a_killed_runner_loses_no_finished_point_and_none_is_rerun(url):
    store = make_store(url, 40)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    victim = context.Process(target=finish_some_then_hold, args=(url, out))
    victim.start()
    held = out.get(timeout=120)
    os.kill(victim.pid, signal.SIGKILL)  # mid-sweep: 3 points done, 2 leased, 35 pending
    victim.join(timeout=30)
    assert victim.exitcode == -signal.SIGKILL
    results = dict(run_processes(drain_until_complete, [(url, f"w{i}") for i in range(3)], context))
    claimed = [point for ids in results.values() for point in ids]
    rows = {row["id"]: row for row in store.rows()}
    by_victim = [key for key, row in rows.items() if row["metrics"]["by"] == "victim"]
    assert len(by_victim) == 3 and not set(by_victim) & set(claimed)  # finished points kept, never rerun
    assert sorted(claimed) == sorted(set(rows) - set(by_victim))  # every other point run once
    assert all(row["status"] == "done" for row in rows.values())
    assert {key: row["attempts"] for key, row in rows.items() if row["attempts"] != 1} == dict.fromkeys(held, 2)
    assert store.completed_by() in results


def test_completion_goes_to_exactly_one_of_the_processes_finishing_the_last_points(url):
    store = make_store(url, 10)
    for _ in range(6):
        row = store.claim("early", lease_s=60)
        assert not store.finish(row["id"], "early", {})
    owners = {store.claim(f"w{i}", lease_s=60)["id"]: f"w{i}" for i in range(4)}
    barrier = multiprocessing.get_context("spawn").Barrier(4)
    # Started in reverse claim order: the last points finish out of order, all at once.
    args = [(url, point, owner, barrier) for point, owner in reversed(owners.items())]
    results = dict(run_processes(finish_at_once, args))
    winners = [owner for owner, completed in results.items() if completed]
    assert len(winners) == 1
    assert store.completed_by() == winners[0] and store.is_complete()


def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(url):
    store = make_store(url, 1)
    assert store.claim("dead", lease_s=60)["id"] == "p000"
    assert store.claim("alive", lease_s=60) is None  # nothing else pending, and the lease holds
    assert store.heartbeat("p000", "dead", lease_s=-1)  # its last beat: the lease ran out a second ago
    row = store.claim("alive", lease_s=60)
    assert row["id"] == "p000" and row["attempts"] == 2 and row["lease_owner"] == "alive"
    with pytest.raises(LeaseLost):
        store.finish("p000", "dead", {"test/loss": 9.0})
    assert not store.heartbeat("p000", "dead", 60)
    assert store.finish("p000", "alive", {"test/loss": 1.0})
    assert store.get("p000")["metrics"] == {"test/loss": 1.0}


def test_heartbeat_keeps_the_lease(url):
    store = make_store(url, 1)
    store.claim("a", lease_s=-1)  # run out already: without a beat, the next claim takes the point
    assert store.heartbeat("p000", "a", lease_s=60)
    assert store.claim("b", lease_s=60) is None
    assert store.heartbeat("p000", "a", lease_s=-1) and store.claim("b", lease_s=60)["id"] == "p000"
    assert not store.heartbeat("p000", "a", lease_s=60)  # taken over: the old holder's beat is refused


def test_a_point_whose_runner_keeps_dying_fails_after_max_attempts(url):
    store = make_store(url, 1)
    for attempt in range(1, 4):
        row = store.claim(f"r{attempt}", lease_s=60, max_attempts=3)
        assert row["attempts"] == attempt
        store.expire("p000", f"r{attempt}")
    assert store.claim("r4", lease_s=60, max_attempts=3) is None
    row = store.get("p000")
    assert row["status"] == "failed" and "died" in row["error"] and row["attempts"] == 3
    assert store.completed_by() == "r4"  # failing the last point completed the sweep


def test_release_and_retry_failed_make_points_pending_again(url):
    store = make_store(url, 2)
    store.claim("a", lease_s=60)
    store.release("p000", "a")
    assert store.get("p000")["status"] == "pending" and store.get("p000")["attempts"] == 0
    for _ in range(2):
        row = store.claim("a", lease_s=60)
        store.fail(row["id"], "a", "ValueError: boom")
    assert store.is_complete() and store.completed_by() == "a"
    assert store.retry_failed() == 2
    assert store.counts()["pending"] == 2 and store.completed_by() is None
    assert all(row["error"] is None for row in store.rows())


def test_adding_points_to_a_complete_sweep_reopens_it(url):
    store = make_store(url, 1)
    row = store.claim("a", lease_s=60)
    assert store.finish(row["id"], "a", {})
    assert store.add_points([FakePoint("p000"), FakePoint("new")]) == 1  # the spec grew
    assert store.completed_by() is None and not store.is_complete()
    row = store.claim("b", lease_s=60)
    assert row["id"] == "new" and store.finish("new", "b", {}) and store.completed_by() == "b"


def test_claim_point_leases_only_that_point_and_only_when_free(url):
    store = make_store(url, 3)
    row = store.claim_point("p002", "a", lease_s=60)
    assert row["id"] == "p002" and row["lease_owner"] == "a" and row["attempts"] == 1
    assert store.claim_point("p002", "b", lease_s=60) is None  # held under a live lease
    assert store.claim("b", lease_s=60)["id"] == "p000"  # the others are still claimed in order
    store.finish("p002", "a", {"test/loss": 1.0})
    assert store.claim_point("p002", "b", lease_s=60) is None  # done: never rerun
    store.claim_point("p001", "dead", lease_s=-1)  # its lease ran out a second ago
    assert store.claim_point("p001", "b", lease_s=60)["attempts"] == 2  # an expired lease is taken over
    store.fail("p001", "b", "ValueError: boom")
    assert store.claim_point("p001", "c", lease_s=60) is None  # failed stays failed ...
    assert (
        store.retry_failed("p001") == 1 and store.claim_point("p001", "c", lease_s=60)["attempts"] == 1
    )  # unless retried
    with pytest.raises(InputError, match="no point 'nope'"):
        store.claim_point("nope", "a", lease_s=60)


def test_the_sweep_uid_is_made_once_and_the_same_for_every_opener(url):
    store = make_store(url, 1)
    again = open_store(store.url)  # `url` addresses the same sweep from any process
    assert again.sweep == store.sweep and again.sweep_uid() == store.sweep_uid()
    assert len(store.sweep_uid()) == 32 and again.get("p000")["id"] == "p000"


def test_a_postgres_store_whose_kept_connection_was_cut_reconnects(postgres_url):
    store = make_store(with_sweep(postgres_url, f"cut-{uuid.uuid4().hex[:8]}"), 2)
    assert store.claim("a", lease_s=60)["id"] == "p000"
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # as a server restart would
        cut = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert cut
    assert store.finish("p000", "a", {"test/loss": 1.0}) is False  # on a new connection, done once
    assert store.get("p000")["status"] == "done" and store.claim("a", lease_s=60)["id"] == "p001"
