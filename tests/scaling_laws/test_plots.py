"""Plots: PNG and SVG written; held-out points drawn hollow; critical size curve drawn."""

from __future__ import annotations

import numpy as np

from ftscale.scaling_laws import MULTIPLICATIVE, FitResult, fit, plot_critical, plot_fit

from .conftest import synthetic


def test_plot_fit_marks_held_out_and_writes_png_svg(tmp_path):
    data = synthetic(
        MULTIPLICATIVE,
        {"A": 60.0, "alpha": 0.25, "beta": 0.2, "E": 0.7},
        np.geomspace(1e8, 1e10, 3),
        np.geomspace(1e3, 1e6, 5),
        0.01,
        0,
    )
    r = fit(MULTIPLICATIVE, *data, held_out=["x=max"])
    fig = plot_fit(r, *data, path=tmp_path / "fit.png")
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "fit.svg").read_bytes()[:400]
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # one fitted curve per X
    hollow = [c for c in ax.collections if len(c.get_offsets()) and len(c.get_facecolors()) == 0]
    assert sum(len(c.get_offsets()) for c in hollow) == r.n_held_out == 5


def test_plot_critical(tmp_path):
    f1 = FitResult("multiplicative", {"A": 60.0, "alpha": 0.5, "beta": 0.15, "E": 0.75}, 0.0, True, "")
    f2 = FitResult("multiplicative", {"A": 4.0, "alpha": 0.4, "beta": 0.05, "E": 0.75}, 0.0, True, "")
    xs = np.geomspace(1e9, 1.6e10, 5)
    fig = plot_critical(f1, f2, xs, path=tmp_path / "crit.svg")
    assert (tmp_path / "crit.png").exists() and (tmp_path / "crit.svg").exists()
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), xs)


def test_plot_critical_says_so_when_the_laws_never_cross(tmp_path):
    f1 = FitResult("multiplicative", {"A": 60.0, "alpha": 0.5, "beta": 0.15, "E": 0.75}, 0.0, True, "")
    f2 = FitResult("multiplicative", {"A": 60.0, "alpha": 0.5, "beta": 0.15, "E": 0.5}, 0.0, True, "")
    fig = plot_critical(f1, f2, np.geomspace(1e9, 1.6e10, 3), path=tmp_path / "never.png")
    assert (tmp_path / "never.png").stat().st_size > 0
    assert "never cross" in fig.axes[0].texts[0].get_text()
