"""`ftscale law ...`: fit laws to a table of measurements, predict, find crossovers, decide, plan data.
The answers come from scaling_laws/ (compare, crossover, decision); this module only parses and formats."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ftscale.cli import parsing
from ftscale.cli.parsing import Parser
from ftscale.scaling_laws.compare import CHOSEN_LABEL, DIAGNOSTIC_LABEL, Comparison, compare_points
from ftscale.scaling_laws.crossover import DF_BOUNDS, crossings, examples_needed
from ftscale.scaling_laws.decision import decide, predict_table
from ftscale.scaling_laws.errors import ScalingLawError
from ftscale.scaling_laws.fitter import fit_points
from ftscale.scaling_laws.forms import FORMS, get_form
from ftscale.scaling_laws.heldout import RULE_HELP
from ftscale.scaling_laws.io import load_fit, read_points
from ftscale.scaling_laws.resampling import bootstrap_points
from ftscale.scaling_laws.result import FitResult

PROG = "ftscale law"


def _positive(text: str) -> float:
    """argparse type: a finite number > 0 (X, Df and losses all are)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return value


def _parser() -> argparse.ArgumentParser:
    laws = "\n".join(f"  {name:16s} {form.formula}" for name, form in FORMS.items())
    top = Parser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fit finetuning scaling laws to measurements and use the fits.\n\nLaws:\n"
        + laws
        + "\n  (or the dotted path of your own LawForm class, e.g. my_pkg.laws.Shifted)",
    )
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)

    f = sub.add_parser("fit", help="fit one law (or all) to a table of points", description=_FIT_DOC)
    f.add_argument("points", type=Path, help="CSV, TSV or JSONL file with one measurement per row")
    f.add_argument(
        "--law",
        default="multiplicative",
        help="a law above, my_pkg.MyForm, all, or several separated by commas to choose among (default %(default)s)",
    )
    f.add_argument("--x", help="column of the scaling factor X (model size, ...); optional for power/rectified")
    f.add_argument("--df", required=True, help="column of the finetuning data size Df (examples)")
    f.add_argument("--loss", required=True, help="column of the measured loss L")
    f.add_argument("--group", metavar="COLUMN", help="column of replicate ids (seeds): fit cell means, resample groups")
    f.add_argument("--held-out", action="append", default=[], metavar="RULE", help=f"repeatable: {RULE_HELP}")
    f.add_argument(
        "--loss-kind",
        default="log-huber",
        choices=["log-huber", "huber"],
        help="Huber on log L - log L_hat (default) or on L - L_hat",
    )
    f.add_argument("--delta", type=_positive, default=1e-3, help="Huber delta (default %(default)g)")
    f.add_argument(
        "--tie", action="append", default=[], metavar="FOLLOWER=LEADER", help="tie parameters, e.g. beta=alpha"
    )
    f.add_argument("--bootstrap", type=int, default=0, metavar="N", help="N bootstrap resamples for intervals")
    f.add_argument("--level", type=float, default=0.95, help="interval coverage (default %(default)g)")
    f.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)d)")
    f.add_argument("--workers", type=int, default=1, help="processes for bootstrap refits (default 1)")
    f.add_argument("--out", type=Path, metavar="FIT.json", help="write the fit (or the comparison) as JSON")
    f.add_argument("--plot", type=Path, metavar="FIG.png", help="write loss-vs-Df plot as .png and .svg")

    p = sub.add_parser("predict", help="predicted loss on a grid of X and Df", description=_PREDICT_DOC)
    p.add_argument("fit", type=Path, help="FIT.json from `fit --out` (a `--law all` file uses its chosen fit)")
    p.add_argument("--x", type=_positive, nargs="+", help="values of X (omit for single-factor laws)")
    p.add_argument("--df", type=_positive, nargs="+", required=True, help="finetuning data sizes")
    p.add_argument("--level", type=_level, help="interval coverage (default: the fit's)")
    p.add_argument("--out", type=Path, metavar="TABLE.csv|.json", help="also write the table as CSV or JSON")

    c = sub.add_parser("critical", help="where two methods' laws cross", description=_CRIT_DOC)
    c.add_argument("fit1", type=Path, help="FIT.json of method 1")
    c.add_argument("fit2", type=Path, help="FIT.json of method 2")
    c.add_argument("--x", type=_positive, nargs="*", default=[], help="values of X (omit for single-factor laws)")
    c.add_argument("--df-range", type=_positive, nargs=2, metavar=("LOW", "HIGH"), help="Df range searched")
    c.add_argument("--names", nargs=2, metavar=("A", "B"), help="the two methods' names (default: the file stems)")
    c.add_argument("--level", type=_level, help="interval coverage (default: the fits')")

    d = sub.add_parser("decide", help="which method to use at a target X and Df", description=_DECIDE_DOC)
    d.add_argument("fits", type=Path, nargs="+", help="FIT.json of each method (two or more)")
    d.add_argument("--x", type=_positive, help="target X (omit for single-factor laws)")
    d.add_argument("--df", type=_positive, required=True, help="target finetuning data size")
    d.add_argument("--names", nargs="+", help="the methods' names, one per fit (default: the file stems)")
    d.add_argument("--level", type=_level, help="interval coverage (default: the fits')")

    n = sub.add_parser("needed", help="examples needed to reach a loss", description=_NEEDED_DOC)
    n.add_argument("fit", type=Path, help="FIT.json (bootstrapped fits give an interval)")
    n.add_argument("--x", type=_positive, help="value of X (omit for single-factor laws)")
    n.add_argument("--target", type=_positive, required=True, help="loss to reach")
    n.add_argument("--level", type=_level, help="interval coverage (default: the fit's)")
    return top


