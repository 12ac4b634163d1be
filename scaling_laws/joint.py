"""The paper's two-stage joint fit: shared (beta, E) from several factors, then (A, alpha) per factor."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.fitter import REFINE, fit_points, minimise
from ftscale.scaling_laws.forms import MULTIPLICATIVE, LawForm, Mapped
from ftscale.scaling_laws.heldout import held_out_mask
from ftscale.scaling_laws.objective import Objective, SumObjective
from ftscale.scaling_laws.points import Points, check_fittable, group_cells
from ftscale.scaling_laws.quality import assess, parameter_reasons, verdict
from ftscale.scaling_laws.result import FitResult

# Held-out points: one list of rules for every factor, or a mapping factor -> rules or a boolean mask.
Rules = Sequence[str] | Mapping[str, Sequence[str] | np.ndarray] | None


@dataclass
class TwoStageResult:
    """Stage 1's shared parameters and how it converged; stage 2's fit per factor.

    After `bootstrap_two_stage`, every fit also has bootstrap intervals and samples, and row i of every
    factor's `bootstrap_params` (and of `delta_h_samples`) comes from the same resample draw i.
    """

    shared: dict[str, float]
    stage1_objective: float
    stage1_converged: bool
    stage1_message: str
    stage1_factors: list[str]
    fits: dict[str, FitResult]
    stage1_at_bound: list[str] = field(default_factory=list)  # stage-1 parameters left on the box ("A[model]")
    stage1_quality: str | None = None  # the shared stage's verdict ("ok" or "degenerate"; None in older files)
    stage1_reasons: list[str] = field(default_factory=list)
    shared_intervals: dict[str, list[float]] | None = None  # percentile [low, high] of each shared parameter
    level: float | None = None
    n_bootstrap: int = 0
    n_bootstrap_fallback: int = 0  # resamples the batched solver handed to the scipy fitter (any stage)
    n_bootstrap_failed: int = 0  # resamples not converged even then (still counted in the intervals)
    n_bootstrap_redrawn: int = 0  # draws replaced: they left some factor one distinct X or Df
    delta_h_samples: dict[str, list[float]] | None = None  # factor -> Delta_h per resample (held-out factors)
    seed: int | None = None

    def samples(self, factor: str, param: str) -> np.ndarray:
        """`param` of `factor`'s law in every resample; index i of every factor comes from draw i."""
        fit = self.fits[factor]
        if not fit.bootstrap_params:
            raise ScalingLawError("this two-stage fit has no bootstrap resamples; use bootstrap_two_stage")
        return np.array(fit.bootstrap_params)[:, list(fit.params).index(param)]

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
    held_out: Rules = None,
    weights: Mapping[str, np.ndarray] | None = None,
    own_fits: dict | None = None,
    **fit_kw,
) -> TwoStageResult:
    """Fit `shared` on the `stage1` factors together (each with its own other params), then refit each
    factor in `series` with the shared values fixed. series maps factor name -> points with X = that
    factor (model size, pretraining tokens, PET size); stage1 defaults to every factor. held_out is one
    list of rules for every factor, or a mapping factor -> rules or a boolean mask (the paper holds out the
    largest model but an interior pretraining checkpoint). Grouped series (replicates, `Points.groups`) are
    fitted on their cell means. weights: factor -> per-point (per-cell) multiplicities (a bootstrap
    resample), used in both stages. Every law and the shared stage carry a fit-quality verdict. own_fits: a dict
    kept by the caller across calls on the same series and options that differ only in `shared` or `held_out` (the
    options of a cross-validation): each factor's own fit, the stage-1 start, which does not depend on `shared`,
    is then computed once per held-out mask.
    """
    names = stage1_factors(series, stage1, form, shared)
    rules = {g: factor_rules(held_out, g) for g in series}
    series, held, groups = reduce_groups(series, rules)
    kind, delta = fit_kw.get("loss_kind", "log-huber"), fit_kw.get("delta", 1e-3)
    own = [p for p in form.params if p not in shared]
    parts = []
    for k, g in enumerate(names):
        points, keep = series[g], ~held[g]
        check_fittable(points, keep, len(own) + len(shared), form.uses_x, f"{form.name} ({g})")
        w = None if weights is None else np.asarray(weights[g], float)[keep]
        view = stage1_view(form, shared, names, k)
        parts.append(Objective.on_points(view, points, keep, kind=kind, delta=delta, weights=w))

    # Starts: each factor's own unconstrained fit supplies its own parameters, and in turn each fit's
    # shared values (a common grid start cannot suit factors whose X differ by orders of magnitude).
    def own_fit(g: str) -> np.ndarray:
        fit = fit_points(form, series[g], held_out=held[g], assess_quality=False, **_kw(weights, g, fit_kw))
        return form.to_internal(fit.params)

    if own_fits is None or weights is not None:
        alone = {g: own_fit(g) for g in names}
    else:
        for g in names:
            if (g, held[g].tobytes()) not in own_fits:
                own_fits[g, held[g].tobytes()] = own_fit(g)
        alone = {g: own_fits[g, held[g].tobytes()] for g in names}
    at = [form.params.index(p) for p in own]
    mine = np.concatenate([alone[g][at] for g in names])
    warm = [np.concatenate([alone[g][[form.params.index(p) for p in shared]], mine]) for g in names]
    idx = stage1_columns(form, shared, names)
    box = form.bounds()
    opt = minimise(
        SumObjective(parts),
        form.grid()[:, idx],
        bounds=[box[i] for i in idx],
        names=list(parts[0].form.internal),
        refine=fit_kw.get("refine", REFINE),
        warm=warm,
    )
    natural = form.to_natural(parts[0].form.full(opt.theta)[0])
    shared_values = {p: natural[p] for p in shared}
    stage1_free = parts[0].form.free
    point = TwoStageResult(
        shared_values,
        opt.value,
        opt.converged,
        opt.message,
        names,
        {},
        stage1_at_bound=[stage1_free[i] for i in opt.at_bound],
    )
    fixed = form.constrained(fixed=shared_values)
    fits = {}
    for g, pts in series.items():
        fitted = fit_points(fixed, pts, held_out=held[g], assess_quality=False, **_kw(weights, g, fit_kw))
        floor, n_groups = groups[g]
        fitted = replace(
            fitted,
            held_out=list(rules[g] or []) if not isinstance(rules[g], np.ndarray) else [],
            at_bound=[p for p in point.stage1_at_bound if p in shared] + fitted.at_bound,
            noise_floor=floor,
            n_groups=n_groups,
        )
        fits[g] = assess(fitted, pts, ~held[g], held[g], extra=stage1_extra(point))
    return assess_stage1(replace(point, fits=fits), form)


