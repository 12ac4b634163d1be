"""The results store of a sweep: its points, their status, leases and metrics, shared by runners through leases.

One implementation over both backends (SQLite for one machine, PostgreSQL for many); see docs/clusters.md.
"""

import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ftscale.errors import InputError
from ftscale.sweeps.store.backend import Backend, Tx
from ftscale.sweeps.store.lease import LEASE_S
from ftscale.sweeps.store.schema import (
    ADAPTIVE_STATUSES,
    COMPLETE,
    FIT_COLUMNS,
    POINT_COLUMNS,
    REOPEN,
    STATUSES,
    UNSETTLED,
)
from ftscale.sweeps.store.url import parse

COLUMNS = ", ".join(POINT_COLUMNS)
SWEEP_STATE = ("uid", "completed_by", "created_at", *FIT_COLUMNS, "adaptive")  # what `migrate` copies of a sweep's row
# The tables of an adaptive sweep's stages and eliminations (`stages.py`), copied whole by `migrate`.
STAGE_TABLES = ("ftscale_stages", "ftscale_eliminations")
CLAIMABLE = "(status = 'pending' OR (status = 'running' AND lease_expires < {now}))"


class LeaseLost(RuntimeError):
    """The point is no longer leased to this owner (its lease expired and another runner took it)."""


def open_store(url_or_path: str | Path, sweep: str | None = None, create: bool = True) -> "Store":
    """Open the store of sweep `sweep` (a spec's name) at `sqlite:///PATH`, a plain path, or `postgresql://...`.

    The sweep may also be named in the URL (`?sweep=NAME`); PostgreSQL needs a name, an SQLite file holds
    one sweep. ValueError (one line, no password) for a bad URL, an unreachable server, refused credentials,
    a damaged file or a store of another spec; FileNotFoundError for a missing one when `create` is False.
    """
    return Store(url_or_path, sweep, create)


