"""Two-stage bootstrap intervals cover the true law about as often as their level says; stage-2-only do not."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import MULTIPLICATIVE, bootstrap, bootstrap_two_stage

from .two_stage_data import ALPHA, SHARED, two_stage_series

DATASETS = 24
LEVEL = 0.9


@pytest.fixture(scope="module")
def runs():
    # refine=4 keeps the point fits quick; 200 resamples per dataset.
    return [
        bootstrap_two_stage(two_stage_series(seed), n=200, seed=seed, level=LEVEL, refine=4) for seed in range(DATASETS)
    ]


def _intervals(run, name: str) -> list[float]:
    return run.shared_intervals[name] if name in SHARED else run.fits[name.split(":")[1]].intervals["alpha"]


def _truth(name: str) -> float:
    return SHARED[name] if name in SHARED else ALPHA[name.split(":")[1]]


def _point(run, name: str) -> float:
    return run.shared[name] if name in SHARED else run.fits[name.split(":")[1]].params["alpha"]


@pytest.mark.parametrize("name", ["beta", "E", "alpha:model", "alpha:pretrain"])
def test_intervals_cover_the_truth_at_about_their_level(runs, name):
    # Measured: 22-23 of 24 for each (92-96%) at a 90% level. A binomial(24, 0.9) count is below 17 with
    # probability 0.2%, so [17, 24] passes an honest bootstrap and fails intervals that are too narrow.
    covered = sum(lo <= _truth(name) <= hi for lo, hi in (_intervals(r, name) for r in runs))
    assert covered >= 17, f"{name}: {covered}/{DATASETS}"
    # ...and intervals that are not absurdly wide: the mean width is within 2x of what the spread of the
    # point estimates across datasets implies for a 90% interval (2 x 1.645 SD).
    widths = [hi - lo for lo, hi in (_intervals(r, name) for r in runs)]
    implied = 2 * 1.645 * np.std([_point(r, name) for r in runs], ddof=1)
    assert 0.5 * implied < np.mean(widths) < 2 * implied, (name, np.mean(widths), implied)


def test_stage_two_only_bootstrap_has_zero_width_for_the_shared_parameters(runs):
    # The old sweep bootstrap held beta and E at the stage-1 values: zero width, so it never covers the truth.
    for seed, run in enumerate(runs[:3]):
        fit = run.fits["model"]
        fixed = MULTIPLICATIVE.constrained(fixed=run.shared)
        pts = two_stage_series(seed)["model"]
        old = bootstrap(fixed, pts.x, pts.df, pts.loss, n=20, seed=seed, level=LEVEL)
        for name in ("beta", "E"):
            lo, hi = old.intervals[name]
            assert hi - lo <= 1e-12 * abs(hi) and not lo <= SHARED[name] <= hi
            assert np.diff(fit.intervals[name])[0] > 0