def reduce_groups(
    series: Mapping[str, Points], rules: Mapping[str, Sequence[str] | np.ndarray | None]
) -> tuple[dict[str, Points], dict[str, np.ndarray], dict[str, tuple[float | None, int]]]:
    """Per factor: its points with replicates reduced to cell means (points.group_cells), the held-out mask
    over them, and (noise floor, number of groups); ungrouped series pass through."""
    reduced, held, groups = {}, {}, {}
    for g, pts in series.items():
        mask = held_out_mask(pts, rules.get(g))
        if pts.groups is None:
            reduced[g], held[g], groups[g] = pts, mask, (None, 0)
        else:
            cells = group_cells(pts)
            reduced[g], held[g] = cells.points, cells.cell_mask(mask)
            groups[g] = (cells.noise_floor(), len(cells.groups))
    return reduced, held, groups


def stage1_extra(result: TwoStageResult) -> list[str]:
    """Reasons from the shared stage that every factor's law inherits (its at-bound shared parameters are in
    each law's own `at_bound`)."""
    return [] if result.stage1_converged else ["the shared stage (stage 1) did not converge"]


def assess_stage1(result: TwoStageResult, form: LawForm) -> TwoStageResult:
    """The shared stage's verdict: converged, its parameters off the box, shared exponents of the right sign,
    and (after a bootstrap) shared intervals narrow enough to identify them."""
    reasons = parameter_reasons(
        form,
        result.shared,
        converged=result.stage1_converged,
        at_bound=result.stage1_at_bound,
        intervals=result.shared_intervals,
        level=result.level,
    )
    return replace(result, stage1_quality=verdict(reasons), stage1_reasons=reasons)


def _kw(weights: Mapping[str, np.ndarray] | None, factor: str, fit_kw: dict) -> dict:
    return fit_kw if weights is None else {**fit_kw, "weights": weights[factor]}


def factor_rules(held_out: Rules, factor: str) -> Sequence[str] | np.ndarray | None:
    """The held-out rules (or mask) of one factor, from one list for all factors or a mapping factor -> rules."""
    return held_out.get(factor) if isinstance(held_out, Mapping) else held_out


def stage1_factors(
    series: Mapping[str, Points], stage1: Sequence[str] | None, form: LawForm, shared: Sequence[str]
) -> list[str]:
    """The stage-1 factors (every factor by default); ScalingLawError on unknown factors or parameters."""
    names = list(stage1 or series)
    unknown = [s for s in names if s not in series] + [p for p in shared if p not in form.params]
    if unknown:
        raise ScalingLawError(f"two-stage fit: unknown factor(s) or parameter(s) {unknown}")
    return names


def stage1_view(form: LawForm, shared: Sequence[str], names: Sequence[str], k: int) -> Mapped:
    """Factor k's law in stage 1's parameters: the shared ones, then each factor's own ones in turn."""
    own = [p for p in form.params if p not in shared]
    free = list(shared) + [f"{p}[{g}]" for g in names for p in own]
    # Base parameter row i reads the shared column, or this factor's own column.
    matrix = np.zeros((len(form.params), len(free)))
    for i, p in enumerate(form.params):
        matrix[i, shared.index(p) if p in shared else len(shared) + k * len(own) + own.index(p)] = 1.0
    bases = list(shared) + [p for _ in names for p in own]
    return Mapped(form, matrix, np.zeros(len(form.params)), free, f"{form.name}[{names[k]}]", bases)


def stage1_columns(form: LawForm, shared: Sequence[str], names: Sequence[str]) -> list[int]:
    """For each stage-1 parameter, the base form's parameter it is (for grid columns and bounds)."""
    own = [p for p in form.params if p not in shared]
    return [form.params.index(p) for p in shared] + [form.params.index(p) for _ in names for p in own]