class Store:
    """A sweep's points with their status, leases and metrics, in SQLite or PostgreSQL.

    Every method is one transaction on a connection of its own, so a Store is safe to share between threads
    and processes, and a crash loses at most the point in flight.
    """

    def __init__(self, url_or_path: str | Path, sweep: str | None = None, create: bool = True) -> None:
        address = parse(url_or_path)
        if address.sweep and sweep and address.sweep != sweep:
            raise InputError(f"store URL {address.shown} names sweep {address.sweep!r}, but {sweep!r} was asked for")
        self.backend = _backend(address, create)
        self.path = self.backend.path
        self.sweep, self._uid = self.backend.transact(lambda tx: self._bind(tx, address.sweep or sweep, create), True)
        self.url = self.backend.url(self.sweep)  # opens this sweep from any process; never holds a password

    def __str__(self) -> str:
        return f"{self.backend.shown} (sweep {_label(self.sweep)})"

    def _bind(self, tx: Tx, sweep: str | None, create: bool) -> tuple[str, str]:
        """Find (or create) this store's sweep; return its name and uid."""
        held = [row["name"] for row in tx.all("SELECT name FROM ftscale_sweeps ORDER BY created_at")]
        if self.backend.holds_one_sweep and held:
            if held[0] == "" and sweep:  # a store from before sweeps were named takes the first name it is opened with
                tx.run("UPDATE ftscale_sweeps SET name = ? WHERE name = ''", (sweep,))
                tx.run("UPDATE ftscale_points SET sweep = ? WHERE sweep = ''", (sweep,))
                held = [sweep]
            elif sweep and held[0] != sweep:
                raise InputError(
                    f"{self.backend.shown} is the store of spec {_label(held[0])}, not of spec {sweep!r}: a store "
                    f"holds one spec's points; give {sweep!r} another sweep directory or store"
                )
            sweep = sweep or held[0]
        elif self.backend.holds_one_sweep:
            sweep = sweep or ""
        elif not sweep:
            raise InputError(
                f"{self.backend.shown}: which sweep? expected its spec's name as ?sweep=NAME in the URL "
                f"(this database holds {', '.join(map(repr, held)) or 'none'})"
            )
        if sweep not in held:
            if not create:
                raise InputError(f"{self.backend.shown} holds no sweep {sweep!r}: expected one of {held}")
            # Another machine may create it at the same moment: the first insert wins, the others read its uid.
            tx.run(
                "INSERT INTO ftscale_sweeps (name, uid, completed_by, created_at) VALUES (?, ?, NULL, {now}) "
                "ON CONFLICT (name) DO NOTHING",
                (sweep, uuid.uuid4().hex),
            )
        return sweep, tx.one("SELECT uid FROM ftscale_sweeps WHERE name = ?", (sweep,))["uid"]

    def sweep_uid(self) -> str:
        """A random id made once, when this sweep was created; the same on every machine that shares the store."""
        return self._uid

    def add_points(self, points: Iterable[Any]) -> int:
        """Insert points (objects with id, method, axes, factors, args) not stored yet; return how many were new.

        A point already stored keeps its status and results; its axes and factors are refreshed. ValueError
        (nothing written) if none of the points is stored while others are: they are another spec's.
        """
        rows = {p.id: (json.dumps(list(p.axes)), json.dumps(p.factors), p) for p in points}

        def add(tx: Tx) -> int:
            self._lock_sweep(tx)
            stored = {
                r["id"]: r
                for r in tx.all(
                    "SELECT id, axes, factors FROM ftscale_points WHERE sweep = ? ORDER BY seq", (self.sweep,)
                )
            }
            if stored and rows and not stored.keys() & rows.keys():
                raise InputError(
                    f"{self.backend.shown}: the store's spec {_label(self.sweep)} has {len(stored)} points (e.g. "
                    f"{next(iter(stored))!r}), the spec {_label(self.sweep)} being added has {len(rows)}, none of "
                    "them stored: another spec under the same name; rename it or give it another store"
                )
            top = tx.one("SELECT COALESCE(MAX(seq), 0) AS top FROM ftscale_points WHERE sweep = ?", (self.sweep,))[
                "top"
            ]
            new = [(axes, factors, p) for key, (axes, factors, p) in rows.items() if key not in stored]
            tx.many(
                "INSERT INTO ftscale_points (sweep, id, seq, method, axes, factors, args, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, {now})",
                [
                    (self.sweep, p.id, top + i, p.method, axes, factors, json.dumps(list(p.args)))
                    for i, (axes, factors, p) in enumerate(new, 1)
                ],
            )
            tx.many(
                "UPDATE ftscale_points SET axes = ?, factors = ? WHERE sweep = ? AND id = ?",
                [
                    (axes, factors, self.sweep, key)
                    for key, (axes, factors, _) in rows.items()
                    if key in stored and (stored[key]["axes"], stored[key]["factors"]) != (axes, factors)
                ],
            )
            if new:
                tx.run(f"UPDATE ftscale_sweeps SET {REOPEN} WHERE name = ?", (self.sweep,))
            return len(new)

        return self.backend.transact(add, write=True)

    def claim(self, owner: str, lease_s: float, max_attempts: int = 3) -> dict[str, Any] | None:
        """Lease the next pending point (or a running one whose lease expired) to `owner`; None when none is left.

        A point whose runner died `max_attempts` times is marked failed instead of being tried again.
        """

        def take(tx: Tx) -> dict[str, Any] | None:
            while True:
                # PostgreSQL: rows other claimers hold are skipped, so concurrent claims take different points.
                row = tx.one(
                    f"SELECT id, attempts, status FROM ftscale_points WHERE sweep = ? AND {CLAIMABLE} "
                    "ORDER BY seq LIMIT 1{skip_locked}",
                    (self.sweep,),
                )
                if row is None:
                    return None
                leased = self._lease(tx, row, owner, lease_s, max_attempts)
                if leased is not None:
                    return leased

        return self.backend.transact(take, write=True)

    def claim_point(self, point_id: str, owner: str, lease_s: float, max_attempts: int = 3) -> dict[str, Any] | None:
        """Lease one given point to `owner` if it is pending (or running under an expired lease); else None.

        KeyError if the store has no such point.
        """

        def take(tx: Tx) -> dict[str, Any] | None:
            row = tx.one(
                f"SELECT id, attempts, status, {CLAIMABLE} AS free FROM ftscale_points "
                "WHERE sweep = ? AND id = ?{lock}",
                (self.sweep, point_id),
            )
            if row is None:
                raise InputError(f"no point {point_id!r} in {self}; `ftscale sweep plan SPEC` lists the ids")
            return self._lease(tx, row, owner, lease_s, max_attempts) if row["free"] else None

        return self.backend.transact(take, write=True)

    def _lease(self, tx: Tx, row: dict, owner: str, lease_s: float, max_attempts: int) -> dict[str, Any] | None:
        """Within the caller's transaction: lease a claimable row, or fail it if its runners died too often."""
        if row["status"] == "running" and row["attempts"] >= max_attempts:
            error = f"its runner died or stalled {row['attempts']} times (lease expired); not retried"
            self._close(tx, row["id"], "failed", None, error)
            self._take_completion(tx, owner)
            return None
        tx.run(
            "UPDATE ftscale_points SET status = 'running', lease_owner = ?, lease_expires = {now} + ?, "
            "heartbeat_at = {now}, attempts = attempts + 1, started_at = {now}, error = NULL "
            "WHERE sweep = ? AND id = ?",
            (owner, lease_s, self.sweep, row["id"]),
        )
        return _decode(
            tx.one(f"SELECT {COLUMNS} FROM ftscale_points WHERE sweep = ? AND id = ?", (self.sweep, row["id"]))
        )

    def heartbeat(self, point_id: str, owner: str, lease_s: float) -> bool:
        """Extend `owner`'s lease on a running point (a heartbeat, kept as `heartbeat_at`); False if it was lost."""
        return self._owned(point_id, owner, "lease_expires = {now} + ?, heartbeat_at = {now}", (lease_s,)) == 1

    def finish(self, point_id: str, owner: str, metrics: dict[str, Any]) -> bool:
        """Record a point's metrics as done; True if this write completed the sweep (see `completed_by`)."""
        return self._settle(point_id, owner, "done", metrics, None)

    def fail(self, point_id: str, owner: str, error: str) -> bool:
        """Record a point as failed with its error; True if this write completed the sweep."""
        return self._settle(point_id, owner, "failed", None, error)

    def release(self, point_id: str, owner: str) -> None:
        """Give a running point back (pending again, attempt not counted), e.g. when the runner is interrupted."""
        self._owned(
            point_id,
            owner,
            "status = 'pending', lease_owner = NULL, lease_expires = NULL, "
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
        )

    def expire(self, point_id: str, owner: str) -> None:
        """End `owner`'s lease on a running point now (its runner is known dead), so the next claim takes it."""
        self._owned(point_id, owner, "lease_expires = 0")

    def _owned(self, point_id: str, owner: str, assignments: str, params: tuple = ()) -> int:
        """Update a point that is running under `owner`'s lease; return how many rows changed (0 or 1)."""
        where = "sweep = ? AND id = ? AND lease_owner = ? AND status = 'running'"
        sql = f"UPDATE ftscale_points SET {assignments} WHERE {where}"
        return self.backend.transact(lambda tx: tx.run(sql, (*params, self.sweep, point_id, owner)), write=True)

    def retry_failed(self, point_id: str | None = None) -> int:
        """Make every failed point (or only `point_id`) pending again, attempts reset, and an adaptive sweep's failed
        selection due again; return how many points."""
        where, params = ("", ()) if point_id is None else (" AND id = ?", (point_id,))

        def retry(tx: Tx) -> int:
            self._lock_sweep(tx)
            count = tx.run(
                "UPDATE ftscale_points SET status = 'pending', attempts = 0, error = NULL "
                f"WHERE sweep = ? AND status = 'failed'{where}",
                (self.sweep, *params),
            )
            if count:
                tx.run(f"UPDATE ftscale_sweeps SET {REOPEN} WHERE name = ?", (self.sweep,))
            # An adaptive sweep's selection that failed (`stages.py`) is tried again too.
            tx.run("UPDATE ftscale_stages SET error = NULL, attempts = 0 WHERE sweep = ? AND error IS NOT NULL",
                   (self.sweep,))  # fmt: skip
            return count

        return self.backend.transact(retry, write=True)

    def _settle(self, point_id: str, owner: str, status: str, metrics: dict | None, error: str | None) -> bool:
        def settle(tx: Tx) -> bool:
            row = tx.one(
                "SELECT status, lease_owner FROM ftscale_points WHERE sweep = ? AND id = ?{lock}",
                (self.sweep, point_id),
            )
            if row is None:
                raise KeyError(f"no point {point_id!r} in {self}")
            if row["status"] != "running" or row["lease_owner"] != owner:
                raise LeaseLost(f"point {point_id} is {row['status']} under {row['lease_owner']!r}, not {owner!r}")
            self._close(tx, point_id, status, metrics, error)
            return self._take_completion(tx, owner)

        return self.backend.transact(settle, write=True)

    def _close(self, tx: Tx, point_id: str, status: str, metrics: dict | None, error: str | None) -> None:
        tx.run(
            "UPDATE ftscale_points SET status = ?, metrics = ?, error = ?, lease_expires = NULL, finished_at = {now} "
            "WHERE sweep = ? AND id = ?",
            (status, None if metrics is None else json.dumps(metrics), error, self.sweep, point_id),
        )

    def _lock_sweep(self, tx: Tx) -> dict[str, Any]:
        """Within the caller's transaction: the sweep's row, locked (PostgreSQL) until the transaction ends.

        Every write that can change whether the sweep is complete takes this lock, after any point row it locks.
        """
        return tx.one("SELECT completed_by FROM ftscale_sweeps WHERE name = ?{lock}", (self.sweep,))

    def _take_completion(self, tx: Tx, owner: str) -> bool:
        """Within the caller's transaction: mark `owner` as completing the sweep if it is now complete and unclaimed,
        and lease it the sweep's fit (`sweeps/store/fit.py`), which it is to run now.

        Decided under the sweep's lock in the transaction that settled the point, so exactly one writer ever
        completes a sweep, also when the last points finish at once in different processes or machines.
        """
        taken = self._lock_sweep(tx)["completed_by"]
        left = _unfinished(tx, self.sweep)
        if left or taken is not None:
            return False
        fit = (owner, LEASE_S, uuid.uuid4().hex)  # its fit's lease and id
        tx.run(f"UPDATE ftscale_sweeps SET {COMPLETE} WHERE name = ?", (owner, *fit, self.sweep))
        return True

    def completed_by(self) -> str | None:
        """The owner whose finish or fail completed the sweep (the first to hold its fit's lease)."""
        sql = "SELECT completed_by FROM ftscale_sweeps WHERE name = ?"
        return self.backend.transact(lambda tx: tx.one(sql, (self.sweep,))["completed_by"], write=False)

    def get(self, point_id: str) -> dict[str, Any] | None:
        """One point's row, or None."""
        sql = f"SELECT {COLUMNS} FROM ftscale_points WHERE sweep = ? AND id = ?"
        row = self.backend.transact(lambda tx: tx.one(sql, (self.sweep, point_id)), write=False)
        return None if row is None else _decode(row)

    def rows(self) -> list[dict[str, Any]]:
        """Every point, in insertion order, with axes, factors, args and metrics decoded."""
        sql = f"SELECT {COLUMNS} FROM ftscale_points WHERE sweep = ? ORDER BY seq"
        return [_decode(row) for row in self.backend.transact(lambda tx: tx.all(sql, (self.sweep,)), write=False)]

    def counts(self) -> dict[str, int]:
        """Points per status: every one of STATUSES (zero if none), and an adaptive sweep's `held` and `skipped`
        where it has such points."""
        sql = "SELECT status, COUNT(*) AS n FROM ftscale_points WHERE sweep = ? GROUP BY status"
        found = {r["status"]: r["n"] for r in self.backend.transact(lambda tx: tx.all(sql, (self.sweep,)), write=False)}
        return {status: found.get(status, 0) for status in STATUSES} | {
            status: found[status] for status in ADAPTIVE_STATUSES if status in found
        }

    def is_complete(self) -> bool:
        """Whether every point is done, failed or skipped (and there is at least one), and an adaptive sweep's every
        selection is made."""
        return self.backend.transact(
            lambda tx: (
                tx.one("SELECT COUNT(*) AS n FROM ftscale_points WHERE sweep = ?", (self.sweep,))["n"] > 0
                and not _unfinished(tx, self.sweep)
            ),
            write=False,
        )

    def snapshot(self) -> dict[str, Any]:
        """The whole sweep as stored (its uid, completion, fit and every point's raw row), for `migrate`."""
        sql = f"SELECT seq, {COLUMNS} FROM ftscale_points WHERE sweep = ? ORDER BY seq"

        def read(tx: Tx) -> dict[str, Any]:
            sweep = tx.one(f"SELECT {', '.join(SWEEP_STATE)} FROM ftscale_sweeps WHERE name = ?", (self.sweep,))
            tables = {table: tx.all(f"SELECT * FROM {table} WHERE sweep = ?", (self.sweep,)) for table in STAGE_TABLES}
            return {**sweep, "points": tx.all(sql, (self.sweep,)), **tables}

        return self.backend.transact(read, write=False)

    def restore(self, snapshot: dict[str, Any], source: str) -> int:
        """Make this sweep equal to `snapshot` (of `source`) in one transaction; return how many points it has.

        ValueError (nothing written) if this store already holds points of the sweep other than the snapshot's.
        """
        names = ("seq", *POINT_COLUMNS)

        def write(tx: Tx) -> int:
            self._lock_sweep(tx)
            held = {r["id"] for r in tx.all("SELECT id FROM ftscale_points WHERE sweep = ?", (self.sweep,))}
            if held and held != {p["id"] for p in snapshot["points"]}:
                raise InputError(
                    f"{self} already holds {len(held)} points of sweep {_label(self.sweep)} other than the "
                    f"{len(snapshot['points'])} of {source}: expected a store without that sweep, or with its points"
                )
            tx.run("DELETE FROM ftscale_points WHERE sweep = ?", (self.sweep,))
            tx.many(
                f"INSERT INTO ftscale_points (sweep, {', '.join(names)}) VALUES (?{', ?' * len(names)})",
                [(self.sweep, *(p[name] for name in names)) for p in snapshot["points"]],
            )
            tx.run(
                f"UPDATE ftscale_sweeps SET {', '.join(f'{name} = ?' for name in SWEEP_STATE)} WHERE name = ?",
                (*(snapshot[name] for name in SWEEP_STATE), self.sweep),
            )
            for table in STAGE_TABLES:
                tx.run(f"DELETE FROM {table} WHERE sweep = ?", (self.sweep,))
                for row in snapshot.get(table, []):
                    row = {**row, "sweep": self.sweep}
                    tx.run(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                           tuple(row.values()))  # fmt: skip
            return len(snapshot["points"])

        count = self.backend.transact(write, write=True)
        self._uid = snapshot["uid"]
        return count


def _backend(address: Any, create: bool) -> Backend:
    if address.scheme == "sqlite":
        from ftscale.sweeps.store.sqlite import SQLiteBackend

        return SQLiteBackend(Path(address.target), create)
    from ftscale.sweeps.store.postgres import PostgresBackend  # psycopg is imported only for PostgreSQL

    return PostgresBackend(address)


def _unfinished(tx: Tx, sweep: str) -> int:
    """Within a transaction: how many points are not settled, plus how many of an adaptive sweep's stages await
    their selection (`stages.py`): a sweep with any is not complete."""
    points = f"SELECT COUNT(*) AS n FROM ftscale_points WHERE sweep = ? AND status IN {UNSETTLED}"
    stages = "SELECT COUNT(*) AS n FROM ftscale_stages WHERE sweep = ? AND selected_at IS NULL"
    return tx.one(points, (sweep,))["n"] + tx.one(stages, (sweep,))["n"]


def _label(sweep: str) -> str:
    return repr(sweep) if sweep else "(unnamed: from before stores recorded their spec)"


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("axes", "factors", "args", "metrics"):
        if row.get(key) is not None:
            row[key] = json.loads(row[key])
    return row