def _level(text: str) -> float:
    """argparse type: an interval coverage in (0, 1)."""
    value = _positive(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a coverage in (0, 1), e.g. 0.95")
    return value


_FIT_DOC = """Fit by summed Huber loss (delta 1e-3) of log residuals with L-BFGS-B from the Chinchilla grid
of starts, parameters in log space where positive. Prints the parameters (named as in the formula),
the objective, convergence, the fit-quality verdict (ok, or degenerate with every reason), Delta_e (mean
|L - L_hat| on fitted points), Delta_h (on held-out points) and, with --group, the noise floor (the
between-group standard error of a cell's mean loss, averaged over cells). With --law all (or a list,
--law multiplicative,additive) every form is fitted and one is chosen by cross-validation on the fitted
points only (leave the largest fitted X out; leave the largest fitted Df out); a ranking on the held-out
points is printed as a diagnostic only. --bootstrap then applies to the chosen form."""
_PREDICT_DOC = """Predicted L on every (X, Df) of the grid --x x --df, with the interval over the fit's
bootstrap resamples when it has them; points outside the fitted range are marked as extrapolations and
every prediction of a degenerate fit is marked."""
_CRIT_DOC = """Every Df (in [1, 1e15], or --df-range) where two fitted laws (two finetuning methods)
predict the same loss at X, which method is better on each side, an interval for each crossing from the
fits' bootstrap resamples (resample i of one paired with resample i of the other), and a mark on each
crossing outside the X or Df range the fits were fitted on (an extrapolation)."""
_DECIDE_DOC = """Which method is predicted best at the target (X, Df), by how much (with an interval), how
sure (the share of paired bootstrap resamples in which it is best), and where the next crossing lies. A
decision resting on a degenerate fit says 'not decidable' with the reasons."""
_NEEDED_DOC = """The smallest Df at which the fitted law predicts a loss at most --target at X, with a
percentile interval over the fit's bootstrap resamples; 'never' when the loss is not reached."""


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


def _fit(a: argparse.Namespace) -> int:
    candidates = None if a.law == "all" else [get_form(name.strip()) for name in a.law.split(",")]
    several = candidates is None or len(candidates) > 1
    if not several and candidates[0].uses_x and a.x is None:
        raise ScalingLawError(f"the {a.law} law is joint in X and Df: give --x COLUMN")
    if a.tie and several:
        raise ScalingLawError(f"--tie needs a single --law, not {a.law}")
    tied = [tuple(reversed(t.split("=", 1))) for t in a.tie]
    if any(len(t) != 2 for t in tied):
        raise ScalingLawError(f"--tie takes FOLLOWER=LEADER, got {a.tie}")
    points = read_points(a.points, a.x, a.df, a.loss, a.group)
    kw = {"held_out": a.held_out, "loss_kind": a.loss_kind, "delta": a.delta}
    comparison = None
    if several:
        comparison = compare_points(points, candidates, **kw)
        print(_show_comparison(comparison))
        form, result = get_form(comparison.winner.law), comparison.winner
        if comparison.winner.tied or comparison.winner.fixed:
            form = form.constrained(tied=comparison.winner.tied, fixed=comparison.winner.fixed)
    else:
        form = candidates[0].constrained(tied=tied) if tied else candidates[0]
    if a.bootstrap:
        result = bootstrap_points(form, points, n=a.bootstrap, seed=a.seed, level=a.level, workers=a.workers, **kw)
    elif comparison is None:
        result = fit_points(form, points, **kw)
    print(_show(result))
    if a.out:
        if comparison is not None:
            comparison.fits[0] = result
        a.out.write_text((result if comparison is None else comparison).to_json() + "\n")
    if a.plot:
        from ftscale.scaling_laws.plots import plot_fit

        plot_fit(result, points.x, points.df, points.loss, path=a.plot)
    return 0


def _degenerate_note(fits: dict[str, FitResult]) -> list[str]:
    return [
        f"warning: the {name} fit is degenerate: {'; '.join(f.quality_reasons)}"
        for name, f in fits.items()
        if f.degenerate
    ]


def _predict(a: argparse.Namespace) -> int:
    r = load_fit(a.fit)
    rows = predict_table(r, a.x or [None], a.df, level=a.level)
    for line in _degenerate_note({a.fit.stem: r}):
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
    if a.out:
        _write_table(a.out, r, rows)
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


def _critical(a: argparse.Namespace) -> int:
    fits = dict(zip(_names([a.fit1, a.fit2], a.names), (load_fit(a.fit1), load_fit(a.fit2)), strict=True))
    (n1, r1), (n2, r2) = fits.items()
    bounds = tuple(a.df_range) if a.df_range else DF_BOUNDS
    if bounds[0] >= bounds[1]:
        raise ScalingLawError(f"--df-range: LOW must be below HIGH, got {bounds[0]:g} {bounds[1]:g}")
    for line in _degenerate_note(fits):
        print(line + "; every crossing below rests on it")
    mark = " [degenerate fit]" if any(f.degenerate for f in fits.values()) else ""
    for x in a.x or [None]:
        found = crossings(r1, r2, x, names=(n1, n2), bounds=bounds, level=a.level)
        at = "" if x is None else f"X={x:g}: "
        if not found:
            mid = float(np.sqrt(bounds[0] * bounds[1]))
            better = n1 if r1.predict(x, mid) < r2.predict(x, mid) else n2
            print(f"{at}no crossing for Df in [{bounds[0]:g}, {bounds[1]:g}]: {better} is better throughout{mark}")
        for c in found:
            line = f"{at}critical Df = {c.df:.6g}"
            if c.low is not None:
                line += f"  {100 * c.level:g}% [{c.low:.6g}, {c.high:.6g}] in {100 * c.share:.0f}% of resamples"
            elif c.share is not None:
                line += "  (no resample crosses this way)"
            line += f": {c.below} better below, {c.above} better above{mark}"
            print(line)
            if c.extrapolation:
                print("    extrapolation: " + "; ".join(c.extrapolation))
    return 0


def _decide(a: argparse.Namespace) -> int:
    names = _names(a.fits, a.names)
    decision = decide({m: load_fit(p) for m, p in zip(names, a.fits, strict=True)}, a.x, a.df, level=a.level)
    print(decision.summary())
    return 0


def _needed(a: argparse.Namespace) -> int:
    r = load_fit(a.fit)
    need = examples_needed(r, a.x, a.target, level=a.level)
    for line in _degenerate_note({a.fit.stem: r}):
        print(line + "; the answer below rests on it")
    at = "" if a.x is None else f" at X={a.x:g}"
    if need.examples is None:
        floor = r.predict(a.x, 1e300)  # the law's limit as Df grows
        print(f"loss {a.target:g} is never reached{at}: the law levels off at {floor:.6g}")
        return 0
    line = f"examples needed for loss {a.target:g}{at}: {need.examples:.6g}"
    if need.level is not None:
        lo, hi = ("never" if v is None else f"{v:.6g}" for v in (need.low, need.high))
        line += f"   {100 * need.level:g}% [{lo}, {hi}]"
    print(line)
    return 0


def fit_sweep_main(argv: list[str]) -> int:
    """`ftscale law fit --sweep DIR`: fit a sweep directory's results (also a partial sweep) now."""
    from ftscale.reports.finalize import BOOTSTRAP, finalize_sweep  # loads no torch, but matplotlib and wandb

    command = parsing.parser(
        f"{PROG} fit --sweep",
        "Fit every law of a sweep directory's finished points; write laws.json, figures and report.html.",
    )
    command.add_argument("--sweep", type=Path, required=True, help="sweep directory (ftscale sweep run --dir)")
    parsing.add_store(command)
    command.add_argument("--bootstrap", type=int, default=BOOTSTRAP, help=f"resamples per law (default {BOOTSTRAP})")
    parsing.add_wandb(command)
    command.add_argument(
        "--from-wandb",
        metavar="ENTITY/PROJECT",
        help="also fit the sweep's finished point runs in this W&B project (e.g. those other machines ran)",
    )
    command.add_argument(
        "--wandb-report", action="store_true", help="also save a W&B Report of the fit (needs an online login)"
    )
    args = command.parse_args(argv)
    report = finalize_sweep(args.sweep, args.store, args.wandb, args.bootstrap, args.from_wandb, args.wandb_report)
    print(f"laws: {args.sweep / 'laws.json'}\nreport: {report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run `ftscale law` with argv (sys.argv[1:] by default); 0 on success, 2 on bad input."""
    argv = sys.argv[1:] if argv is None else argv
    if "--sweep" in argv:  # a sweep directory, not a table of measurements
        return fit_sweep_main(argv[1:] if argv[:1] == ["fit"] else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error already reported in one line (2)
        return e.code if isinstance(e.code, int) else 0
    try:
        commands = {"fit": _fit, "predict": _predict, "critical": _critical, "decide": _decide, "needed": _needed}
        return commands[args.command](args)
    except (ScalingLawError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
