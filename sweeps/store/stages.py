"""An adaptive sweep's stages in the store: which stage each point belongs to, the selection after each stage as a
task leased like the fit (done once, taken over when its holder dies), and the candidates it dropped.

Each point of an adaptive sweep has a candidate (None for `base` points) and a stage. Stage 0's points are pending
from the start; a later stage's are `held` (never claimed) until the selection after the stage before opens them
(pending) or skips them (`skipped`: their candidate was dropped, or the sweep stopped). The selection after stage s
is due when no point of stages <= s is pending or running and none of a surviving candidate failed: a failed point
blocks it until `--retry-failed` runs it again, as the choice would otherwise rest on a missing measurement.

Its claim, and the write of its outcome (the eliminations, the next stage opened or the sweep stopped, and the
sweep's completion that this may take), are each one transaction, and the write happens only while its owner still
holds the lease: a holder that dies writes nothing, and whoever takes the task over decides once.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ftscale.errors import InputError
from ftscale.sweeps.store.backend import Tx
from ftscale.sweeps.store.lease import LEASE_S
from ftscale.sweeps.store.store import Store
from ftscale.sweeps.store.task import LeasedTask, run_leased

log = logging.getLogger(__name__)
CURRENT = "sweep = ? AND selected_at IS NULL"  # the stage whose selection is next (there is at most one)
SURVIVING = "candidate IS NOT NULL AND candidate NOT IN (SELECT candidate FROM ftscale_eliminations WHERE sweep = ?)"


@dataclass(frozen=True)
class PlannedPoint:
    """Where a point goes in an adaptive sweep: its candidate (None for `base` points), its stage (None: beyond the
    target Df, never run) and its planned training steps (None where the spec does not tell)."""

    candidate: str | None
    stage: int | None
    planned_steps: int | None


@dataclass(frozen=True)
class Elimination:
    """A candidate dropped after a stage: its predicted loss at the target and interval, P(its loss > the leader's),
    and the leader's prediction."""

    candidate: str
    stage: int
    p_worse: float
    loss: float
    low: float
    high: float
    leader: str
    leader_loss: float
    leader_low: float
    leader_high: float

    def reason(self) -> str:
        """One line: why it was dropped."""
        if math.isinf(self.loss):
            return (
                f"a test loss that is not a finite number (its training diverged); the leader {self.leader} is "
                f"predicted {self.leader_loss:.4g}"
            )
        return (
            f"P(worse than {self.leader}) = {self.p_worse:.3f}: predicted {self.loss:.4g} [{self.low:.4g}, "
            f"{self.high:.4g}] vs {self.leader_loss:.4g} [{self.leader_low:.4g}, {self.leader_high:.4g}]"
        )


@dataclass(frozen=True)
class StageOutcome:
    """What the selection after `stage` decided: whom it dropped, whose next-stage points open (none: the sweep
    stops here), and a JSON summary kept with the stage (the selection's table; when it stops, the choice and why)."""

    stage: int
    eliminated: tuple[Elimination, ...]
    open_next: tuple[str, ...]
    summary: dict[str, Any]


# decide(stage, rows, settings, eliminated): the outcome of the selection after `stage`, from the sweep's rows (as
# `Store.rows` returns them), its adaptive settings and the candidates dropped before.
Decide = Callable[[int, list[dict[str, Any]], dict[str, Any], set[str]], StageOutcome]


class StageTask(LeasedTask):
    """The stages of one adaptive sweep in its store: its settings, the point plan, and the selection task."""

    TABLE, WHERE = "ftscale_stages", CURRENT
    OWNER, EXPIRES, ATTEMPTS, ERROR = "owner", "expires", "attempts", "error"

    def settings(self) -> dict[str, Any] | None:
        """The adaptive settings the sweep was started with (None: not an adaptive sweep)."""
        sql = "SELECT adaptive FROM ftscale_sweeps WHERE name = ?"
        stored = self._read(lambda tx: tx.one(sql, (self.store.sweep,))["adaptive"])
        return None if stored is None else json.loads(stored)

    def check_points(self, point_ids: set[str]) -> None:
        """Before new points are added: InputError if this is an adaptive sweep whose stored points differ from
        `point_ids` (its stages were planned for its spec; a changed spec is a new sweep)."""
        if self.settings() is None:
            return
        sql = "SELECT id FROM ftscale_points WHERE sweep = ?"
        stored = {row["id"] for row in self._read(lambda tx: tx.all(sql, (self.store.sweep,)))}
        if stored != point_ids:
            raise InputError(
                f"{self.store}: the spec's points differ from those of the adaptive sweep stored there "
                f"({len(point_ids - stored)} new, {len(stored - point_ids)} gone); an adaptive sweep's spec cannot "
                "change: give the changed spec another --dir or store"
            )

    def configure(self, settings: Mapping[str, Any], plan: Mapping[str, PlannedPoint]) -> None:
        """Make the sweep adaptive with `settings`, its points placed by `plan` (stage 0 pending, later stages held,
        points beyond the target skipped); nothing if it already is, with the same settings. InputError if it is
        adaptive with other settings, or an ordinary sweep that has begun (a point not pending)."""

        def write(tx: Tx) -> None:
            stored = tx.one("SELECT adaptive FROM ftscale_sweeps WHERE name = ?{lock}", (self.store.sweep,))
            if stored["adaptive"] is not None:
                if json.loads(stored["adaptive"]) != dict(settings):
                    raise InputError(
                        f"{self.store} is an adaptive sweep with {_shown(json.loads(stored['adaptive']))}, not "
                        f"{_shown(settings)}: rerun it with its own settings, or give these another --dir or store"
                    )
                return
            begun = tx.one(
                "SELECT COUNT(*) AS n FROM ftscale_points WHERE sweep = ? AND status <> 'pending'", (self.store.sweep,)
            )["n"]
            if begun:
                raise InputError(
                    f"{self.store} holds an ordinary sweep of this spec with {begun} points run: an adaptive sweep "
                    "(--select) starts from a new --dir or store"
                )
            tx.run(
                "UPDATE ftscale_sweeps SET adaptive = ? WHERE name = ?", (json.dumps(dict(settings)), self.store.sweep)
            )
            tx.many(
                "UPDATE ftscale_points SET candidate = ?, stage = ?, planned_steps = ?, status = ? "
                "WHERE sweep = ? AND id = ?",
                [
                    (p.candidate, p.stage, p.planned_steps, _first_status(p.stage), self.store.sweep, point_id)
                    for point_id, p in plan.items()
                ],
            )
            tx.run("INSERT INTO ftscale_stages (sweep, stage, opened_at) VALUES (?, 0, {now})", (self.store.sweep,))

        self.store.backend.transact(write, write=True)

    def state(self) -> dict[str, Any]:
        """The settings (None: not adaptive), every stage's row (`stage`, `opened_at`, `owner`, `expires`,
        `attempts`, `selected_at`, `error`, `result` decoded), the eliminations in stage order, the stage whose
        selection is next with what it waits for (`unsettled` points, `failed` points of surviving candidates), and
        the database's clock `now`."""

        def read(tx: Tx) -> dict[str, Any]:
            sweep = self.store.sweep
            stages = tx.all("SELECT * FROM ftscale_stages WHERE sweep = ? ORDER BY stage", (sweep,))
            for row in stages:
                row["result"] = None if row["result"] is None else json.loads(row["result"])
            current = next((row for row in stages if row["selected_at"] is None), None)
            waits = {} if current is None else self._waits(tx, current["stage"])
            settings = tx.one("SELECT adaptive FROM ftscale_sweeps WHERE name = ?", (sweep,))["adaptive"]
            return {
                "settings": None if settings is None else json.loads(settings),
                "stages": stages,
                "eliminations": tx.all(
                    "SELECT * FROM ftscale_eliminations WHERE sweep = ? ORDER BY stage, candidate", (sweep,)
                ),
                "current": None if current is None else {**current, **waits},
                "now": tx.one("SELECT {now} AS now")["now"],
            }

        return self._read(read)

    def busy(self) -> bool:
        """Whether a live holder is running the selection now (its lease has not run out)."""
        state = self.state()
        current = state["current"]
        return current is not None and current["owner"] is not None and current["expires"] >= state["now"]

    def _due_row(self, tx: Tx) -> dict[str, Any] | None:
        # Due when no point of its stage or before is unsettled and none of a surviving candidate failed.
        row = tx.one(
            f"SELECT stage, owner, expires, attempts, error, {{now}} AS now FROM ftscale_stages WHERE {CURRENT}"
            "{lock}",
            (self.store.sweep,),
        )
        if row is None or row["error"] is not None or any(self._waits(tx, row["stage"]).values()):
            return None
        return row

    def _on_lease(self, row: dict[str, Any]) -> tuple[str, tuple, int]:
        return "", (), row["stage"]

    def commit(self, owner: str, outcome: StageOutcome) -> bool | None:
        """Write the outcome of the selection `owner` holds, in one transaction: the eliminations, the stage marked
        selected, then either the next stage's points of `outcome.open_next` opened (the dropped candidates' held
        points skipped), or every held point skipped and the sweep's completion taken if it is now complete.
        Return None if `owner` no longer held the selection (nothing written), else whether it completed the sweep
        (its fit is then this owner's to run)."""
        sweep = self.store.sweep

        def write(tx: Tx) -> bool | None:
            row = tx.one(
                "SELECT owner FROM ftscale_stages WHERE sweep = ? AND stage = ? AND selected_at IS NULL{lock}",
                (sweep, outcome.stage),
            )
            if row is None or row["owner"] != owner:
                return None
            columns = list(asdict(outcome.eliminated[0])) if outcome.eliminated else []
            tx.many(
                f"INSERT INTO ftscale_eliminations (sweep, {', '.join(columns)}) VALUES (?{', ?' * len(columns)})",
                [(sweep, *asdict(e).values()) for e in outcome.eliminated],
            )
            self._set(
                tx,
                outcome.stage,
                "selected_at = {now}, owner = NULL, expires = NULL, result = ?",
                (json.dumps(outcome.summary),),
            )
            dropped = [e.candidate for e in outcome.eliminated]
            if dropped:
                tx.run(
                    f"UPDATE ftscale_points SET status = 'skipped' WHERE sweep = ? AND status = 'held' "
                    f"AND candidate IN ({', '.join('?' * len(dropped))})",
                    (sweep, *dropped),
                )
            if outcome.open_next:
                tx.run(
                    "UPDATE ftscale_points SET status = 'pending' WHERE sweep = ? AND status = 'held' AND stage = ? "
                    f"AND candidate IN ({', '.join('?' * len(outcome.open_next))})",
                    (sweep, outcome.stage + 1, *outcome.open_next),
                )
                tx.run(
                    "INSERT INTO ftscale_stages (sweep, stage, opened_at) VALUES (?, ?, {now})",
                    (sweep, outcome.stage + 1),
                )
                return False
            tx.run("UPDATE ftscale_points SET status = 'skipped' WHERE sweep = ? AND status = 'held'", (sweep,))
            return self.store._take_completion(tx, owner)  # the same rule as a point's settle: decided once

        return self.store.backend.transact(write, write=True)

    def _waits(self, tx: Tx, stage: int) -> dict[str, int]:
        """What the selection after `stage` waits for: its points not yet settled, and failed points of candidates
        still in the running (rerun with --retry-failed)."""
        sweep = self.store.sweep
        count = "SELECT COUNT(*) AS n FROM ftscale_points WHERE sweep = ? AND stage <= ? AND "
        return {
            "unsettled": tx.one(count + "status IN ('pending', 'running')", (sweep, stage))["n"],
            "failed": tx.one(count + f"status = 'failed' AND {SURVIVING}", (sweep, stage, sweep))["n"],
        }

    def _set(self, tx: Tx, stage: int, assignments: str, params: tuple) -> None:
        tx.run(
            f"UPDATE ftscale_stages SET {assignments} WHERE sweep = ? AND stage = ?", (*params, self.store.sweep, stage)
        )

    def _read(self, op: Callable[[Tx], Any]) -> Any:
        return self.store.backend.transact(op, write=False)


def select_when_due(
    store: Store, decide: Decide, owner: str | None = None, lease_s: float = LEASE_S
) -> tuple[bool, bool]:
    """Run the selection after the current stage here if it is due and no live process holds it (one provably dead
    on this machine counts as gone); return (whether it was decided here, whether that completed the sweep: its fit
    is then `owner`'s to run). `decide` runs while the lease is renewed; a decision that raises is recorded, logged
    and not retried by itself (`--retry-failed`); one interrupted is given back, and the interrupt raised on."""
    task = StageTask(store)
    current = task.state()["current"]
    if current is None or current["error"] is not None or current["unsettled"] or current["failed"]:
        return False, False

    def work(stage: int) -> StageOutcome:
        state = task.state()
        dropped = {row["candidate"] for row in state["eliminations"]}
        return decide(stage, store.rows(), state["settings"], dropped)

    def failure(stage: int) -> str:
        return f"the selection after stage {stage} of {store.sweep} failed; `sweep run --retry-failed` tries again"

    ran = run_leased(task, current["owner"], owner, work, failure, lease_s)
    if ran is None:
        return False, False
    completed = task.commit(*ran)
    return completed is not None, bool(completed)


def _first_status(stage: int | None) -> str:
    return "pending" if stage == 0 else "held" if stage is not None else "skipped"


def _shown(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in settings.items())
