"""`migrate`: a sweep copied SQLite -> PostgreSQL -> SQLite is the same sweep; a DST with other points is refused."""

import uuid

import pytest

from ftscale.sweeps.migrate import migrate
from ftscale.sweeps.store import Store, open_store
from ftscale.sweeps.store.url import with_sweep
from tests.sweeps.test_store import FakePoint


def mixed_sweep(path, name: str) -> Store:
    """A sweep in every state: done with metrics, failed with its error, running (one lease expired), pending."""
    store = open_store(path, sweep=name)
    store.add_points([FakePoint(f"p{i}", factors={"train_size": i}) for i in range(3)])
    row = store.claim("a", lease_s=60)
    store.fail(row["id"], "a", "ValueError: boom")
    for owner in ("a", "b"):
        assert store.finish(store.claim(owner, lease_s=60)["id"], owner, {"test/loss": 1.5}) == (owner == "b")
    store.add_points([FakePoint(f"p{i}", factors={"train_size": i}) for i in range(6)])  # the spec grew
    store.claim("c", lease_s=600)  # takes p3
    store.claim("dead", lease_s=0.0)  # takes p4, whose lease has expired at once
    return store


def state(store: Store) -> tuple:
    return store.rows(), store.counts(), store.completed_by(), store.sweep, store.sweep_uid()


def test_a_sweep_survives_a_round_trip_through_postgres(tmp_path, postgres_url):
    name = f"trip-{uuid.uuid4().hex[:6]}"
    source = mixed_sweep(tmp_path / "a.sqlite", name)
    assert migrate(f"sqlite:///{tmp_path / 'a.sqlite'}", postgres_url) == 6
    in_postgres = open_store(with_sweep(postgres_url, name))
    assert migrate(in_postgres.url, tmp_path / "b.sqlite") == 6
    back = open_store(tmp_path / "b.sqlite")
    assert state(in_postgres) == state(source) == state(back)
    assert {r["status"] for r in back.rows()} == {"done", "failed", "running", "pending"}
    # The copy goes on where the source stopped: the expired lease is taken over, the held one is not.
    row = back.claim("d", lease_s=60)
    assert row["id"] == "p4" and row["attempts"] == 2 and back.claim("d", lease_s=60)["id"] == "p5"


def test_migrating_again_brings_a_copy_up_to_date(tmp_path, postgres_url):
    name = f"again-{uuid.uuid4().hex[:6]}"
    source = mixed_sweep(tmp_path / "a.sqlite", name)
    migrate(tmp_path / "a.sqlite", postgres_url)
    source.finish("p3", "c", {"test/loss": 0.5})
    assert migrate(tmp_path / "a.sqlite", postgres_url) == 6
    assert open_store(postgres_url, sweep=name).get("p3")["metrics"] == {"test/loss": 0.5}


def test_a_destination_holding_other_points_of_the_sweep_is_refused_and_kept(tmp_path, postgres_url):
    name = f"other-{uuid.uuid4().hex[:6]}"
    mixed_sweep(tmp_path / "a.sqlite", name)
    target = open_store(postgres_url, sweep=name)
    target.add_points([FakePoint("p0"), FakePoint("elsewhere")])
    with pytest.raises(ValueError) as error:
        migrate(tmp_path / "a.sqlite", postgres_url)
    message = str(error.value)
    assert "\n" not in message and f"'{name}'" in message and "2 points" in message and "6 of" in message
    assert [r["id"] for r in target.rows()] == ["p0", "elsewhere"] and target.counts()["pending"] == 2
    open_store(tmp_path / "b.sqlite", sweep="first").add_points([FakePoint("f0")])
    with pytest.raises(ValueError, match=f"store of spec 'first', not of spec '{name}'"):
        migrate(with_sweep(postgres_url, name), tmp_path / "b.sqlite")
    assert [r["id"] for r in open_store(tmp_path / "b.sqlite").rows()] == ["f0"]


def test_an_unnamed_source_must_be_named_and_a_missing_one_is_not_created(tmp_path, postgres_url):
    unnamed = open_store(tmp_path / "a.sqlite")
    unnamed.add_points([FakePoint("p0")])
    assert unnamed.finish(unnamed.claim("a", lease_s=60)["id"], "a", {})
    with pytest.raises(ValueError, match=r"\?sweep=NAME"):
        migrate(tmp_path / "a.sqlite", postgres_url)
    name = f"named-{uuid.uuid4().hex[:6]}"
    assert migrate(f"sqlite:///{tmp_path / 'a.sqlite'}?sweep={name}", postgres_url) == 1
    copy = open_store(postgres_url, sweep=name)
    assert copy.completed_by() == "a" and copy.sweep_uid() == unnamed.sweep_uid() and copy.is_complete()
    with pytest.raises(FileNotFoundError):
        migrate(tmp_path / "missing.sqlite", postgres_url)
    assert not (tmp_path / "missing.sqlite").exists()
