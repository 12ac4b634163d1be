"""`ftscale law ...`: fit laws to a table of measurements, predict, find crossovers, plan data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ftscale.cli import parsing
from ftscale.cli.parsing import Parser
from ftscale.scaling_laws.compare import compare_points
from ftscale.scaling_laws.crossover import critical_data_size, examples_needed
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
        description="Fit finetuning scaling laws to measurements and use the fits.\n\nLaws:\n" + laws,
    )
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)

    f = sub.add_parser("fit", help="fit one law (or all) to a table of points", description=_FIT_DOC)
    f.add_argument("points", type=Path, help="CSV, TSV or JSONL file with one measurement per row")
    f.add_argument("--law", default="multiplicative", choices=[*FORMS, "all"], help="law form (default %(default)s)")
    f.add_argument("--x", help="column of the scaling factor X (model size, ...); optional for power/rectified")
    f.add_argument("--df", required=True, help="column of the finetuning data size Df (examples)")
    f.add_argument("--loss", required=True, help="column of the measured loss L")
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
    f.add_argument("--out", type=Path, metavar="FIT.json", help="write the fit (or ranked fits) as JSON")
    f.add_argument("--plot", type=Path, metavar="FIG.png", help="write loss-vs-Df plot as .png and .svg")

    p = sub.add_parser("predict", help="predicted loss from a saved fit", description="Predict L(X, Df).")
    p.add_argument("fit", type=Path, help="FIT.json from `fit --out` (a `--law all` file uses its winner)")
    p.add_argument("--x", type=_positive, help="value of X (omit for single-factor laws)")
    p.add_argument("--df", type=_positive, nargs="+", required=True, help="one or more finetuning data sizes")

    c = sub.add_parser("critical", help="critical finetuning data size between two methods", description=_CRIT_DOC)
    c.add_argument("fit1", type=Path, help="FIT.json of method 1")
    c.add_argument("fit2", type=Path, help="FIT.json of method 2")
    c.add_argument("--x", type=_positive, nargs="*", default=[], help="values of X (omit for single-factor laws)")

    n = sub.add_parser("needed", help="examples needed to reach a loss", description=_NEEDED_DOC)
    n.add_argument("fit", type=Path, help="FIT.json (bootstrapped fits give an interval)")
    n.add_argument("--x", type=_positive, help="value of X (omit for single-factor laws)")
    n.add_argument("--target", type=_positive, required=True, help="loss to reach")
    n.add_argument("--level", type=float, help="interval coverage (default: the fit's)")
    return top


_FIT_DOC = """Fit by summed Huber loss (delta 1e-3) of log residuals with L-BFGS-B from the Chinchilla grid
of starts, parameters in log space where positive. Prints the parameters (named as in the formula),
the objective, convergence, Delta_e (mean |L - L_hat| on fitted points) and Delta_h (on held-out
points). With --law all every form is fitted and ranked by Delta_h (Delta_e if nothing is held out);
--bootstrap then applies to the winner."""
_CRIT_DOC = """The smallest Df where two fitted laws (two finetuning methods) predict the same loss at X:
closed form Df_c = H X^gamma for two multiplicative laws with the same E, numeric root otherwise;
'never' when the curves do not cross for Df in [1, 1e15]."""
_NEEDED_DOC = """The smallest Df at which the fitted law predicts a loss at most --target at X, with a
percentile interval over the fit's bootstrap resamples; 'never' when the loss is not reached."""


def _show(r: FitResult) -> str:
    lines = [f"law {r.law}: {r.form.formula}" + (f"  tied {r.tied}" if r.tied else "")]
    for name, value in r.params.items():
        iv = r.intervals.get(name) if r.intervals else None
        lines.append(f"  {name:6s} = {value:.6g}" + (f"   [{iv[0]:.6g}, {iv[1]:.6g}]" if iv else ""))
    lines.append(f"  objective (summed {r.loss_kind}, delta {r.delta:g}) = {r.objective:.10g}")
    lines.append(f"  converged: {r.converged} ({r.message})")
    dh = "n/a" if r.delta_h is None else f"{r.delta_h:.6g}"
    lines.append(f"  Delta_e = {r.delta_e:.6g} on {r.n_fit} points; Delta_h = {dh} on {r.n_held_out} held out")
    if r.n_bootstrap:
        lines.append(f"  bootstrap: {r.n_bootstrap} resamples (seed {r.seed}), {r.n_bootstrap_failed} not converged")
    return "\n".join(lines)


def _fit(a: argparse.Namespace) -> int:
    if a.law != "all" and get_form(a.law).uses_x and a.x is None:
        raise ScalingLawError(f"the {a.law} law is joint in X and Df: give --x COLUMN")
    if a.tie and a.law == "all":
        raise ScalingLawError("--tie needs a single --law, not all")
    tied = [tuple(reversed(t.split("=", 1))) for t in a.tie]
    if any(len(t) != 2 for t in tied):
        raise ScalingLawError(f"--tie takes FOLLOWER=LEADER, got {a.tie}")
    points = read_points(a.points, a.x, a.df, a.loss)
    kw = {"held_out": a.held_out, "loss_kind": a.loss_kind, "delta": a.delta}
    comparison = None
    if a.law == "all":
        comparison = compare_points(points, **kw)
        print(f"ranked by {comparison.ranked_by} (winner first):")
        for r in comparison.fits:
            dh = "n/a" if r.delta_h is None else f"{r.delta_h:.6g}"
            print(f"  {r.law:16s} Delta_e {r.delta_e:.6g}  Delta_h {dh}  converged {r.converged}")
        form, result = get_form(comparison.winner.law), comparison.winner
    else:
        form = get_form(a.law).constrained(tied=tied) if tied else get_form(a.law)
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


def _predict(a: argparse.Namespace) -> int:
    r = load_fit(a.fit)
    for df in a.df:
        line = f"L({'' if a.x is None else f'X={a.x:g}, '}Df={df:g}) = {r.predict(a.x, df):.6g}"
        if r.bootstrap_params:
            lo, hi = r.predict_interval(a.x, df)
            line += f"   {100 * r.level:g}% [{float(lo):.6g}, {float(hi):.6g}]"
        print(line)
    return 0


def _critical(a: argparse.Namespace) -> int:
    r1, r2 = load_fit(a.fit1), load_fit(a.fit2)
    for x in a.x or [None]:
        c = critical_data_size(r1, r2, x)
        print(f"{'' if x is None else f'X={x:g}: '}critical Df = {'never' if c is None else f'{c:.6g}'}")
    return 0


def _needed(a: argparse.Namespace) -> int:
    r = load_fit(a.fit)
    need = examples_needed(r, a.x, a.target, level=a.level)
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
        return {"fit": _fit, "predict": _predict, "critical": _critical, "needed": _needed}[args.command](args)
    except (ScalingLawError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
