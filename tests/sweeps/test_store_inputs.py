"""Opening a store: which store a URL names, its spec's identity, and one clear error for each bad input."""

import sqlite3

import pytest

from ftscale.sweeps.store import open_store, store_url
from ftscale.sweeps.store.url import with_sweep
from tests.sweeps.test_store import FakePoint, make_store


def one_line_error(error: pytest.ExceptionInfo, *needles: str, secret: str = "") -> str:
    message = str(error.value)
    assert "\n" not in message and all(needle in message for needle in needles), message
    assert not secret or secret not in message, message
    return message


def test_store_url_takes_the_option_then_the_environment_then_the_sweep_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("FTSCALE_STORE", raising=False)
    assert store_url(None, tmp_path / "sweep") == f"sqlite:///{tmp_path}/sweep/results.sqlite"
    monkeypatch.setenv("FTSCALE_STORE", "postgresql://lab@db/ftscale")
    assert store_url(None, tmp_path) == "postgresql://lab@db/ftscale"
    assert store_url("sqlite:///x.sqlite", tmp_path) == "sqlite:///x.sqlite"
    with pytest.raises(ValueError) as error:
        store_url("redis://host", tmp_path)
    one_line_error(error, "redis", "sqlite:///PATH", "postgresql://USER@HOST")


def test_an_unknown_scheme_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError) as error:
        open_store("mysql://me:hunter2@db/ftscale")
    one_line_error(
        error, "mysql://me:***@db/ftscale", "unknown scheme", "sqlite:///", "postgresql://", secret="hunter2"
    )


def test_a_store_of_another_spec_is_refused_naming_both_and_left_as_it_was(tmp_path):
    path = tmp_path / "results.sqlite"
    store = open_store(path, sweep="alpha")
    store.add_points([FakePoint("p000")])
    with pytest.raises(ValueError) as error:
        open_store(path, sweep="beta").add_points([FakePoint("q000")])
    one_line_error(error, str(path), "'alpha'", "'beta'")
    with pytest.raises(ValueError, match=r"'alpha'.*'beta'"):
        open_store(f"sqlite:///{path}?sweep=beta")
    assert open_store(path).sweep == "alpha" and [r["id"] for r in store.rows()] == ["p000"]


def test_a_same_named_spec_sharing_no_point_is_refused_and_a_grown_one_is_added(url):
    store = make_store(url, 3)
    with pytest.raises(ValueError) as error:
        store.add_points([FakePoint("q000"), FakePoint("q001")])
    one_line_error(error, f"'{store.sweep}'", "3 points", "another spec")
    assert store.counts()["pending"] == 3 and store.get("q000") is None  # nothing written
    assert store.add_points([FakePoint("p000"), FakePoint("p003")]) == 1


def test_one_postgres_database_holds_several_sweeps_apart(postgres_url):
    first = make_store(with_sweep(postgres_url, "apart-a"), 2)
    second = open_store(postgres_url, sweep="apart-b")
    second.add_points([FakePoint("x")])
    assert [r["id"] for r in first.rows()] == ["p000", "p001"] and [r["id"] for r in second.rows()] == ["x"]
    assert second.claim("b", lease_s=60)["id"] == "x" and second.claim("b", lease_s=60) is None
    assert first.counts()["pending"] == 2 and first.sweep_uid() != second.sweep_uid()
    with pytest.raises(ValueError) as error:
        open_store(postgres_url)
    one_line_error(error, "?sweep=NAME", "'apart-a'", "'apart-b'", secret=postgres_url.split(":")[2].split("@")[0])


@pytest.mark.parametrize("host", ["127.0.0.1:1", "no-such-host.invalid"])
def test_an_unreachable_postgres_fails_fast_with_one_clear_error(host):
    with pytest.raises(ValueError) as error:  # the connect timeout: tests/sweeps/test_store_urls.py
        open_store(f"postgresql://lab:hunter2@{host}/ftscale?sweep=demo")
    one_line_error(error, f"postgresql://lab:***@{host}/ftscale", "expected a PostgreSQL server", secret="hunter2")


def test_wrong_postgres_credentials_are_one_clear_error(postgres_url):
    password = postgres_url.split(":")[2].split("@")[0]
    with pytest.raises(ValueError) as error:
        open_store(postgres_url.replace(password, "wrong-password"), sweep="demo")
    one_line_error(error, "password authentication failed", "expected a user and password", secret="wrong-password")


def test_a_missing_store_is_not_created_when_asked_not_to(tmp_path, postgres_url):
    with pytest.raises(FileNotFoundError, match=r"no results store at .*missing\.sqlite"):
        open_store(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(ValueError, match="holds no sweep 'never-made'"):
        open_store(postgres_url, sweep="never-made", create=False)


def damaged_store(tmp_path, kind: str):
    path = tmp_path / "results.sqlite"
    if kind == "text":
        path.write_text("id,status\np000,done\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    else:  # a real store cut in half, as by a full disk or an interrupted copy
        store = open_store(path, sweep="demo")
        store.add_points([FakePoint(f"p{i:04d}", factors={"pad": "x" * 200}) for i in range(500)])
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize(
    ("kind", "says"),
    [("text", "not an SQLite database"), ("empty", "empty (0 bytes)"), ("truncated", "damaged"), ("directory", "dir")],
)
def test_a_file_that_is_no_intact_sqlite_store_is_one_clear_error_and_left_untouched(tmp_path, kind, says):
    path = damaged_store(tmp_path, kind)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ValueError) as error:
        open_store(f"sqlite:///{path}")
    one_line_error(error, str(path), says, "expected")
    assert (path.read_bytes() if path.is_file() else None) == before


def test_a_store_from_before_named_sweeps_keeps_its_rows_and_takes_the_first_name(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE points (id TEXT PRIMARY KEY, method TEXT NOT NULL, axes TEXT NOT NULL, "
                     "factors TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
                     "lease_owner TEXT, lease_expires REAL, attempts INTEGER NOT NULL DEFAULT 0, metrics TEXT, "
                     "error TEXT, created_at REAL NOT NULL, started_at REAL, finished_at REAL, "
                     "wandb_logged INTEGER NOT NULL DEFAULT 0)")  # fmt: skip
        conn.execute("CREATE TABLE sweep_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO points VALUES ('old', 'lora', '[]', '{}', '[]', 'done', NULL, NULL, 1, "
                     "'{\"test/loss\": 2.0}', NULL, 0, 0, 0, 1)")  # fmt: skip
        conn.execute("INSERT INTO points VALUES ('older', 'lora', '[]', '{}', '[]', 'failed', NULL, NULL, 3, "
                     "NULL, 'boom', 0, 0, 0, 0)")  # fmt: skip
        conn.execute("INSERT INTO sweep_state VALUES ('completed_by', 'runner-1')")
    store = open_store(path)
    assert store.sweep == "" and [r["id"] for r in store.rows()] == ["old", "older"]
    old = store.get("old")
    assert old["metrics"] == {"test/loss": 2.0} and old["attempts"] == 1 and "wandb_logged" not in old
    assert store.get("older")["error"] == "boom" and store.completed_by() == "runner-1"
    named = open_store(path, sweep="demo")
    assert named.sweep == "demo" and named.sweep_uid() == store.sweep_uid() and len(named.rows()) == 2
    assert open_store(path).sweep == "demo"
