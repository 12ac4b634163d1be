"""Figures: loss vs Df per X with fitted lines and held-out points; critical data size vs X.

matplotlib is imported inside the functions (keeps `import scaling_laws` fast) and drawn on an Agg
canvas without pyplot, so no global backend is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ftscale.scaling_laws.crossover import critical_data_size
from ftscale.scaling_laws.heldout import held_out_mask
from ftscale.scaling_laws.points import as_points
from ftscale.scaling_laws.result import FitResult


def _figure(width: float = 6.4, height: float = 4.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path) -> list[Path]:
    """Write the figure as PNG and SVG next to each other (path's suffix is replaced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".png"), path.with_suffix(".svg")]
    for p in out:
        fig.savefig(p, dpi=150)
    return out


def plot_fit(
    result: FitResult,
    x,
    df,
    loss,
    *,
    held_out: Sequence[str] | np.ndarray | None = None,
    path: str | Path | None = None,
    title: str | None = None,
):
    """Loss vs Df (log axis), one colour per X, the fitted curve for each X, held-out points hollow."""
    points = as_points(x, df, loss)
    rules = held_out if held_out is not None else result.held_out
    mask = rules if isinstance(rules, np.ndarray) else held_out_mask(points, rules)
    fig = _figure()
    ax = fig.add_subplot()
    groups = [None] if points.x is None or not result.form.uses_x else list(np.unique(points.x))
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm

    cmap, many = colormaps["viridis"], len(groups) > 8  # many X values: a colour bar, not a legend
    norm = None if groups[0] is None else LogNorm(min(groups), max(groups) * (1 + 1e-12))
    colors = [cmap(0.0) if norm is None else cmap(norm(g)) for g in groups]
    grid = np.geomspace(points.df.min(), points.df.max(), 200)
    for g, color in zip(groups, colors, strict=True):
        sel = np.ones(len(points), bool) if g is None else points.x == g
        label = None if many else "data" if g is None else f"X = {g:.3g}"
        ax.scatter(points.df[sel & ~mask], points.loss[sel & ~mask], color=color, s=18, label=label)
        if (sel & mask).any():
            ax.scatter(
                points.df[sel & mask], points.loss[sel & mask], facecolors="none", edgecolors=color, s=40, lw=1.2
            )
        ax.plot(grid, result.predict(g, grid), color=color, lw=1)
    if mask.any():
        ax.scatter([], [], facecolors="none", edgecolors="k", s=40, label="held out")
    ax.set_xscale("log")
    if many:
        fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label="X")
    ax.set_xlabel("finetuning examples Df")
    ax.set_ylabel("loss")
    ax.set_title(title or _describe(result), fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_critical(
    fit1: FitResult,
    fit2: FitResult,
    xs: Sequence[float],
    *,
    labels: tuple[str, str] = ("method 1", "method 2"),
    path: str | Path | None = None,
):
    """Critical finetuning data size (where the two laws cross) against X, log-log; gaps where none."""
    xs = np.asarray(xs, float)
    dfc = np.array([np.nan if (c := critical_data_size(fit1, fit2, v)) is None else c for v in xs])
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(xs, dfc, marker="o")
    ax.set_xscale("log")
    if np.isnan(dfc).all():  # nothing to put on a log axis: say so instead
        ax.text(0.5, 0.5, "the two laws never cross at these X", transform=ax.transAxes, ha="center")
    else:
        ax.set_yscale("log")
    ax.set_xlabel("X")
    ax.set_ylabel("critical finetuning data size Df_c")
    ax.set_title(f"{labels[0]} ({fit1.law}) vs {labels[1]} ({fit2.law})")
    if path is not None:
        save_figure(fig, path)
    return fig


def _describe(result: FitResult) -> str:
    params = ", ".join(f"{k}={v:.4g}" for k, v in result.params.items())  # short enough for one line
    dh = "" if result.delta_h is None else f", Δh={result.delta_h:.3g}"
    return f"{result.law}: {params}\nΔe={result.delta_e:.3g}{dh}"
