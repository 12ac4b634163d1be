"""The paper's two-stage joint fit: shared (beta, E) from several factors, then (A, alpha) per factor."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.fitter import REFINE, fit_points, minimise
from ftscale.scaling_laws.forms import MULTIPLICATIVE, LawForm, Mapped
from ftscale.scaling_laws.heldout import held_out_mask
from ftscale.scaling_laws.objective import Objective, SumObjective
from ftscale.scaling_laws.points import Points, check_fittable
from ftscale.scaling_laws.result import FitResult


@dataclass
class TwoStageResult:
    """Stage 1's shared parameters and how it converged; stage 2's fit per factor."""

    shared: dict[str, float]
    stage1_objective: float
    stage1_converged: bool
    stage1_message: str
    stage1_factors: list[str]
    fits: dict[str, FitResult]

    def to_json(self) -> str:
        """JSON text (each per-factor fit in FitResult's format)."""
        return json.dumps(asdict(self), indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> TwoStageResult:
        """Inverse of to_json."""
        data = json.loads(text)
        data["fits"] = {k: FitResult.from_dict(v) for k, v in data["fits"].items()}
        return cls(**data)


def fit_two_stage(
    series: Mapping[str, Points],
    *,
    stage1: Sequence[str] | None = None,
    form: LawForm = MULTIPLICATIVE,
    shared: Sequence[str] = ("beta", "E"),
    held_out: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    **fit_kw,
) -> TwoStageResult:
    """Fit `shared` on the `stage1` factors together (each with its own other params), then refit each
    factor in `series` with the shared values fixed. series maps factor name -> points with X = that
    factor (model size, pretraining tokens, PET size); stage1 defaults to every factor. held_out is one
    list of rules for every factor, or a mapping factor -> rules (the paper holds out the largest model
    but an interior pretraining checkpoint).
    """

    def rules(g: str) -> Sequence[str] | None:
        return held_out.get(g) if isinstance(held_out, Mapping) else held_out

    names = list(stage1 or series)
    unknown = [s for s in names if s not in series] + [p for p in shared if p not in form.params]
    if unknown:
        raise ScalingLawError(f"two-stage fit: unknown factor(s) or parameter(s) {unknown}")
    own = [p for p in form.params if p not in shared]
    free = list(shared) + [f"{p}[{g}]" for g in names for p in own]
    parts = []
    for k, g in enumerate(names):
        points = series[g]
        keep = ~held_out_mask(points, rules(g))
        check_fittable(points, keep, len(own) + len(shared), form.uses_x, f"{form.name} ({g})")
        # Base parameter row i reads the shared column, or this factor's own column.
        matrix = np.zeros((len(form.params), len(free)))
        for i, p in enumerate(form.params):
            matrix[i, shared.index(p) if p in shared else len(shared) + k * len(own) + own.index(p)] = 1.0
        view = Mapped(form, matrix, np.zeros(len(form.params)), free, f"{form.name}[{g}]")
        parts.append(
            Objective.on_points(
                view, points, keep, kind=fit_kw.get("loss_kind", "log-huber"), delta=fit_kw.get("delta", 1e-3)
            )
        )
    # Starts: each factor's own unconstrained fit supplies its own parameters, and in turn each fit's
    # shared values (a common grid start cannot suit factors whose X differ by orders of magnitude).
    alone = {g: form.to_internal(fit_points(form, series[g], held_out=rules(g), **fit_kw).params) for g in names}
    at = [form.params.index(p) for p in own]
    mine = np.concatenate([alone[g][at] for g in names])
    warm = [np.concatenate([alone[g][[form.params.index(p) for p in shared]], mine]) for g in names]
    idx = [form.params.index(p) for p in shared] + [form.params.index(p) for _ in names for p in own]
    box = form.bounds()
    opt = minimise(
        SumObjective(parts),
        form.grid()[:, idx],
        bounds=[box[i] for i in idx],
        names=[form.internal[form.params.index(p)] for p in shared] + free[len(shared) :],
        refine=fit_kw.get("refine", REFINE),
        warm=warm,
    )
    natural = form.to_natural(parts[0].form.full(opt.theta)[0])
    shared_values = {p: natural[p] for p in shared}
    fixed = form.constrained(fixed=shared_values)
    fits = {g: fit_points(fixed, pts, held_out=rules(g), **fit_kw) for g, pts in series.items()}
    return TwoStageResult(shared_values, opt.value, opt.converged, opt.message, names, fits)
