"""`ftscale law ...`: fit laws to a table of measurements, predict, find crossovers, decide, plan data.
The answers come from scaling_laws/ (compare, crossover, decision); this module only formats them. Each command is
a typed function (`cli/commands.py`)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

import numpy as np

from ftscale.cli.options import Coverage, Help, Positive, Workers
from ftscale.scaling_laws.compare import CHOSEN_LABEL, DIAGNOSTIC_LABEL, Comparison, compare_points
from ftscale.scaling_laws.crossover import DF_BOUNDS, crossings, examples_needed
from ftscale.scaling_laws.decision import decide as decide_method
from ftscale.scaling_laws.decision import predict_table
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.fitter import fit_points
from ftscale.scaling_laws.forms import FORMS, get_form
from ftscale.scaling_laws.heldout import RULE_HELP
from ftscale.scaling_laws.io import load_fit, read_points
from ftscale.scaling_laws.resampling import bootstrap_points
from ftscale.scaling_laws.result import FitResult


def _show(r: FitResult) -> str:
    lines = [f"law {r.law}: {r.form.formula}" + (f"  tied {r.tied}" if r.tied else "")]
    for name, value in r.params.items():
        iv = r.intervals.get(name) if r.intervals else None
        lines.append(f"  {name:6s} = {value:.6g}" + (f"   [{iv[0]:.6g}, {iv[1]:.6g}]" if iv else ""))
    lines.append(f"  objective (summed {r.loss_kind}, delta {r.delta:g}) = {r.objective:.10g}")
    lines.append(f"  converged: {r.converged} ({r.message})")
    lines.append(f"  verdict: {r.quality or 'not assessed'}")
    lines += [f"    - {reason}" for reason in r.quality_reasons]
    dh = "n/a" if r.delta_h is None else f"{r.delta_h:.6g}"
    lines.append(f"  Delta_e = {r.delta_e:.6g} on {r.n_fit} points; Delta_h = {dh} on {r.n_held_out} held out")
    if r.n_groups:
        floor = "n/a (no cell has two groups)" if r.noise_floor is None else f"{r.noise_floor:.6g}"
        lines.append(f"  noise floor (between-group standard error of a cell mean, mean over cells) = {floor}")
        lines.append(f"    ({r.n_groups} groups; each point is a cell's mean over its groups)")
    if r.n_bootstrap:
        lines.append(f"  bootstrap: {r.n_bootstrap} resamples (seed {r.seed}), {r.n_bootstrap_failed} not converged")
    return "\n".join(lines)


def _show_comparison(c: Comparison) -> str:
    if c.ranked_by == "cross-validation":
        lines = [
            f"{CHOSEN_LABEL} (folds: {', '.join(c.folds)}; score = mean over folds of the mean |L - L_hat| "
            "on the fitted points each fold leaves out):"
        ]
    else:
        lines = [f"no cross-validation fold could be formed ({'; '.join(c.notes)}): ranked by Delta_e instead"]
    lines += [f"  note: {note}" for note in c.notes if c.ranked_by == "cross-validation"]
    head = f"  {'rank':4s} {'form':22s} {'score':>9s} " + "".join(f"{f:>12s} " for f in c.folds) + "verdict"
    lines.append(head)
    for i, (choice, fit) in enumerate(zip(c.cv, c.fits, strict=True), 1):
        score = "-" if choice.score is None else f"{choice.score:.4g}"
        folds = "".join("{:>12s} ".format("-" if v is None else f"{v:.4g}") for v in choice.folds.values())
        why = f" ({choice.reason})" if choice.reason else ""
        lines.append(f"  {i:<4d} {choice.name:22s} {score:>9s} {folds}{fit.quality}{why}")
        lines += [f"         - {reason}" for reason in fit.quality_reasons]
    dh = "n/a" if c.winner.delta_h is None else f"{c.winner.delta_h:.6g}"
    lines.append(f"chosen: {c.cv[0].name}; its Delta_h on the held-out points = {dh}")
    if c.held_out_ranking:
        lines.append(f"{DIAGNOSTIC_LABEL}:")
        by_name = dict(zip((ch.name for ch in c.cv), c.fits, strict=True))
        for i, name in enumerate(c.held_out_ranking, 1):
            f = by_name[name]
            lines.append(f"  {i:<4d} {name:22s} Delta_h {f.delta_h:.4g}  Delta_e {f.delta_e:.4g}  {f.quality}")
    return "\n".join(lines)


HeldOut = Annotated[list[str] | None, Help(f"held-out points, several or repeated: {RULE_HELP}")]


def fit(
    points: Path,
    *,
    law: str = "multiplicative",
    x: str | None = None,
    df: str,
    loss: str,
    group: str | None = None,
    held_out: HeldOut = None,
    loss_kind: Literal["log-huber", "huber"] = "log-huber",
    delta: Positive = 1e-3,
    tie: list[str] | None = None,
    bootstrap: int = 0,
    level: Coverage = 0.95,
    seed: int = 0,
    workers: Workers = 1,
    out: Path | None = None,
    plot: Path | None = None,
) -> int:
    """Fit one law, or choose among several, by summed Huber loss on a table of measurements.

    The fit minimises the summed Huber loss (delta 1e-3) of log residuals with L-BFGS-B from the Chinchilla grid
    of starts, parameters in log space where positive. It prints the parameters (named as in the formula), the
    objective, convergence, the fit-quality verdict (ok, or degenerate with every reason), Delta_e (mean
    |L - L_hat| on fitted points), Delta_h (on held-out points) and, with --group, the noise floor (the
    between-group standard error of a cell's mean loss, averaged over cells). With --law all (or a list,
    --law multiplicative,additive) every form is fitted and one is chosen by cross-validation on the fitted
    points only (leave the largest fitted X out; leave the largest fitted Df out); a ranking on the held-out
    points is printed as a diagnostic only. --bootstrap then applies to the chosen form.

    Args:
        points: CSV, TSV or JSONL file with one measurement per row
        law: a form (`ftscale law forms` lists them), my_pkg.MyForm, all, or several separated by commas to choose
            among
        x: column of the scaling factor X (model size, ...); optional for single-factor laws (power, rectified)
        df: column of the finetuning data size Df (examples)
        loss: column of the measured loss L
        group: column of replicate ids (seeds): fit cell means, resample groups
        loss_kind: Huber on log L - log L_hat (log-huber) or on L - L_hat (huber)
        delta: Huber delta
        tie: tie parameters, FOLLOWER=LEADER (e.g. beta=alpha); a single --law only
        bootstrap: bootstrap resamples for intervals (0: none)
        level: interval coverage
        seed: bootstrap seed
        workers: processes for the bootstrap refits
        out: write the fit (or the comparison) as JSON to this file (FIT.json)
        plot: write a loss-vs-Df plot to this .png, and beside it as .svg
    """
    candidates = None if law == "all" else [get_form(name.strip()) for name in law.split(",")]
    several = candidates is None or len(candidates) > 1
    if not several and candidates[0].uses_x and x is None:
        raise ScalingLawError(f"the {law} law is joint in X and Df: give --x COLUMN")
    tie = tie or []
    if tie and several:
        raise ScalingLawError(f"--tie needs a single --law, not {law}")
    tied = [tuple(reversed(t.split("=", 1))) for t in tie]
    if any(len(t) != 2 for t in tied):
        raise ScalingLawError(f"--tie takes FOLLOWER=LEADER, got {tie}")
    table = read_points(points, x, df, loss, group)
    kw = {"held_out": held_out or [], "loss_kind": loss_kind, "delta": delta}
    comparison = None
    if several:
        comparison = compare_points(table, candidates, **kw)
        print(_show_comparison(comparison))
        form, result = get_form(comparison.winner.law), comparison.winner
        if comparison.winner.tied or comparison.winner.fixed:
            form = form.constrained(tied=comparison.winner.tied, fixed=comparison.winner.fixed)
    else:
        form = candidates[0].constrained(tied=tied) if tied else candidates[0]
    if bootstrap:
        result = bootstrap_points(form, table, n=bootstrap, seed=seed, level=level, workers=workers, **kw)
    elif comparison is None:
        result = fit_points(form, table, **kw)
    print(_show(result))
    if out:
        if comparison is not None:
            comparison.fits[0] = result
        out.write_text((result if comparison is None else comparison).to_json() + "\n")
    if plot:
        from ftscale.scaling_laws.plots import plot_fit

        plot_fit(result, table.x, table.df, table.loss, path=plot)
    return 0


def _degenerate_note(fits: dict[str, FitResult]) -> list[str]:
    return [
        f"warning: the {name} fit is degenerate: {'; '.join(f.quality_reasons)}"
        for name, f in fits.items()
        if f.degenerate
    ]


def predict(
    fit_file: Path,
    *,
    x: list[Positive] | None = None,
    df: list[Positive],
    level: Coverage | None = None,
    out: Path | None = None,
) -> int:
    """Predicted loss on every (X, Df) of the grid --x x --df.

    With the interval over the fit's bootstrap resamples when it has them; points outside the fitted range are
    marked as extrapolations and every prediction of a degenerate fit is marked.

    Args:
        fit_file: FIT.json written by `ftscale law fit --out` (of a comparison: its chosen fit)
        x: values of X (none for single-factor laws)
        df: finetuning data sizes
        level: interval coverage; not given: the fit's
        out: also write the table to this .csv or .json file
    """
    r = load_fit(fit_file)
    rows = predict_table(r, x or [None], df, level=level)
    for line in _degenerate_note({fit_file.stem: r}):
        print(line + "; every prediction below rests on it")
    mark = " [degenerate fit]" if r.degenerate else ""
    for p in rows:
        at = ("" if p.x is None else f"X={p.x:g}, ") + f"Df={p.df:g}"
        line = f"L({at}) = {p.loss:.6g}"
        if p.low is not None:
            line += f"   {100 * p.level:g}% [{p.low:.6g}, {p.high:.6g}]"
        if p.extrapolation:
            line += "   extrapolation: " + "; ".join(p.extrapolation)
        print(line + mark)
    if out:
        _write_table(out, r, rows)
    return 0


def _write_table(path: Path, fit: FitResult, rows: list) -> None:
    records = [{**asdict(p), "extrapolation": "; ".join(p.extrapolation), "degenerate": fit.degenerate} for p in rows]
    if path.suffix.lower() == ".json":
        data = {"law": fit.law, "quality": fit.quality, "quality_reasons": fit.quality_reasons, "rows": records}
        path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    elif path.suffix.lower() == ".csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    else:
        raise ScalingLawError(f"--out {path}: write a .csv or a .json table")


def _names(paths: list[Path], names: list[str] | None) -> list[str]:
    names = names or [p.stem for p in paths]
    if len(names) != len(paths):
        raise ScalingLawError(f"--names: give one name per fit ({len(paths)}), got {len(names)}")
    if len(set(names)) != len(names):
        raise ScalingLawError(f"--names: the methods need different names, got {names} (give --names)")
    return names


def critical(
    fit1: Path,
    fit2: Path,
    *,
    x: list[Positive] | None = None,
    df_range: list[Positive] | None = None,
    names: list[str] | None = None,
    level: Coverage | None = None,
) -> int:
    """Every Df where two fitted laws (two finetuning methods) predict the same loss at X.

    For each crossing in [1, 1e15] (or --df-range): which method is better on each side, an interval from the
    fits' bootstrap resamples (resample i of one paired with resample i of the other), and a mark on each crossing
    outside the X or Df range the fits were fitted on (an extrapolation).

    Args:
        fit1: FIT.json of method 1
        fit2: FIT.json of method 2
        x: values of X (none for single-factor laws)
        df_range: the Df range searched: LOW HIGH
        names: the two methods' names; not given: the file stems
        level: interval coverage; not given: the fits'
    """
    fits = dict(zip(_names([fit1, fit2], names), (load_fit(fit1), load_fit(fit2)), strict=True))
    (n1, r1), (n2, r2) = fits.items()
    if df_range is not None and len(df_range) != 2:
        raise ScalingLawError(f"--df-range takes two values, LOW HIGH; got {len(df_range)}")
    bounds = tuple(df_range) if df_range else DF_BOUNDS
    if bounds[0] >= bounds[1]:
        raise ScalingLawError(f"--df-range: LOW must be below HIGH, got {bounds[0]:g} {bounds[1]:g}")
    for line in _degenerate_note(fits):
        print(line + "; every crossing below rests on it")
    mark = " [degenerate fit]" if any(f.degenerate for f in fits.values()) else ""
    for at_x in x or [None]:
        found = crossings(r1, r2, at_x, names=(n1, n2), bounds=bounds, level=level)
        at = "" if at_x is None else f"X={at_x:g}: "
        if not found:
            mid = float(np.sqrt(bounds[0] * bounds[1]))
            better = n1 if r1.predict(at_x, mid) < r2.predict(at_x, mid) else n2
            print(f"{at}no crossing for Df in [{bounds[0]:g}, {bounds[1]:g}]: {better} is better throughout{mark}")
        for c in found:
            line = f"{at}critical Df = {c.df:.6g}"
            if c.low is not None:
                line += f"  {c.interval(digits=6)}"
            elif c.share is not None:
                line += "  (no resample crosses this way)"
            line += f": {c.below} better below, {c.above} better above{mark}"
            print(line)
            if c.extrapolation:
                print("    extrapolation: " + "; ".join(c.extrapolation))
    return 0


def decide(
    fits: list[Path],
    *,
    x: Positive | None = None,
    df: Positive,
    names: list[str] | None = None,
    level: Coverage | None = None,
) -> int:
    """Which method is predicted best at the target (X, Df), by how much, and how sure.

    By how much comes with an interval, how sure is the share of paired bootstrap resamples in which it is best;
    then where the next crossing lies. A decision resting on a degenerate fit says 'not decidable' with the reasons.

    Args:
        fits: FIT.json of each method (two or more)
        x: target X (none for single-factor laws)
        df: target finetuning data size
        names: the methods' names, one per fit; not given: the file stems
        level: interval coverage; not given: the fits'
    """
    methods = _names(fits, names)
    decision = decide_method({m: load_fit(p) for m, p in zip(methods, fits, strict=True)}, x, df, level=level)
    print(decision.summary())
    return 0


def needed(fit_file: Path, *, x: Positive | None = None, target: Positive, level: Coverage | None = None) -> int:
    """The smallest Df at which the fitted law predicts a loss at most --target at X.

    With a percentile interval over the fit's bootstrap resamples; 'never' when the loss is not reached.

    Args:
        fit_file: FIT.json (a bootstrapped fit gives an interval)
        x: value of X (none for single-factor laws)
        target: the loss to reach
        level: interval coverage; not given: the fit's
    """
    r = load_fit(fit_file)
    need = examples_needed(r, x, target, level=level)
    for line in _degenerate_note({fit_file.stem: r}):
        print(line + "; the answer below rests on it")
    at = "" if x is None else f" at X={x:g}"
    if need.examples is None:
        floor = r.predict(x, 1e300)  # the law's limit as Df grows
        print(f"loss {target:g} is never reached{at}: the law levels off at {floor:.6g}")
        return 0
    line = f"examples needed for loss {target:g}{at}: {need.examples:.6g}"
    if need.level is not None:
        lo, hi = ("never" if v is None else f"{v:.6g}" for v in (need.low, need.high))
        line += f"   {100 * need.level:g}% [{lo}, {hi}]"
    print(line)
    return 0


def forms() -> int:
    """The law forms `ftscale law fit --law` can name, each with its formula; a form of your own is named by the
    dotted path of its LawForm class (e.g. my_pkg.laws.Shifted)."""
    for name, form in FORMS.items():
        print(f"{name:16s} {form.formula}")
    print("(or the dotted path of your own LawForm class, e.g. my_pkg.laws.Shifted)")
    return 0
