"""Two-stage bootstrap: resample each factor's fitted points and rerun both stages per resample.

Resample i draws, for every factor, as many of that factor's fitted points as it has, with replacement
(held-out points are never drawn; with groups, whole groups first: see scaling_laws.draws); stage 1 (the
shared beta and E, each stage-1 factor with its own A and alpha) and stage 2 (A and alpha per factor with
resample i's shared values fixed) are then refit on those draws. So beta and E get honest intervals, and
row i of every factor's samples comes from the same draw i, which gives intervals of derived quantities
(alpha_m - alpha_p, Delta_h, crossings) per resample.

The refits run batched (scaling_laws.batched) from the full-data optimum; a resample it does not bring
to a stationary point off the box is refit by the scipy fitter from the same start plus the best grid
starts (counted in `n_bootstrap_fallback`).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from ftscale.scaling_laws.batched import Part, solve
from ftscale.scaling_laws.draws import Draws, draw
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.fitter import fit_points, minimise
from ftscale.scaling_laws.forms import FLOOR, MULTIPLICATIVE, LawForm
from ftscale.scaling_laws.intervals import percentile_interval
from ftscale.scaling_laws.joint import (
    Rules,
    TwoStageResult,
    assess_stage1,
    factor_rules,
    fit_two_stage,
    reduce_groups,
    stage1_columns,
    stage1_extra,
    stage1_view,
)
from ftscale.scaling_laws.objective import Objective, SumObjective
from ftscale.scaling_laws.points import Points, group_cells
from ftscale.scaling_laws.quality import assess
from ftscale.scaling_laws.resampling import BOOTSTRAP_STARTS


@dataclass(frozen=True)
class _Job:
    """What every chunk of resamples needs (picklable, for worker processes)."""

    series: dict[str, Points]  # the points fitted (cell means of grouped series)
    fitted: dict[str, np.ndarray]  # factor -> indices of its fitted points
    names: list[str]  # stage-1 factors
    form: LawForm
    shared: tuple[str, ...]
    start1: np.ndarray  # full-data stage-1 optimum
    starts1: np.ndarray  # best grid starts of stage 1 on the full data (for the scipy fallback)
    own2: dict[str, np.ndarray]  # factor -> full-data internal vector of its stage-2 law
    kind: str
    delta: float


def bootstrap_two_stage(
    series: Mapping[str, Points],
    *,
    stage1: Sequence[str] | None = None,
    held_out: Rules = None,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    workers: int = 1,
    form: LawForm = MULTIPLICATIVE,
    shared: Sequence[str] = ("beta", "E"),
    **fit_kw,
) -> TwoStageResult:
    """`fit_two_stage`, then both stages refit on `n` resamples (see the module docstring); every factor's
    FitResult gets intervals at `level` for all its parameters and its per-resample `bootstrap_params`.
    Resamples are drawn up front, so results do not depend on `workers` (beyond the last bits); workers > 1
    starts that many processes per call (1-4 s of imports), which only pays for very many resamples.
    fit_kw (loss_kind, delta, refine, grid) go to the point fit; the refits use its loss_kind and delta.
    """
    if n < 1 or not 0 < level < 1:
        raise ScalingLawError(f"bootstrap needs n >= 1 and 0 < level < 1, got n={n}, level={level}")
    point = fit_two_stage(series, stage1=stage1, form=form, shared=shared, held_out=held_out, **fit_kw)
    rules = {g: factor_rules(held_out, g) for g in series}
    cells = {g: group_cells(pts) if pts.groups is not None else None for g, pts in series.items()}
    series, held, _ = reduce_groups(series, rules)
    draws = draw(series, held, cells, n=n, seed=seed, uses_x=form.uses_x)
    job = _job(series, held, point, form, tuple(shared), fit_kw)
    chunks = [draws.rows(rows) for rows in np.array_split(np.arange(n), max(1, min(workers, n)))]
    if workers > 1:
        # Spawned, not forked: a fork of a process with live threads can inherit a held lock and hang.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(_refit, [job] * len(chunks), chunks))
    else:
        done = [_refit(job, chunks[0])]
    theta = {g: np.concatenate([d[0][g] for d in done]) for g in series}
    ok = {g: np.concatenate([d[1][g] for d in done]) for g in series}
    fallback = np.concatenate([d[2] for d in done])
    return _result(point, job, held, theta, ok, fallback, draws.redrawn, n=n, seed=seed, level=level)


def _job(series, held, point: TwoStageResult, form: LawForm, shared: tuple[str, ...], fit_kw) -> _Job:
    names = point.stage1_factors
    fitted = {g: np.flatnonzero(~held[g]) for g in series}
    own2 = {g: form.to_internal(fit.params) for g, fit in point.fits.items()}
    own = [form.params.index(p) for p in form.params if p not in shared]
    start1 = np.concatenate([own2[names[0]][[form.params.index(p) for p in shared]]] + [own2[g][own] for g in names])
    kind, delta = fit_kw.get("loss_kind", "log-huber"), fit_kw.get("delta", 1e-3)
    full = SumObjective(
        [
            Objective.on_points(stage1_view(form, shared, names, k), series[g], fitted[g], kind=kind, delta=delta)
            for k, g in enumerate(names)
        ]
    )
    grid = form.grid()[:, stage1_columns(form, shared, names)]
    starts1 = grid[np.argsort(full.values(grid), kind="stable")[:BOOTSTRAP_STARTS]]
    return _Job(dict(series), fitted, names, form, shared, start1, starts1, own2, kind, delta)


def _resampled(points: Points, draws: Draws, factor: str, i: int) -> Points:
    """The factor's points with resample i's cell losses (they differ from the data's only with groups)."""
    return replace(points, loss=draws.losses[factor][i])


def _refit(job: _Job, draws: Draws):
    """Both stages on a chunk of resamples: per factor the internal parameters (k, p) and convergence
    (k,), and which resamples needed the scipy fallback (k,)."""
    weights = draws.weights
    theta1, ok1, fallback = _stage1(job, draws)
    form, names = job.form, job.names
    views = [stage1_view(form, job.shared, names, i) for i in range(len(names))]
    base1 = {g: views[j].full(theta1) for j, g in enumerate(names)}  # (k, p) base parameters per factor
    shared_idx = [form.params.index(p) for p in job.shared]
    own_idx = [i for i in range(len(form.params)) if i not in shared_idx]
    thetas, oks = {}, {}
    for g, pts in job.series.items():
        start = base1[g].copy() if g in base1 else np.tile(job.own2[g], (len(theta1), 1))
        start[:, shared_idx] = base1[names[0]][:, shared_idx]
        part = Part.on_points(form, pts, job.fitted[g], weights[g], draws.losses[g])
        opt = solve([part], start, bounds=form.bounds(), free=own_idx, kind=job.kind, delta=job.delta)
        theta, ok = opt.theta, opt.converged.copy()
        for i in np.flatnonzero(~ok):
            fixed = {p: v for p, v in form.to_natural(theta[i]).items() if p in job.shared}
            again = fit_points(
                form.constrained(fixed=fixed), _resampled(pts, draws, g, i), held_out=_mask(pts, job.fitted[g]),
                weights=weights[g][i], loss_kind=job.kind, delta=job.delta,
                warm=[theta[i, own_idx], start[i, own_idx]], refine=1, assess_quality=False,
            )  # fmt: skip
            theta[i], ok[i] = form.to_internal(again.params), again.converged
            fallback[i] = True
        thetas[g], oks[g] = theta, ok & ok1
    return thetas, oks, fallback


def _stage1(job: _Job, draws: Draws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-1 parameters (k, p1) of each resample, whether they converged, and whether scipy was needed."""
    form, names, weights = job.form, job.names, draws.weights
    box = form.bounds()
    bounds = [box[c] for c in stage1_columns(form, job.shared, names)]
    views = [stage1_view(form, job.shared, names, i) for i in range(len(names))]
    parts = [
        Part.on_points(v, job.series[g], job.fitted[g], weights[g], draws.losses[g])
        for v, g in zip(views, names, strict=True)
    ]
    start = np.tile(job.start1, (len(weights[names[0]]), 1))
    opt = solve(parts, start, bounds=bounds, kind=job.kind, delta=job.delta)
    theta, ok = opt.theta, opt.converged.copy()
    floors = [i for i, c in enumerate(stage1_columns(form, job.shared, names)) if form.meaning(form.params[c]) == FLOOR]
    if floors and not ok.all():
        # Resamples whose optimum has E -> 0 crawl along a curved valley towards it; started from E's lower
        # bound (a pure power law; every factor's E when E is not shared) they converge at once. Kept only where
        # that is at least as low.
        rows = np.flatnonzero(~ok)
        low = start[rows].copy()
        low[:, floors] = [bounds[i][0] for i in floors]
        again = solve([p.rows(rows) for p in parts], low, bounds=bounds, kind=job.kind, delta=job.delta)
        take = again.converged & (again.value <= opt.value[rows])
        theta[rows[take]], ok[rows[take]] = again.theta[take], True
    fallback = ~ok
    for i in np.flatnonzero(fallback):
        objective = SumObjective(
            [
                Objective.on_points(v, _resampled(job.series[g], draws, g, i), job.fitted[g], kind=job.kind,
                                    delta=job.delta, weights=weights[g][i, job.fitted[g]])
                for v, g in zip(views, names, strict=True)
            ]
        )  # fmt: skip
        again = minimise(
            objective, job.starts1, bounds=bounds, names=list(views[0].internal), refine=1, warm=[theta[i], job.start1]
        )
        theta[i], ok[i] = again.theta, again.converged
    return theta, ok, fallback


def _mask(points: Points, fitted: np.ndarray) -> np.ndarray:
    mask = np.ones(len(points), bool)
    mask[fitted] = False
    return mask


def _natural(form: LawForm, theta: np.ndarray) -> np.ndarray:
    """Natural parameters (k, p) from internal ones, columns in form.params order."""
    logs = np.array([form.positive(p) for p in form.params])
    return np.where(logs, np.exp(theta), theta)


def _result(point, job: _Job, held, theta, ok, fallback, redrawn, *, n, seed, level) -> TwoStageResult:
    form = job.form
    fits, delta_h = {}, {}
    for g, fit in point.fits.items():
        rows = _natural(form, theta[g])
        lo, hi = percentile_interval(rows, level)
        pts = job.series[g]
        fits[g] = assess(
            replace(
                fit,
                intervals={p: [float(a), float(b)] for p, a, b in zip(form.params, lo, hi, strict=True)},
                level=level,
                n_bootstrap=n,
                n_bootstrap_failed=int((~ok[g]).sum()),
                bootstrap_params=rows.tolist(),
                seed=seed,
            ),
            pts,
            ~held[g],
            held[g],
            extra=stage1_extra(point),
        )
        if held[g].any():
            pred = np.exp(form.log_predict(theta[g], pts.log_x()[held[g]], np.log(pts.df[held[g]])))
            delta_h[g] = np.mean(np.abs(pts.loss[held[g]] - pred), axis=1).tolist()
    shared = _natural(form, theta[job.names[0]])[:, [form.params.index(p) for p in job.shared]]
    lo, hi = percentile_interval(shared, level)
    result = replace(
        point,
        fits=fits,
        shared_intervals={p: [float(a), float(b)] for p, a, b in zip(job.shared, lo, hi, strict=True)},
        level=level,
        n_bootstrap=n,
        n_bootstrap_fallback=int(fallback.sum()),
        n_bootstrap_failed=int(np.any([~v for v in ok.values()], axis=0).sum()),
        n_bootstrap_redrawn=redrawn,
        delta_h_samples=delta_h,
        seed=seed,
    )
    return assess_stage1(result, form)
