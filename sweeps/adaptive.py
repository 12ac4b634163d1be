"""Adaptive sweeps (`ftscale sweep run SPEC --select target_df=N [--budget F]`): which candidate finetunes to the
lowest loss at a target Df, found by running every candidate's cheap points first and dropping the candidates that
are worse than the leader with high probability before their costly points run.

A candidate is a (backbone x method x PET size) of the spec: its points differ only in finetuning size and seed.
Each candidate's finetuning sizes up to the target, ascending, are its stages: stage 0 holds its 3 smallest (what
`scaling_laws.selection.select` needs to extrapolate), every later stage the next one, all seeds together. After a
stage the selection (`sweeps/stage_selection.py`) drops candidates; the next stage opens for the rest, until one is
left, no candidate has a larger size up to the target, or the next stage would spend more than the budget: the
share of the full sweep's planned training steps (every finetuning point of the spec at its step cap).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftscale.errors import InputError
from ftscale.scaling_laws.selection import MIN_DF_VALUES
from ftscale.sweeps.points import BASE_METHOD, Point
from ftscale.sweeps.store.stages import PlannedPoint

if TYPE_CHECKING:
    from ftscale.sweeps.spec import SweepSpec

PROBABILITY = 0.95  # P(worse than the leader) at which a candidate is dropped
KEYS = ("target_df",)  # what --select takes
# What tells candidates apart, besides the method, in the order their names show it.
CANDIDATE_FACTORS = ("model", "revision", "pretrain_tokens", "pet_size")
NAMED = {"revision": "@", "pretrain_tokens": "tokens=", "pet_size": "pet="}
TOLERANCE = 1e-9  # relative, on the budget's share of steps


@dataclass(frozen=True)
class Adaptive:
    """How an adaptive sweep chooses: the finetuning size to choose the best candidate for, the share of the full
    sweep's planned training steps it may spend (in (0, 1]), and the P(worse than the leader) that drops a
    candidate."""

    target_df: float
    budget: float = 1.0
    probability: float = PROBABILITY

    def settings(self) -> dict[str, Any]:
        """As the store keeps it (JSON)."""
        return {"target_df": self.target_df, "budget": self.budget, "probability": self.probability}

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Adaptive:
        return cls(settings["target_df"], settings["budget"], settings["probability"])


def parse_select(select: Sequence[str] | None, budget: float | None) -> Adaptive | None:
    """`--select KEY=VALUE ...` and `--budget F` as adaptive settings (None: an ordinary sweep); InputError, one
    line naming the option, for an unknown key, a value that is not a number > 0, or a budget outside (0, 1]."""
    if not select:
        if budget is not None:
            raise InputError("--budget applies to an adaptive sweep: give --select target_df=N with it")
        return None
    values: dict[str, float] = {}
    for item in select:
        key, sep, value = item.partition("=")
        if key not in KEYS or not sep:
            raise InputError(
                f"--select {item!r}: expected {' '.join(f'{k}=N' for k in KEYS)} (the finetuning size to choose "
                "the best candidate for)"
            )
        try:
            values[key] = float(value)
        except ValueError:
            values[key] = math.nan
        if not (math.isfinite(values[key]) and values[key] > 0):
            raise InputError(f"--select {item!r}: {key} must be a finite number > 0")
    if budget is not None and not (math.isfinite(budget) and 0 < budget <= 1):
        raise InputError(f"--budget {budget!r}: expected a share in (0, 1] of the full sweep's planned training steps")
    target = values["target_df"]
    return Adaptive(int(target) if target.is_integer() else target, 1.0 if budget is None else budget)


def plan_stages(spec: SweepSpec, adaptive: Adaptive) -> dict[str, PlannedPoint]:
    """Every point's candidate, stage (None beyond the target) and planned steps; InputError, one line, for a
    candidate with fewer than 3 finetuning sizes, a target below a candidate's first-stage sizes, or a budget that
    the first stage alone exceeds (or that steps the spec does not fix cannot be held to)."""
    from ftscale.sweeps.cost import sweep_cost  # the methods' step and parameter counts: loads torch

    points = spec.points()
    steps = {row.point_id: row.steps for row in sweep_cost(spec).rows}
    names = candidate_names(points)
    sizes: dict[str, list[int]] = {}
    for point in points:
        if point.method != BASE_METHOD:
            sizes.setdefault(names[point.id], []).append(point.factors["train_size"])
    stages = {name: _stages(name, sorted(set(df)), adaptive.target_df) for name, df in sizes.items()}
    plan = {
        point.id: PlannedPoint(None, 0, 0)
        if point.method == BASE_METHOD
        else PlannedPoint(names[point.id], stages[names[point.id]].get(point.factors["train_size"]), steps[point.id])
        for point in points
    }
    if adaptive.budget < 1:
        _check_budget(plan, adaptive.budget)
    return plan


def candidate_names(points: Sequence[Point]) -> dict[str, str]:
    """Each finetuning point's candidate name, `method/model[@revision][/tokens=T][/pet=P]`, with only the factors
    that differ between candidates (e.g. `lora/s/pet=4`)."""
    keys = {p.id: (p.method, *(p.factors.get(f) for f in CANDIDATE_FACTORS)) for p in points if p.method != BASE_METHOD}
    varies = [len({key[i + 1] for key in keys.values()}) > 1 for i in range(len(CANDIDATE_FACTORS))]
    return {point_id: _name(key, varies) for point_id, key in keys.items()}


def _name(key: tuple, varies: list[bool]) -> str:
    method, model, revision, *rest = key
    name = f"{method}/{model}" + (f"@{revision}" if revision is not None else "")
    for factor, value, shown in zip(CANDIDATE_FACTORS[2:], rest, varies[2:], strict=True):
        if shown and value is not None:
            name += f"/{NAMED[factor]}{value}"
    return name


def _stages(name: str, df: list[int], target: float) -> dict[int, int]:
    """A candidate's stage of each of its finetuning sizes up to the target (beyond it: none)."""
    if len(df) < MIN_DF_VALUES:
        raise InputError(
            f"candidate {name} has {len(df)} finetuning size(s) in the spec ({', '.join(map(str, df))}); an adaptive "
            f"sweep needs at least {MIN_DF_VALUES} per candidate for its first stage (train_sizes)"
        )
    first = df[MIN_DF_VALUES - 1]
    if target < first:
        raise InputError(
            f"--select target_df={target:g}: below {first}, the largest finetuning size of the first stage "
            f"(candidate {name}: {', '.join(map(str, df[:MIN_DF_VALUES]))}); expected a target >= {first}"
        )
    return {size: max(0, i - MIN_DF_VALUES + 1) for i, size in enumerate(s for s in df if s <= target)}


def _check_budget(plan: dict[str, PlannedPoint], budget: float) -> None:
    unknown = [point_id for point_id, p in plan.items() if p.planned_steps is None]
    if unknown:
        raise InputError(
            f"--budget {budget:g}: point {unknown[0]} has no step cap (trainer.max_steps or a recipe with epochs), so "
            "its share of the full sweep's training steps is unknown; give the spec one, or drop --budget"
        )
    total = sum(p.planned_steps for p in plan.values())
    first = sum(p.planned_steps for p in plan.values() if p.stage == 0)
    if total and first > budget * total * (1 + TOLERANCE):
        raise InputError(
            f"--budget {budget:g}: the first stage alone plans {first / total:.1%} of the full sweep's training "
            f"steps ({first} of {total}); give --budget >= {math.ceil(first / total * 1000) / 1000:g}"
        )
