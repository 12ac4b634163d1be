"""A task of the store that one process at a time runs under a lease (the sweep's fit, an adaptive sweep's
selection after a stage): claimed in one transaction, renewed while its holder lives, taken over when the lease runs
out, failed after `max_attempts` holders died, given back uncounted when its holder is interrupted.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any, ClassVar

from ftscale.sweeps.store.backend import Tx
from ftscale.sweeps.store.lease import LEASE_S, is_dead_here, lease_owner, renewing
from ftscale.sweeps.store.store import Store

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # a task whose process died this often is failed rather than started again


class LeasedTask:
    """The lease of one task row of a store. Subclasses name its table, the row (`WHERE`, with the sweep's name as
    its one parameter), its lease columns, and when it is due (`_due_row`)."""

    TABLE: ClassVar[str]
    WHERE: ClassVar[str]
    OWNER: ClassVar[str]
    EXPIRES: ClassVar[str]
    ATTEMPTS: ClassVar[str]
    ERROR: ClassVar[str]

    def __init__(self, store: Store) -> None:
        self.store = store

    def _due_row(self, tx: Tx) -> dict[str, Any] | None:
        """The task's row, read for update with the lease columns and the database's clock `now`, if it is due."""
        raise NotImplementedError

    def _on_lease(self, row: dict[str, Any]) -> tuple[str, tuple, Any]:
        """More assignments (ending in ', ') and their parameters to write when the task is leased, and what
        `claim` returns for it."""
        raise NotImplementedError

    def claim(self, owner: str, lease_s: float = LEASE_S, max_attempts: int = MAX_ATTEMPTS) -> Any:
        """Lease the task to `owner` if it is due and nobody holds it (or its lease ran out), or renew it if `owner`
        holds it; return what `_on_lease` says (the fit's id, the stage), else None. A task whose holders died
        `max_attempts` times is failed instead."""

        def take(tx: Tx) -> Any:
            row = self._due_row(tx)
            if row is None:
                return None
            holder, attempts = row[self.OWNER], row[self.ATTEMPTS]
            if holder == owner:
                renewed = f"{self.EXPIRES} = {{now}} + ?"
            elif holder is None or row[self.EXPIRES] < row["now"]:
                if holder is not None and attempts >= max_attempts:
                    error = f"its process died or stalled {attempts} times (lease expired); not retried"
                    self._update(tx, f"{self.OWNER} = NULL, {self.EXPIRES} = NULL, {self.ERROR} = ?", (error,))
                    return None
                renewed = f"{self.EXPIRES} = {{now}} + ?, {self.ATTEMPTS} = {self.ATTEMPTS} + 1"
            else:
                return None  # a live holder runs it
            more, params, result = self._on_lease(row)
            self._update(tx, f"{self.OWNER} = ?, {more}{renewed}", (owner, *params, lease_s))
            return result

        return self.store.backend.transact(take, write=True)

    def renew(self, owner: str, lease_s: float = LEASE_S) -> bool:
        """Extend `owner`'s lease; False if it holds the task no longer."""
        return self._owned(owner, f"{self.EXPIRES} = {{now}} + ?", (lease_s,)) == 1

    def fail(self, owner: str, error: str) -> None:
        """Record that the task raised `error`: it is not started again by itself."""
        self._owned(owner, f"{self.ERROR} = ?, {self.OWNER} = NULL, {self.EXPIRES} = NULL", (error,))

    def release(self, owner: str) -> None:
        """Give the task back unfinished (interrupted), its attempt not counted: the next caller runs it."""
        uncounted = f"CASE WHEN {self.ATTEMPTS} > 0 THEN {self.ATTEMPTS} - 1 ELSE 0 END"
        self._owned(owner, f"{self.OWNER} = NULL, {self.EXPIRES} = NULL, {self.ATTEMPTS} = {uncounted}")

    def expire(self, owner: str) -> None:
        """End `owner`'s lease now (its process is known dead), so that the next claim takes the task."""
        self._owned(owner, f"{self.EXPIRES} = 0")

    def _owned(self, owner: str, assignments: str, params: tuple = ()) -> int:
        sql = f"UPDATE {self.TABLE} SET {assignments} WHERE {self.WHERE} AND {self.OWNER} = ?"
        return self.store.backend.transact(lambda tx: tx.run(sql, (*params, self.store.sweep, owner)), write=True)

    def _update(self, tx: Tx, assignments: str, params: tuple) -> None:
        tx.run(f"UPDATE {self.TABLE} SET {assignments} WHERE {self.WHERE}", (*params, self.store.sweep))


def run_leased(
    task: LeasedTask,
    holder: str | None,
    owner: str | None,
    work: Callable[[Any], Any],
    failure: Callable[[Any], str],
    lease_s: float = LEASE_S,
) -> tuple[str, Any] | None:
    """Claim `task` for `owner` (a new owner if None), first ending the lease of `holder` if it is provably dead on
    this machine, and run `work(claimed)` while the lease is renewed; return (owner, what `work` returned), or None
    if the task was not this caller's. A `work` that raises is recorded on the task and logged with
    `failure(claimed)`, not retried by itself; an interrupted one is given back for the next caller, and the
    interrupt raised on."""
    if holder is not None and holder != owner and is_dead_here(holder):
        task.expire(holder)
    owner = owner or lease_owner()
    claimed = task.claim(owner, lease_s)
    if claimed is None:
        return None
    try:
        with renewing(lambda: task.renew(owner, lease_s), lease_s):
            result = work(claimed)
    except Exception as error:
        task.fail(owner, "".join(traceback.format_exception(error)).rstrip())
        log.exception("%s", failure(claimed))
        return None
    except BaseException:  # interrupted (Ctrl-C, a requeue): not the task's fault, the next caller runs it
        task.release(owner)
        raise
    return owner, result
