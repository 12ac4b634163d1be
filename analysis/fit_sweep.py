"""Fitting a sweep: every law of every method along every axis, the form ranking, critical sizes and claims."""

from __future__ import annotations

import itertools
import multiprocessing
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ftscale import scaling_laws as sl
from ftscale.analysis.claims import judge_claims
from ftscale.analysis.results import (
    AXES,
    LOSS,
    Critical,
    FormRanking,
    LawFit,
    PointResult,
    Skipped,
    SweepResults,
)

FORMS = (sl.MULTIPLICATIVE, sl.ADDITIVE, sl.RECTIFIED_JOINT)
LEVEL = 0.95
# Distinct grid starts refined per fit (the engine's default is 16): on the demo's laws 4 reach the same
# optimum at a quarter of the time (docs/benchmarks.md, "The end-of-sweep analysis").
REFINE = 4
HeldOut = Mapping[str, Sequence[str]]  # axis -> rules of the points kept out of its fits


def series(points: list[PointResult], method: str, axis: str) -> sl.Points | None:
    """The (X, Df, loss) points of one method along one axis, averaged over subset seeds as in the paper."""
    losses: dict[tuple[float, float], list[float]] = defaultdict(list)
    for p in points:
        if p.method == method and axis in p.axes and LOSS in p.metrics:
            losses[(p.x(axis), float(p.factors["train_size"]))].append(p.metrics[LOSS])
    if len({x for x, _ in losses}) < 2:  # a joint law needs at least two values of X
        return None
    keys = sorted(losses)
    return sl.as_points([k[0] for k in keys], [k[1] for k in keys], [float(np.mean(losses[k])) for k in keys])


def fit_sweep(
    sweep: str,
    task: str,
    points: list[PointResult],
    held_out: HeldOut,
    bootstrap: int = 1000,
    seed: int = 0,
    workers: int = 1,
) -> SweepResults:
    """Fit every method along each of its axes (a method that cannot be fitted yet is listed as skipped); with
    `workers` > 1 the methods are fitted in that many processes at once (the same results)."""
    results = SweepResults(sweep, task, points)
    delta_h: dict[str, np.ndarray] = {}
    methods = sorted({p.method for p in points if p.axes})
    jobs = [(method, _series_by_axis(points, method), held_out, bootstrap, seed) for method in methods]
    if workers > 1 and len(jobs) > 1:
        # Spawned, not forked: the caller may hold threads (a point's Trainer, W&B).
        with ProcessPoolExecutor(min(workers, len(jobs)), multiprocessing.get_context("spawn")) as pool:
            fitted = list(pool.map(_fit_and_rank, *zip(*jobs, strict=True)))
    else:
        fitted = [_fit_and_rank(*job) for job in jobs]
    for outcome in fitted:
        if isinstance(outcome, Skipped):
            results.skipped.append(outcome)
            continue
        laws, rankings, errors = outcome
        results.laws += laws
        results.forms += rankings
        delta_h |= errors
    results.critical = critical_sizes(results.laws, points)
    results.claims = judge_claims(results.laws, delta_h, points, LEVEL)
    return results


def _series_by_axis(points: list[PointResult], method: str) -> dict[str, sl.Points]:
    return {axis: s for axis in AXES if (s := series(points, method, axis)) is not None}


def _fit_and_rank(
    method: str, by_axis: dict[str, sl.Points], held_out: HeldOut, bootstrap: int, seed: int
) -> tuple[list[LawFit], list[FormRanking], dict[str, np.ndarray]] | Skipped:
    """One method's laws, form rankings and held-out error samples, or why it cannot be fitted yet."""
    try:
        fits = _fit_method(by_axis, held_out, bootstrap, seed)
    except sl.ScalingLawError as error:
        return Skipped(method, sorted(by_axis), str(error))
    laws, rankings, delta_h = [], [], {}
    for axis, fit in fits.items():
        laws.append(LawFit(method, axis, fit))
        rankings.append(_ranking(method, axis, by_axis[axis], held_out.get(axis)))
        if fit.bootstrap_params and fit.n_held_out:
            delta_h[f"{method}/{axis}"] = _held_out_error_samples(fit, by_axis[axis], held_out.get(axis))
    return laws, rankings, delta_h


def _fit_method(by_axis: dict[str, sl.Points], held_out: HeldOut, bootstrap: int, seed: int) -> dict[str, sl.FitResult]:
    """The paper's recipe: beta and E shared by the model-size and pretraining fits, then A, alpha per axis;
    the bootstrap resamples points and reruns both stages."""
    if not by_axis:
        raise sl.ScalingLawError("no axis has points at two or more values of X yet")
    stage1 = [a for a in ("model_size", "pretrain_tokens") if a in by_axis] or None
    if bootstrap:
        result = sl.bootstrap_two_stage(
            by_axis, stage1=stage1, held_out=held_out, n=bootstrap, seed=seed, level=LEVEL, refine=REFINE
        )
    else:
        result = sl.fit_two_stage(by_axis, stage1=stage1, held_out=held_out, refine=REFINE)
    return result.fits


def _held_out_error_samples(fit: sl.FitResult, points: sl.Points, rules: Sequence[str] | None) -> np.ndarray:
    """Delta_h (mean |L - L_hat| on the held-out points) under each bootstrap resample's parameters."""
    mask = sl.held_out_mask(points, rules)
    x, df, loss = points.x[mask], points.df[mask], points.loss[mask]
    return np.array([np.mean(np.abs(loss - fit.form.predict(s, x, df))) for s in fit.samples()])


def _ranking(method: str, axis: str, points: sl.Points, rules: Sequence[str] | None) -> FormRanking:
    fitted = int((~sl.held_out_mask(points, rules)).sum())
    forms = [form for form in FORMS if len(form.params) <= fitted]  # a form with more parameters than points: left out
    comparison = sl.compare_forms(points.x, points.df, points.loss, forms, held_out=rules, refine=REFINE)
    ranking = [{"law": f.law, "delta_e": f.delta_e, "delta_h": f.delta_h} for f in comparison.fits]
    return FormRanking(method, axis, comparison.winner.law, ranking)


def critical_sizes(laws: list[LawFit], points: list[PointResult]) -> list[Critical]:
    """Critical finetuning data size between every two methods along every axis both were fitted on."""
    rows = []
    for a, b in itertools.combinations(sorted(laws, key=lambda law: (law.method, law.axis)), 2):
        if a.axis != b.axis or a.method == b.method:
            continue
        xs = sorted({p.x(a.axis) for p in points if a.axis in p.axes})
        df_c = [sl.critical_data_size(a.fit, b.fit, x) for x in xs]
        rows.append(Critical(a.axis, a.method, b.method, xs, df_c))
    return rows
