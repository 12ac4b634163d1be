"""The end-of-sweep fit as a task of the store: leased like a point, taken over when its holder dies, done once.

The write that completes a sweep also leases its fit to its owner (`Store._take_completion`), who runs it at
once. If that process dies, its lease runs out (or, on the same machine, its death is seen at once), and the next
caller of `fit_when_due` -- a runner, `ftscale sweep status`, `sweep point`, `ftscale demo` -- runs it instead.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from ftscale.sweeps.store.backend import Tx
from ftscale.sweeps.store.lease import LEASE_S, is_dead_here, lease_owner, renewing
from ftscale.sweeps.store.schema import FIT_COLUMNS
from ftscale.sweeps.store.store import Store

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # a fit whose process died this often is failed rather than started again
OWNED = "name = ? AND fit_owner = ? AND fitted_at IS NULL"


class FitTask:
    """The fit of one sweep in its store: who holds it, until when, how often it was tried, and whether it is done."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def state(self) -> dict[str, Any]:
        """`completed_by`, the fit columns (`fit_id`, `fit_owner`, `fit_expires`, `fit_attempts`, `fitted_at`,
        `fit_error`) and the database's clock, `now`."""
        sql = f"SELECT completed_by, {', '.join(FIT_COLUMNS)}, {{now}} AS now FROM ftscale_sweeps WHERE name = ?"
        return self.store.backend.transact(lambda tx: tx.one(sql, (self.store.sweep,)), write=False)

    def claim(self, owner: str, lease_s: float = LEASE_S, max_attempts: int = MAX_ATTEMPTS) -> str | None:
        """Lease the fit to `owner` if the sweep is complete and unfitted and nobody holds the fit (or its lease ran
        out), or renew it if `owner` holds it; return the fit's id, else None. A fit whose holders died
        `max_attempts` times is failed instead."""

        def take(tx: Tx) -> str | None:
            row = tx.one(
                f"SELECT completed_by, {', '.join(FIT_COLUMNS)}, {{now}} AS now FROM ftscale_sweeps "
                "WHERE name = ?{lock}",
                (self.store.sweep,),
            )
            if row["completed_by"] is None or row["fitted_at"] is not None or row["fit_error"] is not None:
                return None
            if row["fit_owner"] == owner:
                renewed = "fit_expires = {now} + ?"
            elif row["fit_owner"] is None or row["fit_expires"] < row["now"]:
                if row["fit_owner"] is not None and row["fit_attempts"] >= max_attempts:
                    error = f"its process died or stalled {row['fit_attempts']} times (lease expired); not retried"
                    self._set(tx, "fit_owner = NULL, fit_expires = NULL, fit_error = ?", (error,))
                    return None
                renewed = "fit_expires = {now} + ?, fit_attempts = fit_attempts + 1"
            else:
                return None  # a live holder is fitting it
            fit_id = row["fit_id"] or uuid.uuid4().hex  # a sweep completed by a store of before fit ids
            self._set(tx, f"fit_owner = ?, fit_id = ?, {renewed}", (owner, fit_id, lease_s))
            return fit_id

        return self.store.backend.transact(take, write=True)

    def renew(self, owner: str, lease_s: float = LEASE_S) -> bool:
        """Extend `owner`'s lease on the fit; False if it holds it no longer."""
        return self._owned(owner, "fit_expires = {now} + ?", (lease_s,)) == 1

    def finish(self, owner: str) -> bool:
        """Mark the fit done; False if `owner` no longer held it (another process took it over meanwhile)."""
        return self._owned(owner, "fitted_at = {now}, fit_owner = NULL, fit_expires = NULL") == 1

    def fail(self, owner: str, error: str) -> None:
        """Record that the fit raised `error`: it is not started again by itself (`ftscale law fit-sweep DIR`)."""
        self._owned(owner, "fit_error = ?, fit_owner = NULL, fit_expires = NULL", (error,))

    def release(self, owner: str) -> None:
        """Give the fit back unfinished (interrupted), its attempt not counted: the next caller runs it."""
        uncounted = "CASE WHEN fit_attempts > 0 THEN fit_attempts - 1 ELSE 0 END"
        self._owned(owner, f"fit_owner = NULL, fit_expires = NULL, fit_attempts = {uncounted}")

    def expire(self, owner: str) -> None:
        """End `owner`'s lease on the fit now (its process is known dead), so that the next claim takes it."""
        self._owned(owner, "fit_expires = 0")

    def _owned(self, owner: str, assignments: str, params: tuple = ()) -> int:
        sql = f"UPDATE ftscale_sweeps SET {assignments} WHERE {OWNED}"
        return self.store.backend.transact(lambda tx: tx.run(sql, (*params, self.store.sweep, owner)), write=True)

    def _set(self, tx: Tx, assignments: str, params: tuple) -> None:
        tx.run(f"UPDATE ftscale_sweeps SET {assignments} WHERE name = ?", (*params, self.store.sweep))


def fit_when_due(store: Store, fit: Callable[[str], None], owner: str | None = None, lease_s: float = LEASE_S) -> bool:
    """Run the sweep's fit here if it is this caller's to run; return whether it ran to its end here.

    It is when `owner` holds the fit's lease (its write completed the sweep), or when the sweep is complete and
    unfitted and no live process holds the fit (one provably dead on this machine counts as gone). `fit(fit_id)`
    runs while the lease is renewed (`fit_id` names this completion, e.g. for its W&B run); then the fit is done,
    once. A fit that raises is recorded, logged with its traceback, and not retried by itself; one interrupted
    is given back for the next caller, and the interrupt raised on.
    """
    task = FitTask(store)
    state = task.state()
    if state["completed_by"] is None or state["fitted_at"] is not None or state["fit_error"] is not None:
        return False
    holder = state["fit_owner"]
    if holder is not None and holder != owner and is_dead_here(holder):
        task.expire(holder)
    owner = owner or lease_owner()
    fit_id = task.claim(owner, lease_s)
    if fit_id is None:
        return False
    try:
        with renewing(lambda: task.renew(owner, lease_s), lease_s):
            fit(fit_id)
    except Exception as error:
        task.fail(owner, "".join(traceback.format_exception(error)).rstrip())
        log.exception("fitting the sweep %s failed; fit it again with `ftscale law fit-sweep DIR`", store.sweep)
        return False
    except BaseException:  # interrupted (Ctrl-C, a requeue): not this fit's fault, the next caller runs it
        task.release(owner)
        raise
    return task.finish(owner)
