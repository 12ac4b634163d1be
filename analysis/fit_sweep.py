"""Fitting a sweep: every method's laws, the form table, the sharing, critical sizes, decisions and the claims.

Per method, its points along each axis are one series grouped by subset seed: the laws are fitted to the cell
means (the paper averages its seeds) and the bootstrap resamples whole seeds. The method's laws are the primary
form's two-stage fit, sharing the parameters the spec names or, by default, the sharing cross-validation on the
fitted points prefers. Every choice (sharing, form) reads the fitted points only; the held-out points then score it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace

import numpy as np

from ftscale import scaling_laws as sl
from ftscale.analysis.claims import judge_claims
from ftscale.analysis.options import CV, LawOptions
from ftscale.analysis.results import (
    AXES,
    LOSS,
    AxisDecision,
    Critical,
    FormChoice,
    LawFit,
    PointResult,
    Sharing,
    Skipped,
    SweepResults,
)
from ftscale.analysis.schedule import Call, run_calls
from ftscale.scaling_laws.crossover import DF_BOUNDS
from ftscale.scaling_laws.crossval import FitFn
from ftscale.scaling_laws.memo import shared_optima

LEVEL = 0.95
# Distinct grid starts refined per fit (the engine's default is 16): on the demo's laws 4 reach the same
# optimum at a quarter of the time (docs/benchmarks.md, "The end-of-sweep analysis").
REFINE = 4
STAGE1 = ("model_size", "pretrain_tokens")  # the axes whose laws share parameters in the paper's stage 1
# Axes whose X means the same for every method (parameters, tokens), so two methods' laws can be compared at one X;
# on the PET-size axis X is each method's own size (a LoRA rank, a prompt length).
COMPARABLE = ("model_size", "pretrain_tokens")
HeldOut = Mapping[str, Sequence[str]]  # axis -> rules of the points kept out of its fits


def series(points: list[PointResult], method: str, axis: str) -> sl.Points | None:
    """The (X, Df, loss) points of one method along one axis, one row per point, grouped by subset seed (fitted as
    cell means, resampled by seed); None with fewer than two values of X (a joint law needs two)."""
    rows = sorted(
        (p.x(axis), float(p.factors["train_size"]), float(p.metrics[LOSS]), str(p.factors.get("seed")))
        for p in points
        if p.method == method and axis in p.axes and LOSS in p.metrics
    )
    if len({row[0] for row in rows}) < 2:
        return None
    x, df, loss, seeds = zip(*rows, strict=True)
    return sl.as_points(x, df, loss, groups=seeds, names=(AXES[axis], "train_size", LOSS), group_name="seed")


def fit_sweep(
    sweep: str,
    task: str,
    points: list[PointResult],
    held_out: HeldOut,
    bootstrap: int = 1000,
    seed: int = 0,
    workers: int = 1,
    options: LawOptions | None = None,
) -> SweepResults:
    """Fit every method along each of its axes (a method that cannot be fitted yet is listed as skipped); with
    `workers` > 1 the work runs in that many processes at once (the same results). `options`: the spec's
    `laws` (forms, primary form, sharing, decision target)."""
    options = options or LawOptions()
    results = SweepResults(sweep, task, points, options.primary, describe_forms(options.candidates))
    by_method = {m: _series_by_axis(points, m) for m in sorted({p.method for p in points if p.axes})}
    fittable = {m: by_axis for m, by_axis in by_method.items() if by_axis}
    # A method's bootstrap needs its sharing; its form tables reuse the sharing's optima (the options' own fits of
    # each axis are the tables' fits of its primary form, the chosen option's fit is the bootstrap's point fit).
    # Ranks: the sharings first, then each bootstrap as soon as its sharing is known (the long path), the tables.
    calls = [Call(("sharing", m), 0, _sharing_task, (m, by_axis, held_out, options)) for m, by_axis in fittable.items()]

    def after_sharing(key: tuple, outcome: tuple) -> list[Call]:
        if key[0] != "sharing":
            return []
        m, (sharing, optima) = key[1], outcome
        follow = [
            Call(("forms", m, axis), 2, _forms_task, (m, axis, pts, held_out.get(axis), options, optima))
            for axis, pts in fittable[m].items()
        ]
        if isinstance(sharing, Sharing):
            task = (m, fittable[m], held_out, options, sharing, bootstrap, seed, optima)
            follow.insert(0, Call(("laws", m), 1, _bootstrap_task, task))
        return follow

    done = run_calls(calls, after_sharing, workers)
    delta_h: dict[str, np.ndarray] = {}
    for method, by_axis in by_method.items():
        if not by_axis:
            results.skipped.append(Skipped(method, [], "no axis has points at two or more values of X yet"))
            continue
        forms = [done["forms", method, axis] for axis in by_axis]
        outcomes = [done["sharing", method][0], done.get(("laws", method)), *forms]
        skipped = next((o for o in outcomes if isinstance(o, Skipped)), None)
        if skipped is not None:
            results.skipped.append(replace(skipped, axes=sorted(by_axis)))
            continue
        laws, chosen, errors = done["laws", method]
        results.laws += laws
        results.sharing.append(chosen)
        results.forms += forms
        delta_h |= errors
    results.critical = critical_sizes(results.laws, points)
    results.decisions = decisions(results.laws, points, options.target)
    results.claims = judge_claims(results.laws, delta_h, points, LEVEL)
    return results


def describe_forms(forms: Sequence[sl.LawForm]) -> dict[str, dict]:
    """Each form by its key: its name, formula, and what each parameter means."""
    return {
        f.key: {"name": f.name, "formula": f.formula, "parameters": {p: f.meaning(p).label for p in f.params}}
        for f in forms
    }


def _series_by_axis(points: list[PointResult], method: str) -> dict[str, sl.Points]:
    return {axis: s for axis in AXES if (s := series(points, method, axis)) is not None}


def _stage1(by_axis: dict[str, sl.Points]) -> list[str] | None:
    return [a for a in STAGE1 if a in by_axis] or None


def _sharing_task(method: str, by_axis: dict[str, sl.Points], held_out: HeldOut, options: LawOptions):
    """`choose_sharing`, or why the method cannot be fitted (a Skipped); and the optima its fits found."""
    with shared_optima() as optima:
        try:
            return choose_sharing(method, by_axis, held_out, options, _stage1(by_axis)), optima
        except sl.ScalingLawError as error:
            return Skipped(method, [], str(error)), optima


def _forms_task(
    method: str, axis: str, points: sl.Points, rules: Sequence[str] | None, options: LawOptions, optima: dict
):
    """`form_choice` (reusing the sharing's `optima`), or why the method cannot be fitted (a Skipped)."""
    with shared_optima(optima):
        try:
            return form_choice(method, axis, points, rules, options)
        except sl.ScalingLawError as error:
            return Skipped(method, [], str(error))


def _bootstrap_task(
    method: str,
    by_axis: dict[str, sl.Points],
    held_out: HeldOut,
    options: LawOptions,
    sharing: Sharing,
    bootstrap: int,
    seed: int,
    optima: dict,
):
    """One method's laws (two-stage with its sharing, with intervals; reusing the sharing's `optima`), its sharing
    with the shared stage's verdict, and its held-out error per resample (keyed `method/axis`); or why it cannot be
    fitted (a Skipped)."""
    kw = {"stage1": _stage1(by_axis), "held_out": dict(held_out), "form": options.primary_form, "refine": REFINE}
    shared = tuple(sharing.shared)
    try:
        with shared_optima(optima):
            if bootstrap:
                result = sl.bootstrap_two_stage(by_axis, shared=shared, n=bootstrap, seed=seed, level=LEVEL, **kw)
            else:
                result = sl.fit_two_stage(by_axis, shared=shared, **kw)
    except sl.ScalingLawError as error:
        return Skipped(method, [], str(error))
    sharing = replace(sharing, stage1_quality=result.stage1_quality, stage1_reasons=result.stage1_reasons)
    laws = [LawFit(method, axis, fit, list(sharing.shared)) for axis, fit in result.fits.items()]
    errors = {f"{method}/{axis}": np.asarray(v) for axis, v in (result.delta_h_samples or {}).items()}
    return laws, sharing, errors


def choose_sharing(
    method: str, by_axis: dict[str, sl.Points], held_out: HeldOut, options: LawOptions, stage1: list[str] | None
) -> Sharing:
    """The parameters `method`'s laws share: the spec's, or the option cross-validation prefers on the fitted
    points (each option a two-stage fit of the cell means, refitted on each extrapolation fold)."""
    choices = options.sharing_options()
    if len(choices) == 1:
        why = "the spec" if options.share != CV else "the only option"  # a primary form without beta and E
        return Sharing(method, list(next(iter(choices.values()))), why, [])
    if len(by_axis) == 1:  # one law: whatever it shares, it shares with itself
        return Sharing(method, list(next(iter(choices.values()))), "one axis", [])
    cells, held, _ = sl.reduce_groups(by_axis, {axis: held_out.get(axis) for axis in by_axis})
    form = options.primary_form
    own_fits: dict = {}  # each axis's own fit on a fold is the same for every option: fitted once

    def option(shared: tuple[str, ...]) -> FitFn:
        def fit_fn(leave_out: dict[str, np.ndarray]) -> dict[str, sl.FitResult]:
            return sl.fit_two_stage(
                cells, stage1=stage1, held_out=leave_out, form=form, shared=shared, own_fits=own_fits, refine=REFINE
            ).fits

        return fit_fn

    selection = sl.choose({name: option(shared) for name, shared in choices.items()}, cells, held)
    ranked = [asdict(c) | {"shared": list(choices[c.name])} for c in selection.ranking]
    chosen = list(choices[selection.chosen])
    return Sharing(method, chosen, selection.ranked_by, ranked, selection.folds, selection.notes)


def form_choice(
    method: str, axis: str, points: sl.Points, rules: Sequence[str] | None, options: LawOptions
) -> FormChoice:
    """The candidate forms on one law's points, chosen by cross-validation on its fitted cells (a form with more
    parameters than fitted cells is left out)."""
    _, held, _ = sl.reduce_groups({axis: points}, {axis: rules})
    fitted = int((~held[axis]).sum())
    forms = [form for form in options.candidates if len(form.params) <= fitted]
    if not forms:
        note = f"{fitted} fitted cells: no candidate form has so few parameters"
        return FormChoice(method, axis, None, "none", [], [], [note], [])
    comparison = sl.compare_points(points, forms, held_out=rules, refine=REFINE)
    candidates = [
        {
            "law": f.law,
            "name": c.name,
            "cv_score": c.score,
            "folds": c.folds,
            "reason": c.reason,
            "quality": f.quality,
            "quality_reasons": f.quality_reasons,
            "delta_e": f.delta_e,
            "delta_h": f.delta_h,
            "noise_floor": f.noise_floor,
        }
        for c, f in zip(comparison.cv, comparison.fits, strict=True)
    ]
    key = {c.name: f.law for c, f in zip(comparison.cv, comparison.fits, strict=True)}
    return FormChoice(
        method,
        axis,
        comparison.winner.law,
        comparison.ranked_by,
        candidates,
        comparison.folds,
        comparison.notes,
        [key[name] for name in comparison.held_out_ranking],
    )


def critical_sizes(laws: list[LawFit], points: list[PointResult]) -> list[Critical]:
    """Every crossing of every two methods' laws along each axis whose X they share, at each X measured there."""
    rows = []
    for axis in COMPARABLE:
        fitted = sorted((law for law in laws if law.axis == axis), key=lambda law: law.method)
        xs = sorted({p.x(axis) for p in points if axis in p.axes})
        for a, b in itertools.combinations(fitted, 2):
            names = (a.method, b.method)
            found = [sl.crossings(a.fit, b.fit, x, names=names, level=LEVEL) for x in xs]
            lower = [None if crossed else _lower(a, b, x) for crossed, x in zip(found, xs, strict=True)]
            reasons = "; ".join(r for r in (a.degenerate_reason(), b.degenerate_reason()) if r) or None
            rows.append(Critical(axis, a.method, b.method, xs, found, lower, reasons))
    return rows


def _lower(a: LawFit, b: LawFit, x: float) -> str:
    """The method predicted lower at X (at every Df, when the two laws never cross there)."""
    df = DF_BOUNDS[0]
    return a.method if a.fit.predict(x, df) < b.fit.predict(x, df) else b.method


def decisions(laws: list[LawFit], points: list[PointResult], target: Mapping[str, float]) -> list[AxisDecision]:
    """Per axis whose X the methods share, which method is predicted best at the target: the spec's X and Df, else
    the largest X measured along the axis and the largest Df of the sweep."""
    out = []
    finetuned = [p for p in points if p.axes and LOSS in p.metrics]
    for axis in COMPARABLE:
        fits = {law.method: law.fit for law in laws if law.axis == axis}
        if len(fits) < 2:
            continue
        x = target.get(axis, max(p.x(axis) for p in finetuned if axis in p.axes))
        df = target.get("train_size", max(float(p.factors["train_size"]) for p in finetuned))
        source = {key: "the spec" if key in target else "the largest measured" for key in (axis, "train_size")}
        where = f"X: {source[axis]}, Df: {source['train_size']}"
        out.append(AxisDecision(axis, where, sl.decide(fits, x, df, level=LEVEL)))
    return out
