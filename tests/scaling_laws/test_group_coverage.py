"""With correlated seeds, the group bootstrap covers the true law about as often as its level says, and the
bootstrap of the cell means as independent points does not.

Every seed scales all its points (both factors, every cell) by the same 1 + N(0, 0.03), on top of 0.2%
independent noise; 5 seeds per cell. The common offset moves E and A, which a resampling of cells cannot see.
`coverage(...)` is the measurement; docs/scaling_laws.md ("Groups and seeds") gives its numbers on 200 data sets:

    python -c "from tests.scaling_laws.test_group_coverage import coverage; print(coverage(200, resamples=200))"
"""

from __future__ import annotations

from scipy.stats import binom

from ftscale.scaling_laws import bootstrap_two_stage, group_cells

from .two_stage_data import SHARED, law, seeded_series

FACTORS = ("model", "pretrain")
LEVEL = 0.95
DATASETS = 24
# Measured by `coverage(200, resamples=200)` (seeds 0-199): the share of data sets whose 95% interval covers E.
GROUP_E, POINT_E = 0.88, 0.27


def coverage(datasets: int, *, groups: int = 5, resamples: int = 100, first_seed: int = 0) -> dict[str, dict]:
    """Share of `datasets` synthetic data sets whose 95% interval covers each true parameter, for the group
    bootstrap ("group") and for the point bootstrap of the same cell means ("point")."""
    hits: dict[str, dict[str, int]] = {"group": {}, "point": {}}
    truth = {"beta": SHARED["beta"], "E": SHARED["E"], **{f"A:{f}": law(f)["A"] for f in FACTORS}}
    truth |= {f"alpha:{f}": law(f)["alpha"] for f in FACTORS}
    for seed in range(first_seed, first_seed + datasets):
        series = seeded_series(seed, groups, seed_sd=0.03, noise=0.002, factors=FACTORS)
        means = {g: group_cells(p).points for g, p in series.items()}
        for kind, data in (("group", series), ("point", means)):
            r = bootstrap_two_stage(data, n=resamples, seed=seed, level=LEVEL, refine=4)
            for name, value in truth.items():
                param, _, factor = name.partition(":")
                lo, hi = r.fits[factor or FACTORS[0]].intervals[param]
                hits[kind][name] = hits[kind].get(name, 0) + int(lo <= value <= hi)
    return {kind: {name: n / datasets for name, n in h.items()} for kind, h in hits.items()}


def test_group_bootstrap_covers_the_floor_and_the_point_bootstrap_does_not():
    rates = coverage(DATASETS)
    # A group bootstrap covering E less often than the binomial's 0.1% quantile at its measured rate fails, and so
    # does a point bootstrap covering it more often than the 99.9% quantile at its rate; the ranges do not overlap.
    low_group = binom.ppf(0.001, DATASETS, GROUP_E) / DATASETS
    high_point = binom.ppf(0.999, DATASETS, POINT_E) / DATASETS
    assert high_point < low_group
    assert rates["group"]["E"] >= low_group, rates
    assert rates["point"]["E"] <= high_point, rates
