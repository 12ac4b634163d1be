"""The figures of a fitted sweep: each law against its points, each claim's subjects against its threshold (a forest
plot), and who wins where between two methods (both laws' loss against Df at a few X, each crossing marked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ftscale import scaling_laws as sl
from ftscale.analysis import Claim, Critical, SweepResults
from ftscale.analysis.fit_sweep import series
from ftscale.scaling_laws.crossover import DF_BOUNDS
from ftscale.scaling_laws.plots import save_figure

COLORS = {"holds": "#17632a", "does not hold": "#a3161a", "inconclusive": "#b07800", "not testable": "#888888"}
CURVES_PER_PAIR = 3  # X values drawn in a who-wins-where figure: the smallest, a middle one, the largest


def draw_figures(results: SweepResults, sweep_dir: Path, held_out: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Plot into `<sweep_dir>/figures/`; return figure key -> path relative to `sweep_dir`."""
    out = Path(sweep_dir) / "figures"
    figures = {}

    def saved(key: str, fig, name: str) -> None:
        save_figure(fig, out / name)
        figures[key] = str((out / name).relative_to(sweep_dir))

    for law in results.laws:
        points = series(results.points, law.method, law.axis)
        title = f"{law.method}, X = {law.x_name}: {law.fit.form.formula}"
        fig = sl.plot_fit(law.fit, points.x, points.df, points.loss, held_out=held_out.get(law.axis), title=title)
        saved(f"fit/{law.method}/{law.axis}", fig, f"{law.method}-{law.axis}.png")
    for claim in results.claims:
        if claim.values or claim.reasons:
            saved(f"claims/{claim.id}", plot_forest(claim), f"claim-{claim.id}.png")
    for c in results.critical:
        a, b = results.law(c.method_a, c.axis), results.law(c.method_b, c.axis)
        pair = (c.method_a, c.method_b)
        df = [float(p.factors["train_size"]) for p in results.points if c.axis in p.axes and p.method in pair]
        fig = plot_who_wins(a.fit, b.fit, c, (min(df), max(df)))
        saved(f"critical/{c.method_a}-{c.method_b}/{c.axis}", fig, f"critical-{c.method_a}-{c.method_b}-{c.axis}.png")
    return figures


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_forest(claim: Claim):
    """Each subject's estimate and interval against the claim's threshold, coloured by the subject's verdict; a
    subject without an interval is its point alone, one without a value is named as not testable."""
    subjects = [*claim.values, *(s for s in claim.reasons if s not in claim.values)]
    fig = _figure(6.4, 0.9 + 0.32 * len(subjects))
    ax = fig.add_subplot()
    for row, subject in enumerate(subjects):
        color = COLORS[claim.verdicts.get(subject, "inconclusive")]
        if subject in claim.intervals:
            low, high = claim.intervals[subject]
            ax.plot([low, high], [row, row], color=color, lw=2.5, solid_capstyle="butt")
        if subject in claim.values:
            ax.plot(claim.values[subject], row, "o", color=color, ms=5)
        else:
            ax.text(claim.threshold, row, "  not testable", va="center", color=color, fontsize=8)
    ax.axvline(claim.threshold, color="k", ls="--", lw=1)
    ax.set_yticks(range(len(subjects)), subjects, fontsize=8)
    ax.set_ylim(len(subjects) - 0.5, -0.5)
    ax.set_xlabel(f"{claim.quantity} (holds {claim.side} {claim.threshold:g}; {100 * claim.level:g}% intervals)")
    ax.set_title(f"claim {claim.id}: {claim.verdict}", fontsize=9, color=COLORS[claim.verdict])
    return fig


def plot_who_wins(fit_a: sl.FitResult, fit_b: sl.FitResult, critical: Critical, measured_df: tuple[float, float]):
    """Both methods' predicted loss against Df at a few X of the axis (one colour per X; solid: the first method,
    dashed: the second), each crossing a dot with its interval as a horizontal bar; the measured Df range in grey."""
    xs = critical.x
    picks = sorted({0, len(xs) // 2, len(xs) - 1})[:CURVES_PER_PAIR]
    crossed = [c for i in picks for c in critical.crossings[i]]
    top = max([measured_df[1] * 10, *(c.high or c.df for c in crossed)])
    grid = np.geomspace(measured_df[0] / 10, min(top * 3, DF_BOUNDS[1]), 300)
    fig = _figure(6.4, 4.4)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    ax.axvspan(*measured_df, color="0.92", label="measured Df")
    for k, i in enumerate(picks):
        color = cmap(k / max(len(picks) - 1, 1) * 0.85)
        x = xs[i]
        ax.plot(grid, fit_a.predict(x, grid), color=color, lw=1.4, label=f"{critical.method_a}, X = {x:.3g}")
        ax.plot(grid, fit_b.predict(x, grid), color=color, lw=1.4, ls="--", label=f"{critical.method_b}, X = {x:.3g}")
        for c in critical.crossings[i]:
            error = None if c.low is None else [[c.df - c.low], [c.high - c.df]]
            ax.errorbar(c.df, fit_a.predict(x, c.df), xerr=error, fmt="o", color=color, ms=5, capsize=4, lw=1.2)
    ax.set_xscale("log")
    ax.set_xlabel("finetuning examples Df")
    ax.set_ylabel("predicted loss")
    status = f" — not testable: {critical.not_testable.split(':')[0]}" if critical.not_testable else ""
    ax.set_title(f"{critical.method_a} vs {critical.method_b} along {critical.axis}{status}", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    return fig
