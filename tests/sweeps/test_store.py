"""The results store: idempotent points, atomic claims across processes, leases, and exactly-once completion."""

import multiprocessing
import sqlite3
import time
from dataclasses import dataclass, field

import pytest

from ftscale.sweeps.store import LeaseLost, Store


@dataclass(frozen=True)
class FakePoint:
    id: str
    method: str = "lora"
    axes: tuple[str, ...] = ("model_size",)
    factors: dict = field(default_factory=lambda: {"train_size": 8})
    args: tuple[str, ...] = ("fit",)


def make_store(tmp_path, n: int) -> Store:
    store = Store(tmp_path / "results.sqlite")
    store.add_points([FakePoint(f"p{i:03d}") for i in range(n)])
    return store


def claim_all(path: str, owner: str, out) -> None:
    """Claim (and finish) points until none is left; report the ids claimed."""
    store = Store(path)
    claimed = []
    while (row := store.claim(owner, lease_s=60)) is not None:
        claimed.append(row["id"])
        store.finish(row["id"], owner, {"test/loss": 1.0})
    out.put((owner, claimed))


def finish_at_once(path: str, point_id: str, owner: str, barrier, out) -> None:
    store = Store(path)
    barrier.wait()
    out.put((owner, store.finish(point_id, owner, {"test/loss": 1.0})))


def test_store_is_wal_and_add_points_is_idempotent(tmp_path):
    store = make_store(tmp_path, 3)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    row = store.claim("a", lease_s=60)
    store.finish(row["id"], "a", {"test/loss": 2.5})
    assert store.add_points([FakePoint("p000", axes=("model_size", "pet_size")), FakePoint("p001")]) == 0
    first = store.get("p000")
    assert first["status"] == "done" and first["metrics"] == {"test/loss": 2.5}
    assert first["axes"] == ["model_size", "pet_size"]  # metadata refreshed, result kept
    assert [r["id"] for r in store.rows()] == ["p000", "p001", "p002"]
    assert store.counts() == {"pending": 2, "running": 0, "done": 1, "failed": 0}


