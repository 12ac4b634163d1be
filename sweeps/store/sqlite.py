"""The SQLite backend: one file on one machine, WAL mode, a write lock per transaction (BEGIN IMMEDIATE)."""

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ftscale.errors import InputError, MissingFileError
from ftscale.sweeps.store.backend import Tx
from ftscale.sweeps.store.schema import TABLES, Dialect, add_columns

T = TypeVar("T")

# The point columns of the tables from before sweeps were named (`points`), which `_upgrade` copies.
LEGACY_POINT_COLUMNS = (
    "id", "method", "axes", "factors", "args", "status", "lease_owner", "lease_expires", "attempts", "metrics",
    "error", "created_at", "started_at", "finished_at",
)  # fmt: skip
# One writer at a time holds the whole file, so no row locks are needed.
DIALECT = Dialect(placeholder="?", now="((julianday('now') - 2440587.5) * 86400.0)", lock="", skip_locked="")
HEADER = b"SQLite format 3\x00"


class SQLiteBackend:
    """A store in one SQLite file (`<sweep_dir>/results.sqlite` by default), shared by the processes of one machine."""

    holds_one_sweep = True

    def __init__(self, path: Path, create: bool, busy_timeout_s: float = 60.0) -> None:
        self.path = path
        self.shown = str(path)
        self.busy_timeout_s = busy_timeout_s
        if path.exists():
            _check_file(path)
        elif not create:
            raise MissingFileError(f"no results store at {path}: expected the SQLite file of a sweep")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # readers (status, progress bars) run while a runner writes
        finally:
            conn.close()
        self.transact(_create_tables, write=True)

    def url(self, sweep: str) -> str:
        return f"sqlite:///{self.path.resolve()}"

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun explicitly, never implicitly.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def transact(self, op: Callable[[Tx], T], write: bool) -> T:
        # A connection per transaction: a Store is safe to share between threads and processes.
        conn = self._connect()
        try:
            # IMMEDIATE takes the write lock up front, so a read-then-write (claim) cannot interleave with another.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = op(Tx(conn, DIALECT))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            conn.close()


def _check_file(path: Path) -> None:
    """ValueError, before anything is written, unless `path` is an intact SQLite database."""
    if path.is_dir():
        raise InputError(f"results store {path} is a directory: expected an SQLite file")
    with open(path, "rb") as file:
        header = file.read(len(HEADER))
    if not header:
        raise InputError(f"results store {path} is empty (0 bytes): expected an SQLite file; delete it to start anew")
    if header != HEADER:
        raise InputError(f"results store {path} is not an SQLite database: expected the results.sqlite of a sweep")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        found = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as error:
        found = [str(error)]
    finally:
        conn.close()
    if found != ["ok"]:
        raise InputError(
            f"results store {path} is damaged ({found[0]}): expected an intact SQLite file; restore it from a copy"
        )


def _create_tables(tx: Tx) -> None:
    for statement in TABLES:
        tx.run(statement)
    add_columns(tx, lambda table: {row["name"] for row in tx.all(f"PRAGMA table_info({table})")})
    tables = {row["name"] for row in tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "points" in tables:
        _upgrade(tx, "sweep_state" in tables)


def _upgrade(tx: Tx, has_state: bool) -> None:
    """Move a store from before sweeps were named (tables `points`, `sweep_state`) into the tables of today.

    Its sweep is unnamed until a spec's name opens it; its W&B column (`wandb_logged`) is dropped.
    """
    completed = "(SELECT value FROM sweep_state WHERE key = 'completed_by')" if has_state else "NULL"
    tx.run(
        f"INSERT INTO ftscale_sweeps (name, uid, completed_by, created_at) VALUES ('', ?, {completed}, {{now}})",
        (uuid.uuid4().hex,),
    )
    columns = ", ".join(LEGACY_POINT_COLUMNS)
    tx.run(f"INSERT INTO ftscale_points (sweep, seq, {columns}) SELECT '', rowid, {columns} FROM points")
    tx.run("DROP TABLE points")
    if has_state:
        tx.run("DROP TABLE sweep_state")
