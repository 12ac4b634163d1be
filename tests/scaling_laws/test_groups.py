"""Groups (replicates, seeds): fitted as cell means, resampled whole, their spread reported as a noise floor."""

from __future__ import annotations

import numpy as np
import pytest

from ftscale.scaling_laws import (
    MULTIPLICATIVE,
    ScalingLawError,
    as_points,
    bootstrap,
    bootstrap_two_stage,
    fit,
    fit_points,
    group_cells,
)

from .test_fit import SAME_PARAMS
from .two_stage_data import seeded_series, two_stage_series


@pytest.fixture(scope="module")
def seeded():
    return seeded_series(0, 3, factors=("model",))["model"]


def test_grouped_points_are_fitted_as_cell_means_with_their_noise_floor(seeded):
    cells = group_cells(seeded)
    assert len(cells.points) == len(seeded) // 3 and cells.table.shape == (len(cells.points), 3)
    r = fit_points(MULTIPLICATIVE, seeded, held_out=["x=max"])
    means = fit(MULTIPLICATIVE, cells.points.x, cells.points.df, cells.points.loss, held_out=["x=max"])
    assert r.params == pytest.approx(means.params, rel=SAME_PARAMS) and r.n_fit == means.n_fit and r.n_groups == 3
    by_cell = {}
    for x, df, loss in zip(seeded.x, seeded.df, seeded.loss, strict=True):
        by_cell.setdefault((x, df), []).append(loss)
    floor = np.mean([np.std(v, ddof=1) / np.sqrt(len(v)) for v in by_cell.values()])
    assert r.noise_floor == pytest.approx(floor, rel=1e-12)  # the same arithmetic, another order: a few ulps


def test_one_group_is_the_point_bootstrap():
    x, df, loss = (np.asarray(v) for v in (two_stage_series(2)["model"].x, two_stage_series(2)["model"].df,
                                           two_stage_series(2)["model"].loss))  # fmt: skip
    plain = bootstrap(MULTIPLICATIVE, x, df, loss, n=20, seed=4)
    one = bootstrap(MULTIPLICATIVE, x, df, loss, groups=np.zeros(len(x)), n=20, seed=4)
    # The same draws (integers, exact); the refits are the same problems, solved again.
    np.testing.assert_allclose(one.bootstrap_params, plain.bootstrap_params, rtol=SAME_PARAMS)
    assert one.noise_floor is None and one.n_groups == 1
    series = two_stage_series(2)
    grouped = {g: as_points(p.x, p.df, p.loss, groups=["s"] * len(p)) for g, p in series.items()}
    a = bootstrap_two_stage(series, n=20, seed=4, refine=4)
    b = bootstrap_two_stage(grouped, n=20, seed=4, refine=4)
    for g in series:
        np.testing.assert_allclose(b.fits[g].bootstrap_params, a.fits[g].bootstrap_params, rtol=SAME_PARAMS)


def test_bad_groups_are_one_line_errors(seeded):
    with pytest.raises(ScalingLawError, match="some replicates of the cell"):
        fit_points(MULTIPLICATIVE, seeded, held_out=["row=0"])
    twice = as_points([1e8, 1e8, 1e9, 1e9], [10.0, 10.0, 10.0, 20.0], [1.0, 1.1, 0.9, 0.8], groups=[0, 0, 0, 0])
    with pytest.raises(ScalingLawError, match="repeats group '0'"):
        group_cells(twice)
    with pytest.raises(ScalingLawError, match="different lengths"):
        as_points([1.0, 2.0], [1.0, 2.0], [1.0, 2.0], groups=[0])
