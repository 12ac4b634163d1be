"""The store's tables, the same for SQLite and PostgreSQL, and the SQL dialect each backend speaks."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

STATUSES = ("pending", "running", "done", "failed")
# An adaptive sweep's points also wait for their stage to open (`held`) or are never run (`skipped`: their candidate
# was dropped, or the sweep chose before their stage); `Store.counts` shows these only where present.
ADAPTIVE_STATUSES = ("held", "skipped")
UNSETTLED = "('pending', 'running', 'held')"  # a sweep with a point in one of these is not complete

# The columns of a point as the Store returns it (`sweep` and `seq`, the insertion order, stay internal).
POINT_COLUMNS = (
    "id", "method", "axes", "factors", "args", "status", "lease_owner", "lease_expires", "heartbeat_at", "attempts",
    "metrics", "error", "created_at", "started_at", "finished_at", "candidate", "stage", "planned_steps",
)  # fmt: skip
# The end-of-sweep fit, a task of its own: leased like a point by whoever completes the sweep (or finds it due),
# done once per completion (`fit_id` names the completion: a sweep reopened by new points is fitted anew).
FIT_COLUMNS = ("fit_id", "fit_owner", "fit_expires", "fit_attempts", "fitted_at", "fit_error")
# SET clauses of ftscale_sweeps: a sweep reopened (points added or retried) is neither complete nor fitted; the
# write that completes it takes its fit's lease for `?` (the owner) for `?` seconds, under a new fit id `?`.
REOPEN = (
    "completed_by = NULL, fit_id = NULL, fit_owner = NULL, fit_expires = NULL, fit_attempts = 0, fitted_at = NULL, "
    "fit_error = NULL"
)
COMPLETE = "completed_by = ?, fit_owner = ?, fit_expires = {now} + ?, fit_id = ?, fit_attempts = 1"

# One row per sweep (keyed by its spec's name; an SQLite file holds one), one row per point of a sweep.
# Prefixed, so that a lab's shared PostgreSQL database can hold other tables beside them.
TABLES = (
    """CREATE TABLE IF NOT EXISTS ftscale_sweeps (
        name TEXT PRIMARY KEY,
        uid TEXT NOT NULL,
        completed_by TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        fit_id TEXT,
        fit_owner TEXT,
        fit_expires DOUBLE PRECISION,
        fit_attempts INTEGER NOT NULL DEFAULT 0,
        fitted_at DOUBLE PRECISION,
        fit_error TEXT,
        adaptive TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS ftscale_points (
        sweep TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        method TEXT NOT NULL,
        axes TEXT NOT NULL,
        factors TEXT NOT NULL,
        args TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        lease_owner TEXT,
        lease_expires DOUBLE PRECISION,
        heartbeat_at DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        metrics TEXT,
        error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        candidate TEXT,
        stage INTEGER,
        planned_steps INTEGER,
        PRIMARY KEY (sweep, id)
    )""",
    "CREATE INDEX IF NOT EXISTS ftscale_points_queue ON ftscale_points (sweep, status, seq)",
    # An adaptive sweep (`sweeps/store/stages.py`): the selection after each stage, a task leased like the fit, and
    # the candidates it dropped, each with its reason.
    """CREATE TABLE IF NOT EXISTS ftscale_stages (
        sweep TEXT NOT NULL,
        stage INTEGER NOT NULL,
        opened_at DOUBLE PRECISION NOT NULL,
        owner TEXT,
        expires DOUBLE PRECISION,
        attempts INTEGER NOT NULL DEFAULT 0,
        selected_at DOUBLE PRECISION,
        error TEXT,
        result TEXT,
        PRIMARY KEY (sweep, stage)
    )""",
    """CREATE TABLE IF NOT EXISTS ftscale_eliminations (
        sweep TEXT NOT NULL,
        candidate TEXT NOT NULL,
        stage INTEGER NOT NULL,
        p_worse DOUBLE PRECISION NOT NULL,
        loss DOUBLE PRECISION NOT NULL,
        low DOUBLE PRECISION NOT NULL,
        high DOUBLE PRECISION NOT NULL,
        leader TEXT NOT NULL,
        leader_loss DOUBLE PRECISION NOT NULL,
        leader_low DOUBLE PRECISION NOT NULL,
        leader_high DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (sweep, candidate)
    )""",
)
# Columns later versions added, as (table, column, type): a store made before them gets them when opened.
ADDED = (
    ("ftscale_points", "heartbeat_at", "DOUBLE PRECISION"),
    ("ftscale_sweeps", "fit_id", "TEXT"),
    ("ftscale_sweeps", "fit_owner", "TEXT"),
    ("ftscale_sweeps", "fit_expires", "DOUBLE PRECISION"),
    ("ftscale_sweeps", "fit_attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("ftscale_sweeps", "fitted_at", "DOUBLE PRECISION"),
    ("ftscale_sweeps", "fit_error", "TEXT"),
    ("ftscale_sweeps", "adaptive", "TEXT"),
    ("ftscale_points", "candidate", "TEXT"),
    ("ftscale_points", "stage", "INTEGER"),
    ("ftscale_points", "planned_steps", "INTEGER"),
)


def add_columns(tx: Any, present: Callable[[str], set[str]]) -> None:
    """Within the caller's (schema-locked) transaction: add the `ADDED` columns a table lacks (`present` names a
    table's columns). A sweep completed before the fit was a task counts as fitted: the run that completed it
    fitted it then (`ftscale law fit-sweep DIR` fits it again)."""
    missing = [(table, column, kind) for table, column, kind in ADDED if column not in present(table)]
    for table, column, kind in missing:
        tx.run(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    if any(column == "fitted_at" for _, column, _ in missing):
        tx.run("UPDATE ftscale_sweeps SET fitted_at = {now} WHERE completed_by IS NOT NULL")


@dataclass(frozen=True)
class Dialect:
    """What differs between the backends' SQL; statements are written with `?`, `{now}`, `{lock}`, `{skip_locked}`."""

    placeholder: str
    now: str  # the database's clock in seconds since the epoch: one clock for every machine's leases
    lock: str  # appended to a SELECT of rows the transaction will update (row lock)
    skip_locked: str  # the same, skipping rows other transactions hold (the queue's claim)

    @cache  # noqa: B019 (a few dialects, a few dozen statements)
    def render(self, sql: str) -> str:
        return sql.format(now=self.now, lock=self.lock, skip_locked=self.skip_locked).replace("?", self.placeholder)
