"""The selection after a stage of an adaptive sweep (`sweeps/adaptive.py`): predict every surviving candidate's loss
at the target Df from its points so far, drop those worse than the leader with high probability, and open the next
stage for the rest -- or stop, with the choice and how sure it is.

The prediction is `scaling_laws.selection.select` on the candidates' measured test losses (pools: the method; size:
the backbone's non-embedding parameters; loss before finetuning: the backbone's `base` point, when the spec has
one). `select`'s bootstrap spreads a candidate's prediction by the other candidates' backtest errors, but it sees
only the mean over seeds. So where a finetuning size has several seeds, the draws are pooled over `RESAMPLES`
resamples of the seeds (each size's seeds drawn with replacement, `select` run on each): the between-seed noise
widens the intervals and lowers P(worse), which `select` alone overstates (docs/benchmarks.md, Lin et al.'s data).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from ftscale.scaling_laws.intervals import percentile_interval
from ftscale.scaling_laws.selection import Curve, Selection, select
from ftscale.sweeps.adaptive import TOLERANCE, Adaptive
from ftscale.sweeps.points import BASE_METHOD
from ftscale.sweeps.store.stages import Elimination, StageOutcome

LOSS = "test/loss"  # what a candidate is chosen by: the loss the sweep's laws fit
DRAWS = 1000  # bootstrap draws in all
RESAMPLES = 100  # seed resamples the draws are pooled over (DRAWS / RESAMPLES draws each)
BACKBONE = ("model", "revision", "pretrain_tokens")

# candidate -> Df -> the losses of its seeds there
Measured = dict[str, dict[int, list[float]]]


def decide(stage: int, rows: list[dict[str, Any]], settings: dict[str, Any], eliminated: set[str]) -> StageOutcome:
    """The outcome of the selection after `stage` (the store's `Decide`): see the module docstring."""
    adaptive = Adaptive.from_settings(settings)
    survivors = list(dict.fromkeys(r["candidate"] for r in rows if r["candidate"] and r["candidate"] not in eliminated))
    measured: Measured = {name: {} for name in survivors}
    for row in rows:
        if row["candidate"] in measured and row["status"] == "done":
            measured[row["candidate"]].setdefault(row["factors"]["train_size"], []).append(row["metrics"][LOSS])
    shapes = _shapes(rows, survivors)
    # A candidate whose training diverged (a loss that is not a finite number) is dropped as it stands.
    diverged = [name for name, sizes in measured.items() if not all(np.isfinite(v).all() for v in sizes.values())]
    finite = {name: sizes for name, sizes in measured.items() if name not in diverged}
    selection = seed_pooled_select(finite, shapes, adaptive.target_df, seed=stage)
    # Never the leader: its P(worse) is 0.
    dropped = diverged + selection.worse_than_leader(adaptive.probability)
    remaining = [name for name in survivors if name not in dropped]
    following = [r for r in rows if r["stage"] == stage + 1 and r["candidate"] in remaining]
    open_next = tuple(dict.fromkeys(r["candidate"] for r in following))
    full = sum(r["planned_steps"] or 0 for r in rows)
    opened = sum(r["planned_steps"] or 0 for r in rows if _opened(r, stage))
    ahead = sum(r["planned_steps"] or 0 for r in following)
    stopped = None
    if len(remaining) == 1:
        stopped = "one candidate left"
    elif not open_next:
        stopped = f"no candidate has a larger finetuning size up to the target Df {adaptive.target_df:g}"
    elif adaptive.budget < 1 and opened + ahead > adaptive.budget * full * (1 + TOLERANCE):
        stopped = (
            f"the next stage would bring the planned training steps to {(opened + ahead) / full:.1%} of the full "
            f"sweep's, beyond the budget of {adaptive.budget:.1%}"
        )
    leader = selection.candidates.index(selection.leader)
    summary = {
        "selection": selection.to_dict(),
        "candidates": survivors,
        "eliminated": dropped,
        "planned_steps": {"opened": opened + (0 if stopped else ahead), "full": full},
        "stopped": stopped,
        "choice": selection.leader if stopped else None,
        "p_best": float(selection.p_best[leader]) if stopped else None,
    }
    return StageOutcome(
        stage, tuple(_elimination(selection, name, stage) for name in dropped), () if stopped else open_next, summary
    )


def seed_pooled_select(
    measured: Measured, shapes: dict[str, dict[str, Any]], target_df: float, seed: int = 0
) -> Selection:
    """`select` of the candidates' curves, its draws pooled over resamples of each size's seeds (see the module
    docstring; with one seed per size, `select` itself). `shapes` holds each candidate's `size`, `pool`, `loss0`."""
    point = select(_curves(measured, shapes), target_df, n_bootstrap=DRAWS, seed=seed)
    if all(len(losses) == 1 for sizes in measured.values() for losses in sizes.values()):
        return point
    rng = np.random.default_rng(seed)
    draws = np.concatenate(
        [
            select(_curves(_resampled(measured, rng), shapes), target_df, n_bootstrap=DRAWS // RESAMPLES, seed=i).draws
            for i in range(RESAMPLES)
        ]
    )
    low, high = percentile_interval(draws, point.level)
    leader = point.candidates.index(point.leader)
    return replace(
        point,
        low=np.atleast_1d(low),
        high=np.atleast_1d(high),
        p_best=np.bincount(np.argmin(draws, axis=1), minlength=len(point.candidates)) / len(draws),
        p_worse=(draws > draws[:, [leader]]).mean(axis=0),
        draws=draws,
    )


def _curves(measured: Measured, shapes: dict[str, dict[str, Any]]) -> dict[str, Curve]:
    return {
        name: Curve(
            df=[df for df, losses in sizes.items() for _ in losses],
            loss=[loss for losses in sizes.values() for loss in losses],
            **shapes[name],
        )
        for name, sizes in measured.items()
    }


def _resampled(measured: Measured, rng: np.random.Generator) -> Measured:
    return {
        name: {df: list(rng.choice(losses, len(losses))) for df, losses in sizes.items()}
        for name, sizes in measured.items()
    }


def _shapes(rows: list[dict[str, Any]], candidates: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each candidate's model size (non-embedding parameters), pool (its method) and loss before finetuning (its
    backbone's `base` point, if done)."""
    untrained = {
        tuple(r["factors"].get(f) for f in BACKBONE): r["metrics"][LOSS]
        for r in rows
        if r["method"] == BASE_METHOD and r["status"] == "done"
    }
    first = {}
    for row in rows:
        first.setdefault(row["candidate"], row)
    shapes = {}
    for name in candidates:
        factors = first[name]["factors"]
        shapes[name] = {
            "size": factors.get("non_embedding_params"),
            "pool": first[name]["method"],
            "loss0": untrained.get(tuple(factors.get(f) for f in BACKBONE)),
        }
    return shapes


def _opened(row: dict[str, Any], stage: int) -> bool:
    """Whether a point was opened by stage `stage` (its planned steps count as spent)."""
    return row["stage"] is not None and row["stage"] <= stage and row["status"] != "skipped"


def _elimination(selection: Selection, name: str, stage: int) -> Elimination:
    """`name`'s record; a candidate that `selection` did not rank (it diverged) is worse with P 1 and loss inf."""
    lead = selection.candidates.index(selection.leader)
    i = selection.candidates.index(name) if name in selection.candidates else None
    return Elimination(
        candidate=name,
        stage=stage,
        p_worse=1.0 if i is None else float(selection.p_worse[i]),
        loss=math.inf if i is None else float(selection.loss[i]),
        low=math.inf if i is None else float(selection.low[i]),
        high=math.inf if i is None else float(selection.high[i]),
        leader=selection.leader,
        leader_loss=float(selection.loss[lead]),
        leader_low=float(selection.low[lead]),
        leader_high=float(selection.high[lead]),
    )
