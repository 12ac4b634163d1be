"""The end-of-sweep fit as a task of the store: leased like a point, taken over when its holder dies, done once.

The write that completes a sweep also leases its fit to its owner (`Store._take_completion`), who runs it at
once. If that process dies, its lease runs out (or, on the same machine, its death is seen at once), and the next
caller of `fit_when_due` -- a runner, `ftscale sweep status`, `sweep point`, `ftscale demo` -- runs it instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from ftscale.sweeps.store.backend import Tx
from ftscale.sweeps.store.lease import LEASE_S
from ftscale.sweeps.store.schema import FIT_COLUMNS
from ftscale.sweeps.store.store import Store
from ftscale.sweeps.store.task import LeasedTask, run_leased

STATE = f"SELECT completed_by, {', '.join(FIT_COLUMNS)}, {{now}} AS now FROM ftscale_sweeps WHERE name = ?"


class FitTask(LeasedTask):
    """The fit of one sweep in its store: who holds it, until when, how often it was tried, and whether it is done."""

    TABLE, WHERE = "ftscale_sweeps", "name = ? AND fitted_at IS NULL"
    OWNER, EXPIRES, ATTEMPTS, ERROR = "fit_owner", "fit_expires", "fit_attempts", "fit_error"

    def state(self) -> dict[str, Any]:
        """`completed_by`, the fit columns (`fit_id`, `fit_owner`, `fit_expires`, `fit_attempts`, `fitted_at`,
        `fit_error`) and the database's clock, `now`."""
        return self.store.backend.transact(lambda tx: tx.one(STATE, (self.store.sweep,)), write=False)

    def _due_row(self, tx: Tx) -> dict[str, Any] | None:
        # Due once the sweep is complete, until it is fitted or its fit failed.
        row = tx.one(STATE + "{lock}", (self.store.sweep,))
        return row if _due(row) else None

    def _on_lease(self, row: dict[str, Any]) -> tuple[str, tuple, str]:
        fit_id = row["fit_id"] or uuid.uuid4().hex  # a sweep completed by a store of before fit ids
        return "fit_id = ?, ", (fit_id,), fit_id

    def finish(self, owner: str) -> bool:
        """Mark the fit done; False if `owner` no longer held it (another process took it over meanwhile)."""
        return self._owned(owner, "fitted_at = {now}, fit_owner = NULL, fit_expires = NULL") == 1


def _due(state: dict[str, Any]) -> bool:
    return state["completed_by"] is not None and state["fitted_at"] is None and state["fit_error"] is None


def fit_when_due(store: Store, fit: Callable[[str], None], owner: str | None = None, lease_s: float = LEASE_S) -> bool:
    """Run the sweep's fit here if it is this caller's to run; return whether it ran to its end here.

    It is when `owner` holds the fit's lease (its write completed the sweep), or when the sweep is complete and
    unfitted and no live process holds the fit (one provably dead on this machine counts as gone). `fit(fit_id)`
    runs while the lease is renewed (`fit_id` names this completion, e.g. for its W&B run); then the fit is done,
    once. A fit that raises is recorded, logged with its traceback, and not retried by itself (`ftscale law
    fit-sweep DIR` fits it again); one interrupted is given back for the next caller, and the interrupt raised on.
    """
    task = FitTask(store)
    state = task.state()
    if not _due(state):
        return False
    failure = f"fitting the sweep {store.sweep} failed; fit it again with `ftscale law fit-sweep DIR`"
    ran = run_leased(task, state["fit_owner"], owner, fit, lambda _: failure, lease_s)
    return ran is not None and task.finish(ran[0])
