"""The figures of a fitted sweep: each law against its points, and each critical data size curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ftscale import scaling_laws as sl
from ftscale.analysis import SweepResults
from ftscale.analysis.fit_sweep import series


def draw_figures(results: SweepResults, sweep_dir: Path, held_out: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Plot into `<sweep_dir>/figures/`; return figure key -> path relative to `sweep_dir`."""
    out = Path(sweep_dir) / "figures"
    figures = {}
    for law in results.laws:
        points = series(results.points, law.method, law.axis)
        path = out / f"{law.method}-{law.axis}.png"
        title = f"{law.method}, X = {law.x_name}: {law.fit.form.formula}"
        sl.plot_fit(law.fit, points.x, points.df, points.loss, held_out=held_out.get(law.axis), path=path, title=title)
        figures[f"fit/{law.method}/{law.axis}"] = str(path.relative_to(sweep_dir))
    for c in results.critical:
        a, b = results.law(c.method_a, c.axis), results.law(c.method_b, c.axis)
        path = out / f"critical-{c.method_a}-{c.method_b}-{c.axis}.png"
        sl.plot_critical(a.fit, b.fit, c.x, labels=(c.method_a, c.method_b), path=path)
        figures[f"critical/{c.method_a}-{c.method_b}/{c.axis}"] = str(path.relative_to(sweep_dir))
    return figures