def test_claims_from_several_processes_take_each_point_exactly_once(tmp_path):
    store = make_store(tmp_path, 50)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=claim_all, args=(str(store.path), f"w{i}", out)) for i in range(4)]
    for worker in workers:
        worker.start()
    results = dict(out.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    claimed = [point for ids in results.values() for point in ids]
    assert sorted(claimed) == [f"p{i:03d}" for i in range(50)]
    assert all(row["status"] == "done" and row["attempts"] == 1 for row in store.rows())
    assert store.is_complete()


def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(tmp_path):
    store = make_store(tmp_path, 1)
    assert store.claim("dead", lease_s=0.05)["id"] == "p000"
    assert store.claim("alive", lease_s=60) is None  # nothing else pending, and the lease holds
    time.sleep(0.1)
    row = store.claim("alive", lease_s=60)
    assert row["id"] == "p000" and row["attempts"] == 2 and row["lease_owner"] == "alive"
    with pytest.raises(LeaseLost):
        store.finish("p000", "dead", {"test/loss": 9.0})
    assert not store.heartbeat("p000", "dead", 60)
    assert store.finish("p000", "alive", {"test/loss": 1.0})
    assert store.get("p000")["metrics"] == {"test/loss": 1.0}


def test_heartbeat_keeps_the_lease(tmp_path):
    store = make_store(tmp_path, 1)
    store.claim("a", lease_s=0.2)
    for _ in range(3):
        time.sleep(0.1)
        assert store.heartbeat("p000", "a", lease_s=0.2)
    assert store.claim("b", lease_s=60) is None


def test_a_point_whose_runner_keeps_dying_fails_after_max_attempts(tmp_path):
    store = make_store(tmp_path, 1)
    for attempt in range(1, 4):
        row = store.claim(f"r{attempt}", lease_s=60, max_attempts=3)
        assert row["attempts"] == attempt
        store.expire("p000", f"r{attempt}")
    assert store.claim("r4", lease_s=60, max_attempts=3) is None
    row = store.get("p000")
    assert row["status"] == "failed" and "died" in row["error"] and row["attempts"] == 3
    assert store.completed_by() == "r4"  # failing the last point completed the sweep


def test_release_and_retry_failed_make_points_pending_again(tmp_path):
    store = make_store(tmp_path, 2)
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


def test_adding_points_to_a_complete_sweep_reopens_it(tmp_path):
    store = make_store(tmp_path, 1)
    row = store.claim("a", lease_s=60)
    assert store.finish(row["id"], "a", {})
    assert store.add_points([FakePoint("new")]) == 1
    assert store.completed_by() is None and not store.is_complete()
    row = store.claim("b", lease_s=60)
    assert row["id"] == "new" and store.finish("new", "b", {}) and store.completed_by() == "b"


def test_completion_goes_to_exactly_one_of_the_processes_finishing_the_last_points(tmp_path):
    n = 6
    store = make_store(tmp_path, n)
    owners = {}
    for i in range(n):
        row = store.claim(f"w{i}", lease_s=60)
        owners[row["id"]] = f"w{i}"
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(n), context.Queue()
    # Started in reverse claim order: the last points finish out of order, all at once.
    workers = [
        context.Process(target=finish_at_once, args=(str(store.path), point, owner, barrier, out))
        for point, owner in reversed(owners.items())
    ]
    for worker in workers:
        worker.start()
    results = dict(out.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    winners = [owner for owner, completed in results.items() if completed]
    assert len(winners) == 1
    assert store.completed_by() == winners[0] and store.is_complete()


def test_claim_point_leases_only_that_point_and_only_when_free(tmp_path):
    store = make_store(tmp_path, 3)
    row = store.claim_point("p002", "a", lease_s=60)
    assert row["id"] == "p002" and row["lease_owner"] == "a" and row["attempts"] == 1
    assert store.claim_point("p002", "b", lease_s=60) is None  # held under a live lease
    assert store.claim("b", lease_s=60)["id"] == "p000"  # the others are still claimed in order
    store.finish("p002", "a", {"test/loss": 1.0})
    assert store.claim_point("p002", "b", lease_s=60) is None  # done: never rerun
    store.claim_point("p001", "dead", lease_s=0.05)
    time.sleep(0.1)
    assert store.claim_point("p001", "b", lease_s=60)["attempts"] == 2  # an expired lease is taken over
    store.fail("p001", "b", "ValueError: boom")
    assert store.claim_point("p001", "c", lease_s=60) is None  # failed stays failed ...
    assert (
        store.retry_failed("p001") == 1 and store.claim_point("p001", "c", lease_s=60)["attempts"] == 1
    )  # unless retried
    with pytest.raises(KeyError, match="no point 'nope'"):
        store.claim_point("nope", "a", lease_s=60)


def test_a_done_point_is_taken_for_wandb_logging_once(tmp_path):
    store = make_store(tmp_path, 2)
    row = store.claim("a", lease_s=60)
    assert not store.take_wandb_log(row["id"])  # not done yet: nothing to log
    store.finish(row["id"], "a", {"test/loss": 1.0})
    assert store.take_wandb_log(row["id"]) and not store.take_wandb_log(row["id"])
    assert store.get(row["id"])["wandb_logged"] == 1
    store.release_wandb_log(row["id"])  # the logging failed: the next one may try again
    assert store.take_wandb_log(row["id"])


def test_a_store_from_before_wandb_logging_gains_the_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE points (id TEXT PRIMARY KEY, method TEXT NOT NULL, axes TEXT NOT NULL, "
                     "factors TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
                     "lease_owner TEXT, lease_expires REAL, attempts INTEGER NOT NULL DEFAULT 0, metrics TEXT, "
                     "error TEXT, created_at REAL NOT NULL, started_at REAL, finished_at REAL)")  # fmt: skip
        conn.execute("INSERT INTO points VALUES ('old', 'lora', '[]', '{}', '[]', 'done', NULL, NULL, 1, "
                     "'{\"test/loss\": 2.0}', NULL, 0, 0, 0)")  # fmt: skip
    store = Store(path)
    assert store.get("old")["wandb_logged"] == 0 and store.get("old")["metrics"] == {"test/loss": 2.0}
    assert store.take_wandb_log("old")
