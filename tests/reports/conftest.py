"""A fitted synthetic sweep with its figures, shared by the report tests."""

import pytest

from ftscale.analysis import SweepResults, fit_sweep
from ftscale.reports.figures import draw_figures
from ftscale.reports.sections import build_sections
from tests.analysis.synthetic import HELD_OUT, make_points


@pytest.fixture(scope="session")
def fitted(tmp_path_factory) -> tuple[SweepResults, list, object]:
    """(results, sections, sweep_dir) of a sweep of points from known laws, with a few resamples."""
    sweep_dir = tmp_path_factory.mktemp("sweep")
    results = fit_sweep("demo <script>alert(1)</script>", "synthetic & co", make_points(noise=0.01), HELD_OUT, 40)
    sections = build_sections(results, draw_figures(results, sweep_dir, HELD_OUT))
    return results, sections, sweep_dir
