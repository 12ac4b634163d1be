"""The store's tables, the same for SQLite and PostgreSQL, and the SQL dialect each backend speaks."""

from dataclasses import dataclass
from functools import cache

STATUSES = ("pending", "running", "done", "failed")

# The columns of a point as the Store returns it (`sweep` and `seq`, the insertion order, stay internal).
POINT_COLUMNS = (
    "id", "method", "axes", "factors", "args", "status", "lease_owner", "lease_expires", "attempts", "metrics",
    "error", "created_at", "started_at", "finished_at",
)  # fmt: skip

# One row per sweep (keyed by its spec's name; an SQLite file holds one), one row per point of a sweep.
# Prefixed, so that a lab's shared PostgreSQL database can hold other tables beside them.
TABLES = (
    """CREATE TABLE IF NOT EXISTS ftscale_sweeps (
        name TEXT PRIMARY KEY,
        uid TEXT NOT NULL,
        completed_by TEXT,
        created_at DOUBLE PRECISION NOT NULL
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
        attempts INTEGER NOT NULL DEFAULT 0,
        metrics TEXT,
        error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        PRIMARY KEY (sweep, id)
    )""",
    "CREATE INDEX IF NOT EXISTS ftscale_points_queue ON ftscale_points (sweep, status, seq)",
)


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
