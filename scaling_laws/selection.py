"""Which candidate (base model, method, PET size) finetunes to the lowest loss at a target Df, from cheap partial
curves, and how sure that choice is.

`select(curves, target_df, budget=...)`:

1. Only points with Df <= budget x target are read; the others may hold anything.
2. The predictor is chosen inside the budget, never on the target: every predictor of the menu (`tails.PREDICTORS`)
   predicts each candidate's loss at its largest Df, Df_max, from its points up to Df_max^2 / target (the same
   ratio of extrapolation where the curve allows; at least 3 points, 2 for a candidate with 3), and the predictor
   whose errors are least spread across candidates wins (RMS of the errors minus their mean: an error common to
   every candidate changes no ranking). Ties go to the first in the menu.
3. Uncertainty is the winner's own backtest error, scaled to the real extrapolation: each candidate's error divided
   by the square of its backtest's log horizon (log Df_max - log of the last point it was fitted on), less the mean
   of these over candidates, resampled across candidates and multiplied by the square of each candidate's horizon
   to the target (log target - log Df_max), is subtracted from its predicted log loss in each bootstrap draw (see
   HORIZON_POWER). The error all candidates share is left out: it moves no ranking, and carried to the target it
   can put the predicted loss above the last measured one (a bias measured on the small-Df part of the curves,
   where they are flatter, multiplied by the squared horizon). So the intervals are those of the differences
   between candidates and may miss a shift common to all. Intervals are percentiles of the draws; P(best) is the
   share of draws in which a candidate has the lowest loss; P(worse) the share in which its loss exceeds the
   leader's (the lowest predicted loss). With one candidate the interval has no width.

Pure numpy: the adaptive sweep calls `select` on the points it has and drops `worse_than_leader(0.95)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.intervals import percentile_interval
from ftscale.scaling_laws.tails import Curves, get_predictors

MIN_DF_VALUES = 3
TOLERANCE = 1e-9  # relative: a Df within this of budget x target is inside the budget
# A backtest error grows to the target as (horizon ratio)^HORIZON_POWER: 1 if only the slope were off, 2 for a slope
# that keeps changing (curvature), which is what partial finetuning curves do; 2 also covered the held-out losses
# better on the development split (docs/benchmarks.md), so it is used.
HORIZON_POWER = 2.0


@dataclass(frozen=True)
class Curve:
    """One candidate's measurements: losses at finetuning sizes Df > 0 (several at one Df, e.g. seeds, are averaged);
    optionally its loss before finetuning (Df = 0), its model size, and its pool (family and/or method: candidates
    expected to share an exponent). Losses at Df beyond the budget are never read and may hold anything."""

    df: Sequence[float] | np.ndarray
    loss: Sequence[object] | np.ndarray
    loss0: float | None = None
    size: float | None = None
    pool: str | None = None


@dataclass
class Selection:
    """The candidates' predicted losses at the target, with intervals, P(best), and the predictor chosen inside the
    budget. Arrays are in `candidates` order; `draws` holds every bootstrap draw's loss (n_bootstrap, candidates)."""

    candidates: list[str]
    target_df: float
    budget: float | None
    predictor: str
    backtest_spread: dict[str, float]  # predictor -> RMS (log loss) of its centred backtest errors
    loss: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float
    p_best: np.ndarray
    p_worse: np.ndarray  # P(loss > the leader's loss); 0 for the leader
    rank: np.ndarray  # 1 = lowest predicted loss
    seed: int
    draws: np.ndarray = field(repr=False)

    @property
    def leader(self) -> str:
        """The candidate with the lowest predicted loss."""
        return self.candidates[int(np.argmin(self.rank))]

    def worse_than_leader(self, probability: float = 0.95) -> list[str]:
        """Candidates whose loss exceeds the leader's in at least `probability` of the draws."""
        return [c for c, p in zip(self.candidates, self.p_worse, strict=True) if p >= probability]

    def verdict(self) -> str:
        """One line: the choice and the share of draws in which it is best."""
        return f"choose {self.leader} (P = {self.p_best[self.candidates.index(self.leader)]:.2f})"

    def rows(self) -> list[dict[str, object]]:
        """One mapping per candidate, best predicted first (the table `ftscale select` prints and writes)."""
        order = np.argsort(self.rank, kind="stable")
        return [
            {
                "rank": int(self.rank[i]),
                "candidate": self.candidates[i],
                "predicted_loss": float(self.loss[i]),
                "low": float(self.low[i]),
                "high": float(self.high[i]),
                "p_best": float(self.p_best[i]),
                "p_worse_than_leader": float(self.p_worse[i]),
            }
            for i in order
        ]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (without the draws)."""
        return {
            "target_df": self.target_df,
            "budget": self.budget,
            "predictor": self.predictor,
            "backtest_spread": self.backtest_spread,
            "level": self.level,
            "n_bootstrap": len(self.draws),
            "seed": self.seed,
            "verdict": self.verdict(),
            "candidates": self.rows(),
        }


def select(
    curves: Mapping[str, Curve],
    target_df: float,
    *,
    budget: float | None = None,
    predictors: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Selection:
    """Predict every candidate's loss at `target_df` from its points with Df <= budget x target_df (all points when
    budget is None), rank the candidates and bootstrap the choice (see the module docstring).

    predictors: the menu to choose from (all of `tails.PREDICTORS` by default). ScalingLawError, one line, for a
    target below a measured Df, a budget outside (0, 1], a candidate with fewer than 3 Df values within the budget,
    a loss that is not a finite positive number.
    """
    menu = get_predictors(predictors)
    limit = visible_limit(target_df, budget)
    if n_bootstrap < 1 or not 0 < level < 1:
        raise ScalingLawError(f"select needs n_bootstrap >= 1 and 0 < level < 1, got {n_bootstrap} and {level}")
    if not curves:
        raise ScalingLawError("select needs at least one candidate")
    names = list(curves)
    seen = _curves(curves, target_df, budget, limit)
    log_target = np.full(len(names), np.log(target_df))
    spread, errors = {}, {}
    for name, predict in menu.items():
        errors[name], horizon = _backtest(seen, predict, log_target)
        spread[name] = float(
            np.sqrt(np.mean((errors[name] - errors[name].mean()) ** 2)) if len(names) > 1 else abs(errors[name][0])
        )
    chosen = min(menu, key=lambda n: spread[n])  # min keeps the first of equals: menu order breaks ties
    predicted = menu[chosen](seen, log_target)
    per_unit = errors[chosen] / horizon**HORIZON_POWER
    per_unit -= per_unit.mean()  # the spread, not the shared bias: see the module docstring
    ahead = (log_target - np.array([x[-1] for x in seen.log_df])) ** HORIZON_POWER
    rng = np.random.default_rng(seed)
    draws = np.exp(predicted - per_unit[rng.integers(0, len(names), (n_bootstrap, len(names)))] * ahead)
    rank = np.empty(len(names), int)
    rank[np.argsort(predicted, kind="stable")] = np.arange(1, len(names) + 1)
    leader = int(np.argmin(rank))
    low, high = percentile_interval(draws, level)
    return Selection(
        candidates=names,
        target_df=float(target_df),
        budget=budget,
        predictor=chosen,
        backtest_spread=spread,
        loss=np.exp(predicted),
        low=np.atleast_1d(low),
        high=np.atleast_1d(high),
        level=level,
        p_best=np.bincount(np.argmin(draws, axis=1), minlength=len(names)) / n_bootstrap,
        p_worse=(draws > draws[:, [leader]]).mean(axis=0),
        rank=rank,
        seed=seed,
        draws=draws,
    )


def visible_limit(target_df: float, budget: float | None) -> float:
    """The largest Df that `select` reads (inf without a budget); ScalingLawError for a target Df that is not a
    finite positive number or a budget outside (0, 1]."""
    if not (np.isfinite(target_df) and target_df > 0):
        raise ScalingLawError(f"the target Df must be a finite number > 0, got {target_df!r}")
    if budget is None:
        return np.inf
    if not 0 < budget <= 1:
        raise ScalingLawError(
            f"the budget must be in (0, 1] (the share of the target Df the candidates may see), got {budget!r}"
        )
    return budget * target_df * (1 + TOLERANCE)


def _curves(curves: Mapping[str, Curve], target_df: float, budget: float | None, limit: float) -> Curves:
    """Validated curves: the points within the budget, one mean loss per distinct Df, in log space."""
    log_df, log_loss = [], []
    for name, curve in curves.items():
        df = np.asarray(curve.df, float)
        if not np.all(np.isfinite(df) & (df > 0)):
            raise ScalingLawError(
                f"candidate {name!r}: Df must be finite and > 0, got {df[~(np.isfinite(df) & (df > 0))][0]!r} "
                "(give the loss before finetuning as its loss0)"
            )
        if budget is None and df.max() > target_df * (1 + TOLERANCE):
            raise ScalingLawError(
                f"the target Df {target_df:g} is below the largest Df measured ({df.max():g}, candidate {name!r}); "
                "select predicts beyond the measurements: give a larger target, or a budget"
            )
        inside = np.flatnonzero(df <= limit)
        loss = np.array([_loss(curve.loss[i], name, df[i]) for i in inside])
        distinct, where = np.unique(df[inside], return_inverse=True)
        if len(distinct) < MIN_DF_VALUES:
            within = "" if budget is None else f" within the budget (Df <= {budget * target_df:g})"
            raise ScalingLawError(
                f"candidate {name!r} has {len(distinct)} distinct Df value(s){within}; select needs at least "
                f"{MIN_DF_VALUES} to extrapolate a curve"
            )
        log_df.append(np.log(distinct))
        log_loss.append(np.log(np.bincount(where, weights=loss) / np.bincount(where)))
    return Curves(
        log_df,
        log_loss,
        [c.pool for c in curves.values()],
        [_positive_log(c.size, name, "size") for name, c in curves.items()],
        [_positive_log(c.loss0, name, "loss0") for name, c in curves.items()],
    )


def _loss(value: object, name: str, df: float) -> float:
    try:
        loss = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScalingLawError(f"candidate {name!r}: the loss at Df {df:g} is {value!r}, not a number") from None
    if not (np.isfinite(loss) and loss > 0):
        raise ScalingLawError(f"candidate {name!r}: the loss at Df {df:g} is {loss!r}; losses must be finite and > 0")
    return loss


def _positive_log(value: float | None, name: str, what: str) -> float | None:
    if value is None:
        return None
    if not (np.isfinite(value) and value > 0):
        raise ScalingLawError(f"candidate {name!r}: {what} is {value!r}; it must be a finite number > 0")
    return float(np.log(value))


def _backtest(curves: Curves, predict, log_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's error (predicted - measured log loss) at its largest Df from its smaller ones, and the log
    horizon of that extrapolation (see the module docstring for which points are used)."""
    last = np.array([x[-1] for x in curves.log_df])
    keep = np.array([min(3, len(x) - 1) for x in curves.log_df])  # points a backtest fit needs at least
    floor = np.array([x[k - 1] for x, k in zip(curves.log_df, keep, strict=True)])
    below = np.array([x[-2] for x in curves.log_df])
    cut = np.minimum(np.maximum(2 * last - log_target, floor), below)
    past = curves.upto(cut)
    horizon = last - np.array([x[-1] for x in past.log_df])
    measured = np.array([y[-1] for y in curves.log_loss])
    return predict(past, last) - measured, horizon
